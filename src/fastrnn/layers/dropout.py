"""``Dropout``: inverted dropout, active in training only (a new mask per call and element)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer, dropout_keep_mask, lazy_module

__all__ = ["Dropout"]


class Dropout(Layer):
    """Zero each input entry with probability ``rate`` in training and scale the rest by
    ``1 / (1 - rate)``; the identity at inference.

    Args:
        rate: float in [0, 1].
        noise_shape: shape of the mask, broadcast over the input (``None`` entries take the
            input's size), e.g. ``(batch, 1, features)`` for one mask shared over time.
        seed: seed of this layer's generator.
    """

    supports_masking = True

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.number)) or not (
            0 <= rate <= 1
        ):
            raise ValueError(
                "Invalid value received for argument `rate`. Expected a float value between 0 "
                f"and 1. Received: rate={rate}"
            )
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self._rng = lazy_module("_random").make_generator(seed)
        self._mask: np.ndarray | None = None
        self._training_pass = False

    def _noise_shape(self, shape: tuple) -> tuple:
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise ValueError(
                f"Layer {self.name!r}: noise_shape {self.noise_shape} must have the rank of the "
                f"input. Received: input shape={shape}"
            )
        return tuple(s if n is None else int(n) for n, s in zip(self.noise_shape, shape))

    def _draw_mask(self, shape: tuple) -> np.ndarray:
        """The multiplier (0 or 1/(1-rate)) for one training call; tests may replace it."""
        return dropout_keep_mask(self._rng, self._noise_shape(shape), self.rate, self.dtype)

    def _forward(self, inputs, mask=None, training=False, **kwargs):
        x = self._as_float(inputs)
        self._maybe_build((None,) + x.shape[1:] if x.ndim else ())
        if not training or self.rate == 0:
            self._mask = None
            self._training_pass = bool(training)
            return x.copy() if x is inputs else x
        self._mask = self._draw_mask(x.shape)
        self._training_pass = True
        return x * self._mask

    def _backward(self, d_outputs):
        if not self._training_pass:
            self._require_cache(None)
        self._raw_grads = {}
        d = np.asarray(d_outputs, dtype=self.dtype)
        return d.copy() if self._mask is None else d * self._mask

    def get_config(self) -> dict:
        """Constructor arguments (Keras names)."""
        config = super().get_config()
        config.update({"rate": self.rate, "noise_shape": self.noise_shape, "seed": self.seed})
        return config
