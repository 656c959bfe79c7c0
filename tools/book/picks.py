"""Whether two versions of a chapter differ only in the ``full=`` values of ``P.pick``.

``Profile.pick`` returns the value of one profile; the others it is given are evaluated
and dropped. A notebook edit that changes nothing but ``full=`` arguments of ``.pick(...)``
calls therefore computes the same in every profile but ``full`` (and ``dryrun``, which
takes the full values), so a chapter executed in smoke, quick or standard keeps a valid
executed copy through it (``promote``). The test is on the syntax trees: code cells are
compared as ASTs with every ``full=`` keyword of a ``.pick`` call removed (comments and
formatting are not in the tree), markdown and raw cells as text. A ``full=`` value must be
a literal (constants, tuples, lists, dicts, sets, arithmetic on them) in both versions:
every profile evaluates it, so a call or a name there could behave differently.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from .paths import read_notebook

# the profiles that take pick()'s full= values: their runs did use the changed values
FULL_PICKERS = frozenset({"full", "dryrun"})
_LITERAL_NODES = (ast.Constant, ast.Tuple, ast.List, ast.Dict, ast.Set, ast.UnaryOp,
                  ast.BinOp, ast.Load, ast.operator, ast.unaryop)


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source") or ""
    return "".join(source) if isinstance(source, list) else str(source)


def _python(source: str) -> str:
    """The cell as plain Python: IPython's own transformer rewrites ``%magic``/``!cmd``."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _is_literal(node: ast.expr) -> bool:
    if not all(isinstance(n, _LITERAL_NODES) for n in ast.walk(node)):
        return False
    try:  # e.g. 1 / 0 is made of literals but raises in every profile
        eval(compile(ast.Expression(node), "<full=>", "eval"), {"__builtins__": {}})
    except Exception:  # noqa: BLE001 - any error: not a value every profile can evaluate
        return False
    return True


class _StripFull(ast.NodeTransformer):
    """Removes the ``full=`` keyword of every ``<anything>.pick(...)`` call; collects the
    removed values that are not literals."""

    def __init__(self) -> None:
        self.not_literal: list[str] = []

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Attribute) and node.func.attr == "pick":
            for keyword in node.keywords:
                if keyword.arg == "full" and not _is_literal(keyword.value):
                    self.not_literal.append(ast.unparse(keyword.value)[:60])
            node.keywords = [k for k in node.keywords if k.arg != "full"]
        return node


def strip_full_picks(source: str) -> tuple[str, list[str]]:
    """``ast.dump`` of the code cell without the ``full=`` values of its ``.pick`` calls,
    and those values that are not literals. A SyntaxError propagates."""
    stripper = _StripFull()
    tree = stripper.visit(ast.parse(_python(source)))
    return ast.dump(tree), stripper.not_literal


def full_picks_only(before: dict[str, Any], after: dict[str, Any]) -> str | None:
    """None when notebook ``after`` differs from ``before`` only in ``full=`` values of
    ``.pick`` calls; otherwise the first reason it does not."""
    cells_a, cells_b = before.get("cells", []), after.get("cells", [])
    if len(cells_a) != len(cells_b):
        return f"{len(cells_a)} cells before, {len(cells_b)} after"
    for index, (a, b) in enumerate(zip(cells_a, cells_b)):
        kind = a.get("cell_type")
        if kind != b.get("cell_type"):
            return f"cell {index} is {kind} before, {b.get('cell_type')} after"
        source_a, source_b = _source(a), _source(b)
        if source_a == source_b:
            continue
        if kind != "code":
            return f"{kind} cell {index} changed"
        try:
            (tree_a, odd_a), (tree_b, odd_b) = map(strip_full_picks, (source_a, source_b))
        except SyntaxError as error:
            return f"code cell {index} does not parse ({error.msg}, line {error.lineno})"
        if tree_a != tree_b:
            return f"code cell {index} changed beyond the full= values of its pick() calls"
        if odd_a or odd_b:
            return (f"code cell {index}: a full= value is not a literal ({(odd_a + odd_b)[0]}); "
                    "every profile evaluates it")
    return None


def adopt_sources(executed_path: Path, source_path: Path) -> None:
    """Give the executed notebook's cells the source notebook's sources, outputs kept (for
    a change :func:`full_picks_only` accepted: the cells correspond one to one), so the page
    shows the current full= values."""
    executed, source = read_notebook(executed_path), read_notebook(source_path)
    for cell, new in zip(executed["cells"], source["cells"], strict=True):
        cell["source"] = new.get("source", "")
    tmp = executed_path.with_suffix(".adopt.tmp")
    tmp.write_text(json.dumps(executed, indent=1, ensure_ascii=False, sort_keys=True) + "\n",
                   encoding="utf-8")
    tmp.replace(executed_path)
