"""``build``: book/ rendered to ``_build/html`` by Jupyter Book, which executes no notebook
and counts warnings as errors. The book serves its JavaScript itself (no CDN): the pinned
npm packages of ``vendor/vendor.json`` are fetched once (``npm pack``, checked against their
sha512 integrity) into ``vendor/node_modules/book-static`` (``html_static_path``).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from .checks import missing_documents
from .paths import REPO_ROOT, BookError, executable, parse_toc, read_json

STATIC_DIR = Path("vendor/node_modules/book-static")
SPEC = Path("vendor/vendor.json")
FONT_SUFFIXES = {".woff", ".woff2", ".ttf", ".eot", ".svg"}


def vendor_spec(root: Path = REPO_ROOT) -> dict[str, Any]:
    """``vendor/vendor.json``: ``{"packages": [{name, version, integrity, copy}, ...]}``."""
    spec = read_json(root / SPEC)
    if not isinstance(spec, dict) or not isinstance(spec.get("packages"), list):
        raise BookError(f"{root / SPEC}: expected {{\"packages\": [...]}}")
    return spec


def stage_package(package: dict[str, Any], static: Path) -> None:
    """Fetch one package of vendor.json with ``npm pack``, check its integrity, and copy the
    files each of its rules selects (``from`` prefix, ``include`` globs) to ``static/to``."""
    name = f"{package['name']}@{package['version']}"
    npm = shutil.which("npm")
    if npm is None:
        raise BookError(f"npm is needed once to fetch the book's JavaScript ({name}); install "
                        "Node.js/npm (Debian: apt-get install npm)")
    print(f"vendor: fetching {name} with npm", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run([npm, "pack", name, "--pack-destination", tmp, "--ignore-scripts"],
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise BookError(f"npm pack {name} failed:\n{out.stderr[-2000:]}")
        tarball = next(Path(tmp).glob("*.tgz"))
        algorithm, _, expected = package["integrity"].partition("-")
        actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
        if actual != expected:
            raise BookError(f"{name}: integrity mismatch ({algorithm} {actual})")
        with tarfile.open(tarball) as archive:
            members = [member for member in archive.getmembers() if member.isfile()]
            for rule in package["copy"]:
                prefix = "package/" + rule.get("from", "")
                chosen = [m for m in members if m.name.startswith(prefix) and any(
                    fnmatch.fnmatch(m.name[len(prefix):], glob) for glob in rule["include"])]
                if not chosen:
                    raise BookError(f"{name}: nothing matched {rule}")
                for member in chosen:
                    target = static / rule["to"] / member.name[len(prefix):]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.extractfile(member) as src:  # type: ignore[union-attr]
                        target.write_bytes(src.read())


def ensure_vendor(root: Path = REPO_ROOT) -> Path:
    """Stage the pinned JavaScript of vendor/vendor.json once (a stamp holds its hash)."""
    static = root / STATIC_DIR
    stamp = static / "vendor-stamp.txt"
    digest = hashlib.sha256((root / SPEC).read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return static
    spec = vendor_spec(root)
    shutil.rmtree(static, ignore_errors=True)
    static.mkdir(parents=True)
    for package in spec["packages"]:
        stage_package(package, static)
    stamp.write_text(digest + "\n")
    return static


def mirror_widget_fonts(html: Path) -> int:
    """Copy the widget manager's icon fonts next to every page; the files copied.

    widgets-setup.js points the manager at _static/widgets/, but on some page loads the
    manager still derives its public path from the page (``<page dir>/@jupyter-widgets/``)
    and the fonts 404 (seen intermittently on book/results.html): served at both places,
    the page does not depend on which path wins.
    """
    fonts = [f for f in (html / "_static" / "widgets").glob("*") if f.suffix in FONT_SUFFIXES]
    copied = 0
    for page_dir in sorted({page.parent for page in html.rglob("*.html")} if fonts else []):
        (page_dir / "@jupyter-widgets").mkdir(exist_ok=True)
        for font in fonts:
            shutil.copy2(font, page_dir / "@jupyter-widgets" / font.name)
            copied += 1
    return copied


def command_build(root: Path) -> int:
    problems = missing_documents(parse_toc(root))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print("book build: not building; every document of _toc.yml must exist first",
              file=sys.stderr)
        return 1
    ensure_vendor(root)
    start = time.monotonic()
    # Sphinx never deletes pages that left the toc; the doctrees cache keeps this cheap.
    shutil.rmtree(root / "_build" / "html", ignore_errors=True)
    cmd = [executable("jupyter-book"), "build", str(root), "-W", "--keep-going"]
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
