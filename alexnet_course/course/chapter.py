"""What every chapter notebook does around its experiments.

``start()`` resolves the profile, picks the device, seeds everything and shows the
header (profile, device, torch version, date); ``Chapter.save_run()`` writes one
run's results to ``results/<chapter>/<run>.json`` for the book's summary page;
``Chapter.glue()`` hands a number to the prose (myst-nb ``glue``); ``finish()``
glues the wall time that the header's line refers to.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..devices import default_device, device_name
from ..train import History, set_seed
from .profiles import Profile, resolve_profile
from .rows import RunRow
from .summary import format_seconds

BOOK_MARKER = "_toc.yml"  # the file that makes a folder the root of a Jupyter Book


def book_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (the working directory) holding ``_toc.yml``:
    the book a notebook belongs to when it is opened inside a checkout; None elsewhere."""
    here = (start or Path.cwd()).resolve()
    return next((d for d in (here, *here.parents) if (d / BOOK_MARKER).is_file()), None)


def results_root(profile: Profile) -> Path:
    """Where runs are written: ``$COURSE_RESULTS_DIR`` (the book driver sets it); else the
    enclosing book's ``results/`` (``_build/smoke-results/`` for smoke runs and
    ``_build/dryrun-results/`` for dry runs, which must never overwrite the book's
    results); else ``./course-results`` (e.g. on Colab)."""
    if os.environ.get("COURSE_RESULTS_DIR"):
        return Path(os.environ["COURSE_RESULTS_DIR"])
    scratch = profile.name == "smoke" or profile.dry_run  # numbers that mean nothing
    root = book_root()
    if root is None:
        return Path.cwd() / "course-results" / (profile.name if scratch else "")
    if scratch:
        return root / "_build" / f"{profile.name}-results"
    return root / "results"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=book_root() or Path.cwd(),
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def glue(name: str, value: Any, display: bool = False) -> None:
    """myst-nb's ``glue`` when available (the book), a no-op elsewhere (e.g. Colab).

    Strings are glued as Markdown, so prose shows them without quotes through
    ``{glue:md}`name` ``; numbers keep their value for ``{glue:text}`name:.3f` ``.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    if isinstance(value, str):
        from IPython.display import Markdown

        value = Markdown(value)
    elif hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # NumPy/torch scalars: NumPy 2's repr "np.float64(x)" breaks {glue:text}
    _glue(name, value, display=display)


@dataclass
class Chapter:
    name: str
    profile: Profile
    device: torch.device
    seed: int
    started: float = field(default_factory=time.perf_counter)
    date: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc)
                      .strftime("%Y-%m-%d %H:%M UTC"))

    @property
    def device_name(self) -> str:
        return device_name(self.device)

    @property
    def results_dir(self) -> Path:
        return results_root(self.profile) / self.name

    def environment(self) -> dict[str, Any]:
        return {"chapter": self.name, "profile": self.profile.name, "device": str(self.device),
                "device_name": self.device_name, "torch": torch.__version__,
                "commit": git_commit(), "date": self.date, "seed": self.seed}

    def header_markdown(self) -> str:
        p = self.profile
        return (f"**Profile `{p.name}`** ({p.description}) · **device** {self.device_name} · "
                f"**torch** {torch.__version__} · **run** {self.date}")

    def show_header(self) -> None:
        from IPython.display import Markdown, display

        display(Markdown(self.header_markdown()))

    def glue(self, name: str, value: Any, display: bool = False) -> None:
        glue(name, value, display=display)

    def save_run(self, run: str, history: History | dict[str, Any] | None = None,
                 **extra: Any) -> Path:
        """Write ``results/<chapter>/<run>.json``: history, parameters and environment."""
        record: dict[str, Any] = {"run": run, **self.environment()}
        if isinstance(history, History):
            record.update(history.to_dict())
        elif history is not None:
            record.update(history)
        record.update({k: v.to_dict() if isinstance(v, RunRow) else v for k, v in extra.items()})
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", run)  # file name; `run` keeps the label
        path = self.results_dir / f"{slug}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(record, indent=1, default=str)
        # atomic: a run killed mid-write leaves the previous file (or none), never half a JSON
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def finish(self) -> float:
        """Glue ``wall_time`` (e.g. "3 min 12 s") and return the seconds since ``start``."""
        seconds = self.elapsed()
        text = format_seconds(seconds)
        self.glue("wall_time", text)
        self.save_run("_chapter", wall_seconds=seconds)
        print(f"{self.name}: {text} in profile {self.profile.name} on {self.device_name}")
        return seconds


def start(chapter: str, profile: str = "auto", seed: int = 0, *,
          device: str | None = None, show: bool = True) -> Chapter:
    """Resolve the profile, seed, pick the device and show the chapter's header."""
    prof = resolve_profile(profile)
    set_seed(seed)
    ch = Chapter(name=chapter, profile=prof,
                 device=torch.device(device) if device else default_device(), seed=seed)
    for key, value in (("profile", prof.name), ("device_name", ch.device_name),
                       ("torch_version", torch.__version__), ("run_date", ch.date)):
        ch.glue(key, value)
    if show:
        ch.show_header()
    return ch
