"""The model zoo: the registry (every entry's recorded parameter count and input sizes
checked against the built model), argument and input checks, reference parameter counts,
initialisation and the configurable variants."""

from __future__ import annotations

import inspect
import pkgutil
import sys

import pytest
import torch
import torchvision
from torch import nn

from alexnet_course import analysis, models
from alexnet_course.models import (MODELS, AlexNetNoPool, AlexNetPaper, AlexNetSimple, AlexNetTV, GoogLeNet,
                                   Inception, NiN, VGG, VGG_ARCHS, get_model)

# Parameter counts with one input channel and 10 classes, from the source material
# (d2l's models) and torchvision.
REFERENCE_PARAMS = {
    "lenet": 61_706,
    "alexnet_d2l": 46_764_746,
    "vgg11": 128_806_154,
    "vgg_small": 43_093_322,  # VGG-11, channels / 4, 4096-wide FC layers
    "nin": 1_992_166,
    "googlenet": 5_977_530,
}


def build(name: str, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    return get_model(name, **kwargs)


# Full-width VGGs cost 15-40 GFLOPs per 224×224 image on a CPU: their real forward pass
# runs with channels / 8; the full-width model is built and run on the meta device.
NARROW = {"vgg11": {"ratio": 8}, "vgg13": {"ratio": 8}, "vgg16": {"ratio": 8}, "vgg19": {"ratio": 8}}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_registry_entry_matches_the_built_model(name: str) -> None:
    info = models.model_info(name)
    assert info.name == name and MODELS[name] is info.builder
    with torch.device("meta"):  # shapes and counts only: no weights allocated
        net = get_model(name).eval()
        assert analysis.count_params(net) == info.params
        assert (net.input_size, net.min_input_size) == (info.input_size, info.min_input_size)
        assert (net.in_channels, net.num_classes) == (1, 10)
        s = info.input_size
        assert net(torch.zeros(2, 1, s, s)).shape == (2, 10)
    # Real weights: the recorded minimum is the one forward passes find, and the model
    # computes finite outputs at its default input size (the minimum does not depend on width).
    net = build(name, **NARROW.get(name, {})).eval()
    m = info.min_input_size
    assert analysis.min_input_size(net, max_size=2 * m + 8) == m
    with torch.no_grad():
        out = net(torch.randn(2, 1, s, s))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


def test_every_family_module_is_imported_by_the_package() -> None:
    # A family file that models/__init__.py forgets to import would register nothing.
    for mod in pkgutil.iter_modules(models.__path__):
        if not mod.name.startswith("_"):
            assert f"alexnet_course.models.{mod.name}" in sys.modules, mod.name


def _tiny_class() -> type[nn.Module]:
    class Tiny(nn.Module):
        def __init__(self, in_channels: int = 1, num_classes: int = 10, input_size: int = 8) -> None:
            super().__init__()
            self.fc = nn.Linear(in_channels, num_classes)

    return Tiny


@pytest.fixture
def restore_registry():
    from alexnet_course.models import _registry

    saved = dict(_registry._INFO), dict(_registry._BUILDERS)
    yield
    for live, old in zip((_registry._INFO, _registry._BUILDERS), saved):
        live.clear()
        live.update(old)


def test_registry_lists_models_and_refuses_bad_entries(restore_registry) -> None:
    assert models.list_models() == sorted(MODELS) and len(MODELS) == 23
    assert list(MODELS)[:3] == ["lenet", "lenet_modern", "alexnet_d2l"]  # the book's order
    with pytest.raises(TypeError):
        MODELS["lenet"] = AlexNetTV  # type: ignore[index]  # register with the decorator instead
    with pytest.raises(ValueError, match=r"'lenet' is already registered by alexnet_course\.models\.lenet\.LeNet"):
        models.register_model("lenet", params=1, min_input_size=1, input_size=1)(AlexNetTV)
    with pytest.raises(ValueError, match="lower-case"):
        models.register_model("LeNet2", params=1, min_input_size=1, input_size=1)
    with pytest.raises(ValueError, match="params must be a positive integer"):
        models.register_model("lenet2", params=0, min_input_size=1, input_size=1)
    # The same definition run again (importlib.reload, autoreload) replaces its entry.
    first, again = _tiny_class(), _tiny_class()
    models.register_model("tiny_test_net", params=11, min_input_size=1, input_size=8)(first)
    models.register_model("tiny_test_net", params=11, min_input_size=1, input_size=8)(again)
    assert MODELS["tiny_test_net"] is again


def test_a_model_registered_in_its_own_file_is_built_by_name(restore_registry) -> None:
    tiny = models.register_model("tiny_test_net", params=11, min_input_size=1, input_size=8)(_tiny_class())
    assert "tiny_test_net" in models.list_models() and MODELS["tiny_test_net"] is tiny
    assert isinstance(get_model(" Tiny_Test_Net ", num_classes=3), tiny)
    assert models.model_info("tiny_test_net").params == 11


@pytest.mark.parametrize("name", [None, 3, ["lenet"]])
def test_get_model_needs_a_string_and_lists_the_valid_names(name: object) -> None:
    with pytest.raises(TypeError, match=r"a model name must be a string, got .*valid names: .*alexnet_paper.*lenet"):
        get_model(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_refuses_bad_in_channels_and_num_classes(name: str) -> None:
    with torch.device("meta"):
        for arg in ("in_channels", "num_classes"):
            for bad, error in [(0, ValueError), (-1, ValueError), (2.5, TypeError), ("3", TypeError),
                               (True, TypeError), (None, TypeError)]:
                with pytest.raises(error, match=rf"{arg} must be a positive integer .*got {bad!r}"):
                    get_model(name, **{arg: bad})
        net = get_model(name, in_channels=3, num_classes=7)
        s = net.input_size
        assert net(torch.zeros(2, 3, s, s)).shape == (2, 7)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_wrong_number_of_channels_names_the_fix(name: str) -> None:
    with torch.device("meta"):  # the check comes before any computation
        gray, rgb = get_model(name), get_model(name, in_channels=3)
        s = gray.input_size
        with pytest.raises(ValueError, match=r"built with in_channels=1, got a batch with 3 channels "
                                             r".*build it with in_channels=3 or convert the images"):
            gray(torch.zeros(2, 3, s, s))
        with pytest.raises(ValueError, match=r"built with in_channels=3, got a batch with 1 channels "
                                             r".*build it with in_channels=1 or convert the images"):
            rgb(torch.zeros(2, 1, s, s))
        with pytest.raises(ValueError, match=r"batch of images N×C×H×W, got a tensor of shape \(1, 28, 28\): "
                                             r"add the batch dimension"):
            gray(torch.zeros(1, 28, 28))


def test_conv_out_is_public_and_the_private_name_still_works() -> None:
    from alexnet_course.models import _utils, conv_out

    assert conv_out is _utils.conv_out
    assert conv_out(224, 11, 4, 2) == 55 and conv_out(227, 11, 4) == 55 and conv_out(5, 7) == 0


def test_alexnet_paper_variant_alias_is_gone() -> None:
    from alexnet_course.models import alexnet_paper

    assert not hasattr(alexnet_paper, "AlexNetPaperVariant")  # use AlexNetPaper


@pytest.mark.parametrize("name", sorted(n for n in MODELS if n in ("nin", "alexnet_d2l", "alexnet_tv",
                                                                  "lenet", "inception_v3_small", "vgg_small")))
def test_too_small_input_names_the_minimum(name: str) -> None:
    with torch.device("meta"):  # the check comes before any computation
        net = get_model(name)
        m = net.min_input_size
        assert m > 1
        with pytest.raises(ValueError, match=rf"needs inputs of at least {m}×{m} pixels, got {m - 1}×{m - 1}: "
                                             rf"pass resize={net.input_size} \(or larger\)"):
            net(torch.zeros(1, 1, m - 1, m - 1))


@pytest.mark.parametrize("name", sorted(REFERENCE_PARAMS))
def test_reference_parameter_counts(name: str) -> None:
    with torch.device("meta"):
        net = get_model(name)
    assert analysis.count_params(net) == REFERENCE_PARAMS[name] == models.model_info(name).params


def test_alexnet_tv_matches_torchvision() -> None:
    with torch.device("meta"):
        ours, theirs = AlexNetTV(in_channels=3, num_classes=1000), torchvision.models.alexnet(weights=None)
    assert analysis.count_params(ours) == analysis.count_params(theirs) == 61_100_840
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
           [(k, v.shape) for k, v in theirs.state_dict().items()]


def test_fixed_head_rejects_other_sizes_and_says_what_it_was_built_for() -> None:
    with torch.device("meta"):
        net = get_model("alexnet_d2l")
        with pytest.raises(ValueError, match=r"built for input_size=224 .*got 96×96.*input_size=96"):
            net(torch.zeros(1, 1, 96, 96))
    assert build("alexnet_d2l", input_size=96)(torch.zeros(1, 1, 96, 96)).shape == (1, 10)


def test_paper_alexnet_takes_224_and_227_with_the_same_9216_features() -> None:
    with torch.device("meta"):
        a, b = AlexNetPaper(input_size=224), AlexNetPaper(input_size=227)
    assert a.classifier.fc6.in_features == b.classifier.fc6.in_features == 9216
    assert analysis.count_params(a) == analysis.count_params(b) == 58_299_082
    with torch.device("meta"):
        assert a(torch.zeros(1, 1, 227, 227, device="meta")).shape == (1, 10)
    with pytest.raises(ValueError, match="built for input_size=224"):
        a(torch.zeros(1, 1, 200, 200))


def test_paper_alexnet_init_statistics() -> None:
    net = build("alexnet_paper", input_size=67)  # 1×1 final map: a smaller fc6, same scheme
    ones = {"features.conv2", "features.conv4", "features.conv5", "classifier.fc6", "classifier.fc7"}
    layers = {n: m for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert len(layers) == 8
    for name, m in layers.items():
        w = m.weight.detach()
        assert abs(w.std().item() - 0.01) < 0.01 * (0.02 if w.numel() > 100_000 else 0.25), name
        assert abs(w.mean().item()) < 0.01 * 5 / w.numel() ** 0.5 + 1e-4, name
        assert torch.equal(m.bias.detach(), torch.full_like(m.bias, 1.0 if name in ones else 0.0)), name
    kaiming = build("alexnet_paper", init="kaiming", input_size=67)
    assert kaiming.features.conv3.weight.std().item() == pytest.approx((2 / (256 * 9)) ** 0.5, rel=0.02)
    assert torch.all(kaiming.features.conv2.bias == 0)


def test_paper_scaled_init_gives_a_narrow_net_the_full_width_gains() -> None:
    """``init="paper_scaled"`` is N(0, 0.01²) in the paper's own network (every fan-in is
    the paper's) and σ = 0.01·√(paper's fan-in / fan-in) in a narrow one, biases as the paper."""
    full = build("alexnet_paper", in_channels=3, num_classes=1000, init="paper_scaled")
    for name, m in full.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.numel() > 100_000:
            assert m.weight.std().item() == pytest.approx(0.01, rel=0.02), name
    narrow = dict(input_size=28, stem=(5, 1, 2), width=1 / 16, fc_width=128)
    scaled = build("alexnet_paper", init="paper_scaled", **narrow)
    plain = build("alexnet_paper", init="paper", **narrow)
    expected = {"conv1": (363 / 25) ** 0.5, "conv3": (2304 / (16 * 9)) ** 0.5,
                "fc6": (9216 / (16 * 2 * 2)) ** 0.5, "fc8": (4096 / 128) ** 0.5}
    for layer, ratio in expected.items():
        part = "features" if layer.startswith("conv") else "classifier"
        w = getattr(getattr(scaled, part), layer).weight
        assert w.std().item() == pytest.approx(0.01 * ratio, rel=0.2), layer
        assert getattr(getattr(plain, part), layer).weight.std().item() == pytest.approx(0.01, rel=0.2)
    assert torch.all(scaled.features.conv2.bias == 1) and torch.all(scaled.classifier.fc8.bias == 0)


def test_paper_alexnet_logits_are_not_rectified() -> None:
    net = build("alexnet_paper", init="kaiming", input_size=67).eval()
    assert isinstance(net.classifier[-1], nn.Linear)
    with torch.no_grad():
        out = net(torch.randn(4, 1, 67, 67))
    assert (out < 0).any()  # a ReLU on the logits would make this impossible


def test_get_model_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'alexnet2'.*alexnet_paper.*googlenet"):
        get_model("alexnet2")
    assert isinstance(get_model(" LeNet "), nn.Module)


def test_alexnet_simple_switches() -> None:
    with torch.device("meta"):
        full = AlexNetSimple()
        small = AlexNetSimple(input_size=96, drop_equal_convs=True, drop_fc7=True, fc_width=256, width=0.5)
    assert analysis.count_params(full) == REFERENCE_PARAMS["alexnet_d2l"]
    names = dict(small.named_modules())
    assert "features.conv4" not in names and "classifier.fc7" not in names
    c1, c2, c3, c5 = 48, 128, 192, 128
    # 96 -> 22 -> 10 -> 4 -> 1: one pixel per channel reaches the classifier
    assert small.classifier.fc6.in_features == c5
    expected = (c1 * 121 + c1) + (c2 * c1 * 25 + c2) + (c3 * c2 * 9 + c3) + (c5 * c3 * 9 + c5) \
        + (c5 * 256 + 256) + (256 * 10 + 10)
    assert analysis.count_params(small) == expected


def test_alexnet_28_runs_on_native_fashion_mnist() -> None:
    net = build("alexnet_28", fc_width=256).eval()
    assert net.classifier.fc6.in_features == 256 * 2 * 2
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


@pytest.mark.parametrize("pool", ["max", "conv1x1", "strided"])
def test_alexnet_nopool_from_32_to_224(pool: str) -> None:
    net = AlexNetNoPool(pool=pool, width=0.125, fc_width=64).eval()
    for size in (32, 64, 224):
        assert net(torch.zeros(1, 1, size, size)).shape == (1, 10)
    n_pool_convs = sum(1 for n, m in net.named_modules() if n.startswith("features.pool") and isinstance(m, nn.Conv2d))
    assert n_pool_convs == (0 if pool == "max" else 3)
    with pytest.raises(ValueError, match="unknown pool"):
        AlexNetNoPool(pool="avg")


@pytest.mark.parametrize("size,side", [(224, 7), (96, 3), (84, 2), (56, 1)])
def test_vgg_in_features_follow_input_size(size: int, side: int) -> None:
    with torch.device("meta"):
        net = VGG(VGG_ARCHS["vgg11"], input_size=size, ratio=4)
    assert net.classifier.fc1.in_features == 128 * side * side
    assert net(torch.zeros(1, 1, size, size, device="meta")).shape == (1, 10)


def test_vgg_configs_have_the_papers_depths() -> None:
    for name, weight_layers in [("vgg11", 11), ("vgg13", 13), ("vgg16", 16), ("vgg19", 19)]:
        with torch.device("meta"):
            net = get_model(name)
        assert sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in net.modules()) == weight_layers


def test_nin_fc_head_and_1x1_count() -> None:
    net = NiN(head="fc", num_1x1=1, input_size=224).eval()
    assert net.classifier[0].in_features == 384 * 5 * 5
    assert sum(m.kernel_size == (1, 1) for m in net.modules() if isinstance(m, nn.Conv2d)) == 4
    assert net(torch.zeros(1, 1, 224, 224)).shape == (1, 10)


def test_inception_argument_names_follow_the_paper() -> None:
    assert list(inspect.signature(Inception).parameters) == [
        "in_channels", "ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj"]
    block = Inception(192, 64, 96, 128, 16, 32, 32)
    assert block(torch.zeros(1, 192, 12, 12)).shape == (1, 256, 12, 12)


def test_inception_resnet_scales_the_residual() -> None:
    net = build("inception_resnet_small", scale=0.0).eval()
    block = net.features.block_a1
    x = torch.randn(1, block.out_channels, 9, 9)
    assert torch.equal(block(x), torch.relu(x))  # scale 0: the module is the identity (then ReLU)


def test_alex_resnet_options() -> None:
    plain = build("alex_resnet", norm="none", residual=False, init="normal001")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    assert sum(isinstance(m, nn.Conv2d) for m in plain.modules()) == 9
    se = build("alex_resnet_se")
    assert sum(type(m).__name__ == "SqueezeExcitation" for m in se.modules()) == 4
    with pytest.raises(ValueError, match="unknown norm"):
        get_model("alex_resnet", norm="ln")


def test_paper_alexnet_ablation_switches() -> None:
    with torch.device("meta"):
        narrow = AlexNetPaper(width=0.25, fc_width=64, lrn=False, pool="nonoverlap", activation="tanh")
        assert narrow(torch.zeros(1, 1, 224, 224)).shape == (1, 10)
    assert narrow.feature_size == 6  # 2×2 pools give the same sizes on 55, 27, 13
    assert narrow.classifier.fc6.in_features == 64 * 36
    assert not any(isinstance(m, (nn.ReLU, nn.LocalResponseNorm)) or type(m).__name__ == "LocalResponseNorm"
                   for m in narrow.modules())
    assert sum(isinstance(m, nn.Tanh) for m in narrow.modules()) == 7
    with pytest.raises(ValueError, match="unknown pool"):
        AlexNetPaper(pool="avg")


def test_alexnet_paper_stem_for_native_28_pixels() -> None:
    net = get_model("alexnet_paper", input_size=28, width=1 / 8, fc_width=64, stem=(5, 1, 2))
    assert net.feature_size == 2  # 28 → 13 → 6 → 2 after the three 3×3 stride-2 poolings
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="at least 63"):
        get_model("alexnet_paper", input_size=28)  # the paper's 11×11 stride-4 stem


def test_narrow_nin_with_a_native_28_pixel_stem() -> None:
    net = NiN(input_size=28, width=0.25, stem=(3, 1, 1)).eval()
    assert net.min_input_size == 15  # 15 → 7 → 3 → 1 after the three 3×3 stride-2 poolings
    assert analysis.shape_table(net, 28, depth=1).set_index("layer").loc["features", "output_shape"] == (10, 2, 2)
    assert net.features.block1.conv.out_channels == 24 and net.features.block3.conv.out_channels == 96
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    fc = NiN(input_size=28, width=0.25, stem=(3, 1, 1), head="fc")
    assert fc.classifier[0].in_features == 96 * 2 * 2
    with pytest.raises(ValueError, match="at least 67"):
        NiN(input_size=28, head="fc")  # d2l's 11×11 stride-4 stem
    with pytest.raises(ValueError, match="width must be positive"):
        NiN(width=0)


def test_narrow_googlenet_with_a_native_28_pixel_stem() -> None:
    net = GoogLeNet(input_size=28, width=0.25, stem=(3, 1, 1), stem_pool=False).eval()
    shapes = analysis.shape_table(net, 28, depth=2).set_index("layer")["output_shape"]
    assert shapes["features.inception3a"] == (64, 14, 14)  # 256 / 4 channels, no stem pooling
    assert shapes["features.inception5b"] == (256, 4, 4)  # 96 px give 1024×3×3 at full width
    assert net.classifier.in_features == 256
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with torch.device("meta"):
        assert analysis.count_params(GoogLeNet(width=1.0)) == 5_977_530  # the table rebuilt exactly


@pytest.mark.parametrize("name, kwargs", [
    ("bn_inception", dict(width=0.125)), ("inception_v3_small", dict(width=0.125)),
    ("inception_v4_small", dict(width=0.125, stem_width=0.25)),
    ("inception_resnet_small", dict(width=0.125, stem_width=0.25, blocks=1))])
def test_narrow_inception_successors_keep_their_grids_and_minimum(name: str, kwargs: dict) -> None:
    # Chapter 06 trains these on a CPU: narrower, same downsampling, same smallest input.
    torch.manual_seed(0)
    narrow, default = get_model(name, **kwargs).eval(), get_model(name).eval()
    assert analysis.count_params(narrow) * 10 < analysis.count_params(default)
    assert analysis.min_input_size(narrow, max_size=64) == default.min_input_size
    for side in (59, 96):
        grid = [analysis.shape_table(n, side, depth=1).set_index("layer").loc["features", "output_shape"][1:]
                for n in (narrow, default)]
        assert grid[0] == grid[1]
    with torch.no_grad():
        out = narrow(torch.randn(2, 1, 59, 59))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="width"):
        get_model(name, width=0)


def test_alexnet_paper_groups_2_is_the_two_gpu_connectivity():
    """Section 3.2: conv2, conv4 and conv5 see only their own GPU's half of the maps; at
    ImageNet's 3 channels and 1000 classes that is the paper's "60 million parameters"."""
    from alexnet_course.models import get_model

    one = get_model("alexnet_paper", in_channels=3, num_classes=1000)
    two = get_model("alexnet_paper", in_channels=3, num_classes=1000, groups=2)
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert (count(one), count(two)) == (62_378_344, 60_965_224)
    assert [getattr(two.features, n).groups for n in ("conv2", "conv3", "conv4", "conv5")] == [2, 1, 2, 2]
    with pytest.raises(ValueError, match="groups must be 1"):
        get_model("alexnet_paper", groups=4)
