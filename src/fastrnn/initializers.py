"""Weight initializers with Keras's names, defaults and distributions, drawn from NumPy.

Every initializer is called as ``init(shape, dtype="float32", rng=None)``. ``rng`` is a
``np.random.Generator``; when it is ``None`` the initializer uses ``make_generator(seed)``: a fixed
stream when the initializer has a ``seed`` (same values at every call, as in Keras), else a child of
the global generator (deterministic after ``fastrnn.utils.set_random_seed``). Distributions and
shapes match Keras; the random streams themselves do not.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ._random import make_generator

__all__ = [
    "Initializer", "GlorotUniform", "GlorotNormal", "Orthogonal", "Zeros", "Ones", "Constant",
    "RandomUniform", "RandomNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal",
    "VarianceScaling", "get", "serialize", "deserialize",
]


def _check_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        out = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of ints. Received: {shape!r}") from None
    if any(s < 0 for s in out):
        raise ValueError(f"shape must hold non-negative ints. Received: {shape!r}")
    return out


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Keras's ``(fan_in, fan_out)``: kernels ``(..., in, out)`` scale by the receptive field."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: subclasses implement ``_draw(shape, rng)`` returning float64 values."""

    seed: int | None = None

    def __call__(self, shape, dtype="float32", rng: np.random.Generator | None = None) -> np.ndarray:
        """Return a new array of ``shape`` and ``dtype`` filled by this initializer."""
        shape = _check_shape(shape)
        if rng is None:
            rng = make_generator(self.seed)
        return np.asarray(self._draw(shape, rng), dtype=np.dtype(dtype))

    def _draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict:
        """Constructor arguments (Keras's config dict)."""
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        """Rebuild from ``get_config()``."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros (Keras ``"zeros"``, the default bias initializer)."""

    def _draw(self, shape, rng):
        return np.zeros(shape)

    def get_config(self) -> dict:
        return {}


class Ones(Initializer):
    """All ones (Keras ``"ones"``)."""

    def _draw(self, shape, rng):
        return np.ones(shape)

    def get_config(self) -> dict:
        return {}


class Constant(Initializer):
    """Every entry equal to ``value`` (Keras ``Constant(value=0.0)``)."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def _draw(self, shape, rng):
        return np.broadcast_to(np.asarray(self.value, dtype=np.float64), shape).copy()

    def get_config(self) -> dict:
        value = self.value.tolist() if isinstance(self.value, np.ndarray) else self.value
        return {"value": value}


class RandomUniform(Initializer):
    """U(minval, maxval); Keras defaults (-0.05, 0.05); Embedding's ``"uniform"``."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        self.minval, self.maxval, self.seed = float(minval), float(maxval), seed

    def _draw(self, shape, rng):
        return rng.uniform(self.minval, self.maxval, size=shape)

    def get_config(self) -> dict:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    """N(mean, stddev²); Keras defaults mean 0.0, stddev 0.05."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean, self.stddev, self.seed = float(mean), float(stddev), seed

    def _draw(self, shape, rng):
        return rng.normal(self.mean, self.stddev, size=shape)

    def get_config(self) -> dict:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


def _truncated_normal(shape, stddev: float, rng: np.random.Generator) -> np.ndarray:
    """N(0, stddev²) truncated to ±2 stddev by redrawing the rejected values (vectorized)."""
    out = rng.standard_normal(size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev


class VarianceScaling(Initializer):
    """Keras VarianceScaling: scale / fan, ``"uniform"`` or ``"truncated_normal"`` / ``"untruncated_normal"``."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTS = ("uniform", "truncated_normal", "untruncated_normal", "normal")

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None) -> None:
        if scale <= 0:
            raise ValueError(f"scale must be positive. Received: scale={scale}")
        if mode not in self._MODES:
            raise ValueError(f"mode must be one of {self._MODES}. Received: mode={mode!r}")
        distribution = distribution.lower()
        if distribution not in self._DISTS:
            raise ValueError(f"distribution must be one of {self._DISTS}. Received: {distribution!r}")
        self.scale, self.mode, self.distribution, self.seed = float(scale), mode, distribution, seed

    def _draw(self, shape, rng):
        fan_in, fan_out = compute_fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * scale)
            return rng.uniform(-limit, limit, size=shape)
        if self.distribution == "truncated_normal":
            # 0.879... is the stddev of a unit normal truncated to [-2, 2] (Keras's constant).
            return _truncated_normal(shape, math.sqrt(scale) / 0.87962566103423978, rng)
        return rng.normal(0.0, math.sqrt(scale), size=shape)

    def get_config(self) -> dict:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


class _Preset(VarianceScaling):
    """A VarianceScaling with fixed arguments; its config is only ``seed``."""

    _ARGS: tuple[float, str, str] = (1.0, "fan_avg", "uniform")

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(*self._ARGS, seed=seed)

    def get_config(self) -> dict:
        return {"seed": self.seed}


class GlorotUniform(_Preset):
    """U(-l, l) with ``l = sqrt(6 / (fan_in + fan_out))`` (Keras's default kernel initializer)."""

    _ARGS = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    """Truncated normal with stddev ``sqrt(2 / (fan_in + fan_out))``."""

    _ARGS = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_Preset):
    """U(-l, l) with ``l = sqrt(6 / fan_in)``."""

    _ARGS = (2.0, "fan_in", "uniform")


class HeNormal(_Preset):
    """Truncated normal with stddev ``sqrt(2 / fan_in)``."""

    _ARGS = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    """U(-l, l) with ``l = sqrt(3 / fan_in)``."""

    _ARGS = (1.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    """Truncated normal with stddev ``sqrt(1 / fan_in)``."""

    _ARGS = (1.0, "fan_in", "truncated_normal")


class Orthogonal(Initializer):
    """Orthogonal matrix times ``gain`` (Keras's default recurrent initializer).

    QR of a standard normal ``(max(rows, cols), min(rows, cols))`` matrix, Q's columns times
    ``sign(diag(R))`` (so Q is uniformly distributed), transposed when rows < cols.
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain, self.seed = float(gain), seed

    def _draw(self, shape, rng):
        if len(shape) < 2:
            raise ValueError(f"Orthogonal needs a shape of rank >= 2. Received: shape={shape}")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = rng.standard_normal(size=(max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q).reshape(shape)

    def get_config(self) -> dict:
        return {"gain": self.gain, "seed": self.seed}


class _FunctionInitializer(Initializer):
    """Wraps a user callable ``f(shape, dtype=...)``; ``rng`` is not passed to it."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __call__(self, shape, dtype="float32", rng=None) -> np.ndarray:
        return np.asarray(self.fn(_check_shape(shape), dtype=dtype), dtype=np.dtype(dtype))

    def get_config(self) -> dict:
        return {"fn": getattr(self.fn, "__name__", repr(self.fn))}


_CLASSES: dict[str, type[Initializer]] = {
    c.__name__: c for c in (GlorotUniform, GlorotNormal, Orthogonal, Zeros, Ones, Constant,
                            RandomUniform, RandomNormal, HeUniform, HeNormal, LecunUniform,
                            LecunNormal, VarianceScaling)
}
_ALIASES: dict[str, type[Initializer]] = {
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "orthogonal": Orthogonal,
    "zeros": Zeros, "ones": Ones, "constant": Constant, "uniform": RandomUniform,
    "random_uniform": RandomUniform, "normal": RandomNormal, "random_normal": RandomNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal, "lecun_uniform": LecunUniform,
    "lecun_normal": LecunNormal, "variance_scaling": VarianceScaling,
}


def serialize(initializer: Initializer) -> dict | str:
    """Keras-style config dict ``{"module", "class_name", "config", "registered_name"}``."""
    if isinstance(initializer, _FunctionInitializer):
        return initializer.get_config()["fn"]
    if not isinstance(initializer, Initializer):
        raise TypeError(f"serialize expects an Initializer. Received: {initializer!r}")
    return {"module": "keras.initializers", "class_name": type(initializer).__name__,
            "config": initializer.get_config(), "registered_name": None}


def deserialize(config: dict | str) -> Initializer:
    """Inverse of ``serialize``; also accepts a name string."""
    if isinstance(config, str):
        cls = _ALIASES.get(config) or _CLASSES.get(config)
        if cls is None:
            raise ValueError(f"Unknown initializer: {config!r}. Known: {sorted(_ALIASES)}")
        return cls()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Initializer config must be a dict with 'class_name'. Received: {config!r}")
    name = config["class_name"]
    cls = _CLASSES.get(name) or _ALIASES.get(name)
    if cls is None:
        raise ValueError(f"Unknown initializer class_name: {name!r}. Known: {sorted(_CLASSES)}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier: Any) -> Initializer | None:
    """Resolve a name, config dict, instance, class or callable ``f(shape, dtype=...)``."""
    if identifier is None:
        return None
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return _FunctionInitializer(identifier)
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")
