"""How long a chapter runs in the profile a reader's ``profile = "auto"`` picks, for the
Colab editions' banner (rendition.py): ``full`` on an H100/H200-class GPU, ``quick``
anywhere else (``alexnet_course.course.profiles.choose_profile``).
"""

from __future__ import annotations

# Minutes of each chapter's full profile on one H100/H200: the estimate of
# `make dryrun` + `python -m tools.book estimates` of 2026-12-07 (README, "How long it
# takes"), never measured: no GPU had run the edition. 08 and the results page have none.
FULL_ESTIMATE_MINUTES = {"01_lenet_to_alexnet": 46.4, "02_alexnet_paper": 6.2,
                         "03_resolution_and_pooling": 6.3, "04_vgg": 27.8,
                         "05_nin_googlenet": 16.4, "06_inception_successors": 1.3,
                         "07_when_training_goes_wrong": 2.0}
# Measured: a chapter in quick, every run trained (as on Colab, with no run store), on two
# quiet CPU cores (a Colab CPU runtime has two).
QUICK_MINUTES = (1.7, 3.7)


def full_estimate(name: str) -> str:
    minutes = FULL_ESTIMATE_MINUTES.get(name)
    return (f"about {minutes:.0f} minutes for this chapter on one H100/H200, by estimate"
            if minutes is not None else "no estimate for this chapter")


def auto_note(name: str) -> str:
    """What ``auto`` runs where, and for how long, for the chapter ``name``."""
    # imported here: it imports torch, and sphinx_ext imports rendition, which imports this
    from alexnet_course.course.profiles import FULL_MIN_CAPABILITY, FULL_MIN_MEMORY_GIB

    major, minor = FULL_MIN_CAPABILITY
    low, high = QUICK_MINUTES
    return (f'The parameters cell says `profile = "auto"`: `full` on an H100/H200-class GPU '
            f"(compute capability ≥ {major}.{minor} and ≥ {FULL_MIN_MEMORY_GIB:.0f} GiB; "
            f"{full_estimate(name)}), `quick` on any other runtime, a T4 or the CPU "
            f"({low}–{high} minutes a chapter, measured on two quiet CPU cores). The cell "
            'after it prints which one it chose and why; set `profile = "quick"` or '
            '`"full"` there to override.')
