"""Driver of the executable book: ``python -m alexnet_course.book {run,build,check,browser-test}``.

* ``run`` executes every source notebook ``notebooks/NN_name.ipynb`` listed in ``_toc.yml``
  with papermill into ``book/NN_name.ipynb`` (cwd ``notebooks/``, the profile passed
  through ``COURSE_PROFILE``), skipping chapters whose notebook, package code and profile
  did not change since their last run (``book/.manifest.json``).
* ``build`` renders the HTML with ``jupyter-book build . -W --keep-going``; it never
  executes a notebook (``execute_notebooks: "off"``).
* ``check`` verifies the executed notebooks: present, fully executed, free of errors,
  with their widget state, and with the install cell pointing at ``repository.url``.
* ``browser-test`` opens every page of ``_build/html`` in headless Chromium (driven over
  the DevTools protocol on a pipe, no extra dependency) and fails on console errors,
  images that did not load, widgets or math that did not render, and broken internal links.

The module is also a tiny Sphinx extension (listed in ``_config.yml``): it provides the
``{{ run_summary }}`` substitution, the sentence of the introduction that says how the
chapters of this build were run, derived from the manifest.
"""

from __future__ import annotations

import argparse
import base64
import datetime as _dt
import fnmatch
import hashlib
import html.parser
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import unquote, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST_NAME = ".manifest.json"
PROFILES = ("smoke", "quick", "full")
# Seconds one notebook may run before `run` stops it, unless --timeout says otherwise.
DEFAULT_TIMEOUT_S = {"smoke": 600, "quick": 1800, "full": 4 * 3600}
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
# Package files that do not change what a chapter computes: editing them reruns nothing.
PACKAGE_HASH_EXCLUDE = ("book.py",)
STATIC_DIR = Path("vendor/node_modules/book-static")


class BookError(Exception):
    """A problem the driver reports in one clear line and exits non-zero for."""


# --------------------------------------------------------------------------- config


def load_config(root: Path = REPO_ROOT) -> dict[str, Any]:
    import yaml

    path = root / "_config.yml"
    if not path.is_file():
        raise BookError(f"{path} is missing")
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def repository_url(root: Path = REPO_ROOT) -> str:
    """The repository URL; ``_config.yml``'s ``repository.url`` is its only definition."""
    url = (load_config(root).get("repository") or {}).get("url")
    if not url:
        raise BookError("_config.yml has no repository.url")
    return str(url).rstrip("/")


def install_cell_source(url: str) -> str:
    """The guarded cell that makes a chapter run on Colab (first code cell of a notebook).

    Notebooks cannot import the package before it is installed, so the URL is written
    literally; ``check`` verifies it equals ``repository.url`` of ``_config.yml``.
    """
    return ("try:\n"
            "    import alexnet_course\n"
            "except ImportError:  # e.g. on Colab: install the course's package\n"
            f"    %pip install -q git+{url}\n"
            "    import alexnet_course")


# ------------------------------------------------------------------------------ toc


@dataclass(frozen=True)
class TocEntry:
    """One document of ``_toc.yml``, e.g. ``book/04_vgg``."""

    docname: str
    root: Path

    @property
    def name(self) -> str:
        return Path(self.docname).stem if Path(self.docname).suffix in (".ipynb", ".md") \
            else Path(self.docname).name

    @property
    def path(self) -> Path | None:
        """The file in book/ that the build renders, when it exists."""
        base = self.root / self.docname
        if base.suffix in (".ipynb", ".md", ".rst") and base.is_file():
            return base
        for suffix in (".ipynb", ".md", ".rst"):
            candidate = base.with_name(base.name + suffix)
            if candidate.is_file():
                return candidate
        return None

    @property
    def source(self) -> Path | None:
        """``notebooks/<name>.ipynb`` when the page is an executed notebook."""
        candidate = self.root / "notebooks" / f"{self.name}.ipynb"
        return candidate if candidate.is_file() else None

    @property
    def output(self) -> Path:
        return self.root / Path(self.docname).parent / f"{self.name}.ipynb"


def _toc_files(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("file"), str):
            yield node["file"]
        for key in ("parts", "chapters", "sections"):
            for child in node.get(key) or []:
                yield from _toc_files(child)
    elif isinstance(node, list):
        for child in node:
            yield from _toc_files(child)


def parse_toc(root: Path = REPO_ROOT) -> list[TocEntry]:
    """The documents of ``_toc.yml`` (format jb-book or jb-article) in reading order."""
    import yaml

    path = root / "_toc.yml"
    if not path.is_file():
        raise BookError(f"{path} is missing")
    toc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(toc, dict) or "root" not in toc:
        raise BookError(f"{path}: expected a jb-book table of contents with a 'root' key")
    docs = [str(toc["root"]), *(_toc_files({k: v for k, v in toc.items() if k != "root"}))]
    seen: set[str] = set()
    entries = []
    for doc in docs:
        if doc not in seen:
            seen.add(doc)
            entries.append(TocEntry(doc, root))
    return entries


def missing_documents(entries: Sequence[TocEntry]) -> list[str]:
    """One message per toc entry with no file in book/ to render."""
    problems = []
    for entry in entries:
        if entry.path is None:
            hint = (f"run `python -m alexnet_course.book run --only {entry.name}`"
                    if entry.source else
                    f"neither {entry.docname}.ipynb/.md nor notebooks/{entry.name}.ipynb "
                    "exists; write it or remove it from _toc.yml")
            problems.append(f"{entry.docname}: listed in _toc.yml but missing ({hint})")
    return problems


# ------------------------------------------------------------------------- manifest


def notebook_hash(path: Path) -> str:
    """Hash of what a notebook computes: its cells' types and sources (not outputs)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [[c.get("cell_type"), "".join(c.get("source") or "")] for c in nb.get("cells", [])]
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode()).hexdigest()


def package_hash(root: Path = REPO_ROOT) -> str:
    """Hash of ``alexnet_course/**/*.py`` (paths and contents), the driver excepted."""
    digest = hashlib.sha256()
    package = root / "alexnet_course"
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if path.name in PACKAGE_HASH_EXCLUDE and path.parent == package:
            continue
        if "__pycache__" in path.parts:
            continue
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def manifest_path(root: Path = REPO_ROOT) -> Path:
    return root / "book" / MANIFEST_NAME


def load_manifest(root: Path = REPO_ROOT) -> dict[str, Any]:
    path = manifest_path(root)
    if path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        data.setdefault("chapters", {})
        return data
    return {"version": 1, "chapters": {}}


def save_manifest(manifest: dict[str, Any], root: Path = REPO_ROOT) -> None:
    path = manifest_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest["chapters"] = dict(sorted(manifest["chapters"].items()))
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)


def run_reason(record: dict[str, Any] | None, source_sha: str, package_sha: str,
               profile: str, output_exists: bool) -> str | None:
    """Why a chapter must be executed again, or None when its last run is still valid."""
    if not output_exists:
        return "no executed copy"
    if not record:
        return "never run by the driver"
    if record.get("profile") != profile:
        return f"profile {record.get('profile')} -> {profile}"
    if record.get("source_sha256") != source_sha:
        return "notebook changed"
    if record.get("package_sha256") != package_sha:
        return "package code changed"
    return None


def resolve_profile_name(profile: str) -> str:
    if profile != "auto":
        if profile not in PROFILES:
            raise BookError(f"unknown profile {profile!r}; choose auto, {', '.join(PROFILES)}")
        return profile
    try:
        from alexnet_course.course.profiles import resolve_profile
    except ImportError:
        import torch

        return "full" if torch.cuda.is_available() else "quick"
    return resolve_profile("auto").name


def describe_device() -> dict[str, Any]:
    """Where the chapters run: what ``run`` records in the manifest."""
    import torch

    info: dict[str, Any] = {"torch": torch.__version__}
    if torch.cuda.is_available():
        info.update(kind="cuda", name=torch.cuda.get_device_name(0))
    else:
        try:
            cores = len(os.sched_getaffinity(0))
        except AttributeError:
            cores = os.cpu_count() or 1
        info.update(kind="cpu", name=f"CPU ({cores} cores)", cores=cores)
    return info


def run_summary(manifest: dict[str, Any], entries: Sequence[TocEntry] | None = None) -> str:
    """The introduction's sentence on how the executed chapters of this build were run."""
    chapters = manifest.get("chapters") or {}
    if entries is not None:
        order = [e.name for e in entries]
        chapters = {k: chapters[k] for k in order if k in chapters}
    if not chapters:
        return ("No chapter of this build has been executed by the driver yet: run "
                "`make book` to execute them.")

    def device_words(record: dict[str, Any]) -> str:
        device = record.get("device") or {}
        if device.get("kind") == "cpu":
            cores = device.get("cores")
            return f"a {cores}-core CPU" if cores else "a CPU"
        return device.get("name") or "an unknown device"

    dates = sorted(str(r.get("date", ""))[:10] for r in chapters.values() if r.get("date"))
    when = ""
    if dates:
        when = f" on {dates[0]}" if dates[0] == dates[-1] else f" between {dates[0]} and {dates[-1]}"
    any_gpu = any((r.get("device") or {}).get("kind") == "cuda" for r in chapters.values())
    gpu_note = "" if any_gpu else " No chapter has been run on a GPU yet."
    groups: dict[tuple[str, str], list[str]] = {}
    for name, record in chapters.items():
        groups.setdefault((str(record.get("profile")), device_words(record)), []).append(name)
    total = sum(float(r.get("wall_s") or 0) for r in chapters.values())
    cost = f" Executing them took {total / 60:.0f} minutes in all." if total >= 60 else ""
    if len(groups) == 1:
        (profile, device), names = next(iter(groups.items()))
        count = ("The executed chapter in this build was" if len(names) == 1
                 else f"The {len(names)} executed chapters in this build were")
        return (f"{count} run in the **{profile}** profile on {device}"
                f"{when}.{cost}{gpu_note}")
    lines = [f"The executed chapters in this build were run{when} as follows.{cost}{gpu_note}", ""]
    for (profile, device), names in groups.items():
        lines.append(f"- **{profile}** profile on {device}: {', '.join(names)}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ run


def _select(entries: Sequence[TocEntry], only: Sequence[str] | None) -> list[TocEntry]:
    executable = [e for e in entries if e.source is not None]
    if not only:
        return executable
    chosen = []
    for wanted in only:
        wanted = Path(wanted).stem
        matches = [e for e in executable if e.name == wanted] or \
                  [e for e in executable if e.name.startswith(wanted)]
        if len(matches) != 1:
            names = ", ".join(e.name for e in executable) or "none"
            raise BookError(f"--only {wanted}: {'ambiguous' if matches else 'no such'} chapter "
                            f"(chapters with a source notebook: {names})")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def execute_notebook(source: Path, output: Path, profile: str, timeout: float,
                     log_path: Path) -> tuple[bool, float, str]:
    """Run one notebook with papermill in a subprocess (killed after ``timeout`` seconds).

    Returns (succeeded, wall seconds, message). A crash or a timeout keeps the cells that
    had finished (papermill saves after every cell).
    """
    env = dict(os.environ, COURSE_PROFILE=profile, PYTHONUNBUFFERED="1")
    # the python3 kernelspec runs `python`: make it this environment's interpreter
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    cmd = [sys.executable, "-m", "papermill", str(source), str(output),
           "--cwd", str(source.parent), "--kernel", "python3",
           "--request-save-on-cell-execute", "--log-output", "--no-progress-bar"]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log:
        log.write(f"$ COURSE_PROFILE={profile} {' '.join(cmd)}\n")
        log.flush()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            return False, time.monotonic() - start, f"timed out after {timeout:.0f} s"
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGTERM)
            raise
    wall = time.monotonic() - start
    return rc == 0, wall, "" if rc == 0 else f"papermill exited with status {rc}"


def command_run(root: Path, profile: str, only: Sequence[str] | None, force: bool,
                timeout: float | None = None) -> int:
    entries = parse_toc(root)
    selected = _select(entries, only)
    unrunnable = [e for e in entries if e.path is None and e.source is None]
    profile = resolve_profile_name(profile)
    if timeout is None:
        timeout = DEFAULT_TIMEOUT_S.get(profile, 3600)
    manifest = load_manifest(root)
    package_sha = package_hash(root)
    device: dict[str, Any] | None = None
    failures: list[str] = []
    total_start = time.monotonic()
    print(f"book run: profile {profile}, {len(selected)} notebook(s) with a source in "
          f"notebooks/, at most {timeout:.0f} s each", flush=True)
    for index, entry in enumerate(selected, 1):
        assert entry.source is not None
        source_sha = notebook_hash(entry.source)
        record = manifest["chapters"].get(entry.name)
        reason = "--force" if force else run_reason(record, source_sha, package_sha, profile,
                                                      entry.output.is_file())
        prefix = f"[{index}/{len(selected)}] {entry.name}"
        if reason is None:
            print(f"{prefix}: up to date, skipped", flush=True)
            continue
        if device is None:
            device = describe_device()
        print(f"{prefix}: running ({reason}; profile {profile}, {device['name']}) ...",
              flush=True)
        log_path = root / "_build" / "logs" / f"{entry.name}.log"
        entry.output.parent.mkdir(parents=True, exist_ok=True)
        manifest["chapters"].pop(entry.name, None)
        save_manifest(manifest, root)
        ok, wall, message = execute_notebook(entry.source, entry.output, profile, timeout,
                                             log_path)
        if ok:
            manifest["chapters"][entry.name] = {
                "source_sha256": source_sha, "package_sha256": package_sha,
                "profile": profile, "device": device,
                "date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                "wall_s": round(wall, 1)}
            save_manifest(manifest, root)
            print(f"{prefix}: done in {wall:.1f} s", flush=True)
        else:
            failures.append(entry.name)
            print(f"{prefix}: FAILED after {wall:.1f} s: {message}\n  log: {log_path}\n"
                  f"  the cells that finished are kept in {entry.output.relative_to(root)}\n"
                  + "\n".join("    " + line for line in _tail(log_path).splitlines()),
                  flush=True)
    print(f"book run: {time.monotonic() - total_start:.1f} s in all", flush=True)
    for entry in unrunnable:
        print(f"book run: {entry.docname} is listed in _toc.yml but has neither a source "
              f"notebooks/{entry.name}.ipynb nor a page in book/", file=sys.stderr)
    if failures:
        print(f"book run: failed: {', '.join(failures)}", file=sys.stderr)
    return 1 if failures or unrunnable else 0


# ---------------------------------------------------------------------------- check


def _cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source") or ""
    return "".join(source) if isinstance(source, list) else source


GIT_URL = re.compile(r"git\+(\S+?)(?:\.git)?(?:@[\w./-]+)?(?=[\s\"'#]|$)")
IMPORTS_PACKAGE = re.compile(r"^\s*(?:import|from)\s+alexnet_course\b", re.M)


def check_install_cell(nb: dict[str, Any], url: str) -> list[str]:
    """The notebook's install cell must use ``url``, before the first import of the package."""
    problems = []
    install_seen = False
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = _cell_source(cell)
        urls = GIT_URL.findall(source)
        for found in urls:
            if found.rstrip("/") != url:
                problems.append(f"cell {index}: installs from {found}, but _config.yml's "
                                f"repository.url is {url}")
        if urls and "pip" in source:
            install_seen = True
        elif IMPORTS_PACKAGE.search(source) and not install_seen:
            problems.append(f"cell {index} imports alexnet_course before any install cell; "
                            "start the notebook with the cell printed by "
                            "`python -m alexnet_course.book install-cell`")
            break
    return problems


def check_notebook(nb: dict[str, Any]) -> list[str]:
    """Problems of an executed notebook: unexecuted cells, errors, lost widget state."""
    problems = []
    views: set[str] = set()
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if _cell_source(cell).strip() and cell.get("execution_count") is None:
            problems.append(f"cell {index} was not executed")
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                problems.append(f"cell {index} raised {output.get('ename')}: "
                                f"{str(output.get('evalue'))[:200]}")
            view = (output.get("data") or {}).get(WIDGET_VIEW_MIME)
            if isinstance(view, dict) and view.get("model_id"):
                views.add(view["model_id"])
    if views:
        state = ((nb.get("metadata") or {}).get("widgets") or {}).get(WIDGET_STATE_MIME) or {}
        missing = views - set((state.get("state") or {}))
        if missing:
            problems.append(f"{len(missing)} widget output(s) without saved widget state "
                            "(metadata.widgets); re-execute with papermill/nbclient "
                            "(store_widget_state)")
    return problems


def command_check(root: Path, strict: bool = False) -> int:
    entries = parse_toc(root)
    url = repository_url(root)
    problems = missing_documents(entries)
    warnings: list[str] = []
    manifest = load_manifest(root)
    package_sha = package_hash(root)
    notebooks: dict[Path, str] = {}
    for entry in entries:
        path = entry.path
        if path is None or path.suffix != ".ipynb":
            continue
        nb = json.loads(path.read_text(encoding="utf-8"))
        problems += [f"{entry.docname}: {p}" for p in check_notebook(nb)]
        notebooks[path] = entry.docname
        if entry.source is not None:
            record = manifest["chapters"].get(entry.name)
            reason = run_reason(record, notebook_hash(entry.source), package_sha,
                                (record or {}).get("profile", "?"), True)
            if reason:
                warnings.append(f"{entry.docname}: executed copy is stale ({reason}); "
                                f"run `python -m alexnet_course.book run --only {entry.name}`")
    for source in sorted((root / "notebooks").glob("*.ipynb")):
        notebooks[source] = source.relative_to(root).as_posix()
    for path, label in notebooks.items():
        nb = json.loads(path.read_text(encoding="utf-8"))
        problems += [f"{label}: {p}" for p in check_install_cell(nb, url)]
    for warning in warnings:
        print(f"warning: {warning}")
    if strict:
        problems += warnings
    for problem in problems:
        print(f"error: {problem}")
    count = sum(1 for e in entries if e.path is not None)
    if problems:
        print(f"book check: {len(problems)} problem(s) in {len(entries)} documents")
        return 1
    print(f"book check: {count} documents ok ({len(notebooks)} notebooks; "
          f"install URL {url})")
    return 0


# ---------------------------------------------------------------------------- build


def _vendor_spec(root: Path) -> dict[str, Any]:
    return json.loads((root / "vendor" / "vendor.json").read_text(encoding="utf-8"))


def _npm_pack(name: str, version: str, integrity: str, dest: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise BookError("npm is needed once to fetch the book's JavaScript "
                        f"({name}@{version}); install Node.js/npm (Debian: apt-get install npm)")
    out = subprocess.run([npm, "pack", f"{name}@{version}", "--pack-destination", str(dest),
                          "--json", "--ignore-scripts"], capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        raise BookError(f"npm pack {name}@{version} failed:\n{out.stderr[-2000:]}")
    filename = json.loads(out.stdout)[0]["filename"].replace("/", "-").lstrip("@")
    tarball = dest / filename
    if not tarball.is_file():
        candidates = list(dest.glob("*.tgz"))
        tarball = max(candidates, key=lambda p: p.stat().st_mtime)
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        raise BookError(f"{name}@{version}: integrity mismatch ({algorithm} {actual})")
    return tarball


def ensure_vendor(root: Path = REPO_ROOT) -> Path:
    """Stage the pinned JavaScript of vendor/vendor.json into vendor/node_modules/book-static.

    Fetched once with ``npm pack`` (integrity-checked); the build copies the folder into
    ``_build/html/_static`` so widgets and math render without a CDN.
    """
    spec_text = (root / "vendor" / "vendor.json").read_text(encoding="utf-8")
    static = root / STATIC_DIR
    stamp = static / "vendor-stamp.txt"
    digest = hashlib.sha256(spec_text.encode()).hexdigest()
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return static
    spec = json.loads(spec_text)
    if static.exists():
        shutil.rmtree(static)
    static.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        for package in spec["packages"]:
            print(f"vendor: fetching {package['name']}@{package['version']} with npm",
                  flush=True)
            tarball = _npm_pack(package["name"], package["version"], package["integrity"],
                                Path(tmp))
            with tarfile.open(tarball) as archive:
                members = archive.getmembers()
                for rule in package["copy"]:
                    prefix = "package/" + rule.get("from", "")
                    copied = 0
                    for member in members:
                        if not member.isfile() or not member.name.startswith(prefix):
                            continue
                        rel = member.name[len(prefix):]
                        if not any(fnmatch.fnmatch(rel, pat) for pat in rule["include"]):
                            continue
                        target = static / rule["to"] / rel
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with archive.extractfile(member) as src:  # type: ignore[union-attr]
                            target.write_bytes(src.read())
                        copied += 1
                    if not copied:
                        raise BookError(f"{package['name']}: nothing matched {rule}")
    stamp.write_text(digest + "\n")
    return static


def jupyter_book_executable() -> str:
    candidate = Path(sys.executable).with_name("jupyter-book")
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("jupyter-book")
    if not found:
        raise BookError("jupyter-book is not installed (pip install -r requirements.txt)")
    return found


def command_build(root: Path) -> int:
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
    index = root / "_build" / "html" / "index.html"
    if rc != 0:
        print(f"book build: FAILED after {elapsed:.1f} s (warnings count as errors)",
              file=sys.stderr)
        return rc
    mirror_widget_fonts(root / "_build" / "html")
    print(f"book build: done in {elapsed:.1f} s; open file://{index}")
    return 0


def mirror_widget_fonts(html: Path) -> int:
    """Copy the widget manager's icon fonts next to the pages that may ask for them.

    widgets-setup.js points the manager at _static/widgets/, but on some page loads the
    manager still derives its public path from the page (``<page dir>/@jupyter-widgets/``)
    and the fonts 404 (seen intermittently on book/results.html). Serving them at both
    places makes the page independent of which path wins.
    """
    fonts = [f for f in (html / "_static" / "widgets").glob("*")
             if f.suffix in {".woff", ".woff2", ".ttf", ".eot", ".svg"}]
    copied = 0
    for page_dir in {p.parent for p in html.rglob("*.html")} if fonts else ():
        target = page_dir / "@jupyter-widgets"
        target.mkdir(exist_ok=True)
        for font in fonts:
            shutil.copy2(font, target / font.name)
            copied += 1
    return copied


# --------------------------------------------------------------------- browser test


class _PageParser(html.parser.HTMLParser):
    """Ids and link targets of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key) and (key == "id" or tag == "a"):
                self.ids.add(str(values[key]))
        attr = {"a": "href", "link": "href", "img": "src", "script": "src",
                "iframe": "src", "source": "src"}.get(tag)
        if attr and values.get(attr):
            self.links.append((tag, str(values[attr])))


def _parse_page(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def html_pages(site: Path) -> list[Path]:
    skip = ("_static", "_sources", "_images", "_sphinx_design_static", "_panels_static")
    return sorted(p for p in site.rglob("*.html")
                  if not p.relative_to(site).parts[0] in skip)


def broken_links(site: Path, pages: Iterable[Path]) -> list[str]:
    """Internal links (a/link/img/script) whose file or #anchor does not exist."""
    cache: dict[Path, _PageParser] = {}

    def parsed(path: Path) -> _PageParser:
        if path not in cache:
            cache[path] = _parse_page(path)
        return cache[path]

    problems = []
    site = site.resolve()
    for page in pages:
        page = page.resolve()
        for tag, link in parsed(page).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "javascript:")):
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(site)}: <{tag}> {link}"
            if site not in target.parents and target != site:
                problems.append(f"{where} points outside the site")
            elif not target.is_file():
                problems.append(f"{where}: no such file")
            elif parts.fragment and target.suffix == ".html" and tag == "a" \
                    and unquote(parts.fragment) not in parsed(target).ids:
                problems.append(f"{where}: no element with id {parts.fragment!r}")
    return problems


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        # Chromium asks for /favicon.ico by itself; the book has none, which is no error.
        if self.path == "/favicon.ico" and not Path(self.translate_path(self.path)).exists():
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()


def _fd_above(fd: int, minimum: int) -> int:
    import fcntl

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD, minimum)
    os.close(fd)
    return moved


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4)."""

    def __init__(self, executable: str, user_data_dir: str, width: int = 1280,
                 height: int = 1000) -> None:
        to_child_r, self._write_fd = os.pipe()
        self._read_fd, from_child_w = os.pipe()
        # move the child's ends above 9 so that they never collide with fds 3 and 4
        to_child_r, from_child_w = (_fd_above(to_child_r, 10), _fd_above(from_child_w, 10))
        args = [executable, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage",
                "--disable-extensions", "--remote-debugging-pipe",
                f"--user-data-dir={user_data_dir}", f"--window-size={width},{height}",
                "about:blank"]
        # The DevTools pipe is the child's fds 3 (commands in) and 4 (messages out): a
        # Python trampoline puts the pipe ends there, then becomes Chromium.
        script = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
                  "os.close(int(sys.argv[1])); os.close(int(sys.argv[2])); "
                  "os.execv(sys.argv[3], sys.argv[3:])")
        self._proc = subprocess.Popen([sys.executable, "-c", script, str(to_child_r),
                                       str(from_child_w), *args],
                                      pass_fds=(to_child_r, from_child_w),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._read_fd], [], [], remaining)
            if ready:
                chunk = os.read(self._read_fd, 1 << 20)
                if not chunk:
                    raise BookError("Chromium closed the DevTools pipe (did it crash?)")
                self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None,
             session: str | None = None, timeout: float = 60) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BookError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, session: str | None, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event["method"] == method and event.get("sessionId") == session:
                    return True
            seen = len(self.events)
            try:
                self.events.append(self._read_message(deadline))
            except TimeoutError:
                return False

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (BookError, TimeoutError, OSError):
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        os.close(self._read_fd)
        os.close(self._write_fd)


# Runs in each page after its load event: waits for widgets and math to render and for
# every image to finish loading, then reports what did not.
PAGE_PROBE = """
(async () => {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const widgets = document.querySelectorAll(
      'script[type="application/vnd.jupyter.widget-view+json"]').length;
  const math = document.querySelectorAll('.math').length;
  const deadline = Date.now() + 15000;
  let widgetsShown = 0, mathShown = 0;
  while (Date.now() < deadline) {
    widgetsShown = document.querySelectorAll('.jupyter-widgets, .widget-container').length;
    mathShown = document.querySelectorAll('mjx-container').length;
    if ((!widgets || widgetsShown) && (!math || mathShown)) break;
    await sleep(100);
  }
  const images = Array.from(document.images);
  images.forEach((img) => { img.loading = 'eager'; });
  await Promise.all(images.map((img) => img.complete ? null : new Promise((resolve) => {
    img.addEventListener('load', resolve); img.addEventListener('error', resolve);
    setTimeout(resolve, 10000);
  })));
  return {
    title: document.title,
    widgets, widgetsShown, math, mathShown, images: images.length,
    badImages: images.filter((i) => !i.complete || i.naturalWidth === 0)
                     .map((i) => i.getAttribute('src')),
  };
})()
"""


def find_chromium() -> str:
    candidates = [os.environ.get("CHROMIUM", ""), "chromium", "chromium-browser",
                  "google-chrome", "google-chrome-stable"]
    for candidate in candidates:
        found = candidate and shutil.which(candidate)
        if found:
            return found
    raise BookError("browser-test needs Chromium: apt-get install chromium (or set CHROMIUM)")


def _console_errors(events: Iterable[dict[str, Any]], session: str) -> list[str]:
    errors = []
    for event in events:
        if event.get("sessionId") != session:
            continue
        params = event.get("params", {})
        if event["method"] == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = (details.get("exception") or {}).get("description") or details.get("text")
            where = f" ({details.get('url')}:{details.get('lineNumber')})" \
                if details.get("url") else ""
            errors.append(f"uncaught exception: {str(text).splitlines()[0]}{where}")
        elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") in (
                "error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", "")))
                            for a in params.get("args", []))
            errors.append(f"console.{params['type']}: {text[:300]}")
        elif event["method"] == "Log.entryAdded" and \
                params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}"
                          .strip())
    return errors


def command_browser_test(root: Path, screenshots: int = 2) -> int:
    site = root / "_build" / "html"
    if not (site / "index.html").is_file():
        print("browser-test: no _build/html yet, building it first", flush=True)
        rc = command_build(root)
        if rc:
            return rc
    start = time.monotonic()
    pages = html_pages(site)
    problems = broken_links(site, pages)
    entries = parse_toc(root)
    chapter_pages = [site / f"{e.docname}.html" for e in entries
                     if e.path is not None and e.path.suffix == ".ipynb"]
    shoot = [p for p in chapter_pages if p.is_file()][:screenshots]
    shots_dir = root / "_build" / "screenshots"
    shots_dir.mkdir(parents=True, exist_ok=True)
    handler = partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    executable = find_chromium()
    with tempfile.TemporaryDirectory(prefix="book-chromium-") as profile_dir:
        browser = Chromium(executable, profile_dir)
        try:
            target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = browser.send("Target.attachToTarget",
                                   {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                browser.send(f"{domain}.enable", session=session)
            for page in pages:
                rel = page.relative_to(site).as_posix()
                t0 = time.monotonic()
                browser.events.clear()
                browser.send("Page.navigate", {"url": f"http://127.0.0.1:{port}/{rel}"},
                             session=session)
                if not browser.wait_event("Page.loadEventFired", session, 60):
                    problems.append(f"{rel}: did not finish loading in 60 s")
                    continue
                for attempt in range(3):  # a redirect page (index.html) navigates away
                    try:
                        result = browser.send("Runtime.evaluate",
                                              {"expression": PAGE_PROBE, "awaitPromise": True,
                                               "returnByValue": True}, session=session,
                                              timeout=90)
                        break
                    except BookError as error:
                        if "navigated" not in str(error) or attempt == 2:
                            raise
                        browser.wait_event("Page.loadEventFired", session, 30)
                probe = (result.get("result") or {}).get("value") or {}
                time.sleep(0.2)  # let late console messages arrive
                try:
                    browser.send("Runtime.evaluate", {"expression": "0"}, session=session)
                except BookError:
                    pass
                page_problems = [f"{rel}: {e}" for e in _console_errors(browser.events, session)]
                page_problems += [f"{rel}: image did not load: {src}"
                                  for src in probe.get("badImages", [])]
                if probe.get("widgets") and not probe.get("widgetsShown"):
                    page_problems.append(f"{rel}: {probe['widgets']} widget(s) did not render")
                if probe.get("math") and not probe.get("mathShown"):
                    page_problems.append(f"{rel}: math did not render (MathJax)")
                if page in shoot:
                    shot = browser.send("Page.captureScreenshot", {"format": "png"},
                                        session=session)
                    (shots_dir / f"{page.stem}.png").write_bytes(base64.b64decode(shot["data"]))
                status = "FAIL" if page_problems else "ok  "
                print(f"{status} {rel} ({time.monotonic() - t0:.1f} s; "
                      f"{probe.get('images', 0)} images, {probe.get('widgets', 0)} widgets, "
                      f"{probe.get('math', 0)} math)", flush=True)
                problems += page_problems
        finally:
            browser.close()
            server.shutdown()
            server.server_close()
    for problem in problems:
        print(f"error: {problem}")
    elapsed = time.monotonic() - start
    if shoot:
        print(f"browser-test: screenshots in {shots_dir}: "
              + ", ".join(p.stem + ".png" for p in shoot))
    if problems:
        print(f"browser-test: {len(problems)} problem(s) in {len(pages)} pages "
              f"({elapsed:.1f} s)")
        return 1
    print(f"browser-test: {len(pages)} pages ok in {elapsed:.1f} s")
    return 0


# ------------------------------------------------------------------- sphinx and cli


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension: the ``{{ run_summary }}`` substitution of book/intro.md."""

    def add_summary(app: Any, config: Any) -> None:
        root = Path(app.srcdir)
        try:
            entries: list[TocEntry] | None = parse_toc(root)
        except BookError:
            entries = None
        substitutions = dict(getattr(config, "myst_substitutions", None) or {})
        substitutions["run_summary"] = run_summary(load_manifest(root), entries)
        config.myst_substitutions = substitutions

    def dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                       doctree: Any) -> None:
        # sphinx-thebe and sphinx-togglebutton register their inline scripts twice with
        # Jupyter Book 1.0 + Sphinx 7 ("Identifier 'THEBE_JS_URL' has already been declared").
        scripts = context.get("script_files")
        if not scripts:
            return
        seen: set[tuple[str, str]] = set()
        unique = []
        for script in scripts:
            key = (str(getattr(script, "filename", script) or ""),
                   json.dumps(getattr(script, "attributes", {}), sort_keys=True, default=str))
            if key not in seen:
                seen.add(key)
                unique.append(script)
        context["script_files"] = unique

    app.connect("config-inited", add_summary)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alexnet_course.book",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute the chapter notebooks into book/")
    run.add_argument("--profile", default="auto", choices=("auto", *PROFILES),
                     help="run profile (default auto: full on CUDA, quick on CPU)")
    run.add_argument("--only", nargs="+", metavar="CHAPTER",
                     help="chapters to consider (name or prefix, e.g. 04 or 04_vgg)")
    run.add_argument("--force", action="store_true",
                     help="execute even when notebook, package and profile are unchanged")
    run.add_argument("--timeout", type=float, default=None, metavar="S",
                     help="seconds one notebook may run before it is stopped (default: "
                     + ", ".join(f"{k} {v}" for k, v in DEFAULT_TIMEOUT_S.items()) + ")")
    commands.add_parser("build", help="render the HTML book (warnings are errors)")
    check = commands.add_parser("check", help="verify the executed notebooks of the toc")
    check.add_argument("--strict", action="store_true",
                       help="also fail on chapters whose executed copy is stale")
    browser = commands.add_parser("browser-test",
                                  help="open every page in headless Chromium")
    browser.add_argument("--screenshots", type=int, default=2, metavar="N",
                         help="chapters to screenshot into _build/screenshots (default 2)")
    commands.add_parser("install-cell", help="print the Colab install cell for a notebook")
    commands.add_parser("vendor", help="fetch the pinned JavaScript into "
                        "vendor/node_modules/book-static")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root: Path = args.root.resolve()
    try:
        if args.command == "run":
            return command_run(root, args.profile, args.only, args.force, args.timeout)
        if args.command == "build":
            return command_build(root)
        if args.command == "check":
            return command_check(root, strict=args.strict)
        if args.command == "browser-test":
            return command_browser_test(root, args.screenshots)
        if args.command == "install-cell":
            print(install_cell_source(repository_url(root)))
            return 0
        if args.command == "vendor":
            print(f"vendor: staged in {ensure_vendor(root)}")
            return 0
    except BookError as error:
        print(f"book {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
