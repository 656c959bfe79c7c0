"""The LRN explorer: its gain curve follows the formula, its figures and sliders build."""

import matplotlib

matplotlib.use("Agg")

import torch

from alexnet_course.course import lrn_explorer


def test_gain_curve_matches_formula():
    a, b = lrn_explorer.gain_curve(k=2.0, n=5, alpha=1e-4, beta=0.75, a_max=50.0, points=11)
    expected = a / (2.0 + 1e-4 * 5 * a**2) ** 0.75
    torch.testing.assert_close(b, expected)


def test_channel_profile_is_nonnegative_and_deterministic():
    p = lrn_explorer.channel_profile(channels=16, seed=3)
    assert p.shape == (1, 16, 1, 1) and (p >= 0).all()
    assert torch.equal(p, lrn_explorer.channel_profile(channels=16, seed=3))


def test_grid_and_explorer_build():
    fig = lrn_explorer.plot_lrn_grid([{}, {"alpha": 1e-2}, {"n": 9, "beta": 1.5}])
    assert len(fig.axes) == 6
    ui = lrn_explorer.lrn_explorer()
    assert {c.description for c in ui.children[:4]} == {"k", "n", "log₁₀ α", "β"}
