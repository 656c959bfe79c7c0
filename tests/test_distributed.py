"""``fit`` under torchrun: two gloo CPU processes against one, a killed-and-resumed run, a
failing rank, and the on-device loader's shards. Each multi-process test prints its maximum
weight difference and wall time (``pytest -s`` shows them)."""

from __future__ import annotations

import pytest
import torch

from alexnet_course.course import ddp_check
from alexnet_course.data import DataArgumentError, DeviceLoader

TOLERANCE = 1e-5  # float32 sums in another order: DDP averages two half-batch gradients


def _ok(run: ddp_check.Launch) -> None:
    assert run.returncode == 0, run.output[-3000:]


def test_two_processes_train_like_one(tmp_path):
    one = ddp_check.launch(tmp_path / "one")
    two = ddp_check.launch(tmp_path / "two", nproc=2)
    _ok(one), _ok(two)
    diff = ddp_check.compare(tmp_path / "one", tmp_path / "two")
    print(f"\n1 vs 2 processes: max weight difference {diff['max_weight_diff']:.2e}, history "
          f"{diff['max_history_diff']:.2e}; wall {one.seconds:.1f} s and {two.seconds:.1f} s")
    assert diff["max_weight_diff"] < TOLERANCE
    assert diff["max_history_diff"] < TOLERANCE  # every rank's history is the global one
    assert (tmp_path / "two" / "history_rank1.json").exists()


def test_two_processes_train_like_one_in_float64(tmp_path):
    """In float64 summing in another order is off by ~1e-16: a real difference shows."""
    options = dict(epochs=3, examples=512, float64=True)  # float32 differs by 0.3 here
    one = ddp_check.launch(tmp_path / "one", **options)
    two = ddp_check.launch(tmp_path / "two", nproc=2, **options)
    _ok(one), _ok(two)
    diff = ddp_check.compare(tmp_path / "one", tmp_path / "two")
    print(f"\n1 vs 2 processes in float64: max weight difference {diff['max_weight_diff']:.2e}; "
          f"wall {one.seconds:.1f} s and {two.seconds:.1f} s")
    assert diff["max_weight_diff"] < 1e-12
    assert diff["max_history_diff"] < 1e-6  # fit sums the loss in float32


def test_killed_and_resumed_run_ends_like_an_uninterrupted_one(tmp_path):
    ckpt = tmp_path / "ckpt" / "run.pt"
    killed = ddp_check.launch(tmp_path / "killed", nproc=2, checkpoint=ckpt, die_after_epoch=2)
    assert killed.returncode != 0 and not (tmp_path / "killed" / "weights.pt").exists()
    assert ckpt.exists()  # epoch 1's checkpoint, written by rank 0
    resumed = ddp_check.launch(tmp_path / "resumed", nproc=2, checkpoint=ckpt)
    _ok(resumed)
    whole = ddp_check.launch(tmp_path / "whole")
    _ok(whole)
    diff = ddp_check.compare(tmp_path / "whole", tmp_path / "resumed")
    print(f"\nkilled after epoch 2 and resumed vs uninterrupted: max weight difference "
          f"{diff['max_weight_diff']:.2e}; wall {killed.seconds + resumed.seconds:.1f} s")
    assert diff["max_weight_diff"] < TOLERANCE and diff["max_history_diff"] < TOLERANCE


def test_a_failing_rank_ends_the_run_with_its_error(tmp_path):
    # the healthy rank would wait 120 s in its all-reduce if nobody ended it
    run = ddp_check.launch(tmp_path / "fail", nproc=2, fail_rank=1, collective_timeout=120)
    print(f"\na failing rank: exit {run.returncode} after {run.seconds:.1f} s")
    assert run.returncode > 0, run.output[-3000:]
    assert "rank 1 failed on purpose" in run.output
    assert run.seconds < 100  # torchrun ended the other rank: it did not wait out the timeout


def _loader(n: int, batch: int) -> DeviceLoader:
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1)
    return DeviceLoader(images, torch.arange(n), batch, shuffle=True, device="cpu", seed=3)


def test_shards_together_are_the_single_process_batches():
    whole = [y for _, y in _loader(21, 8)]
    shards = [[y for _, y in _loader(21, 8).shard(r, 2)] for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == len(whole) == 3
    for b, y in enumerate(whole):
        assert torch.equal(torch.cat([shards[0][b], shards[1][b]]), y)
    # a last batch with fewer images than ranks is dropped: 17 = 2 × 8 + 1
    assert len(_loader(17, 8)) == 3 and len(_loader(17, 8).shard(0, 2)) == 2


def test_shard_refuses_bad_arguments():
    with pytest.raises(DataArgumentError, match="rank must be"):
        _loader(16, 8).shard(2, 2)
    with pytest.raises(DataArgumentError, match="at least 4"):
        _loader(16, 2).shard(0, 4)


def test_a_dataloader_without_distributed_sampler_is_refused(monkeypatch):
    from alexnet_course import distributed

    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    monkeypatch.setattr(distributed, "rank", lambda: 0)
    data = torch.utils.data.TensorDataset(torch.zeros(8, 1), torch.zeros(8))
    with pytest.raises(ValueError, match="DistributedSampler"):
        distributed.shard_loader(torch.utils.data.DataLoader(data, batch_size=2), train=True)
    sampler = torch.utils.data.DistributedSampler(data, num_replicas=2, rank=0)
    loader = torch.utils.data.DataLoader(data, batch_size=2, sampler=sampler)
    assert distributed.shard_loader(loader, train=True) is loader


def test_scaling_estimate():
    from alexnet_course.course.scaling import allreduce_bytes, scaling_table

    assert [allreduce_bytes(100, n) for n in (1, 2, 4)] == [0, 100, 150]
    table = scaling_table(parameters=1_000_000, images_per_sec=1000, batch_per_gpu=100,
                          links={"slow": 0.004, "fast": 1e6}, gpus=(1, 2, 8))
    one = table[table.GPUs == 1]
    assert (one["speed-up, no overlap"] == 1).all()  # nothing to all-reduce on one GPU
    fast = table[table.link == "fast"].set_index("GPUs")["speed-up, no overlap"]
    assert fast[8] == pytest.approx(8, rel=1e-4)
    slow = table[(table.link == "slow") & (table.GPUs == 2)].iloc[0]
    # 4 MB of gradients at 4 MB/s: 1 s of all-reduce against 0.1 s of compute
    assert slow["all-reduce ms"] == pytest.approx(1000) and slow["speed-up, no overlap"] < 1
