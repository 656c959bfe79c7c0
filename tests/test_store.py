"""The run store: a stored run is read instead of trained while its spec and the recipe
version match; the published edition never trains; a killed fill resumes mid-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from alexnet_course import run as store_cli
from alexnet_course import train as train_module
from alexnet_course.augment import Compose, RandomCrop, RandomHorizontalFlip
from alexnet_course.course import store
from alexnet_course.course.chapter import Chapter
from alexnet_course.course.experiments import train_run
from alexnet_course.course.profiles import PROFILES

KW = dict(model_kwargs={"width": 1 / 16}, epochs=2, optimizer="adam", lr=1e-3, train_size=256,
          test_size=128, progress=False, log=None)


def chapter(tmp: Path, **kw) -> Chapter:
    return Chapter(name="c", profile=PROFILES["quick"], device=torch.device("cpu"), seed=0,
                   results=tmp / "store", **kw)


def test_a_stored_run_is_read_until_its_spec_changes(tmp_path: Path) -> None:
    ch = chapter(tmp_path)
    first = train_run(ch, "r", "alexnet_28", **KW)
    record = json.loads((tmp_path / "store" / "c" / "r.json").read_text())
    assert record["recipe_version"] == store.RECIPE_VERSION and len(record["spec_hash"]) == 16
    assert record["timing"]["wall_s"] > 0 and "other_cpu_share" in record["timing"]
    again = train_run(ch, "r", "alexnet_28", **KW)
    assert again.stored and not first.stored
    assert again.history.records == first.history.records and again.row == first.row
    changed = train_run(ch, "r", "alexnet_28", **{**KW, "lr": 2e-3})
    assert not changed.stored  # another spec: trained again, and it replaces the file
    assert json.loads((tmp_path / "store" / "c" / "r.json").read_text())["spec_hash"] != record["spec_hash"]


def test_the_published_edition_never_trains(tmp_path: Path) -> None:
    ch = chapter(tmp_path, require_stored=True)
    with pytest.raises(store.MissingRun, match=r"python -m alexnet_course.run c --profile quick"):
        train_run(ch, "r", "alexnet_28", **KW)
    assert not (tmp_path / "store" / "c" / "r.json").exists()


def test_a_killed_fill_resumes_mid_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = train_run(chapter(tmp_path / "ref"), "r", "alexnet_28", **KW)
    ch = chapter(tmp_path, checkpoints=tmp_path / "ck")
    real, calls = train_module.train_one_epoch, []

    def killed_in_epoch_2(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process is stopped during the second epoch
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "train_one_epoch", killed_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_run(ch, "r", "alexnet_28", **KW)
    assert not (tmp_path / "store" / "c" / "r.json").exists()  # nothing half-stored
    assert len(list((tmp_path / "ck").glob("r-*.pt"))) == 1    # epoch 1 is kept
    monkeypatch.setattr(train_module, "train_one_epoch", real)
    resumed = train_run(ch, "r", "alexnet_28", **KW)
    assert [r["test_acc"] for r in resumed.history.records] == \
        [r["test_acc"] for r in reference.history.records]
    assert not list((tmp_path / "ck").glob("*.pt"))  # stored: the checkpoint is spent


def test_status_then_fill_one_variant(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = ["01", "--profile", "smoke", "--root", str(tmp_path), "--device", "cpu"]
    assert store_cli.main(args + ["--status"]) == 0
    out = capsys.readouterr().out
    n = sum(line.startswith("missing  ") for line in out.splitlines())  # every run, listed
    assert "missing  lenet_lr0.001  (not trained yet)" in out and f"0 of {n} runs stored" in out
    assert "missing  lenet  (waits for the runs of 'rates')" in out  # its rate is chosen first
    assert store_cli.main(args + ["--variant", "lenet_lr0.001"]) == 0  # one run of the grid
    folder = tmp_path / "results" / "smoke" / "01_lenet_to_alexnet"
    assert [p.name for p in folder.glob("*.json")] == ["lenet_lr0.001.json"]
    capsys.readouterr()
    store_cli.main(args + ["--status"])
    out = capsys.readouterr().out
    assert "done     lenet_lr0.001\n" in out and f"1 of {n} runs stored" in out
    assert "CPU time left" in out
    with pytest.raises(SystemExit):
        store_cli.main(args + ["--variant", "lenet5"])  # a typo is named, not ignored


def test_status_lists_a_run_that_two_experiments_share_once(capsys: pytest.CaptureFixture) -> None:
    """Chapter 04's VGG-11 at 36 px is declared by Q2a and by Q2b; the store keeps it once,
    and so must the status (it read 30 runs where 29 are stored)."""
    root = Path(__file__).resolve().parents[1]  # the committed smoke store: read, never written
    assert store_cli.main(["04", "--profile", "smoke", "--root", str(root), "--status"]) == 0
    listed = [line.split()[1] for line in capsys.readouterr().out.splitlines()
              if line.startswith(("done ", "missing "))]
    assert "k3" in listed and len(listed) == len(set(listed))


def test_describe_names_transforms_and_refuses_lambdas() -> None:
    aug = Compose(RandomCrop(28, padding=2), RandomHorizontalFlip())
    d = store.describe(aug)
    assert d["class"] == "Compose" and d["transforms"][0] == {"class": "RandomCrop", "padding": 2,
                                                              "size": 28}
    assert store.spec_hash({"t": d}) == store.spec_hash({"t": store.describe(
        Compose(RandomCrop(28, padding=2), RandomHorizontalFlip()))})
    assert store.spec_hash({"t": d}) != store.spec_hash({"t": store.describe(
        Compose(RandomCrop(28, padding=3), RandomHorizontalFlip()))})
    with pytest.raises(ValueError, match="cannot be described"):
        store.describe(lambda x: x)


def test_a_contended_run_is_labelled(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    busy = store.Contention.result

    def contended(self):
        return {**busy(self), "other_cpu_share": 0.5, "contended": True}

    monkeypatch.setattr(store.Contention, "result", contended)
    r = train_run(chapter(tmp_path), "r", "alexnet_28", **KW)
    assert r.row.last_test_acc > 0
    assert r.row.extra["timing"] == "contended: other processes used 50 % of the CPU"
    stored = json.loads((tmp_path / "store" / "c" / "r.json").read_text())
    assert stored["timing"]["contended"] is True


def test_contention_sees_another_busy_process() -> None:
    import subprocess
    import sys
    import time

    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        with store.Contention() as c:
            time.sleep(1.0)
    finally:
        hog.kill()
    result = c.result()
    if result["other_cpu_share"] is None:
        pytest.skip("no /proc/stat here")
    assert result["other_cpu_share"] > 0.2 and result["contended"] is True  # one of the cores


class CountReLUs:
    """A recorder: counts the network's ReLUs before training, sums its weights after."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def attach(self, net: torch.nn.Module) -> None:
        self._relus = sum(isinstance(m, torch.nn.ReLU) for m in net.modules())

    def collect(self, net: torch.nn.Module) -> dict:
        return {"relus": self._relus, "sum": self.scale * float(sum(p.detach().sum() for p in net.parameters()))}


def test_kept_weights_and_records_are_stored_with_the_run(tmp_path: Path) -> None:
    ch = chapter(tmp_path)
    kw = {**KW, "keep_net": True, "record": {"count": CountReLUs()}}
    first = train_run(ch, "r", "alexnet_28", **kw)
    assert first.recorded["count"]["relus"] > 0
    assert store.read(tmp_path / "store" / "c" / "r.json")["weights"] == "r.weights.pt"
    again = train_run(ch, "r", "alexnet_28", **kw)
    assert again.stored and again.recorded == first.recorded
    for a, b in zip(first.net.state_dict().values(), again.net.state_dict().values()):
        torch.testing.assert_close(b, a.half().float(), rtol=0, atol=0)  # kept in half precision
    (tmp_path / "store" / "c" / "r.weights.pt").unlink()
    assert not train_run(ch, "r", "alexnet_28", **kw).stored  # no weights: trained again
    changed = train_run(ch, "r", "alexnet_28", **{**kw, "record": {"count": CountReLUs(2.0)}})
    assert not changed.stored  # a recorder's settings are part of the spec


def test_the_committed_store_has_every_weights_file_its_records_name() -> None:
    # a clone lacking one (an ignore rule once kept them out of git) cannot publish the book
    records = sorted((Path(__file__).parents[1] / "results").glob("*/*/*.json"))
    named = [(p, r["weights"]) for p in records if "weights" in (r := store.read(p))]
    assert named, "no stored run keeps its weights: the chapters 04 and 07 read some"
    missing = [str(p.with_name(w)) for p, w in named if not p.with_name(w).is_file()]
    assert not missing, f"kept weights missing from the store: {missing}"


def test_an_experiment_declared_after_another_takes_its_keywords_from_its_runs(
        tmp_path: Path) -> None:
    """Chapter 02's pattern: the ablation trains at the rate its sweep picked. The runner
    lists the dependent runs as waiting until the sweep is stored, then plans them from the
    stored sweep; ``train_all`` trains the sweep first, even when only a dependent variant
    is asked for."""
    from alexnet_course.chapters import Experiment, train, train_all
    from alexnet_course.course.ablations import Spec

    kw = dict(epochs=1, optimizer="adam", train_size=128, test_size=64, progress=False, log=None)
    model = {"width": 1 / 16}
    sweep = Experiment([Spec(f"sweep_{lr:g}", f"lr {lr:g}", "alexnet_28", model, {"lr": lr})
                        for lr in (1e-3, 2e-3)], 1, kw)
    picked = []

    def decide(runs: list) -> dict:
        picked.append([r.run for r in runs])
        return {"lr": 2e-3}

    later = Experiment([Spec("later", "at the sweep's rate", "alexnet_28", model)], 1, kw,
                       after="sweep", decide=decide)
    exps = {"sweep": sweep, "later": later}
    with pytest.raises(ValueError, match="decided by the runs of 'sweep'"):
        train(chapter(tmp_path), later)
    plan = chapter(tmp_path, plan_only=True)
    assert ("later", "waits for the runs of 'sweep'") in store_cli.list_runs(plan, exps, None)
    train_all(chapter(tmp_path), exps, ["later"])  # the whole sweep first: it decides the rate
    assert picked == [["sweep_0.001", "sweep_0.002"]]
    rows = dict(store_cli.list_runs(plan, exps, None))
    assert set(rows) == {"sweep_0.001", "sweep_0.002", "later"} and not any(rows.values())
    stored = json.loads((tmp_path / "store" / "c" / "later.json").read_text())
    assert stored["spec"]["recipe"]["lr"] == 2e-3


def test_find_twin_takes_a_valid_run_of_the_same_spec_only(tmp_path: Path) -> None:
    good = {"run": "c", "row": {"run": "c"}, "spec_hash": "h1",
            "recipe_version": store.RECIPE_VERSION}
    store.write(tmp_path / "_chapter.json", {**good, "run": "_chapter"})  # not a run
    (tmp_path / "a.json").write_text("{")  # damaged: reported when its own run is asked for
    store.write(tmp_path / "b.json", {**good, "run": "b", "spec_hash": "h2"})
    store.write(tmp_path / "b0.json", {**good, "run": "b0",
                                       "recipe_version": store.RECIPE_VERSION - 1})
    store.write(tmp_path / "c.json", good)
    store.write(tmp_path / "verdicts.json", {"margin_points": 1.0, "verdicts": []})
    assert store.find_twin(tmp_path, "h1") == good
    assert store.find_twin(tmp_path, "h2")["run"] == "b"
    assert store.find_twin(tmp_path, "h3") is None
    assert store.find_twin(tmp_path / "nothing here", "h1") is None


def test_the_same_spec_under_another_name_is_stored_again_not_trained(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A grid run at the rate later chosen is also the experiment's seed 0: the second name
    gets a copy of the first run's record (``same_as``) with its own columns."""
    from alexnet_course.course import experiments

    ch = Chapter(name="c", profile=PROFILES["smoke"], device=torch.device("cpu"), seed=0,
                 results=tmp_path)
    kw = dict(model_kwargs={"width": 1 / 16}, epochs=1, optimizer="adam", lr=1e-3,
              train_size=256, test_size=128, progress=False, log=None,
              final_evals={"flip acc": train_module.flip_tta})
    real, calls = experiments.fit, []

    def fit_once(*args, **kwargs):
        calls.append(kwargs.get("lr"))
        if len(calls) > 1:
            raise AssertionError("trained a second time")
        return real(*args, **kwargs)

    monkeypatch.setattr(experiments, "fit", fit_once)
    first = train_run(ch, "r", "alexnet_28", extra={"variant": "grid", "seed": 0}, **kw)
    twin = train_run(ch, "r2", "alexnet_28", extra={"variant": "deeper", "seed": 0}, **kw)
    assert calls == [1e-3] and twin.stored and not first.stored
    record = json.loads((tmp_path / "c" / "r2.json").read_text())
    kept = json.loads((tmp_path / "c" / "r.json").read_text())
    assert record["same_as"] == "r" and "same_as" not in kept
    assert record["run"] == twin.run == twin.row.run == record["row"]["run"] == "r2"
    assert record["row"]["variant"] == twin.row.extra["variant"] == "deeper"
    assert kept["row"]["variant"] == "grid"  # the first run's record is untouched
    assert record["row"]["flip acc"] == kept["row"]["flip acc"] == twin.row.extra["flip acc"]
    assert record["spec_hash"] == kept["spec_hash"]
    assert twin.history.records == first.history.records == record["records"]
    assert twin.row.last_test_acc == first.row.last_test_acc
    again = train_run(ch, "r2", "alexnet_28", extra={"variant": "deeper", "seed": 0}, **kw)
    assert again.stored and again.history.records == first.history.records
    with pytest.raises(AssertionError, match="a second time"):  # another spec: no twin
        train_run(ch, "r3", "alexnet_28", **{**kw, "lr": 2e-3})
    with pytest.raises(AssertionError, match="a second time"):  # a twin has no weights to keep
        train_run(ch, "r4", "alexnet_28", keep_net=True, **kw)
    assert not (tmp_path / "c" / "r3.json").exists() and not (tmp_path / "c" / "r4.json").exists()


# ------------------------------------------------- names that become paths stay plain


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", "", "a\\b", "/abs"])
def test_a_chapter_name_that_is_not_a_plain_name_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="chapter name") as error:
        Chapter(name=name, profile=PROFILES["quick"], device=torch.device("cpu"), seed=0,
                results=tmp_path)
    assert repr(name) in str(error.value) and "e.g. 01_lenet_to_alexnet" in str(error.value)


@pytest.mark.parametrize("run", ["../../escape", "a/b", ".."])
def test_a_run_name_that_is_not_a_plain_name_is_refused(tmp_path: Path, run: str) -> None:
    ch = chapter(tmp_path)
    with pytest.raises(ValueError, match="run name") as error:
        ch.save_run(run, None)
    assert repr(run) in str(error.value)
    assert list(tmp_path.rglob("*.json")) == []  # nothing written, inside or out


def test_a_run_name_keeps_its_label_characters(tmp_path: Path) -> None:
    assert chapter(tmp_path).run_path("lenet lr=0.01 (×2)").name == "lenet_lr_0.01_2_.json"


@pytest.mark.parametrize("name", ["../01", "../../x", "01/../02"])
def test_the_store_command_refuses_a_chapter_that_is_a_path(
        tmp_path: Path, capsys: pytest.CaptureFixture, name: str) -> None:
    with pytest.raises(SystemExit) as stop:
        store_cli.main([name, "--profile", "smoke", "--root", str(tmp_path), "--status"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert repr(name) in err and "a chapter's name or number, e.g. 01" in err
    assert "Traceback" not in err and not (tmp_path / "results").exists()
