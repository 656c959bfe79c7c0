"""What every chapter notebook does around its experiments.

``start()`` resolves the profile, picks the device, seeds everything, settles the working
folder (the checkout, or ``./alexnet-course`` outside one: results and data stay there,
never in the installed package) and shows the header (profile, device, torch version,
date); ``Chapter.save_run()`` writes one run's results to
``<working folder>/results/<chapter>/<run>.json`` for the book's summary page;
``Chapter.glue()`` hands a number to the prose (myst-nb ``glue``); ``finish()``
glues the wall time that the header's line refers to.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import datafiles
from ..devices import check_device, default_device, device_name
from ..train import History, set_seed
from . import store
from .profiles import Profile, auto_choice, describe_choice, resolve_profile
from .rows import RunRow
from .summary import format_seconds

BOOK_MARKER = "_toc.yml"  # the file that makes a folder the root of a Jupyter Book


def book_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (the working directory) holding ``_toc.yml``:
    the book a notebook belongs to when it is opened inside a checkout; None elsewhere."""
    here = (start or Path.cwd()).resolve()
    return next((d for d in (here, *here.parents) if (d / BOOK_MARKER).is_file()), None)


WORKDIR_NAME = "alexnet-course"  # the working folder made in the current directory


def working_folder(workdir: str | os.PathLike | None = None) -> Path:
    """Where chapters keep their data and results: ``workdir`` if given; else the checkout
    (the book at or above the working directory); else ``./alexnet-course`` in the working
    directory (``/content/alexnet-course`` on Colab) — never the installed package."""
    if workdir is not None:
        return Path(workdir).expanduser().resolve()
    return book_root() or Path.cwd().resolve() / WORKDIR_NAME


def prepare_working_folder(folder: Path) -> Path:
    """Create ``folder`` and check that it is writable and outside the installed package;
    a clear error naming the fix otherwise."""
    package = Path(__file__).resolve().parents[2]  # the folder alexnet_course/ lies in
    installed = package / "alexnet_course"
    if folder == installed or installed in folder.parents or (
            package.name in ("site-packages", "dist-packages") and
            (folder == package or package in folder.parents)):
        raise ValueError(f"the working folder {folder} lies inside the installed package "
                         f"({package}); run from another directory or pass "
                         "chapter.start(..., workdir='a writable folder')")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"the working folder {folder} is not writable ({err.strerror or err}); "
                         "pass chapter.start(..., workdir='a writable folder')") from err
    return folder


def results_root(profile: Profile, workdir: str | os.PathLike | None = None) -> Path:
    """The run store of ``profile``: ``$COURSE_RESULTS_DIR`` (the book driver sets it); else
    the working folder's ``results/<profile>/`` (``_build/smoke-results/`` for smoke runs and
    ``_build/dryrun-results/`` for dry runs, whose numbers mean nothing and must never
    overwrite the book's results); the working folder as :func:`working_folder` says."""
    if os.environ.get("COURSE_RESULTS_DIR"):
        return Path(os.environ["COURSE_RESULTS_DIR"])
    root = working_folder(workdir)
    if profile.name == "smoke" or profile.dry_run:
        return root / "_build" / f"{profile.name}-results"
    return root / "results" / profile.name


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=book_root() or Path.cwd(),
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def glue(name: str, value: Any, display: bool = False, plain: bool = False) -> None:
    """myst-nb's ``glue`` when available (the book), a no-op elsewhere (e.g. Colab).

    Strings are glued as Markdown, so prose shows them without quotes through
    ``{glue:md}`name` ``; numbers keep their value for ``{glue:text}`name:.3f` ``.
    ``plain=True`` glues a string as plain text instead, for ``{glue:text}``, which also
    pastes from another page (``{glue:text}`results.ipynb::name` ``; ``{glue:md}`` cannot),
    and shows a Markdown value as its repr.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    if isinstance(value, str) and not plain:
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
    workdir: Path | None = None  # None: working_folder()'s default
    # the published edition reads its runs and never trains one (a missing run is an error
    # naming the command that trains it); elsewhere a missing run is trained on the spot
    require_stored: bool = False
    checkpoints: Path | None = None  # where a run in progress is checkpointed every epoch
    results: Path | None = None      # the store's folder; None: results_root()'s
    plan_only: bool = False          # train_run says what it would do (PlannedRun), trains nothing
    started: float = field(default_factory=time.perf_counter)
    date: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc)
                      .strftime("%Y-%m-%d %H:%M UTC"))

    def __post_init__(self) -> None:
        # results_dir joins the name onto the store's folder: "../x" would escape it
        store.plain_name(self.name, "chapter name", "01_lenet_to_alexnet")

    @property
    def device_name(self) -> str:
        return device_name(self.device)

    @property
    def results_dir(self) -> Path:
        return (self.results or results_root(self.profile, self.workdir)) / self.name

    def run_path(self, run: str) -> Path:
        """The stored file of ``run``: ``<results>/<chapter>/<run>.json``."""
        store.plain_name(run, "run name", "lenet_lr0.001")  # a slug would hide "../" as "_"
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", run)  # file name; `run` keeps the label
        return self.results_dir / f"{slug}.json"

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

    def glue(self, name: str, value: Any, display: bool = False, plain: bool = False) -> None:
        glue(name, value, display=display, plain=plain)

    def save_run(self, run: str, history: History | dict[str, Any] | None = None,
                 **extra: Any) -> Path:
        """Write ``results/<chapter>/<run>.json``: history, parameters and environment."""
        record: dict[str, Any] = {"run": run, **self.environment()}
        if isinstance(history, History):
            record.update(history.to_dict())
        elif history is not None:
            record.update(history)
        record.update({k: v.to_dict() if isinstance(v, RunRow) else v for k, v in extra.items()})
        return store.write(self.run_path(run), record)  # atomic

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
          device: str | None = None, show: bool = True,
          workdir: str | os.PathLike | None = None, stored: str = "auto") -> Chapter:
    """Resolve the profile, seed, pick the device and show the chapter's header (and, when
    ``auto`` was resolved by the device, which profile it chose and why).

    ``workdir`` is where the chapter keeps its results and, outside a checkout, its data
    (``<workdir>/data``, which the loaders then search and download into); by default the
    checkout, else ``./alexnet-course`` (see :func:`working_folder`). ``stored="require"``
    reads every run from the store and trains none (``"auto"``: required when the book
    driver publishes a ``standard`` or ``full`` page, ``$COURSE_STORE=require``).
    """
    choice = auto_choice() if profile == "auto" else None
    prof = resolve_profile(choice.profile if choice else profile)
    set_seed(seed)
    folder = working_folder(workdir)
    if folder != book_root():  # a checkout keeps its data where `make data` put it
        datafiles.set_data_home(prepare_working_folder(folder) / "data")
    if stored not in ("auto", "require", "train"):
        raise ValueError(f"stored must be 'auto', 'require' or 'train', got {stored!r}")
    if stored == "auto":
        stored = os.environ.get("COURSE_STORE", "train")
    ch = Chapter(name=chapter, profile=prof,
                 device=check_device(device) if device else default_device(), seed=seed,
                 workdir=folder,
                 require_stored=stored == "require" and prof.measures)
    for key, value in (("profile", prof.name), ("device_name", ch.device_name),
                       ("torch_version", torch.__version__), ("run_date", ch.date)):
        ch.glue(key, value)
    if show:
        ch.show_header()
        if choice and not choice.from_env:  # a reader's run: say why it is this profile
            print(describe_choice(choice))
    return ch
