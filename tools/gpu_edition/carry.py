"""What a device run would send: the working tree (tracked and untracked-not-ignored files,
``shared/``) plus the carried paths, against the 64 MiB limit of the GPU machine."""

from __future__ import annotations

import subprocess
from pathlib import Path

CARRY_LIMIT_BYTES = 64 * 2**20


def tree_files(root: Path) -> list[Path]:
    """The files git would send: tracked plus untracked files that are not ignored."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=root, capture_output=True, check=True).stdout
    return [root / name for name in out.decode().split("\0") if name]


def path_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (links not followed)."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def carry_bytes(root: Path, carried: list[str]) -> dict[str, int]:
    """Bytes per part: ``tree`` (with ``shared/``, if any) and each carried path."""
    sizes = {"tree": sum(p.lstat().st_size for p in tree_files(root) if p.exists())}
    if (root / "shared").is_dir():
        sizes["shared"] = path_bytes(root / "shared")
    for name in carried:
        sizes[name] = path_bytes(root / name) if (root / name).exists() else 0
    return sizes


def command_carry(root: Path, carried: list[str], limit: int = CARRY_LIMIT_BYTES) -> int:
    """Print the sizes; 1 when the total is over ``limit``."""
    sizes = carry_bytes(root, carried)
    total = sum(sizes.values())
    for name, size in sizes.items():
        print(f"  {name:10s} {size / 2**20:7.1f} MiB")
    verdict = "fits" if total <= limit else "is OVER"
    print(f"carry: {total / 2**20:.1f} MiB {verdict} the {limit / 2**20:.0f} MiB limit")
    return 0 if total <= limit else 1
