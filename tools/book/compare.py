"""Whether two executions of a chapter computed the same things (``promote``).

Two smoke runs of a chapter on the same CPU are deterministic except for what measures the
run itself: wall times, rates, dates, commits, object addresses, progress counters. Those
are normalised away (:func:`normalise_text`, :func:`is_volatile_key`); everything else —
every printed number, table cell, glued value, image and results-JSON field — must be
identical. The rules are deliberately narrow: a masked number can hide a change, so only
numbers that are measurements of time are masked. A false "different" only costs a re-run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from .paths import BookError, read_json

# A key (JSON field, table column, glue name) names a measurement of the run itself when one
# of its words is one of these; words are split at anything but letters and digits.
VOLATILE_WORDS = frozenset({
    "time", "times", "timing", "date", "dates", "commit", "wall", "second", "seconds",
    "sec", "secs", "ms", "eps", "spe", "duration", "elapsed", "timestamp"})
# "s" is a word of "s/epoch", "time (s)" and "fc_s_epoch", but also of glue names such as
# "s_top" (section s): it is volatile only before "epoch" or as the last word.

_SUB = [  # (pattern, replacement), applied in this order by normalise_text
    # tqdm bars: "45%|████▌     | 45/100 [00:01<00:02, 30.1it/s]"
    (re.compile(r"^.*\d+%\|.*$", re.M), ""),
    (re.compile(r"0x[0-9a-fA-F]{4,}"), "0x<addr>"),
    # pandas Styler tables carry a random id: <table id="T_25412">, T_25412_row0_col1
    (re.compile(r"\bT_[0-9a-f]{5}(?=[_\"'\s>])"), "T_<id>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
                r"(?:Z|[+-]\d{2}:?\d{2}|\s?UTC)?"), "<date>"),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b"), "<clock>"),
    (re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?\s?(?:examples|images|img|samples|it|items|batches)"
                r"\s?/\s?s(?:ec)?\b"), "<rate>"),
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e[+-]?\d+)?\s?(?:ms|s|sec|secs|seconds?|min|mins|"
                r"minutes?|h|hours?)\b"), "<time>"),
    # a commit: 7 to 64 hex digits with at least one letter and one digit
    (re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,64}\b"), "<commit>"),
    # source locations of warnings and tracebacks move when a comment is added
    (re.compile(r"(\.py\"?,? line |\.py:)\d+"), r"\1<line>"),
]


def normalise_text(text: str, replacements: Mapping[str, str] | None = None) -> str:
    """``text`` with what differs between two identical runs replaced by placeholders.

    In this order:

    1. each key of ``replacements`` (e.g. the temporary folders the two runs used) becomes
       its value, longest first;
    2. each line keeps only what follows its last carriage return, a final one aside (what
       a terminal shows of a redrawn progress counter);
    3. tqdm progress bars (``NN%|``) are removed;
    4. memory addresses ``0x7f3a...`` → ``0x<addr>``; pandas Styler ids ``T_1a2b3`` →
       ``T_<id>``;
    5. dates (``2025-01-02``, ``2025-01-02T10:00:00+00:00``, ``2025-01-02 10:00 UTC``) →
       ``<date>``; clock times ``10:00:00`` → ``<clock>``;
    6. rates (``8647 examples/sec``, ``30.1it/s``) → ``<rate>``;
    7. durations (``0.3 s``, ``12 ms``, ``3 min``, ``2 h``) → ``<time>``;
    8. commit hashes (7–64 hex digits with a letter and a digit) → ``<commit>``;
    9. line numbers of source locations (``foo.py:12``, ``foo.py", line 12``) → ``<line>``;
    10. blank lines are dropped and trailing spaces stripped.
    """
    for old in sorted(replacements or {}, key=len, reverse=True):
        text = text.replace(old, (replacements or {})[old])
    # a line ending in \r\n is not a redraw: only a \r followed by text is
    text = "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in text.split("\n"))
    for pattern, replacement in _SUB:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.split("\n") if line.strip())


def is_volatile_key(key: str) -> bool:
    """Whether ``key`` (a JSON field, table column or glue name) names a time measurement,
    a date or a commit: ``seconds``, ``examples/sec``, ``s/epoch``, ``training time (s)``,
    ``wall_time``, ``fc_eps``, ``date``, ``commit``; not ``s_top`` or ``test_acc``."""
    words = [w for w in re.split(r"[^a-z0-9]+", key.lower()) if w]
    if VOLATILE_WORDS.intersection(words):
        return True
    return bool(words) and (words[-1] == "s" and len(words) > 1
                            or any(a == "s" and b == "epoch" for a, b in zip(words, words[1:])))


def normalise_json(value: Any, replacements: Mapping[str, str] | None = None) -> Any:
    """``value`` without the fields :func:`is_volatile_key` names, at any depth; strings
    normalised by :func:`normalise_text`."""
    if isinstance(value, dict):
        return {key: normalise_json(item, replacements) for key, item in value.items()
                if not is_volatile_key(str(key))}
    if isinstance(value, list):
        return [normalise_json(item, replacements) for item in value]
    if isinstance(value, str):
        return normalise_text(value, replacements)
    return value


# ------------------------------------------------------------------------ HTML tables

_TABLE = re.compile(r"<table\b.*?</table>", re.S | re.I)
_ROW = re.compile(r"<tr\b[^>]*>.*?</tr>", re.S | re.I)
_CELL = re.compile(r"<(t[hd])\b([^>]*)>(.*?)</\1\s*>", re.S | re.I)
_SPAN = re.compile(r"colspan=[\"']?(\d+)", re.I)
_TAG = re.compile(r"<[^>]+>")


def _cells_from_right(row: str) -> list[tuple[re.Match[str], list[int]]]:
    """The cells of a row, each with the columns it covers counted from the row's right
    end (pandas rows differ in their left part: index levels, row spans)."""
    cells = list(_CELL.finditer(row))
    spans = [int(m.group(1)) if (m := _SPAN.search(c.group(2))) else 1 for c in cells]
    out, position = [], 0
    for cell, span in zip(reversed(cells), reversed(spans)):
        out.append((cell, list(range(position, position + span))))
        position += span
    return out


def _mask_table(table: str) -> str:
    head, sep, body = table.partition("</thead>")
    if not sep:  # no <thead>: the first row is the header
        rows = list(_ROW.finditer(table))
        if not rows:
            return table
        head, body = table[:rows[0].end()], table[rows[0].end():]
    volatile: set[int] = set()
    for row in _ROW.findall(head):
        for cell, columns in _cells_from_right(row):
            if is_volatile_key(_TAG.sub("", cell.group(3)).strip()):
                volatile.update(columns)
    if not volatile:
        return table

    def mask_row(match: re.Match[str]) -> str:
        row = match.group(0)
        for cell, columns in _cells_from_right(row):  # right to left: offsets stay valid
            if volatile.intersection(columns):
                row = row[:cell.start(3)] + "<masked>" + row[cell.end(3):]
        return row

    return head + sep + _ROW.sub(mask_row, body)


def mask_volatile_columns(html: str) -> str:
    """``html`` with the body cells of every table column whose header is volatile
    (:func:`is_volatile_key`, e.g. ``seconds``, ``examples/sec (mean)``) replaced by
    ``<masked>``."""
    return _TABLE.sub(lambda m: _mask_table(m.group(0)), html)


# -------------------------------------------------------------------------- notebooks


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def normalise_output(output: dict[str, Any], replacements: Mapping[str, str]) -> Any:
    """One non-stream output as it is compared: its data by MIME type, normalised.

    Execution counts and output metadata are dropped; a glued value whose name is volatile
    (``wall_time``) is masked; a rich table's ``text/plain`` is dropped when its
    ``text/html`` is there (the same table, and its columns can be masked by name);
    images are compared as they are.
    """
    kind = output.get("output_type")
    if kind == "error":
        return {"error": output.get("ename"),
                "value": normalise_text(_text(output.get("evalue", "")), replacements)}
    data = dict(output.get("data") or {})
    name = ((output.get("metadata") or {}).get("scrapbook") or {}).get("name")
    if name and is_volatile_key(str(name)):
        return {"glue": name, "value": "<masked>"}
    if "text/html" in data:
        data.pop("text/plain", None)
    normalised: dict[str, Any] = {}
    for mime, value in sorted(data.items()):
        if mime.startswith("image/"):
            normalised[mime] = _text(value).replace("\n", "")
        elif mime.endswith("widget-view+json") and isinstance(value, dict):
            normalised[mime] = {k: v for k, v in value.items() if k != "model_id"}
        elif isinstance(value, (dict, list)) and not mime.startswith("text/"):
            normalised[mime] = normalise_json(value, replacements)
        else:
            text = _text(value)
            normalised[mime] = normalise_text(mask_volatile_columns(text) if "html" in mime
                                              else text, replacements)
    return {"glue": name, **normalised} if name else normalised


def normalise_cell(cell: dict[str, Any], replacements: Mapping[str, str]) -> dict[str, Any]:
    """A code cell as compared: its stdout and its stderr each joined and normalised (how
    the kernel splits a stream into outputs varies), then its other outputs in order."""
    streams = {"stdout": "", "stderr": ""}
    others = []
    for output in cell.get("outputs") or []:
        if output.get("output_type") == "stream":
            name = "stderr" if output.get("name") == "stderr" else "stdout"
            streams[name] += _text(output.get("text", ""))
        else:
            others.append(normalise_output(output, replacements))
    return {key: normalise_text(value, replacements) for key, value in streams.items()} | {
        "outputs": others}


def compare_notebooks(before: dict[str, Any], after: dict[str, Any],
                      replacements: Mapping[str, str]) -> list[str]:
    """One line per code cell whose normalised outputs differ (empty: the same)."""
    cells_a = [c for c in before.get("cells", []) if c.get("cell_type") == "code"]
    cells_b = [c for c in after.get("cells", []) if c.get("cell_type") == "code"]
    if len(cells_a) != len(cells_b):
        return [f"{len(cells_a)} code cells before, {len(cells_b)} after"]
    differences = []
    for index, (a, b) in enumerate(zip(cells_a, cells_b), 1):
        norm_a, norm_b = normalise_cell(a, replacements), normalise_cell(b, replacements)
        for part in ("stdout", "stderr", "outputs"):
            if norm_a[part] != norm_b[part]:
                differences.append(f"code cell {index} {part}: "
                                   f"{_first_difference(norm_a[part], norm_b[part])}")
    return differences


def _first_difference(a: Any, b: Any) -> str:
    text_a, text_b = (v if isinstance(v, str) else repr(v) for v in (a, b))
    at = next((i for i, (x, y) in enumerate(zip(text_a, text_b)) if x != y),
              min(len(text_a), len(text_b)))
    start = max(0, at - 30)
    return f"{text_a[start:at + 50]!r} -> {text_b[start:at + 50]!r}"


# ---------------------------------------------------------------------------- results


def compare_results(before: Path, after: Path,
                    replacements: Mapping[str, str]) -> list[str]:
    """One line per results JSON (``**/*.json``) that only one run wrote or whose
    normalised contents differ (the first differing fields)."""
    def files(folder: Path) -> dict[str, Path]:
        return ({p.relative_to(folder).as_posix(): p for p in folder.rglob("*.json")}
                if folder.is_dir() else {})

    files_a, files_b = files(before), files(after)
    differences = [f"{name}: written only {'before' if name in files_a else 'after'}"
                   for name in sorted(set(files_a) ^ set(files_b))]
    for name in sorted(set(files_a) & set(files_b)):
        try:
            a = normalise_json(read_json(files_a[name]), replacements)
            b = normalise_json(read_json(files_b[name]), replacements)
        except BookError as error:
            differences.append(f"{name}: {error}")
            continue
        keys = _differing_keys(a, b)
        if keys:
            differences.append(f"{name}: {', '.join(keys[:5])}"
                               + (f" and {len(keys) - 5} more" if len(keys) > 5 else ""))
    return differences


def _differing_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    """The paths (``row.best test acc``, ``records[2].test_acc``) where ``a`` and ``b``
    differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if key not in a or key not in b:
                out.append(f"{path} ({'added' if key in b else 'removed'})")
            else:
                out += _differing_keys(a[key], b[key], path)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [k for i, (x, y) in enumerate(zip(a, b))
                for k in _differing_keys(x, y, f"{prefix}[{i}]")]
    return [] if a == b else [f"{prefix or '(value)'}: {a!r} -> {b!r}"[:160]]
