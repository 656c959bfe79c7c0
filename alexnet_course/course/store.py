"""The run store: every finished training run of a chapter, kept as one JSON file and
valid while what decided its numbers is unchanged.

A run's **spec** is everything that decides what it computes — the model and its keywords,
the data (set, sizes, input side, batch, augmentation), the recipe (:class:`TrainSettings`
fields), the seed and what is recorded — as plain JSON; its **hash** names that spec. A
stored run is reused while its spec hash and :data:`RECIPE_VERSION` both match; otherwise
it is missing and is trained again. Code changes that move numbers without changing a spec
(a new initialisation, a fixed loss) are caught by the canary test, which trains the
chapters' smoke specs and compares them with the committed smoke store: its failure says
to bump :data:`RECIPE_VERSION` and refill the store.

A stored file also records where and how the run was trained — torch, device, commit,
date, wall time — and how busy the machine was meanwhile (:class:`Contention`): CPU
accuracy runs are deterministic and may share the machine, their seconds may not.
Files are written atomically (a temporary file, then ``os.replace``) and read as JSON only.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from ..jsonfiles import read_json

# Bump by hand when a code change moves the numbers of runs whose spec it does not change
# (the canary test says when): every stored run becomes missing and is trained again.
RECIPE_VERSION = 1
# Other processes' share of the machine's CPU above which a run's seconds are contended.
# Measured on 2 cores (chapter 01's probes, Intel Xeon): at a share of 5-8 % the same probes
# ran 5-28 % slower than at 0.5-2.6 % (torch's two threads wait for each other when one is
# preempted), so 10 % let slowed probes pass as "timed alone".
CONTENDED_SHARE = 0.04
_PLAIN = (bool, int, float, str, type(None))


class MissingRun(RuntimeError):
    """A run the published edition needs is not in the store; the message says how to
    train it."""


def describe(obj: Any) -> Any:
    """A JSON description of a transform or predict function: its class (or function) name
    and its plain attributes, recursively for a ``Compose``; a lambda cannot be described."""
    if obj is None or isinstance(obj, _PLAIN):
        return obj
    if isinstance(obj, (list, tuple)):
        return [describe(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): describe(v) for k, v in obj.items()}
    name = getattr(obj, "__qualname__", None) or type(obj).__qualname__
    if "<lambda>" in name or "<locals>" in name:
        raise ValueError(f"{name} cannot be described for the run store; use a named function "
                         f"or one of alexnet_course.augment's classes")
    if callable(obj) and hasattr(obj, "__qualname__"):  # a function
        return f"{getattr(obj, '__module__', '')}.{name}"
    attrs = {k: describe(v) for k, v in sorted(vars(obj).items())
             if not k.startswith("_") and k != "generator"
             and isinstance(v, (*_PLAIN, list, tuple, dict))}
    return {"class": name, **attrs}


def plain_name(name: str, what: str, example: str) -> str:
    """``name`` when it can name a file or folder of the store by itself: not empty, no
    path separator, not ``.`` or ``..``. The store joins a chapter's and a run's names onto
    its folder, so ``../x`` would write outside it; a ValueError names the value and the
    valid form (``what``: e.g. "chapter name"; ``example``: a valid one)."""
    if not isinstance(name, str) or name in ("", ".", "..") or any(
            sep in name for sep in ("/", "\\", "\0")):
        raise ValueError(f"{what} {name!r} is not a plain name: the run store names a file "
                         f"or folder after it, so it must be one name without '/' or '\\' "
                         f"and not '.' or '..' (e.g. {example})")
    return name


def spec_hash(spec: dict[str, Any]) -> str:
    """The first 16 hex digits of the SHA-256 of the spec's canonical JSON."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def refill_command(folder: Path) -> str:
    """The command that fills the store folder ``results/<profile>/<chapter>``."""
    folder = Path(folder)
    return f"python -m alexnet_course.run {folder.name} --profile {folder.parent.name}"


def read(path: Path) -> dict[str, Any] | None:
    """The stored record at ``path`` (JSON only), or None when there is none; a damaged
    file is a :class:`~..jsonfiles.DamagedFile` (a ``ValueError``) that names it."""
    if not path.is_file():
        return None
    return read_json(path, fix=f"delete it and rerun `{refill_command(path.parent)}` to "
                               f"retrain it (the chapter's other stored runs are kept)")


def stale_reason(record: dict[str, Any] | None, digest: str) -> str | None:
    """Why ``record`` cannot stand for the run of spec hash ``digest``, or None if it can."""
    if record is None:
        return "not trained yet"
    if record.get("spec_hash") is None:
        return "stored before the run store (no spec hash)"
    if record.get("spec_hash") != digest:
        return "its spec changed"
    if record.get("recipe_version") != RECIPE_VERSION:
        return (f"stored under RECIPE_VERSION {record.get('recipe_version')}, now "
                f"{RECIPE_VERSION}")
    return None


def find_twin(folder: Path, digest: str) -> dict[str, Any] | None:
    """A valid stored run of spec hash ``digest`` under another name in ``folder`` (a grid
    run at the rate later chosen is also the experiment's seed 0), or None."""
    for path in sorted(Path(folder).glob("*.json")):
        if path.name.startswith(("_", ".")):
            continue
        try:
            record = read(path)
        except ValueError:
            continue  # a damaged file is reported when its own run is asked for
        if isinstance(record, dict) and "row" in record and stale_reason(record, digest) is None:
            return record
    return None


def write(path: Path, record: dict[str, Any]) -> Path:
    """Write ``record`` atomically: a run killed mid-write leaves the previous file (or
    none), never half a JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record, indent=1, default=str)
    if len(text) > 200_000:  # recorded activations: one line, a third of the bytes
        text = json.dumps(record, separators=(",", ":"), default=str)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_weights(path: Path, net: Any) -> Path:
    """Keep a trained network's weights beside its run, floats in half precision (enough for
    the figures drawn from them, half the bytes in the repository), written atomically."""
    import torch

    state = {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
             for k, v in net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_weights(path: Path, net: Any) -> Any:
    """Load weights kept by :func:`save_weights` into ``net`` (tensors only:
    ``weights_only=True`` unpickles nothing else)."""
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    net.load_state_dict(state)  # copies into net's own dtype and device
    return net


def _cpu_ticks() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot (Linux), else None."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return (sum(fields) - idle) / hz, sum(fields) / hz


class Contention:
    """How busy the machine was while a run trained: ``with Contention() as c: ...``, then
    ``c.result()``: the load averages at both ends, the share of all cores that *other*
    processes used (the machine's busy time less this process's, on Linux) and whether
    that share exceeds :data:`CONTENDED_SHARE`, when seconds are not to be compared."""

    def __enter__(self) -> Contention:
        self.load_start = _loadavg()
        self.ticks, self.own = _cpu_ticks(), time.process_time()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        ticks, own = _cpu_ticks(), time.process_time() - self.own
        self.other_share = None
        if ticks is not None and self.ticks is not None and ticks[1] > self.ticks[1]:
            busy, total = ticks[0] - self.ticks[0], ticks[1] - self.ticks[1]
            self.other_share = max(0.0, busy - own) / total
        self.load_end = _loadavg()

    def result(self) -> dict[str, Any]:
        share = self.other_share
        return {"wall_s": self.wall, "loadavg_start": self.load_start,
                "loadavg_end": self.load_end, "other_cpu_share": share,
                "contended": None if share is None else share > CONTENDED_SHARE}


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
