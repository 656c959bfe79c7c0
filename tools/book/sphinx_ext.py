"""Sphinx extension of the book (``sphinx.local_extensions`` in ``_config.yml``): the
``{{ run_summary }}`` of book/intro.md, one copy of each inline script per page, and the
Colab button of a chapter opening its rendition at the pinned reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from .colab import pinned_ref
from .manifest import load_manifest
from .paths import TocEntry, load_config, parse_toc
from .rendition import FOLDER


def run_summary(manifest: dict[str, Any], entries: Sequence[TocEntry] | None = None) -> str:
    """How the executed chapters of this build were run (profile, device, dates, time)."""
    chapters = manifest.get("chapters") or {}
    if entries is not None:
        chapters = {e.name: chapters[e.name] for e in entries if e.name in chapters}
    if not chapters:
        return ("No chapter of this build has been executed by the driver yet: run "
                "`make book` to execute them.")
    dates = sorted(str(r["date"])[:10] for r in chapters.values() if r.get("date"))
    when = ("" if not dates else f" on {dates[0]}" if dates[0] == dates[-1]
            else f" between {dates[0]} and {dates[-1]}")
    total = sum(float(r.get("wall_s") or 0) for r in chapters.values())
    notes = (f" Executing them took {total / 60:.0f} minutes in all." if total >= 60 else "") + (
        "" if any((r.get("device") or {}).get("kind") == "cuda" for r in chapters.values())
        else " No chapter has been run on a GPU yet.")
    groups: dict[tuple[str, str], list[str]] = {}
    for name, record in chapters.items():
        device = record.get("device") or {}
        words = ((f"a {device['cores']}-core CPU" if device.get("cores") else "a CPU")
                 if device.get("kind") == "cpu" else device.get("name") or "an unknown device")
        groups.setdefault((str(record.get("profile")), words), []).append(name)
    if len(groups) == 1:
        (profile, device), names = next(iter(groups.items()))
        count = ("The executed chapter in this build was" if len(names) == 1
                 else f"The {len(names)} executed chapters in this build were")
        return f"{count} run in the **{profile}** profile on {device}{when}.{notes}"
    return "\n".join([f"The executed chapters in this build were run{when} as follows.{notes}",
                      ""] + [f"- **{profile}** profile on {device}: {', '.join(names)}"
                             for (profile, device), names in groups.items()])


def add_run_summary(app: Any, config: Any) -> None:
    root = Path(app.srcdir)  # a malformed _toc.yml stops Jupyter Book before this
    config.myst_substitutions = {**(getattr(config, "myst_substitutions", None) or {}),
                                 "run_summary": run_summary(load_manifest(root), parse_toc(root))}


def dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                   doctree: Any) -> None:
    """``html-page-context``: drop the second copy of a script registered twice.

    sphinx-thebe and sphinx-togglebutton register their inline scripts twice with Jupyter
    Book 1.0 + Sphinx 7 ("Identifier 'THEBE_JS_URL' has already been declared").
    """
    if not context.get("script_files"):
        return
    unique: dict[tuple[str, str], Any] = {}
    for script in context["script_files"]:
        unique.setdefault((str(getattr(script, "filename", script) or ""), json.dumps(
            getattr(script, "attributes", {}), sort_keys=True, default=str)), script)
    context["script_files"] = list(unique.values())


def _buttons(node: Any) -> list[dict[str, Any]]:
    """Every button of the theme's header (dropdowns hold theirs under ``buttons``)."""
    if isinstance(node, list):
        return [b for child in node for b in _buttons(child)]
    return [node] + _buttons(node.get("buttons") or []) if isinstance(node, dict) else []


def colab_button(app: Any, pagename: str, templatename: str, context: dict[str, Any],
                 doctree: Any) -> None:
    """``html-page-context`` (after the theme's launch buttons): the theme's Colab URL
    ``.../blob/BRANCH/book/NAME.ipynb`` of a chapter with a rendition becomes
    ``.../blob/REF/colab/NAME.ipynb``, REF the pin (else the book's branch)."""
    root, name = Path(app.srcdir), Path(pagename).name
    config = load_config(root)
    colab = str((config.get("launch_buttons") or {}).get("colab_url") or "").rstrip("/")
    if not colab or not (root / FOLDER / f"{name}.ipynb").is_file():
        return
    ref = pinned_ref(root) or str((config.get("repository") or {}).get("branch") or "main")
    for button in _buttons(context.get("header_buttons") or []):
        head, sep, _ = str(button.get("url", "")).partition("/blob/")
        if sep and head.startswith(colab + "/"):
            button["url"] = f"{head}/blob/{ref}/{FOLDER}/{name}.ipynb"


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", add_run_summary)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.connect("html-page-context", colab_button, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
