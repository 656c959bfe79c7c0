"""Tooling of the repository, never installed (pyproject includes ``alexnet_course*`` only)."""
