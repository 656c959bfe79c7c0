"""How data parallelism should scale: a step's compute against its gradient all-reduce.

Each of N GPUs computes the gradient of its own batch in ``batch / images_per_sec``
seconds; then DistributedDataParallel's ring all-reduce sends and receives
``2 (N − 1) / N`` times the gradient's bytes over each GPU's link (Patarasuk & Yuan 2009;
NCCL's documentation). Without overlap a step takes the sum; DDP overlaps the all-reduce
of early buckets with the rest of the backward pass, so at best it takes the larger of the
two. The estimate ignores latency, the optimiser step and the data pipeline: an upper bound.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd


def allreduce_bytes(gradient_bytes: float, gpus: int) -> float:
    """Bytes each GPU sends (and receives) in a ring all-reduce of ``gradient_bytes``."""
    return 2 * (gpus - 1) / gpus * gradient_bytes


def scaling_table(*, parameters: int, images_per_sec: float, batch_per_gpu: int,
                  links: Mapping[str, float], gpus: Iterable[int] = (1, 2, 4, 8, 16, 64),
                  bytes_per_value: int = 4) -> pd.DataFrame:
    """One row per (link, N GPUs): compute and communication time of a step and the speed-up
    over one GPU without and with overlap. ``links`` maps a name to GB/s per direction."""
    grad = parameters * bytes_per_value
    compute = batch_per_gpu / images_per_sec
    rows = []
    for link, gbps in links.items():
        for n in gpus:
            comm = allreduce_bytes(grad, n) / (gbps * 1e9)
            rows.append({"link": link, "GB/s": gbps, "GPUs": n, "compute ms": 1e3 * compute,
                         "all-reduce ms": 1e3 * comm,
                         "speed-up, no overlap": n * compute / (compute + comm),
                         "speed-up, full overlap": n * compute / max(compute, comm)})
    return pd.DataFrame(rows)
