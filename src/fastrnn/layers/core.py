"""``Flatten`` and ``Activation``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import Layer, lazy_module

__all__ = ["Flatten", "Activation"]


class Flatten(Layer):
    """Flatten every axis but the batch axis: ``(B, d1, d2, ...) -> (B, d1 * d2 * ...)``."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(
                "data_format must be 'channels_last' or 'channels_first'. "
                f"Received: data_format={data_format!r}"
            )
        self.data_format = data_format or "channels_last"
        self._shape: tuple | None = None

    def _forward(self, inputs, mask=None, training=False, **kwargs):
        x = self._as_float(inputs)
        if x.ndim < 1:
            raise ValueError(f"Layer {self.name!r} needs an input of rank >= 1. Received: shape=()")
        self._maybe_build((None,) + x.shape[1:])
        if self.data_format == "channels_first" and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)
        self._shape = x.shape if training else None
        return x.reshape(x.shape[0], -1) if x.ndim != 1 else x.reshape(-1, 1)

    def _backward(self, d_outputs):
        shape = self._require_cache(self._shape)
        self._raw_grads = {}
        d = np.asarray(d_outputs, dtype=self.dtype).reshape(shape)
        if self.data_format == "channels_first" and d.ndim > 2:
            d = np.moveaxis(d, -1, 1)
        return d

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """``(B, prod(other dims))`` (None when any of them is unknown)."""
        rest = tuple(input_shape)[1:]
        size = None if any(s is None for s in rest) else math.prod(rest)
        return (input_shape[0], size)

    def get_config(self) -> dict:
        """Constructor arguments (Keras names)."""
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class Activation(Layer):
    """Apply an activation function (``"tanh"``, ``"relu"``, ``"sigmoid"``, ``"softmax"``...)."""

    supports_masking = True

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = lazy_module("activations").get(activation)
        self._y: np.ndarray | None = None

    def _forward(self, inputs, mask=None, training=False, **kwargs):
        x = self._as_float(inputs)
        self._maybe_build((None,) + x.shape[1:] if x.ndim else ())
        y = np.asarray(self.activation.forward(x), dtype=self.dtype)
        self._y = y if training else None
        return y

    def _backward(self, d_outputs):
        y = self._require_cache(self._y)
        self._raw_grads = {}
        return np.asarray(self.activation.backward(y, np.asarray(d_outputs, dtype=self.dtype)),
                          dtype=self.dtype)

    def get_config(self) -> dict:
        """Constructor arguments (Keras names)."""
        config = super().get_config()
        config["activation"] = lazy_module("activations").serialize(self.activation)
        return config
