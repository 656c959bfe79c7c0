"""Sphinx extension of the book (``sphinx.local_extensions`` in ``_config.yml``).

* the ``{{ run_summary }}`` substitution of book/intro.md: how the executed chapters of
  this build were run (profile, device, dates, time), derived from book/.manifest.json;
* one copy of each inline script per page (see :func:`dedupe_scripts`);
* the Colab launch button opens the chapter's rendition ``colab/<name>.ipynb`` at the
  pinned reference instead of the MyST page ``book/<name>.ipynb`` (see :func:`colab_button`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from .colab import pinned_ref
from .manifest import load_manifest
from .paths import BookError, TocEntry, load_config, parse_toc
from .rendition import FOLDER


def _device_words(record: dict[str, Any]) -> str:
    device = record.get("device") or {}
    if device.get("kind") == "cpu":
        cores = device.get("cores")
        return f"a {cores}-core CPU" if cores else "a CPU"
    return device.get("name") or "an unknown device"


def _when(chapters: dict[str, dict[str, Any]]) -> str:
    dates = sorted(str(r.get("date", ""))[:10] for r in chapters.values() if r.get("date"))
    if not dates:
        return ""
    return f" on {dates[0]}" if dates[0] == dates[-1] else f" between {dates[0]} and {dates[-1]}"


def run_summary(manifest: dict[str, Any], entries: Sequence[TocEntry] | None = None) -> str:
    """The introduction's sentence on how the executed chapters of this build were run."""
    chapters = manifest.get("chapters") or {}
    if entries is not None:
        chapters = {e.name: chapters[e.name] for e in entries if e.name in chapters}
    if not chapters:
        return ("No chapter of this build has been executed by the driver yet: run "
                "`make book` to execute them.")
    when = _when(chapters)
    any_gpu = any((r.get("device") or {}).get("kind") == "cuda" for r in chapters.values())
    gpu_note = "" if any_gpu else " No chapter has been run on a GPU yet."
    total = sum(float(r.get("wall_s") or 0) for r in chapters.values())
    cost = f" Executing them took {total / 60:.0f} minutes in all." if total >= 60 else ""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, record in chapters.items():
        groups.setdefault((str(record.get("profile")), _device_words(record)), []).append(name)
    if len(groups) == 1:
        (profile, device), names = next(iter(groups.items()))
        count = ("The executed chapter in this build was" if len(names) == 1
                 else f"The {len(names)} executed chapters in this build were")
        return f"{count} run in the **{profile}** profile on {device}{when}.{cost}{gpu_note}"
    lines = [f"The executed chapters in this build were run{when} as follows.{cost}{gpu_note}",
             ""]
    for (profile, device), names in groups.items():
        lines.append(f"- **{profile}** profile on {device}: {', '.join(names)}")
    return "\n".join(lines)


def add_run_summary(app: Any, config: Any) -> None:
    """``config-inited``: set the ``run_summary`` MyST substitution."""
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
    """``html-page-context``: drop the second copy of a script registered twice.

    sphinx-thebe and sphinx-togglebutton register their inline scripts twice with Jupyter
    Book 1.0 + Sphinx 7 ("Identifier 'THEBE_JS_URL' has already been declared").
    """
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


def _buttons(node: Any) -> list[dict[str, Any]]:
    """Every button of the theme's header (dropdowns hold theirs under ``buttons``)."""
    if isinstance(node, list):
        return [b for child in node for b in _buttons(child)]
    if isinstance(node, dict):
        return [node] + _buttons(node.get("buttons") or [])
    return []


def colab_url(url: str, ref: str, name: str) -> str:
    """The theme's ``.../github/ORG/REPO/blob/BRANCH/book/NAME.ipynb`` → the rendition at ``ref``."""
    head, sep, _ = url.partition("/blob/")
    return f"{head}{sep}{ref}/{FOLDER}/{name}.ipynb" if sep else url


def colab_button(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                 doctree: Any) -> None:
    """``html-page-context`` (after the theme's launch buttons): point the Colab button of a
    chapter with a rendition at it, at the pinned reference (else the book's branch)."""
    root = Path(app.srcdir)
    name = Path(pagename).name
    colab = str(((load_config(root).get("launch_buttons") or {}).get("colab_url") or "")
                ).rstrip("/")
    if not colab or not (root / FOLDER / f"{name}.ipynb").is_file():
        return
    ref = pinned_ref(root) or str((load_config(root).get("repository") or {}).get("branch")
                                  or "main")
    for button in _buttons(context.get("header_buttons") or []):
        if str(button.get("url", "")).startswith(colab + "/"):
            button["url"] = colab_url(button["url"], ref, name)


def setup(app: Any) -> dict[str, Any]:
    """Register the extension's hooks with Sphinx."""
    app.connect("config-inited", add_run_summary)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.connect("html-page-context", colab_button, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
