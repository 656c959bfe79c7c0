"""``build``: render the executed pages of book/ to ``_build/html`` with Jupyter Book.

The build never executes a notebook (``execute_notebooks: "off"``) and counts warnings
as errors (``-W --keep-going``). It refuses to start when a toc document is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from .checks import missing_documents
from .paths import BookError, parse_toc
from .vendor import ensure_vendor

FONT_SUFFIXES = {".woff", ".woff2", ".ttf", ".eot", ".svg"}


def jupyter_book_executable() -> str:
    """``jupyter-book`` of this environment, else the first one on PATH."""
    candidate = Path(sys.executable).with_name("jupyter-book")
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("jupyter-book")
    if not found:
        raise BookError("jupyter-book is not installed (pip install -r requirements.txt)")
    return found


def command_build(root: Path) -> int:
    """``build``: vendor the JavaScript, then ``jupyter-book build``; 0 on success."""
    problems = missing_documents(parse_toc(root))
    if problems:
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        print("book build: not building; every document of _toc.yml must exist first",
              file=sys.stderr)
        return 1
    ensure_vendor(root)
    start = time.monotonic()
    # Sphinx never deletes pages that left the toc; the doctrees cache keeps this cheap.
    shutil.rmtree(root / "_build" / "html", ignore_errors=True)
    cmd = [jupyter_book_executable(), "build", str(root), "-W", "--keep-going"]
    print("$ " + " ".join(cmd), flush=True)
    rc = subprocess.run(cmd, cwd=root).returncode
    elapsed = time.monotonic() - start
    if rc != 0:
        print(f"book build: FAILED after {elapsed:.1f} s (warnings count as errors)",
              file=sys.stderr)
        return rc
    mirror_widget_fonts(root / "_build" / "html")
    print(f"book build: done in {elapsed:.1f} s; "
          f"open file://{root / '_build' / 'html' / 'index.html'}")
    return 0


def mirror_widget_fonts(html: Path) -> int:
    """Copy the widget manager's icon fonts next to the pages that may ask for them.

    widgets-setup.js points the manager at _static/widgets/, but on some page loads the
    manager still derives its public path from the page (``<page dir>/@jupyter-widgets/``)
    and the fonts 404 (seen intermittently on book/results.html). Serving them at both
    places makes the page independent of which path wins. Returns the files copied.
    """
    fonts = [f for f in (html / "_static" / "widgets").glob("*") if f.suffix in FONT_SUFFIXES]
    if not fonts:
        return 0
    copied = 0
    for page_dir in sorted({page.parent for page in html.rglob("*.html")}):
        target = page_dir / "@jupyter-widgets"
        target.mkdir(exist_ok=True)
        for font in fonts:
            shutil.copy2(font, target / font.name)
            copied += 1
    return copied
