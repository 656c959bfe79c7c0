"""The speed-run's ``--set FIELD=VALUE`` overrides, parsed and checked in the parent process.

A bad value must cost a message before the first seed: checked only in each seed's child
process, ``lr=abc`` crashed every child and the command still exited 0. Each override is
checked on its own first, so the message names the field that is wrong, then all of them
together with the run's training-set size (:func:`alexnet_course.speedrun.check_runnable`).
"""

from __future__ import annotations

import ast
from typing import Any

from alexnet_course.speedrun import SpeedrunSettings, check_runnable, settings_from


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """``["lr=0.3", "flip=False"]`` -> ``{"lr": 0.3, "flip": False}`` (values as Python literals)."""
    fields = set(SpeedrunSettings().to_dict())
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in fields:
            raise SystemExit(f"--set takes FIELD=VALUE with FIELD one of {', '.join(sorted(fields))}; "
                             f"got {pair!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value  # a bare word: a string choice such as schedule=onecycle
    return out


def checked_settings(preset: SpeedrunSettings, pairs: list[str], *, train_size: int | None = None,
                     **fixed: Any) -> SpeedrunSettings:
    """``preset`` with ``fixed`` and the ``--set`` ``pairs``, every check run now; a bad value
    stops with ``SystemExit`` naming the pair and the preset's value of that field."""
    for pair in pairs:
        (key, value), = parse_sets([pair]).items()
        _check(preset, train_size, f"--set {pair}", key, **{**fixed, key: value})
    return _check(preset, train_size, f"--set {' '.join(pairs)}" if pairs else "", None,
                  **fixed, **parse_sets(pairs))


def _check(preset: SpeedrunSettings, train_size: int | None, what: str, key: str | None,
           **changes: Any) -> SpeedrunSettings:
    try:
        s = settings_from(preset, **changes)
        check_runnable(s, train_size)
        return s
    except ValueError as err:
        hint = f" (the {preset.target:.2f} preset has {key}={getattr(preset, key)!r})" if key else ""
        where = f"{what}: " if what else ""
        raise SystemExit(f"{where}{err}{hint}") from None
