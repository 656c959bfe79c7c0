"""The JavaScript the book serves itself (no CDN): pinned npm packages, fetched once.

``vendor/vendor.json`` lists each package with its version, its registry integrity
(sha512) and the files to copy. :func:`ensure_vendor` fetches the tarballs with
``npm pack``, checks their integrity and copies the files into
``vendor/node_modules/book-static``, which ``_config.yml`` lists in ``html_static_path``.
A stamp (the hash of vendor.json) makes later builds skip the fetch.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from .paths import REPO_ROOT, BookError, read_json

STATIC_DIR = Path("vendor/node_modules/book-static")
SPEC = Path("vendor/vendor.json")


def vendor_spec(root: Path = REPO_ROOT) -> dict[str, Any]:
    """``vendor/vendor.json``: ``{"packages": [{name, version, integrity, copy}, ...]}``."""
    spec = read_json(root / SPEC)
    if not isinstance(spec, dict) or not isinstance(spec.get("packages"), list):
        raise BookError(f"{root / SPEC}: expected {{\"packages\": [...]}}")
    return spec


def npm_pack(name: str, version: str, integrity: str, dest: Path) -> Path:
    """Download ``name@version`` as a tarball into ``dest`` and check its integrity."""
    npm = shutil.which("npm")
    if npm is None:
        raise BookError("npm is needed once to fetch the book's JavaScript "
                        f"({name}@{version}); install Node.js/npm (Debian: apt-get install npm)")
    out = subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", str(dest),
                          "--json", "--ignore-scripts"], capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        raise BookError(f"npm pack {name}@{version} failed:\n{out.stderr[-2000:]}")
    tarball = dest / json.loads(out.stdout)[0]["filename"].replace("/", "-").lstrip("@")
    if not tarball.is_file():  # npm's naming of scoped packages changed between versions
        tarball = max(dest.glob("*.tgz"), key=lambda p: p.stat().st_mtime)
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        raise BookError(f"{name}@{version}: integrity mismatch ({algorithm} {actual})")
    return tarball


def copy_files(tarball: Path, rules: list[dict[str, Any]], static: Path, name: str) -> None:
    """Copy the files each rule selects (``from`` prefix, ``include`` globs) to ``to``."""
    with tarfile.open(tarball) as archive:
        members = [member for member in archive.getmembers() if member.isfile()]
        for rule in rules:
            prefix = "package/" + rule.get("from", "")
            copied = 0
            for member in members:
                rel = member.name[len(prefix):]
                if not member.name.startswith(prefix) or \
                        not any(fnmatch.fnmatch(rel, pattern) for pattern in rule["include"]):
                    continue
                target = static / rule["to"] / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.extractfile(member) as src:  # type: ignore[union-attr]
                    target.write_bytes(src.read())
                copied += 1
            if not copied:
                raise BookError(f"{name}: nothing matched {rule}")


def ensure_vendor(root: Path = REPO_ROOT) -> Path:
    """Stage the pinned JavaScript of vendor/vendor.json (once); return the folder."""
    static = root / STATIC_DIR
    stamp = static / "vendor-stamp.txt"
    digest = hashlib.sha256((root / SPEC).read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return static
    spec = vendor_spec(root)
    shutil.rmtree(static, ignore_errors=True)
    static.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        for package in spec["packages"]:
            print(f"vendor: fetching {package['name']}@{package['version']} with npm",
                  flush=True)
            tarball = npm_pack(package["name"], package["version"], package["integrity"],
                               Path(tmp))
            copy_files(tarball, package["copy"], static, package["name"])
    stamp.write_text(digest + "\n")
    return static
