"""Issue 29: nothing published is overwritten by a probe, bad arguments stop before any work,
a failed seed is a failure, and a damaged record is not "not measured". No training runs
here: seeds are faked, so these checks take a second."""

import json
import subprocess

import pytest

from alexnet_course.course import speedruns
from benchmarks import records
from benchmarks import speedrun as bench

OLD = {"benchmark": "speedrun", "hardware": {"date": "2026-12-01 05:00 UTC"}, "split": "test",
       "seeds": [{"seed": i} for i in range(5)], "summary": {"median_s": 23.3, "target": 0.9}}


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """A published-records folder holding the 0.90 record, and a scratch folder."""
    results, scratch = tmp_path / "results", tmp_path / "scratch"
    results.mkdir()
    (results / "speedrun_cpu_90.json").write_text(json.dumps(OLD))
    monkeypatch.setattr(records, "RESULTS_DIR", results)
    monkeypatch.setattr(records, "SCRATCH_DIR", scratch)
    return results, scratch


def fake_seed(s, seed, **kw):
    return {"seed": seed, "reached": True, "seconds_to_target": 20.0 + seed, "epochs_to_target": 2.0,
            "final_acc": 0.91, "stopped": "target", "evals": []}


def read_only(**kw):
    """``tempfile.mkstemp`` in a read-only folder (the tests run as root, so chmod can't)."""
    raise PermissionError(13, "Permission denied")


@pytest.fixture
def fake_seeds(monkeypatch):
    """Seeds that return at once, in or out of process; ``calls`` lists the seeds run."""
    calls = []

    def run(s, seed, **kw):
        calls.append(seed)
        return fake_seed(s, seed)

    monkeypatch.setattr(bench, "run_one", run)
    monkeypatch.setattr(bench, "run_seed_subprocess", run)
    return calls


@pytest.mark.parametrize("probe", [["--seeds", "1", "--train-size", "512"], ["--seeds", "1"],
                                   ["--set", "lr=0.25"], ["--split", "val"], ["--in-process"]])
def test_a_probe_writes_scratch_and_says_where(folders, fake_seeds, capsys, probe):
    results, scratch = folders
    bench.main(["--device", "cpu", *probe])
    assert json.loads((results / "speedrun_cpu_90.json").read_text()) == OLD  # untouched
    written = list(scratch.iterdir())
    assert len(written) == 1 and "speedrun_" in written[0].name
    out = capsys.readouterr().out
    assert "not the recipe of" in out and str(written[0]) in out and probe[0] in out


def test_the_recipe_replaces_the_record_only_with_the_flag(folders, fake_seeds, capsys):
    results, scratch = folders
    bench.main(["--device", "cpu"])  # the record's own recipe, without the flag
    assert json.loads((results / "speedrun_cpu_90.json").read_text()) == OLD
    assert (scratch / "speedrun_cpu_90.json").exists()
    assert "--replace-record" in capsys.readouterr().out
    bench.main(["--device", "cpu", "--replace-record"])
    new = json.loads((results / "speedrun_cpu_90.json").read_text())
    assert new["summary"]["median_s"] == 22.0 and new["complete"] is True
    said = capsys.readouterr().out
    assert "replacing" in said and "2026-12-01 05:00 UTC, 5 seeds, median 23.3 s" in said
    with pytest.raises(SystemExit, match="published record.*--replace-record"):
        bench.main(["--device", "cpu", "--out", str(results / "speedrun_cpu_90.json")])
    with pytest.raises(SystemExit):
        bench.main(["--seeds", "0"])


@pytest.mark.parametrize("value, says", [
    ("lr=abc", "lr must be a number, e.g. lr="),
    ("lr=-1", "lr must be > 0, e.g. lr="),
    ("batch_size=100000", "batch_size=100000 is more than the 60,000 training images"),
    ("widths=(0,)", "widths must be whole numbers >= 1, e.g. widths="),
    ("flip=yes", "flip must be True or False"),
    ("epochs=2.5", "give a whole number, e.g. 2"),
])
def test_bad_set_values_stop_before_any_seed(folders, fake_seeds, value, says):
    results, scratch = folders
    with pytest.raises(SystemExit, match=f"^--set {value.replace('(', '.').replace(')', '.')}: ") as err:
        bench.main(["--device", "cpu", "--seeds", "1", "--set", "lr=0.25", value])
    assert says in str(err.value) and "the 0.90 preset has" in str(err.value)
    assert fake_seeds == [] and not scratch.exists()


def test_a_train_size_beyond_the_data_stops_before_any_seed(folders, fake_seeds):
    with pytest.raises(SystemExit, match="train_size must be between 1 and the 55,000"):
        bench.main(["--device", "cpu", "--split", "val", "--train-size", "60000"])
    assert fake_seeds == []


def test_a_failed_child_is_a_failed_seed_and_a_failed_command(tmp_path, monkeypatch, capsys):
    crash = "Traceback (most recent call last):\n  ...\nRuntimeError: out of memory\n"
    real = subprocess.run

    def run(cmd, **kw):  # each seed's child crashes; git (the record's commit) still answers
        return subprocess.CompletedProcess(cmd, 1, stderr=crash) if "--child" in cmd else real(cmd, **kw)

    monkeypatch.setattr(bench.subprocess, "run", run)
    out = tmp_path / "run.json"
    with pytest.raises(SystemExit, match="2 of 2 seeds failed.*RuntimeError: out of memory"):
        bench.main(["--device", "cpu", "--seeds", "2", "--out", str(out)])
    payload = json.loads(out.read_text())
    assert [r["failed"] for r in payload["seeds"]] == [True, True]
    assert payload["seeds"][0]["error"] == "RuntimeError: out of memory"
    assert payload["summary"]["failed"] == 2 and payload["summary"]["n"] == 0
    assert payload["complete"] is False
    said = capsys.readouterr()
    assert "FAILED (exit status 1): RuntimeError: out of memory" in said.out
    assert "not reached" not in said.out and "RuntimeError" in said.err  # the child's traceback
    # --resume runs the failed seeds again
    monkeypatch.setattr(bench, "run_seed_subprocess", fake_seed)
    bench.main(["--device", "cpu", "--seeds", "2", "--out", str(out), "--resume"])
    assert [r["seed"] for r in json.loads(out.read_text())["seeds"]] == [0, 1]


def test_an_unwritable_output_folder_fails_before_the_first_seed(tmp_path, folders, fake_seeds,
                                                                  monkeypatch):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(SystemExit, match=f"cannot write the results to {tmp_path / 'a_file'}"):
        bench.main(["--device", "cpu", "--out", str(tmp_path / "a_file" / "run.json")])

    monkeypatch.setattr(records.tempfile, "mkstemp", read_only)
    with pytest.raises(SystemExit, match=f"cannot write the results to {folders[1]}: Permission denied"):
        bench.main(["--device", "cpu", "--seeds", "1"])
    assert fake_seeds == []


def test_a_damaged_record_is_named_not_reported_as_not_measured(tmp_path):
    from benchmarks import report

    assert "Not measured yet" in report.build_summary(tmp_path)  # nothing there: not measured
    (tmp_path / "speedrun_cpu_90.json").write_text('{"benchmark": "speedrun", "seeds": [')
    with pytest.raises(speedruns.DamagedRecord,
                       match=r"speedrun_cpu_90.json: this JSON file is damaged.*make speedrun"):
        report.build_summary(tmp_path)
    with pytest.raises(speedruns.DamagedRecord, match="speedrun_cpu_90.json: this JSON file is damaged"):
        speedruns.load_speedruns(tmp_path)  # chapter 01's reader
    (tmp_path / "speedrun_cpu_90.json").unlink()
    (tmp_path / "training_cpu.json").write_text("[1, 2]")
    with pytest.raises(speedruns.DamagedRecord, match=r"training_cpu.json: this JSON file is damaged.*make bench"):
        report.build_summary(tmp_path)


def test_every_benchmark_that_publishes_keeps_its_record(folders, monkeypatch, capsys):
    """LRN, the book's times, the training comparison, the step profile and the LeNet guard:
    a run with other options writes scratch, the record is replaced only with the flag."""
    from benchmarks import bench_book, bench_lrn, bench_training, guard_lenet, speedrun_profile

    results, scratch = folders
    for name in ("lrn_cpu", "book", "training_cpu", "speedrun_profile_cpu_90", "guard_lenet_cpu"):
        (results / f"{name}.json").write_text('{"old": true}')
    tiny = ["--batches", "1", "--channels-hw", "3", "5", "5", "--repeats", "1", "--warmup", "0"]
    bench_lrn.main(tiny)
    assert (scratch / "lrn_cpu.json").exists() and "--batches 1" in capsys.readouterr().out
    bench_lrn.main(tiny + ["--replace-record"])
    assert json.loads((results / "lrn_cpu.json").read_text())["benchmark"] == "lrn"
    bench_book.main([])  # its own recipe, but the record exists and there is no flag
    assert (scratch / "book.json").exists()
    bench_book.main(["--replace-record"])
    assert json.loads((results / "book.json").read_text())["benchmark"] == "book"

    plans = []
    monkeypatch.setattr(bench_training, "run_plan", lambda plan, device, out, argv: plans.append(out))
    bench_training.main(["--device", "cpu"])
    assert plans == [scratch / "training_cpu.json"]
    monkeypatch.setattr(speedrun_profile, "profile_steps", lambda *a, **k: pytest.fail("profiled"))
    with pytest.raises(SystemExit, match="--set lr=abc: lr must be a number"):
        speedrun_profile.main(["--device", "cpu", "--set", "lr=abc"])
    monkeypatch.setattr(guard_lenet, "load_fashion_mnist", lambda *a, **k: pytest.fail("trained"))
    monkeypatch.setattr(records.tempfile, "mkstemp", read_only)
    with pytest.raises(SystemExit, match=f"cannot write the results to {scratch}"):
        guard_lenet.main(["--epochs", "1"])
    for name in ("training_cpu", "speedrun_profile_cpu_90", "guard_lenet_cpu"):
        assert json.loads((results / f"{name}.json").read_text()) == {"old": True}


def test_make_bench_publishes_and_a_plain_run_all_does_not(folders, monkeypatch):
    from benchmarks import bench_book, bench_lrn, bench_training, report, run_all

    results, scratch = folders
    (results / "run_all.json").write_text('{"old": true}')
    calls = {}
    monkeypatch.setattr(bench_training, "run_plan",
                        lambda plan, device, out, argv: calls.setdefault("training", out))
    monkeypatch.setattr(bench_lrn, "main", lambda argv: calls.setdefault("lrn", argv))
    monkeypatch.setattr(bench_book, "main", lambda argv: calls.setdefault("book", argv))
    monkeypatch.setattr(report, "main", lambda: None)
    assert run_all.main(["--device", "cpu"]) == 0
    assert json.loads((results / "run_all.json").read_text()) == {"old": True}
    assert (scratch / "run_all.json").exists() and calls["lrn"] == ["--device", "cpu"]
    calls.clear()
    assert run_all.main(["--device", "cpu", "--replace-record"]) == 0
    assert json.loads((results / "run_all.json").read_text())["benchmark"] == "run_all"
    assert calls == {"training": results / "training_cpu.json",
                     "lrn": ["--device", "cpu", "--replace-record"], "book": ["--replace-record"]}
