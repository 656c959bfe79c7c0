"""The executable book's driver: ``python -m tools.book COMMAND`` (README, "Layout")."""
