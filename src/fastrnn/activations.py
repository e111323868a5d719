"""Activation functions with Keras's names, each with a forward and an output-based backward.

``act(x)`` / ``act.forward(x)`` computes the activation; ``act.backward(y, dy)`` returns dL/dx
from the OUTPUT ``y = act(x)`` and the upstream gradient ``dy`` (for softmax the Jacobian-vector
product over the last axis). The names ``"tanh"``, ``"relu"``, ``"sigmoid"`` and ``"linear"``
(``CORE_NAMES``) are also understood by the C++ recurrent engine.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["Activation", "tanh", "relu", "sigmoid", "linear", "softmax", "get", "serialize",
           "deserialize", "CORE_NAMES"]

CORE_NAMES = ("tanh", "relu", "sigmoid", "linear")


class Activation:
    """A named elementwise (or last-axis) function with its backward pass."""

    def __init__(self, name: str, forward: Callable[[np.ndarray], np.ndarray],
                 backward: Callable[[np.ndarray, np.ndarray], np.ndarray] | None) -> None:
        self.name = name
        self._forward = forward
        self._backward = backward

    @property
    def is_core(self) -> bool:
        """True when the C++ recurrent engine implements this activation by name."""
        return self.name in CORE_NAMES

    def forward(self, x) -> np.ndarray:
        """The activation of ``x`` (a new array; ``x`` is not modified)."""
        return self._forward(np.asarray(x))

    __call__ = forward

    def backward(self, y, dy) -> np.ndarray:
        """dL/dx given the output ``y`` of ``forward`` and the upstream gradient ``dy``."""
        if self._backward is None:
            raise NotImplementedError(
                f"Activation {self.name!r} is a plain callable: fastrnn cannot differentiate it. "
                "Pass an object with forward(x) and backward(y, dy) methods instead."
            )
        return self._backward(np.asarray(y), np.asarray(dy))

    def __repr__(self) -> str:
        return f"<activation {self.name}>"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(x / 2)) is sigmoid without overflow for large |x|.
    out = np.tanh(x * 0.5)
    out += 1.0
    out *= 0.5
    return out


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    z /= z.sum(axis=-1, keepdims=True)
    return z


tanh = Activation("tanh", np.tanh, lambda y, dy: dy * (1.0 - y * y))
relu = Activation("relu", lambda x: np.maximum(x, 0), lambda y, dy: dy * (y > 0))
sigmoid = Activation("sigmoid", _sigmoid, lambda y, dy: dy * y * (1.0 - y))
linear = Activation("linear", lambda x: x.copy(), lambda y, dy: dy.copy())
softmax = Activation(
    "softmax", _softmax, lambda y, dy: y * (dy - (dy * y).sum(axis=-1, keepdims=True))
)

_BY_NAME = {a.name: a for a in (tanh, relu, sigmoid, linear, softmax)}


def get(identifier: Any) -> Activation:
    """Resolve ``None`` (linear), a name, an ``Activation`` or a callable.

    Any object with ``forward`` and ``backward`` methods is returned as is; a plain callable is
    wrapped (usable for inference, its backward raises ``NotImplementedError``).
    """
    if identifier is None:
        return linear
    if isinstance(identifier, Activation):
        return identifier
    if isinstance(identifier, str):
        act = _BY_NAME.get(identifier)
        if act is None:
            raise ValueError(
                f"Unknown activation: {identifier!r}. Expected one of {sorted(_BY_NAME)} or None."
            )
        return act
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if hasattr(identifier, "forward") and hasattr(identifier, "backward"):
        return identifier
    if callable(identifier):
        name = getattr(identifier, "__name__", None)
        if name in _BY_NAME and getattr(identifier, "__module__", "").startswith("keras"):
            return _BY_NAME[name]  # keras.activations.tanh and friends
        return Activation(name or repr(identifier), identifier, None)
    raise ValueError(f"Could not interpret activation identifier. Received: {identifier!r}")


def serialize(activation: Any) -> str:
    """The activation's name (Keras serializes built-in activations as their name)."""
    return get(activation).name


def deserialize(config: str | dict) -> Activation:
    """Inverse of ``serialize``; also accepts ``{"class_name": ..., "config": {"name": ...}}``."""
    if isinstance(config, dict):
        config = config.get("config", {}).get("name", config.get("class_name"))
    return get(config)
