"""Driver of the executable book: ``python -m tools.book {run,build,check,browser-test,...}``.

One module per job:

* :mod:`~tools.book.paths` — the repository root, ``_config.yml`` and ``_toc.yml``;
* :mod:`~tools.book.manifest` — what ``run`` recorded (``book/.manifest.json``) and the hashes
  that decide whether a chapter is stale;
* :mod:`~tools.book.driver` — ``run``: papermill, one chapter at a time;
* :mod:`~tools.book.checks` — ``check``: executed notebooks, install cells, toc, results;
* :mod:`~tools.book.vendor` and :mod:`~tools.book.build` — ``build``: the pinned JavaScript
  and ``jupyter-book build``;
* :mod:`~tools.book.links` and :mod:`~tools.book.browser` — ``browser-test``: LinkChecker
  over the built site, then every page in headless Chromium through Playwright;
* :mod:`~tools.book.sphinx_ext` — the Sphinx extension listed in ``_config.yml``;
* :mod:`~tools.book.cli` — the command line.
"""
