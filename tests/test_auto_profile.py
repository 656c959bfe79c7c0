"""What `profile = "auto"` runs on which device: `full` only on the H100/H200-class GPU the
full edition is sized for, `quick` on a Colab T4, an A100, Apple's MPS or a CPU; the
devices are faked."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from alexnet_course.course import chapter, profiles
from alexnet_course.course.profiles import DeviceFacts, choose_profile, resolve_profile

T4 = DeviceFacts("Tesla T4", (7, 5), 14.6)
A100_40 = DeviceFacts("NVIDIA A100-SXM4-40GB", (8, 0), 39.4)
A100_80 = DeviceFacts("NVIDIA A100-SXM4-80GB", (8, 0), 79.2)
H100 = DeviceFacts("NVIDIA H100 80GB HBM3", (9, 0), 79.1)
H200 = DeviceFacts("NVIDIA H200", (9, 0), 139.8)
H100_MIG = DeviceFacts("NVIDIA H100 80GB HBM3 MIG 3g.40gb", (9, 0), 39.2)
MPS = DeviceFacts("Apple GPU (MPS)")
CPU = DeviceFacts("CPU")


@pytest.mark.parametrize("facts, profile", [
    (T4, "quick"), (A100_40, "quick"), (A100_80, "quick"), (H100_MIG, "quick"),
    (MPS, "quick"), (CPU, "quick"), (H100, "full"), (H200, "full")])
def test_full_only_on_an_h100_or_h200_class_gpu(facts: DeviceFacts, profile: str) -> None:
    choice = choose_profile(facts)
    assert choice.profile == profile and facts.name in choice.reason


def fake_cuda(monkeypatch: pytest.MonkeyPatch, name: str, capability: tuple[int, int],
              gib: float) -> None:
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: SimpleNamespace(
        name=name, major=capability[0], minor=capability[1], total_memory=int(gib * 2**30)))


def test_auto_reads_the_gpu_torch_sees(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cuda(monkeypatch, "Tesla T4", (7, 5), 14.6)
    assert profiles.device_facts() == DeviceFacts("Tesla T4", (7, 5), pytest.approx(14.6))
    assert resolve_profile("auto").name == "quick"
    fake_cuda(monkeypatch, "NVIDIA H100 80GB HBM3", (9, 0), 79.1)
    assert resolve_profile().name == "full"
    assert resolve_profile("quick").name == "quick"  # an explicit profile wins
    monkeypatch.setenv("COURSE_PROFILE", "standard")  # and so does $COURSE_PROFILE
    assert resolve_profile("auto").name == "standard"


def test_auto_is_quick_on_apple_mps_and_on_a_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert profiles.device_facts() == MPS and resolve_profile().name == "quick"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert profiles.device_facts() == CPU and resolve_profile().name == "quick"


def test_describe_choice_says_why_and_how_to_override() -> None:
    line = profiles.describe_choice(choose_profile(T4))
    assert line.startswith('profile "auto" → quick: Tesla T4')
    assert "not an H100/H200-class GPU" in line and 'profile = "full"' in line
    assert 'profile = "quick"' in profiles.describe_choice(choose_profile(H100))


def test_a_chapter_prints_what_auto_chose_unless_the_driver_chose(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from alexnet_course import datafiles

    monkeypatch.setattr(datafiles, "_data_home", None)  # restored after the test
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(profiles, "device_facts", lambda: T4)
    ch = chapter.start("01_x", device="cpu", workdir=tmp_path)
    assert ch.profile.name == "quick"
    assert 'profile "auto" → quick: Tesla T4' in capsys.readouterr().out
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    assert chapter.start("01_x", device="cpu", workdir=tmp_path).profile.name == "smoke"
    assert "→" not in capsys.readouterr().out


# ------------------------------------------------------------ what the Colab banner says


def test_the_colab_banner_says_what_auto_runs_where_and_how_long() -> None:
    from tools.book import editions, rendition

    for name, minutes in editions.FULL_ESTIMATE_MINUTES.items():
        text = rendition.banner(name, {})
        assert f"about {minutes:.0f} minutes for this chapter on one H100/H200" in text, name
        assert "1.7–3.7 minutes a chapter" in text and "`quick` on any other runtime" in text
        assert f"≥ {profiles.FULL_MIN_MEMORY_GIB:.0f} GiB" in text
    assert "no estimate for this chapter" in rendition.banner("08_two_gpus", {})


def test_the_banner_estimates_are_the_readme_table() -> None:
    """README's "How long it takes" table and the banner's minutes are one estimate."""
    import re

    from tools.book import editions
    from tools.book.paths import REPO_ROOT

    rows = dict(re.findall(r"^\| (0\d) [^|]+\|[^|]+\|[^|]+\|[^|]+\| ([\d.]+) \|",
                           (REPO_ROOT / "README.md").read_text(), re.M))
    assert rows == {name[:2]: f"{minutes}"
                    for name, minutes in editions.FULL_ESTIMATE_MINUTES.items()}
