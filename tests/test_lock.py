"""The lock: every package requirements.txt names is pinned, torch included, and the
set-up installs with it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(line: str) -> str:
    return re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_every_requirement_and_torch_is_pinned_exactly():
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert "==" in line, f"requirements.lock: {line!r} is not an exact pin"
            name, version = line.split("==")
            lock[name.lower().replace("_", "-")] = version
    wanted = [_name(l) for l in (ROOT / "requirements.txt").read_text().splitlines()
              if l.strip() and not l.startswith("#")]
    missing = [w for w in wanted if w not in lock]
    assert not missing, f"not in requirements.lock (run `make lock`): {missing}"
    assert "torch" in lock and lock["torchvision"].startswith("0.29.")


def test_the_setup_installs_with_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "-r requirements.txt -c requirements.lock" in makefile
    assert re.search(r"^lock:", makefile, re.M) and re.search(r"^upgrade:", makefile, re.M)
