"""The README's "Open in Colab" badges: one per chapter with a Colab edition, opening
``colab/<chapter>.ipynb`` of ``repository.url`` at ``repository.pin``, the link the book's
Colab button opens (sphinx_ext.py). They are written between two markers by ``pin`` and
``set-url``, and ``check`` fails when they differ from what those would write.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from .paths import BookError, TocEntry, cell_source, load_config, read_notebook
from .rendition import FOLDER, rendered_entries

README = "README.md"
START = "<!-- colab-badges: written by `python -m tools.book pin`; edit the chapters, not this -->"
END = "<!-- /colab-badges -->"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
DEFAULT_COLAB = "https://colab.research.google.com"


def colab_link(colab: str, url: str, ref: str, name: str) -> str:
    """Colab's address of ``colab/<name>.ipynb`` in the GitHub repository ``url`` at ``ref``."""
    repository = urlparse(url).path.strip("/")  # OWNER/NAME
    return f"{colab.rstrip('/')}/github/{repository}/blob/{ref}/{FOLDER}/{name}.ipynb"


def chapter_title(entry: TocEntry) -> str:
    """The first ``# Title`` of the chapter's source notebook, else its name."""
    try:
        cells = read_notebook(entry.source).get("cells", []) if entry.source else []
    except BookError:  # check reports the notebook itself
        cells = []
    for cell in cells:
        for line in cell_source(cell).splitlines() if cell.get("cell_type") == "markdown" else []:
            if line.startswith("# "):
                return line[2:].strip()
    return entry.name


def badges_block(root: Path, url: str, ref: str) -> str:
    """The markers and, between them, one badge line per chapter with a Colab edition."""
    colab = str((load_config(root).get("launch_buttons") or {}).get("colab_url") or DEFAULT_COLAB)
    lines = [f"- [![Open In Colab]({BADGE})]({colab_link(colab, url, ref, entry.name)}) "
             f"{chapter_title(entry)}" for entry in rendered_entries(root)]
    return "\n".join([START, *lines, END])


def _span(text: str) -> tuple[int, int] | None:
    start, end = text.find(START), text.find(END)
    return (start, end + len(END)) if 0 <= start < end else None


def write_badges(root: Path, url: str, ref: str) -> bool:
    """Rewrite the README's badges (when it has the markers); whether it changed."""
    path = root / README
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    span = _span(text)
    if span is None:
        return False
    new = text[:span[0]] + badges_block(root, url, ref) + text[span[1]:]
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def check_badges(root: Path, url: str, ref: str) -> list[str]:
    """A message when the README lacks the badges or they differ from url@ref's."""
    path = root / README
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    span = _span(text)
    if span is None:
        return [f"{README} has no Colab badges: put the lines {START!r} and {END!r} in its "
                "Colab section and run `python -m tools.book pin`"]
    if text[span[0]:span[1]] != badges_block(root, url, ref):
        return [f"{README}: the Colab badges are not those of {url}@{ref} and the chapters "
                "with a Colab edition: `python -m tools.book pin` rewrites them"]
    return []
