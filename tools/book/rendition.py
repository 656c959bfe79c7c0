"""``colab``: the notebooks the book's Colab buttons open, rendered from the executed pages.

Colab renders plain Markdown, not MyST. ``colab/<name>.ipynb`` is ``book/<name>.ipynb``
with every markdown cell rendered:

* glue roles (``{glue}``, ``{glue:text}`key:fmt```, ``{glue:md}``, ``{glue:math}``) become
  the values the executed notebook glued (its ``application/papermill.record/*`` outputs,
  formatted as myst-nb formats them); glue directives become the value, a figure as an
  inline PNG;
* ``literalinclude`` becomes the included code (Sphinx's reader: ``:pyobject:``,
  ``:lines:``...) as a fenced code block; admonitions become block quotes with their title;
  ``{cite}`` becomes author and year from ``references.bib``; other roles their text;

and the glue outputs (invisible in the book, clutter in Colab) and the saved widget views
(dead without their kernel) dropped. A rendition is a function of its executed page, the
included files and ``references.bib``, so ``check`` regenerates it in memory and fails
when the committed file differs (stale) or still holds ``{glue``.
"""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .colab import cell_source, dump_notebook, lines
from .paths import REPO_ROOT, BookError, TocEntry, parse_toc, read_notebook, relative

FOLDER = "colab"
GLUE_MIME_PREFIX = "application/papermill.record/"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
GLUE_ROLE = re.compile(r"\{glue(?::(?P<kind>[\w-]*))?\}`(?P<body>[^`]+)`")
ROLE = re.compile(r"\{(?P<name>[\w:+-]+)\}`(?P<body>[^`]*)`")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*"
                   r"(?P<arg>[^\n]*)\n(?P<body>.*?)^(?P=indent)(?P=fence)[ \t]*$", re.M | re.S)
OPTION = re.compile(r"^[ \t]*:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")
TARGET = re.compile(r"^\([\w:.-]+\)=[ \t]*\n", re.M)
ADMONITIONS = ("admonition", "note", "tip", "hint", "important", "warning", "caution",
               "attention", "danger", "error", "seealso", "dropdown")
LANGUAGES = {".py": "python", ".toml": "toml", ".yml": "yaml", ".yaml": "yaml", ".json": "json",
             ".sh": "bash", ".md": "markdown"}


class RenditionError(BookError):
    """An executed page whose markup cannot be rendered (e.g. a glue key it never glued)."""


# -------------------------------------------------------------------------- glue


def glue_values(nb: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each glued name → its MIME bundle (prefix stripped), from the executed outputs."""
    values: dict[str, dict[str, Any]] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            scrap = (output.get("metadata") or {}).get("scrapbook") or {}
            if "name" not in scrap:
                continue
            prefix = scrap.get("mime_prefix", GLUE_MIME_PREFIX)
            values[scrap["name"]] = {key[len(prefix):] if key.startswith(prefix) else key:
                                     "".join(v) if isinstance(v, list) else v
                                     for key, v in (output.get("data") or {}).items()}
    return values


def _split_format(body: str, default: str) -> tuple[str, str]:
    """``key:format`` split as myst-nb splits it (at the last colon)."""
    key, sep, fmt = body.rpartition(":")
    return (key.strip(), fmt) if sep else (body.strip(), default)


def glue_inline(kind: str | None, body: str, values: dict[str, dict[str, Any]]) -> str:
    """The text a glue role stands for, as the book shows it."""
    from myst_nb.core.variables import format_plain_text

    key, fmt = _split_format(body, "s" if kind == "text" else "")
    if key not in values:
        raise RenditionError(f"{{glue{':' + kind if kind else ''}}}`{body}` names {key!r}, "
                             "which the executed notebook never glued")
    data = values[key]
    if kind == "md" or (kind is None and "text/markdown" in data):
        return str(data.get("text/markdown", data.get("text/plain", ""))).strip()
    if kind == "math" or (kind is None and "text/latex" in data):
        return "$" + str(data.get("text/latex", "")).strip().strip("$") + "$"
    if "text/plain" not in data:
        raise RenditionError(f"glue {key!r} has no text/plain value for {{glue:{kind}}}")
    return format_plain_text(data["text/plain"], fmt)


def glue_block(key: str, caption: str, values: dict[str, dict[str, Any]]) -> str:
    """A glued value as a block: a figure (inline PNG/JPEG/SVG), HTML, Markdown or text."""
    if key not in values:
        raise RenditionError(f"glue directive names {key!r}, which the executed notebook "
                             "never glued")
    data = values[key]
    for mime in ("image/png", "image/jpeg", "image/svg+xml"):
        if mime in data:
            payload = str(data[mime]).strip()
            if mime == "image/svg+xml":
                payload = base64.b64encode(payload.encode()).decode()
            figure = f"![{caption or key}](data:{mime};base64,{payload.replace(chr(10), '')})"
            return figure + (f"\n\n*{caption}*" if caption else "")
    for mime, wrap in (("text/html", "{}"), ("text/markdown", "{}"), ("text/latex", "$${}$$"),
                       ("text/plain", "```\n{}\n```")):
        if mime in data:
            text = wrap.format(str(data[mime]).strip())
            return text + (f"\n\n*{caption}*" if caption else "")
    raise RenditionError(f"glue {key!r} has no value Colab can show")


# ---------------------------------------------------------------- bibliography


def citations(root: Path) -> dict[str, str]:
    """Each key of ``references.bib`` → "Author et al. 2012" (empty without pybtex)."""
    path = root / "references.bib"
    if not path.is_file():
        return {}
    try:
        from pybtex.database import parse_file
    except ImportError:
        return {}
    labels = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
        who = (last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2
               else f"{last[0]} et al." if last else key)
        labels[key] = f"{who} {entry.fields.get('year', '')}".strip()
    return labels


# ------------------------------------------------------------------- directives


@dataclass
class Context:
    """What rendering one notebook's Markdown needs."""

    values: dict[str, dict[str, Any]]
    folder: Path  # the notebook's folder: literalinclude paths are relative to it
    root: Path
    cites: dict[str, str]


def _options(body: str) -> tuple[dict[str, str], str]:
    options: dict[str, str] = {}
    rest = lines(body)
    while rest and (match := OPTION.match(rest[0].rstrip("\n"))):
        options[match.group("key")] = match.group("value").strip()
        rest.pop(0)
    return options, "".join(rest)


def literal_include(arg: str, options: dict[str, str], ctx: Context) -> str:
    """The included code as a fenced block, read as Sphinx reads it."""
    from types import SimpleNamespace

    from sphinx.directives.code import LiteralIncludeReader

    path = (ctx.folder / arg).resolve()
    if not path.is_file():
        raise RenditionError(f"literalinclude {arg}: no such file")
    # what Sphinx's reader takes (the rest only styles the block)
    sphinx_options: dict[str, Any] = {k: v for k, v in options.items() if k in (
        "pyobject", "lines", "start-at", "start-after", "end-at", "end-before", "prepend",
        "append", "encoding")}
    if "dedent" in options:
        sphinx_options["dedent"] = int(options["dedent"] or 0) or None
    try:
        text, _ = LiteralIncludeReader(str(path), sphinx_options,
                                       SimpleNamespace(source_encoding="utf-8")).read()
    except Exception as error:  # Sphinx raises ValueError for a missing :pyobject:
        raise RenditionError(f"literalinclude {arg}: {error}") from None
    language = options.get("language") or LANGUAGES.get(path.suffix, "")
    where = relative(path, ctx.root)
    what = f"`{where}`" + (f", `{options['pyobject']}`" if "pyobject" in options else "")
    caption = options.get("caption") or f"From {what}:"
    return f"{caption}\n\n```{language}\n{text.rstrip()}\n```"


def _quote(title: str, body: str) -> str:
    text = (f"**{title}**\n\n" if title else "") + body.strip("\n")
    return "\n".join("> " + line if line.strip() else ">" for line in text.split("\n"))


def directive(name: str, arg: str, body: str, ctx: Context) -> str:
    """One MyST directive as plain Markdown."""
    options, content = _options(body)
    if name == "literalinclude":
        return literal_include(arg.strip(), options, ctx)
    if name in ("glue", "glue:any", "glue:figure", "glue:math"):
        return glue_block(arg.strip(), render_markdown(content, ctx).strip(), ctx.values)
    if name in ADMONITIONS:
        title = arg.strip() if name in ("admonition", "dropdown") else (
            name.capitalize() + (f": {arg.strip()}" if arg.strip() else ""))
        return _quote(title, render_markdown(content, ctx))
    if name == "math":
        return f"$$\n{content.strip()}\n$$"
    if name in ("code-block", "code", "sourcecode"):
        return f"```{arg.strip()}\n{content.rstrip()}\n```"
    # anything else: its title and content, readable if not styled
    inner = render_markdown(content, ctx).strip("\n")
    return (f"**{arg.strip()}**\n\n{inner}" if arg.strip() else inner)


def _directives(text: str, ctx: Context) -> str:
    def one(match: re.Match[str]) -> str:
        rendered = directive(match.group("name"), match.group("arg"), match.group("body"), ctx)
        return "\n".join(match.group("indent") + line if line else line
                         for line in rendered.split("\n"))

    return FENCE.sub(one, text)


# ------------------------------------------------------------------------ roles


def role(name: str, body: str, ctx: Context) -> str:
    """One non-glue MyST role as plain Markdown."""
    if name.startswith("cite"):
        keys = [key.strip() for key in body.split(",") if key.strip()]
        return "(" + "; ".join(ctx.cites.get(key, key) for key in keys) + ")"
    if name == "math":
        return f"${body}$"
    titled = re.fullmatch(r"(?P<title>.*?)\s*<(?P<target>[^<>]+)>", body, re.S)
    return titled.group("title") if titled and titled.group("title") else body


def _roles(text: str, ctx: Context) -> str:
    text = GLUE_ROLE.sub(lambda m: glue_inline(
        None if m.group("kind") in (None, "", "any") else m.group("kind"), m.group("body"),
        ctx.values), text)
    return ROLE.sub(lambda m: role(m.group("name"), m.group("body"), ctx), text)


def render_markdown(text: str, ctx: Context) -> str:
    """A markdown cell's MyST as Markdown Colab renders: roles first (so a glued answer
    inside an admonition is quoted with it), then directives, then targets dropped."""
    return TARGET.sub("", _directives(_roles(text, ctx), ctx))


# -------------------------------------------------------------------- notebooks


def _output(output: dict[str, Any]) -> dict[str, Any] | None:
    """An output as Colab keeps it: None for a glue record; widget views without the view."""
    if "scrapbook" in (output.get("metadata") or {}):
        return None
    data = output.get("data")
    if isinstance(data, dict) and WIDGET_VIEW_MIME in data:
        output = {**output, "data": {k: v for k, v in data.items() if k != WIDGET_VIEW_MIME}}
        if not output["data"]:
            return None
    return output


def banner(name: str, values: dict[str, dict[str, Any]]) -> str:
    def value(key: str) -> str:
        data = values.get(key) or {}
        return str(data.get("text/markdown") or data.get("text/plain") or "?").strip("'\" \n")

    return (f"*This is the Colab edition of the chapter `{name}`, rendered from its executed "
            f"page (profile `{value('profile')}` on {value('device_name')}, torch "
            f"{value('torch_version')}). The numbers in the text are that run's; running the "
            "cells recomputes the outputs, not the text. For a GPU: Runtime → Change runtime "
            "type. Generated by `python -m tools.book colab`; edit `notebooks/`, not this "
            "file.*")


def render_notebook(nb: dict[str, Any], name: str, folder: Path, root: Path,
                    cites: dict[str, str] | None = None) -> dict[str, Any]:
    """The Colab rendition of one executed notebook (``folder``: where it lies)."""
    values = glue_values(nb)
    ctx = Context(values, folder, root, citations(root) if cites is None else cites)
    cells = []
    for index, cell in enumerate(nb.get("cells", [])):
        out = {key: copy.deepcopy(value) for key, value in cell.items()
               if key not in ("metadata", "outputs")}
        out["metadata"] = {k: v for k, v in (cell.get("metadata") or {}).items()
                           if k in ("tags", "collapsed", "jupyter")}
        if cell.get("cell_type") == "markdown":
            try:
                out["source"] = lines(render_markdown(cell_source(cell), ctx))
            except RenditionError as error:
                raise RenditionError(f"{name}, cell {index}: {error}") from None
        elif cell.get("cell_type") == "code":
            out["outputs"] = [o for o in map(_output, cell.get("outputs", [])) if o is not None]
        cells.append(out)
    cells.insert(0, {"cell_type": "markdown", "id": "colab-edition", "metadata": {},
                     "source": lines(banner(name, values))})
    metadata = {k: v for k, v in (nb.get("metadata") or {}).items()
                if k in ("kernelspec", "language_info")}
    # Colab: open on a GPU runtime when one is available
    metadata.update({"accelerator": "GPU", "colab": {"name": f"{name}.ipynb",
                                                     "provenance": [], "gpuType": "T4"}})
    return {"cells": cells, "metadata": metadata, "nbformat": nb.get("nbformat", 4),
            "nbformat_minor": max(int(nb.get("nbformat_minor", 5)), 5)}


def rendition_text(entry: TocEntry, root: Path, cites: dict[str, str] | None = None) -> str:
    assert entry.path is not None
    nb = read_notebook(entry.path)
    text = dump_notebook(render_notebook(nb, entry.name, entry.path.parent, root, cites))
    if "{glue" in text:
        raise RenditionError(f"{entry.name}: glue markup left after rendering")
    return text


def rendered_entries(root: Path) -> list[TocEntry]:
    """The toc's executed chapters (a source in notebooks/, an executed page in book/)."""
    return [entry for entry in parse_toc(root) if entry.source is not None
            and entry.path is not None and entry.path.suffix == ".ipynb"]


def rendition_path(root: Path, entry: TocEntry) -> Path:
    return root / FOLDER / f"{entry.name}.ipynb"


def write_rendition(root: Path, entry: TocEntry, cites: dict[str, str] | None = None) -> bool:
    """Write ``colab/<name>.ipynb`` for ``entry``; whether the file changed."""
    text = rendition_text(entry, root, cites)
    path = rendition_path(root, entry)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def command_colab(root: Path = REPO_ROOT, echo: Callable[[str], None] = print) -> int:
    """Write ``colab/<name>.ipynb`` for every executed chapter; remove renditions of none."""
    entries = rendered_entries(root)
    cites = citations(root)
    folder = root / FOLDER
    folder.mkdir(exist_ok=True)
    failed = 0
    for entry in entries:
        try:
            if write_rendition(root, entry, cites):
                echo(f"colab: wrote {relative(rendition_path(root, entry), root)}")
        except BookError as error:
            echo(f"colab: error: {error}")
            failed += 1
    names = {f"{entry.name}.ipynb" for entry in entries}
    for path in sorted(folder.glob("*.ipynb")):
        if path.name not in names:
            path.unlink()
            echo(f"colab: removed {relative(path, root)} (no executed chapter of that name)")
    echo(f"colab: {len(entries) - failed} rendition(s) up to date in {FOLDER}/")
    return 1 if failed else 0


def check_renditions(root: Path) -> list[str]:
    """One message per chapter whose rendition is missing or stale, and per stray one."""
    problems = []
    entries = rendered_entries(root)
    cites = citations(root)
    for entry in entries:
        path = rendition_path(root, entry)
        where = relative(path, root)
        if not path.is_file():
            problems.append(f"{where} is missing: run `python -m tools.book colab`")
            continue
        try:
            expected = rendition_text(entry, root, cites)
        except BookError as error:
            problems.append(str(error))
            continue
        if path.read_text(encoding="utf-8") != expected:
            problems.append(f"{where} is stale (it differs from the rendition of "
                            f"{relative(entry.path, root)}): run `python -m tools.book colab`")
    names = {f"{entry.name}.ipynb" for entry in entries}
    for path in sorted((root / FOLDER).glob("*.ipynb")):
        if path.name not in names:
            problems.append(f"{relative(path, root)}: no executed chapter of that name; "
                            "`python -m tools.book colab` removes it")
    return problems
