"""Fast checks of the benchmark code (no timing): the d2l-style reference computes what ours does."""

import copy

import pytest
import torch

from alexnet_course.data import DataError, fashion_mnist_tensors, load_fashion_mnist, stratified_indices
from alexnet_course.models import get_model
from alexnet_course.train import fit, set_seed
from benchmarks import bench_book, bench_training as bt

try:
    fashion_mnist_tensors(True, download=False)
except DataError:  # pragma: no cover - the data is fetched by `make test`
    pytest.skip("Fashion-MNIST is not available", allow_module_level=True)

N = 128


@pytest.fixture(scope="module")
def tv_root(tmp_path_factory):
    return bt.torchvision_root(tmp_path_factory.mktemp("tv"))


def _subset_loaders(tv_root, resize):
    train_idx = stratified_indices(fashion_mnist_tensors(True)[1], N, seed=0)
    test_idx = stratified_indices(fashion_mnist_tensors(False)[1], N, seed=0)
    ref = bt.d2l_loaders(tv_root, N, resize, train_idx=train_idx, test_idx=test_idx, num_workers=0)
    ours = load_fashion_mnist(N, resize, train_size=N, test_size=N, device="cpu", seed=0)
    return ref, ours


def test_torchvision_root_layout(tv_root):
    raw = tv_root / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(bt.FASHION_MNIST_MD5)


@pytest.mark.parametrize("resize, tol", [(None, 1e-6), (64, 2e-3)])
def test_same_batch_same_loss(tv_root, resize, tol):
    """One batch holding the same N images: the reference loop and fit() report the same
    training loss and test accuracy from the same initial model (PIL's uint8 resize rounds
    to whole grey levels, hence the looser tolerance when resizing)."""
    (ref_train, ref_test), (our_train, our_test) = _subset_loaders(tv_root, resize)
    set_seed(0)
    net0 = get_model("lenet", **({} if resize is None else {"input_size": resize}))
    ref = bt.d2l_train_ch6(copy.deepcopy(net0), ref_train, ref_test, 1, 0.1, torch.device("cpu"))
    ours = fit(copy.deepcopy(net0), our_train, our_test, epochs=1, lr=0.1, device="cpu",
               amp=False, guard=False, progress=False, log=None).records
    assert ref[0]["examples"] == ours[0]["examples"] == N
    assert ref[0]["train_loss"] == pytest.approx(ours[0]["train_loss"], abs=tol)
    assert ref[0]["train_acc"] == pytest.approx(ours[0]["train_acc"], abs=1 / N + 1e-9)
    assert ref[0]["test_acc"] == pytest.approx(ours[0]["test_acc"], abs=2 / N)


def test_same_images(tv_root):
    """The reference's PIL Resize + ToTensor and our on-device resize agree within 1/255."""
    (ref_train, _), (our_train, _) = _subset_loaders(tv_root, 64)
    ref_train = torch.utils.data.DataLoader(ref_train.dataset, N, shuffle=False)
    (x_ref, y_ref), = list(ref_train)
    x_ours = our_train.prepare(our_train.images)
    assert torch.equal(y_ref, our_train.labels)
    assert (x_ref - x_ours).abs().max() <= 1 / 255 + 1e-4


def test_speedups_and_tables():
    rows = [{"model": "m", "variant": v, "input_size": 28, "examples": 10, "train_s": t,
             "epoch_s": t + 1, "examples_per_sec": 10 / t} for v, t in (("d2l", 4.0), ("ours", 1.0))]
    for r in rows:
        r["speedup_train"] = rows[0]["train_s"] / r["train_s"]
        r["speedup_epoch"] = rows[0]["epoch_s"] / r["epoch_s"]
    table = bt.markdown_table(rows)
    assert "4.00×" in table and "2.50×" in table


def test_book_summary_handles_missing(tmp_path):
    (tmp_path / "01_a").mkdir()
    (tmp_path / "01_a" / "_chapter.json").write_text(
        '{"chapter": "01_a", "profile": "quick", "wall_seconds": 75.0, "device_name": "cpu"}')
    (tmp_path / "02_b").mkdir()
    (tmp_path / "02_b" / "_chapter.json").write_text("{broken")
    rows = bench_book.collect([tmp_path])
    payload = {"expected_chapters": ["01_a", "02_b"],
               "profiles": bench_book.summarise(rows, ["01_a", "02_b"])}
    text = bench_book.markdown_table(payload)
    assert "1 min 15 s" in text and "1 missing" in text
    assert bench_book.markdown_table({"expected_chapters": [], "profiles": {}}).startswith("_No")


def test_lrn_benchmark_implementations_agree():
    """Every LRN the benchmark times computes the same function and gradient as ours."""
    from benchmarks import bench_lrn

    rows = bench_lrn.measure([2, 11, 4, 3], torch.device("cpu"), repeats=1, warmup=0, budget_s=1.0)
    assert [r["implementation"] for r in rows] == list(bench_lrn.IMPLEMENTATIONS)
    for r in rows:
        assert r["max_abs_diff_fwd"] < 1e-5 and r["max_abs_diff_grad"] < 1e-5, r
    assert rows[0]["times_ours"] == 1.0


def test_fit_variants_are_fit_arguments():
    import inspect

    from alexnet_course.settings import TrainSettings
    from alexnet_course.train import fit

    params = {*inspect.signature(fit).parameters, *inspect.signature(TrainSettings).parameters}
    for variant, kwargs in bt.FIT_VARIANTS.items():
        assert set(kwargs) <= set(params), variant
    assert set(bt.DEFAULT_VARIANTS["cpu"]) <= set(bt.VARIANTS)
    assert set(bt.DEFAULT_VARIANTS["cuda"]) <= set(bt.VARIANTS)


def test_targets_are_read_from_the_results(tmp_path):
    import json

    from benchmarks import report

    rows = [{"model": "lenet", "variant": "ours", "speedup_train": 2.5},
            {"model": "alexnet", "variant": "ours", "speedup_train": 1.1}]
    (tmp_path / "training_cpu.json").write_text(json.dumps({"rows": rows}))
    lrn = [{"batch": 8, "shape": "8×96×55×55", "implementation": name, "median_ms": ms}
           for name, ms in (("ours", 10.0), ("torch.nn.LocalResponseNorm(5, 5e-4)", 9.0),
                            ("source material (loop over images and channels)", 2000.0))]
    (tmp_path / "lrn_cpu.json").write_text(json.dumps({"rows": lrn}))
    table = report.targets_section(tmp_path).splitlines()
    verdicts = {line.split(" | ")[0].lstrip("| "): line.split(" | ")[-1].rstrip(" |") for line in table[2:]}
    assert verdicts["CPU: lenet at 28, ours vs d2l (training epoch)"] == "met"
    assert verdicts["CPU: alexnet at 96, ours vs d2l (training epoch)"] == "**not met**"
    assert verdicts["CPU: LRN 8×96×55×55, source material's loop ÷ ours"] == "met"
    assert verdicts["CPU: LRN 8×96×55×55, torch.nn.LocalResponseNorm ÷ ours"] == "**not met**"
    assert verdicts["GPU: alexnet at 224, ours vs d2l"] == "—"


def test_lrn_section_is_one_markdown_table():
    from benchmarks import report

    rows = [{"batch": 8, "shape": "8×96×55×55", "implementation": name, "forward_ms": 1.0,
             "backward_ms": 2.0, "median_ms": ms, "times_ours": ms / 3.0, "passes": 5,
             "max_abs_diff_grad": 1e-7} for name, ms in (("ours", 3.0), ("loop", 300.0))]
    payload = {"benchmark": "lrn", "rows": rows, "repeats": 5, "warmup": 1, "budget_s": 20.0,
               "hardware": {"cpu": "X", "cpu_count": 2, "torch_threads": 2, "torch": "2",
                            "date": "d", "commit": "c"}}
    text = report.lrn_section(payload)
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 4  # header, rule, two rows
    assert len({line.count("|") for line in table}) == 1  # no stray pipe breaks a row
    assert "100" in table[-1]  # × ours of the loop


def test_rounds_give_median_ratio_and_range():
    def row(variant, train_s):
        return {"model": "m", "variant": variant, "input_size": 28, "examples": 100,
                "train_s": train_s, "epoch_s": train_s + 1.0, "setup_s": 0.1}

    runs = {"d2l": [row("d2l", 4.0), row("d2l", 6.0), row("d2l", 5.0)],
            "ours": [row("ours", 2.0), row("ours", 2.0), row("ours", 5.0)]}
    rows = {r["variant"]: r for r in bt.combine_rounds(runs)}
    ours = rows["ours"]
    assert ours["rounds"] == 3 and ours["train_s"] == 2.0  # median of 2, 2, 5
    assert ours["speedup_train"] == 2.0  # per-round ratios 2, 3, 1: median 2
    assert (ours["speedup_train_min"], ours["speedup_train_max"]) == (1.0, 3.0)
    assert rows["d2l"]["speedup_train"] == 1.0
    table = bt.markdown_table(list(rows.values()))
    assert "2.00× (1.00–3.00)" in table and "rounds" in table
