"""``TimeDistributed``: one inner layer (shared weights) applied to every time slice."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer

__all__ = ["TimeDistributed"]


class TimeDistributed(Layer):
    """Apply ``layer`` to every slice ``x[:, t]`` of a ``(batch, timesteps, ...)`` input.

    Runs the inner layer once on the input reshaped to ``(batch * timesteps, ...)``; a mask
    ``(batch, timesteps)`` is passed on reshaped to ``(batch * timesteps,)`` to inner layers that
    support masking, and the output mask is the input mask.
    """

    supports_masking = True

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise ValueError(
                "Please initialize `TimeDistributed` layer with a `fastrnn.layers.Layer` "
                f"instance. Received: {layer!r}"
            )
        super().__init__(**kwargs)
        self.layer = layer
        self._sublayers = [layer]
        self._shape: tuple | None = None

    def build(self, input_shape: tuple) -> None:
        """Build the inner layer for ``(None,) + input_shape[2:]``."""
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            raise ValueError(
                "`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
                f"dimensions, received: {input_shape}"
            )
        if not self.layer.built:
            self.layer.build((None,) + input_shape[2:])
        self.layer._set_path_prefix(self.name)
        super().build(input_shape)

    def _forward(self, inputs, mask=None, training=False, **kwargs):
        x = np.asarray(inputs)
        if x.ndim < 3:
            raise ValueError(
                "`TimeDistributed` Layer should be passed an input with at least 3 dimensions, "
                f"received: shape={x.shape}"
            )
        self._maybe_build((None,) + x.shape[1:])
        B, T = x.shape[:2]
        inner_mask = None
        if mask is not None and self.layer.supports_masking:
            m = np.asarray(mask)
            if m.shape != (B, T):
                raise ValueError(
                    f"Layer {self.name!r}: mask must have shape ({B}, {T}). Received: {m.shape}"
                )
            inner_mask = m.reshape(B * T)
        y = self.layer.forward(x.reshape((B * T,) + x.shape[2:]), mask=inner_mask,
                               training=training)
        if isinstance(y, list):
            raise ValueError(f"TimeDistributed needs an inner layer with one output; "
                             f"{self.layer.name!r} returned {len(y)}")
        self._shape = (B, T) if training else None
        return y.reshape((B, T) + y.shape[1:])

    def _backward(self, d_outputs):
        B, T = self._require_cache(self._shape)
        d = np.asarray(d_outputs)
        dx = self.layer.backward(d.reshape((B * T,) + d.shape[2:]))
        self._raw_grads = {}
        return None if dx is None else dx.reshape((B, T) + dx.shape[1:])

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """``(B, T) + inner output shape without its batch axis``."""
        input_shape = tuple(input_shape)
        inner = self.layer.compute_output_shape((None,) + input_shape[2:])
        return input_shape[:2] + tuple(inner)[1:]

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The input mask, unchanged."""
        return mask

    def get_config(self) -> dict:
        """Constructor arguments: the inner layer serialized."""
        from . import serialize

        config = super().get_config()
        config["layer"] = serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "TimeDistributed":
        """Rebuild, deserializing the inner layer."""
        from . import deserialize

        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        return cls(**config)
