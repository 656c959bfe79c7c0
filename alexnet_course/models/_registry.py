"""The registry of the zoo, in the manner of torchvision's ``register_model``.

Each family file registers its builders where they are defined::

    @register_model("lenet", params=61_706, min_input_size=12, input_size=28)
    class LeNet(nn.Module): ...

so adding a model touches one file. An entry records what the model is at its default
arguments (one input channel, 10 classes): its parameter count, the smallest square input
it accepts and the input size it is built for. One test in ``tests/test_models.py`` builds
every entry and checks these numbers against the built model, so they cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from torch import nn

Builder = Callable[..., nn.Module]
B = TypeVar("B", bound=Callable[..., nn.Module])


@dataclass(frozen=True)
class ModelInfo:
    """One registry entry: the builder and what it builds at its default arguments."""

    name: str
    builder: Builder
    params: int          # parameters at the defaults (in_channels=1, num_classes=10)
    min_input_size: int  # smallest square input side the model accepts
    input_size: int      # the input side it is built for by default


_INFO: dict[str, ModelInfo] = {}
_BUILDERS: dict[str, Builder] = {}
# Read-only view, kept in step with the registry: name -> builder (class or function).
MODELS: Mapping[str, Builder] = MappingProxyType(_BUILDERS)


def _positive_int(what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"register_model: {what} must be a positive integer, got {value!r}")
    return value


def register_model(name: str, *, params: int, min_input_size: int,
                   input_size: int) -> Callable[[B], B]:
    """Class or function decorator that registers a model builder under ``name``.

    ``params``, ``min_input_size`` and ``input_size`` describe the model built with no
    arguments; measure them by building it (the registry test checks them).
    """
    if not isinstance(name, str) or not name or name != name.strip().lower():
        raise ValueError(f"register_model: the name must be a non-empty lower-case string "
                         f"without surrounding spaces (get_model matches case-insensitively), got {name!r}")
    info = dict(params=_positive_int("params", params),
                min_input_size=_positive_int("min_input_size", min_input_size),
                input_size=_positive_int("input_size", input_size))

    def wrap(builder: B) -> B:
        if not callable(builder):
            raise TypeError(f"register_model({name!r}) decorates a class or function, got {builder!r}")
        old = _INFO.get(name)
        # Re-running the same definition (importlib.reload, IPython's autoreload) replaces
        # the entry; a different builder under a taken name is a mistake.
        if old is not None and (old.builder.__module__, old.builder.__qualname__) != \
                (builder.__module__, builder.__qualname__):
            raise ValueError(f"model name {name!r} is already registered by "
                             f"{old.builder.__module__}.{old.builder.__qualname__}; choose another name")
        _INFO[name] = ModelInfo(name=name, builder=builder, **info)
        _BUILDERS[name] = builder
        return builder

    return wrap


def list_models() -> list[str]:
    """The registered names, sorted."""
    return sorted(_INFO)


def _key(name: object) -> str:
    valid = ", ".join(list_models())
    if not isinstance(name, str):
        raise TypeError(f"a model name must be a string, got {name!r} ({type(name).__name__}); "
                        f"valid names: {valid}")
    key = name.strip().lower()
    if key not in _INFO:
        raise ValueError(f"unknown model {name!r}; valid names: {valid}")
    return key


def model_info(name: str) -> ModelInfo:
    """The registry entry of ``name`` (case-insensitive)."""
    return _INFO[_key(name)]


def get_model(name: str, **kwargs: object) -> nn.Module:
    """Build the registered model ``name`` (case-insensitive) with ``kwargs``.

    Papermill and the experiment helpers pass models by name, hence strings. The
    constructors themselves refuse a bad ``in_channels``/``num_classes``.
    """
    return _INFO[_key(name)].builder(**kwargs)
