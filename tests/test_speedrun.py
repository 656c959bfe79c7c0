"""The speed-run's code on tiny subsets (no timing is checked): the network, the settings and
CLI, the validation split, the per-seed JSON and its resumption, and not-reached seeds."""

import json

import pandas as pd
import pytest
import torch

from alexnet_course import speedrun as sr
from alexnet_course.course import speedruns
from alexnet_course.data import DataError, fashion_mnist_tensors
from alexnet_course.models import AlexNetSpeedrun, get_model
from benchmarks import speedrun as bench

try:
    fashion_mnist_tensors(True, download=False)
except DataError:  # pragma: no cover - the data is fetched by `make test`
    pytest.skip("Fashion-MNIST is not available", allow_module_level=True)

TINY = dict(widths=(4, 8, 8), residual=(3,), epochs=1.0, batch_size=64, split="val")


def test_network_shapes() -> None:
    net = get_model("alexnet_speedrun").eval()
    x = torch.zeros(2, 1, 28, 28)
    sides = []
    for name, layer in net.features.named_children():
        x = layer(x)
        sides.append((name, tuple(x.shape[1:])))
    assert sides == [("stage1", (32, 14, 14)), ("stage2", (64, 7, 7)), ("res2", (64, 7, 7)),
                     ("stage3", (128, 3, 3)), ("res3", (128, 3, 3))]
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    small = get_model("alexnet_speedrun_small")
    assert not any(n.startswith("res") for n, _ in small.features.named_children())
    # without batch norm the convolutions keep their biases, with it they have none
    convs = [m for m in AlexNetSpeedrun(norm=False).modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 7 and all(m.bias is not None for m in convs)
    assert all(m.bias is None for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    with pytest.raises(ValueError, match="residual names stages 1..3"):
        AlexNetSpeedrun(residual=(4,))
    with pytest.raises(ValueError, match="at least 8×8"):
        net(torch.zeros(1, 1, 7, 7))


def test_settings_and_cli() -> None:
    with pytest.raises(ValueError, match="schedule='cosine'; choose one of linear, onecycle, constant"):
        sr.SpeedrunSettings(schedule="cosine")
    with pytest.raises(ValueError, match="target is an accuracy"):
        sr.SpeedrunSettings(target=90)
    assert bench.parse_sets(["lr=0.3", "flip=False", "widths=(8, 16, 32)", "schedule=onecycle"]) == \
        {"lr": 0.3, "flip": False, "widths": (8, 16, 32), "schedule": "onecycle"}
    with pytest.raises(SystemExit, match="FIELD one of"):
        bench.parse_sets(["learning_rate=0.3"])
    with pytest.raises(SystemExit):
        bench.main(["--target", "0.95"])  # only the presets' targets
    assert bench.PRESETS[0.93] == sr.SpeedrunSettings(target=0.93)  # the documented defaults
    s = sr.settings_from(bench.PRESETS[0.90], lr=0.5)
    assert s.lr == 0.5 and s.widths == bench.PRESETS[0.90].widths


def test_evaluations_are_spaced_and_the_last_step_always_counts() -> None:
    assert sr._eval_steps(10, 30, 2, 1.5) == {15, 20, 25, 30}
    assert sr._eval_steps(10, 25, 1) == {10, 20, 25}
    assert sr._eval_steps(10, 8, 1, 5.0) == {8}  # a schedule shorter than eval_from: its end


def test_ablation_starts_at_the_homework_net_and_ends_at_the_recipe() -> None:
    recipe = bench.PRESETS[0.93]
    rows = bench.ablation_rows(recipe)
    assert rows[0]["name"] == "homework" and rows[0]["settings"].model == "homework"
    assert rows[0]["settings"].data == "dataloader" and not rows[0]["settings"].batch_norm
    carried = [r for r in rows if r["in_recipe"]]
    last = carried[-1]["settings"]
    assert {**last.to_dict(), "stop_at_target": False} == recipe.to_dict()
    # each carried row changes only its own trick's fields
    for prev, row in zip(carried, carried[1:]):
        changed = {k for k, v in row["settings"].to_dict().items() if prev["settings"].to_dict()[k] != v}
        fields = dict((n, f) for n, _, f in bench.STEPS)[row["name"]]
        assert changed and changed <= set(fields), (row["name"], changed)
    assert any(r["name"] == "compile" and not r["in_recipe"] for r in rows)


def test_validation_split_is_disjoint_from_training() -> None:
    _, labels = fashion_mnist_tensors(True)
    train_idx, val_idx = sr.validation_split(labels)
    assert len(val_idx) == sr.VAL_SIZE and len(train_idx) == 60_000 - sr.VAL_SIZE
    assert not set(train_idx.tolist()) & set(val_idx.tolist())
    assert torch.bincount(labels[val_idx]).tolist() == [500] * 10  # stratified
    assert torch.equal(sr.validation_split(labels)[1], val_idx)  # the same for every run
    s = sr.SpeedrunSettings(**TINY)
    train, val = sr.device_loaders(s, seed=3, device="cpu")
    images = fashion_mnist_tensors(True)[0]
    assert torch.equal(val.images, images[val_idx]) and torch.equal(train.images, images[train_idx])


def test_a_target_never_reached_is_not_a_time() -> None:
    s = sr.SpeedrunSettings(**TINY, target=0.999)
    rec = sr.train_to_target(s, 0, train_size=256)
    assert rec["reached"] is False and rec["seconds_to_target"] is None
    assert rec["evals"] and 0 <= rec["final_acc"] < 0.999 and rec["stopped"] == "schedule end"
    ok = {"seed": 1, "reached": True, "seconds_to_target": 12.0, "final_acc": 0.91}
    no = {"seed": 2, "reached": False, "seconds_to_target": None, "final_acc": 0.88}
    sm = bench.summarise([rec, ok, no], 0.999, budget_s=30.0)
    assert sm["reached"] == 1 and sm["median_s"] is None and sm["max_s"] == 12.0 and not sm["meets"]
    sm = bench.summarise([ok, ok, no], 0.9, budget_s=10.0)
    assert sm["median_s"] == 12.0 and sm["within_budget"] == 0


def test_json_after_each_seed_kept_when_killed_and_resumed(tmp_path, monkeypatch) -> None:
    calls = []

    def fake(s, seed, **kw):
        calls.append(seed)
        if seed == 2 and len(calls) == 3:
            raise KeyboardInterrupt  # killed during the third seed
        return {"seed": seed, "reached": seed != 1, "seconds_to_target": None if seed == 1 else 5.0 + seed,
                "epochs_to_target": 1.0, "final_acc": 0.9, "stopped": "schedule end", "evals": []}

    monkeypatch.setattr(bench, "run_one", fake)
    out = tmp_path / "speedrun.json"
    argv = ["--target", "0.90", "--seeds", "4", "--in-process", "--out", str(out)]
    with pytest.raises(KeyboardInterrupt):
        bench.main(argv)
    kept = json.loads(out.read_text())
    assert [r["seed"] for r in kept["seeds"]] == [0, 1] and kept["complete"] is False
    assert kept["summary"]["reached"] == 1 and kept["seeds"][1]["seconds_to_target"] is None
    assert kept["hardware"]["torch"] == torch.__version__ and "commit" in kept["hardware"]
    bench.main(argv + ["--resume"])
    assert calls == [0, 1, 2, 2, 3]  # only the missing seeds ran again
    done = json.loads(out.read_text())
    assert [r["seed"] for r in done["seeds"]] == [0, 1, 2, 3] and done["complete"] is True
    assert done["summary"]["median_s"] == 7.5  # of 5, 7, 8 and one not reached (ranked last)
    table = speedruns.to_frame(done)
    assert table.loc[0, "reached"] == 3 and table.loc[0, "median_s"] == 7.5 and table.loc[0, "n"] == 4
    with pytest.raises(SystemExit, match="other settings"):
        bench.main(argv + ["--resume", "--set", "lr=0.5"])


def test_one_seed_in_a_fresh_process(tmp_path) -> None:
    s = sr.SpeedrunSettings(**TINY, target=0.5)
    rec = bench.run_seed_subprocess(s, 0, device="cpu", train_size=128)
    assert rec["stopped"] == "schedule end" and rec["steps"] == 2
    # the clock started before the interpreter did: import torch and the data are inside it
    assert rec["data_s"] > 0 and rec["evals"][-1]["seconds"] >= rec["data_s"]


def test_step_profile_names_every_phase() -> None:
    from benchmarks.speedrun_profile import PHASES, profile_steps

    res = profile_steps(sr.SpeedrunSettings(**TINY), steps=2, warmup=1)
    assert set(res["phases_s"]) == {*PHASES, "other"} and res["step_s"] > 0
    assert 0 < res["conv_share_of_op_time"] < 1 and res["top_ops"]


def test_ablation_writes_a_table_json(tmp_path, monkeypatch) -> None:
    seen = []

    def fake(s, seed, **kw):
        seen.append((s.model, s.time_limit_s, s.stop_at_target))
        fast = s.data == "device"  # only the first row, with d2l's DataLoader, misses
        return {"seed": seed, "reached": fast, "seconds_to_target": 20.0 if fast else None,
                "epochs_to_target": 2.0, "final_acc": 0.9, "stopped": "target", "evals": []}

    monkeypatch.setattr(bench, "run_one", fake)
    out = tmp_path / "ablation.json"
    bench.main(["--target", "0.90", "--ablate", "--seeds", "2", "--in-process", "--out", str(out)])
    payload = json.loads(out.read_text())
    names = [r["name"] for r in bench.ablation_rows(bench.PRESETS[0.90])]
    assert [r["name"] for r in payload["rows"]] == names and len(seen) == 2 * len(names)
    assert payload["complete"] is True and payload["planned_rows"] == names
    assert all(limit == 300.0 and stop for _, limit, stop in seen)  # 10× the 30 s budget
    table = speedruns.to_frame(payload).set_index("step")
    assert table.loc["homework", "reached"] == 0 and pd.isna(table.loc["homework", "median_s"])
    assert table.loc["device_data", "median_s"] == 20.0
    # a ratio needs a time on both sides: none after a row that never got there
    assert pd.isna(table.loc["device_data", "× previous"])
    assert table.loc["channels_last", "× previous"] == 1.0


def test_a_resumed_ablation_killed_early_keeps_every_row(tmp_path, monkeypatch) -> None:
    calls = []

    def fake(s, seed, **kw):
        calls.append(seed)
        if seed == 1 and len(calls) > 13:
            raise KeyboardInterrupt  # killed in the second pass, after its first row
        return {"seed": seed, "reached": True, "seconds_to_target": 10.0 + seed, "epochs_to_target": 1.0,
                "final_acc": 0.9, "stopped": "target", "evals": []}

    monkeypatch.setattr(bench, "run_one", fake)
    out = tmp_path / "ablation.json"
    argv = ["--target", "0.90", "--ablate", "--in-process", "--out", str(out)]
    bench.main(argv + ["--seeds", "1"])
    names = [r["name"] for r in bench.ablation_rows(bench.PRESETS[0.90])]
    assert len(calls) == len(names)
    with pytest.raises(KeyboardInterrupt):
        bench.main(argv + ["--seeds", "2", "--resume"])
    kept = json.loads(out.read_text())
    assert kept["complete"] is False and [r["name"] for r in kept["rows"]] == names
    assert [len(r["seeds"]) for r in kept["rows"]] == [2] + [1] * (len(names) - 1)


def test_a_benchmark_record_is_written_whole_or_not_at_all(tmp_path, monkeypatch) -> None:
    from benchmarks import common

    path = common.write_json("r", {"seeds": [1]}, tmp_path)
    real = type(path).write_text

    def full_disk(self, text, *a, **k):  # the temporary copy's write fails part-way
        real(self, text[:5])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(path), "write_text", full_disk)
    with pytest.raises(OSError):
        common.write_json("r", {"seeds": [1, 2]}, tmp_path)
    assert json.loads(path.read_text()) == {"seeds": [1]}  # the previous record, whole
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left
