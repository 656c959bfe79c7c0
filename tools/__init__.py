"""Tooling of the repository (the book driver, its checks and tests).

Not part of the installed package: ``pip install`` of the course (e.g. on Colab) ships
``alexnet_course`` only (pyproject's ``include = ["alexnet_course*"]``).
"""
