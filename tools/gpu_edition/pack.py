"""One archive of what the GPU edition wrote, under the limit of what comes back (16 MiB a
file): files are taken in order of priority and one that would push the archive over the
limit is left out and listed in the archive's ``_build/gpu-edition/PACKED.json``."""

from __future__ import annotations

import io
import json
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

FILE_LIMIT_BYTES = 16 * 2**20
PACKED = "_build/gpu-edition/PACKED.json"  # in the archive: what it holds and why
MARGIN = 0.95  # gzip of the whole stream vs the sum of per-file estimates, tar headers


@dataclass(frozen=True)
class Item:
    path: Path      # on disk
    arcname: str    # in the archive
    priority: int   # lower first


def compressed_size(path: Path) -> int:
    """About what ``path`` adds to a gzip archive (its own deflate size + a tar header)."""
    return len(zlib.compress(path.read_bytes(), 6)) + 1024


def choose(items: list[Item], limit: int = FILE_LIMIT_BYTES) -> tuple[list[Item], list[Item]]:
    """``(kept, left_out)``: items in priority order while the estimate stays under the limit."""
    kept, left_out, total = [], [], 0
    for item in sorted(items, key=lambda i: (i.priority, i.arcname)):
        size = compressed_size(item.path)
        if total + size <= limit * MARGIN:
            kept.append(item)
            total += size
        else:
            left_out.append(item)
    return kept, left_out


def pack(items: list[Item], archive: Path, summary: dict, limit: int = FILE_LIMIT_BYTES) -> dict:
    """Write ``archive`` (tar.gz) with the chosen items and :data:`PACKED` (``summary`` plus
    what was kept and left out); return that record."""
    kept, left_out = choose(items, limit)
    record = dict(summary, packed=[i.arcname for i in kept],
                  left_out_over_size_limit=[i.arcname for i in left_out])
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        data = json.dumps(record, indent=1, default=str).encode() + b"\n"
        info = tarfile.TarInfo(PACKED)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        for item in kept:
            tar.add(item.path, arcname=item.arcname, recursive=False)
    size = archive.stat().st_size
    if size > limit:  # the estimate was wrong: say so rather than lose the archive silently
        raise RuntimeError(f"{archive} is {size / 2**20:.1f} MiB, over the "
                           f"{limit / 2**20:.0f} MiB a returned file may have")
    record["archive_bytes"] = size
    return record
