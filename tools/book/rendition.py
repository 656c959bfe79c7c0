"""``colab``: the notebooks the Colab buttons open, rendered from the executed pages.

Colab renders plain Markdown, not MyST: in ``colab/<name>.ipynb`` glue roles and directives
become the values the page glued (formatted as myst-nb formats them), ``literalinclude`` the
code (Sphinx's reader), admonitions block quotes, ``{cite}`` author and year; glue outputs
and widget views are dropped. A rendition is a function of its page, the included files and
``references.bib``, so ``check`` renders it again and fails when the committed file differs.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from myst_nb.core.variables import format_plain_text
from pybtex.database import parse_file
from sphinx.directives.code import LiteralIncludeReader

from .editions import auto_note
from .paths import (REPO_ROOT, BookError, TocEntry, cell_source, dump_notebook, parse_toc,
                    read_notebook, relative)

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
# the options of literalinclude that Sphinx's reader takes (the others only style the block)
INCLUDE_OPTIONS = ("pyobject", "lines", "start-at", "start-after", "end-at", "end-before",
                   "prepend", "append", "encoding")


@dataclass
class Context:
    values: dict[str, dict[str, Any]]  # glued name -> MIME bundle
    folder: Path  # the notebook's folder: literalinclude paths are relative to it
    root: Path
    cites: dict[str, str]


def glue_values(nb: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each glued name -> its MIME bundle (prefix stripped), from the executed outputs."""
    values: dict[str, dict[str, Any]] = {}
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []):
            scrap = (output.get("metadata") or {}).get("scrapbook") or {}
            if "name" in scrap:
                prefix = scrap.get("mime_prefix", GLUE_MIME_PREFIX)
                values[scrap["name"]] = {key.removeprefix(prefix):
                                         "".join(v) if isinstance(v, list) else v
                                         for key, v in (output.get("data") or {}).items()}
    return values


def _glued(key: str, values: dict[str, dict[str, Any]], what: str) -> dict[str, Any]:
    if key not in values:
        raise BookError(f"{what} names {key!r}, which the executed notebook never glued")
    return values[key]


def glue_inline(kind: str | None, body: str, values: dict[str, dict[str, Any]]) -> str:
    """The text a glue role stands for, as the book shows it."""
    key, sep, fmt = body.rpartition(":")  # key:format, split as myst-nb splits it
    key, fmt = (key.strip(), fmt) if sep else (body.strip(), "s" if kind == "text" else "")
    data = _glued(key, values, f"{{glue{':' + kind if kind else ''}}}`{body}`")
    if kind == "md" or (kind is None and "text/markdown" in data):
        return str(data.get("text/markdown", data.get("text/plain", ""))).strip()
    if "text/plain" not in data:
        raise BookError(f"glue {key!r} has no text/plain value for {{glue:{kind}}}")
    return format_plain_text(data["text/plain"], fmt)


def glue_block(key: str, caption: str, values: dict[str, dict[str, Any]]) -> str:
    """A glued value as a block: a figure (inline PNG), HTML, Markdown or text."""
    data = _glued(key, values, "glue directive")
    below = f"\n\n*{caption}*" if caption else ""
    if "image/png" in data:
        payload = str(data["image/png"]).strip().replace("\n", "")
        return f"![{caption or key}](data:image/png;base64,{payload})" + below
    for mime, wrap in (("text/html", "{}"), ("text/markdown", "{}"), ("text/plain", "```\n{}\n```")):
        if mime in data:
            return wrap.format(str(data[mime]).strip()) + below
    raise BookError(f"glue {key!r} has no value Colab can show")


def citations(root: Path) -> dict[str, str]:
    """Each key of ``references.bib`` -> "Author et al. 2012"."""
    path = root / "references.bib"
    labels = {}
    for key, entry in (parse_file(str(path)).entries.items() if path.is_file() else []):
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [" ".join(p.last_names).replace("{", "").replace("}", "") for p in people]
        who = (last[0] if len(last) == 1 else " and ".join(last) if len(last) == 2
               else f"{last[0]} et al." if last else key)
        labels[key] = f"{who} {entry.fields.get('year', '')}".strip()
    return labels


def literal_include(arg: str, options: dict[str, str], ctx: Context) -> str:
    """The included code as a fenced block, read as Sphinx reads it."""
    path = (ctx.folder / arg).resolve()
    if not path.is_file():
        raise BookError(f"literalinclude {arg}: no such file")
    reader_options: dict[str, Any] = {k: v for k, v in options.items() if k in INCLUDE_OPTIONS}
    if "dedent" in options:
        reader_options["dedent"] = int(options["dedent"] or 0) or None
    try:
        text, _ = LiteralIncludeReader(str(path), reader_options,
                                       SimpleNamespace(source_encoding="utf-8")).read()
    except Exception as error:  # Sphinx raises ValueError for a missing :pyobject:
        raise BookError(f"literalinclude {arg}: {error}") from None
    language = options.get("language") or LANGUAGES.get(path.suffix, "")
    what = f"`{relative(path, ctx.root)}`" + (
        f", `{options['pyobject']}`" if "pyobject" in options else "")
    caption = options.get("caption") or f"From {what}:"
    return f"{caption}\n\n```{language}\n{text.rstrip()}\n```"


def directive(name: str, arg: str, body: str, ctx: Context) -> str:
    options: dict[str, str] = {}
    rest = body.splitlines(keepends=True)
    while rest and (match := OPTION.match(rest[0].rstrip("\n"))):
        options[match.group("key")] = match.group("value").strip()
        rest.pop(0)
    content, arg = "".join(rest), arg.strip()
    if name == "literalinclude":
        return literal_include(arg, options, ctx)
    if name in ("glue", "glue:any", "glue:figure"):
        return glue_block(arg, render_markdown(content, ctx).strip(), ctx.values)
    if name in ADMONITIONS:
        title = arg if name in ("admonition", "dropdown") else (
            name.capitalize() + (f": {arg}" if arg else ""))
        text = (f"**{title}**\n\n" if title else "") + render_markdown(content, ctx).strip("\n")
        return "\n".join("> " + line if line.strip() else ">" for line in text.split("\n"))
    inner = render_markdown(content, ctx).strip("\n")  # any other: title and content
    return f"**{arg}**\n\n{inner}" if arg else inner


def role(name: str, body: str, ctx: Context) -> str:
    if name.startswith("cite"):
        keys = [key.strip() for key in body.split(",") if key.strip()]
        return "(" + "; ".join(ctx.cites.get(key, key) for key in keys) + ")"
    titled = re.fullmatch(r"(?P<title>.*?)\s*<(?P<target>[^<>]+)>", body, re.S)
    return titled.group("title") if titled and titled.group("title") else body


def render_markdown(text: str, ctx: Context) -> str:
    """A markdown cell's MyST as Markdown Colab renders: roles first (so a glued answer
    inside an admonition is quoted with it), then directives, then targets dropped."""
    text = GLUE_ROLE.sub(lambda m: glue_inline(
        None if m.group("kind") in (None, "", "any") else m.group("kind"), m.group("body"),
        ctx.values), text)
    text = ROLE.sub(lambda m: role(m.group("name"), m.group("body"), ctx), text)

    def one(match: re.Match[str]) -> str:
        rendered = directive(match.group("name"), match.group("arg"), match.group("body"), ctx)
        return "\n".join(match.group("indent") + line if line else line
                         for line in rendered.split("\n"))

    return TARGET.sub("", FENCE.sub(one, text))


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
            f"file.*\n\n*{auto_note(name)}*")


def rendition_text(entry: TocEntry, root: Path, cites: dict[str, str] | None = None) -> str:
    """The text of ``colab/<name>.ipynb``: the executed page ``entry`` rendered for Colab."""
    assert entry.path is not None
    nb, name = read_notebook(entry.path), entry.name
    values = glue_values(nb)
    ctx = Context(values, entry.path.parent, root, citations(root) if cites is None else cites)
    cells = [{"cell_type": "markdown", "id": "colab-edition", "metadata": {},
              "source": banner(name, values).splitlines(keepends=True)}]
    for index, cell in enumerate(nb.get("cells", [])):
        out = {key: copy.deepcopy(value) for key, value in cell.items()
               if key not in ("metadata", "outputs")}
        out["metadata"] = {k: v for k, v in (cell.get("metadata") or {}).items()
                           if k in ("tags", "collapsed", "jupyter")}
        if cell.get("cell_type") == "markdown":
            try:
                out["source"] = render_markdown(cell_source(cell), ctx).splitlines(keepends=True)
            except BookError as error:
                raise BookError(f"{name}, cell {index}: {error}") from None
        elif cell.get("cell_type") == "code":
            out["outputs"] = [o for o in map(_output, cell.get("outputs", [])) if o is not None]
        cells.append(out)
    metadata = {k: v for k, v in (nb.get("metadata") or {}).items()
                if k in ("kernelspec", "language_info")}
    # Colab: open on a GPU runtime when one is available
    metadata.update({"accelerator": "GPU", "colab": {"name": f"{name}.ipynb",
                                                     "provenance": [], "gpuType": "T4"}})
    text = dump_notebook({"cells": cells, "metadata": metadata,
                          "nbformat": nb.get("nbformat", 4),
                          "nbformat_minor": max(int(nb.get("nbformat_minor", 5)), 5)})
    if "{glue" in text:
        raise BookError(f"{name}: glue markup left after rendering")
    return text


def rendered_entries(root: Path) -> list[TocEntry]:
    """The toc's executed chapters (a source in notebooks/, an executed page in book/)."""
    return [entry for entry in parse_toc(root) if entry.source is not None
            and entry.path is not None and entry.path.suffix == ".ipynb"]


def write_rendition(root: Path, entry: TocEntry, cites: dict[str, str] | None = None) -> bool:
    """Write ``colab/<name>.ipynb`` for ``entry``; whether the file changed."""
    text = rendition_text(entry, root, cites)
    path = root / FOLDER / f"{entry.name}.ipynb"
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def _strays(root: Path, entries: list[TocEntry]) -> list[Path]:
    names = {f"{entry.name}.ipynb" for entry in entries}
    return [path for path in sorted((root / FOLDER).glob("*.ipynb")) if path.name not in names]


def command_colab(root: Path = REPO_ROOT, echo: Callable[[str], None] = print) -> int:
    """Write ``colab/<name>.ipynb`` for every executed chapter; remove renditions of none."""
    entries, cites = rendered_entries(root), citations(root)
    failed = 0
    for entry in entries:
        try:
            if write_rendition(root, entry, cites):
                echo(f"colab: wrote {FOLDER}/{entry.name}.ipynb")
        except BookError as error:
            echo(f"colab: error: {error}")
            failed += 1
    for path in _strays(root, entries):
        path.unlink()
        echo(f"colab: removed {relative(path, root)} (no executed chapter of that name)")
    echo(f"colab: {len(entries) - failed} rendition(s) up to date in {FOLDER}/")
    return 1 if failed else 0


def check_renditions(root: Path) -> list[str]:
    """One message per chapter whose rendition is missing or stale, and per stray one."""
    problems = []
    entries, cites = rendered_entries(root), citations(root)
    for entry in entries:
        where = f"{FOLDER}/{entry.name}.ipynb"
        try:
            if not (root / where).is_file():
                problems.append(f"{where} is missing: run `python -m tools.book colab`")
            elif (root / where).read_text(encoding="utf-8") != rendition_text(entry, root, cites):
                problems.append(f"{where} is stale (it differs from the rendition of "
                                f"{relative(entry.path, root)}): run `python -m tools.book colab`")
        except BookError as error:
            problems.append(str(error))
    problems += [f"{relative(path, root)}: no executed chapter of that name; "
                 "`python -m tools.book colab` removes it" for path in _strays(root, entries)]
    return problems
