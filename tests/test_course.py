"""The course helpers: where runs are written, how, and a row's round trip; and the library's
independence from them (no notebook machinery needed to train)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from alexnet_course.course import chapter
from alexnet_course.course.profiles import resolve_profile
from alexnet_course.course.rows import RunRow, rows_frame
from alexnet_course.train import History


def _history(*accs: float) -> History:
    return History(records=[{"epoch": i + 1, "test_acc": a, "train_acc": a, "train_loss": 1.0,
                             "seconds": 2.0, "train_seconds": 2.0, "examples": 100}
                            for i, a in enumerate(accs)])


@pytest.fixture
def ch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> chapter.Chapter:
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path))
    return chapter.Chapter(name="01_x", profile=resolve_profile("smoke"),
                           device=torch.device("cpu"), seed=0)


def test_results_dir_follows_the_setting(ch: chapter.Chapter, tmp_path: Path) -> None:
    assert ch.results_dir == tmp_path / "01_x"


def test_results_outside_a_book_go_to_the_working_directory(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURSE_RESULTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert chapter.results_root(resolve_profile("quick")) == tmp_path / "alexnet-course" / "results" / "quick"
    (tmp_path / "_toc.yml").write_text("format: jb-book\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert chapter.results_root(resolve_profile("quick")) == tmp_path / "results" / "quick"
    assert chapter.results_root(resolve_profile("smoke")) == tmp_path / "_build" / "smoke-results"


def test_save_run_writes_a_row_and_replaces_atomically(ch: chapter.Chapter,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    row = RunRow(run="a b", model="lenet", best_test_acc=0.8, extra={"seed": 1})
    path = ch.save_run("a b", _history(0.8), row=row)
    assert path.name == "a_b.json"
    saved = json.loads(path.read_text())
    assert saved["row"]["best test acc"] == 0.8 and saved["row"]["seed"] == 1

    def killed(src: str, dst: str) -> None:  # the process dies between write and rename
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        ch.save_run("a b", _history(0.8, 0.9), row=row)
    assert json.loads(path.read_text()) == saved  # the previous file, whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["a_b.json"]  # no temporary left


def test_run_row_round_trip_and_frame() -> None:
    h = _history(0.5, 0.7)
    row = RunRow.from_history("r", h, model="lenet", input_shape=(1, 28, 28), parameters=10,
                              flops=2e9, train_examples=100, extra={"change": "x"})
    assert (row.epochs, row.best_test_acc, row.last_test_acc, row.gflops) == (2, 0.7, 0.7, 2.0)
    assert row.input == "28×28"
    again = RunRow.from_dict(json.loads(json.dumps(row.to_dict())))
    assert again == row
    frame = rows_frame([row, RunRow(run="empty")])
    assert frame.loc["r", "best test acc"] == 0.7 and frame.loc["r", "change"] == "x"
    assert math.isnan(frame.loc["empty", "best test acc"])
    with pytest.raises(KeyError, match="fields"):
        RunRow.column("best_acc")


BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = {"IPython", "ipykernel", "ipywidgets", "papermill", "sphinx", "myst_nb",
               "matplotlib", "nbformat", "tools"}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked: {name}")
    sys.meta_path.insert(0, Block())
    import alexnet_course, alexnet_course.models, alexnet_course.train, alexnet_course.data
    import alexnet_course.augment, alexnet_course.analysis, alexnet_course.layers
    import alexnet_course.sizes, alexnet_course.featuremaps, alexnet_course.devices
    import torch
    from alexnet_course.train import fit
    from alexnet_course.data import DeviceLoader
    from alexnet_course.models import get_model
    x = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8); y = torch.randint(0, 10, (64,))
    loader = DeviceLoader(x, y, batch_size=32)
    fit(get_model("lenet"), loader, loader, epochs=1, lr=0.01, progress=False, guard=False)
    print("ok")
""")


def test_the_library_trains_without_notebook_machinery() -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("COURSE_PROFILE", "COURSE_RESULTS_DIR", "FASHION_MNIST_DIR")}
    out = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True,
                         timeout=120, env=env, cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_curve_bands_aggregate_seeds_and_mark_stopped_runs() -> None:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.collections import PolyCollection

    from alexnet_course.course import plots
    from alexnet_course.course.experiments import RunResult

    def run(accs: list[float], failed: str | None = None) -> RunResult:
        return RunResult("r", _history(*accs), RunRow(run="r"), failed)

    fig = plots.plot_curve_bands({"a": [run([0.5, 0.7]), run([0.6, 0.8]), run([0.1], "stopped")],
                                  "b": [run([0.4, 0.5])]})
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a (n = 2)", "a: stopped by a guard", "b (n = 1)"]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    assert ax.lines[0].get_ydata().tolist() == pytest.approx([0.55, 0.75])


def test_mean_spread_shows_no_spread_for_a_single_run() -> None:
    from alexnet_course.course import experiments
    from alexnet_course.course.experiments import RunResult

    def run(setting: str, acc: float) -> RunResult:
        return RunResult("r", _history(acc), RunRow(run="r", best_test_acc=acc, last_test_acc=acc,
                                                    s_per_epoch=1.0, extra={"setting": setting}))

    out = experiments.mean_spread([run("a", 0.8), run("a", 0.9), run("b", 0.7)], by="setting")
    assert out.loc["a", "runs"] == 2 and out.loc["a", "best test acc (mean)"] == pytest.approx(0.85)
    assert out.loc["a", "best test acc (± 95 %)"] > 0
    assert math.isnan(out.loc["b", "best test acc (± 95 %)"])  # n = 1: no spread, not ± 0.0
