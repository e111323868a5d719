"""``Masking``: skip time steps whose features all equal ``mask_value``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer

__all__ = ["Masking"]


class Masking(Layer):
    """Mask = any feature != ``mask_value`` (so a step is masked when all features equal it);
    masked inputs are zeroed, and downstream mask-aware layers skip those steps."""

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self._keep: np.ndarray | None = None

    def _boolean_mask(self, x: np.ndarray) -> np.ndarray:
        return np.any(x != self.mask_value, axis=-1)

    def compute_mask(self, inputs: Any, mask: Any = None) -> np.ndarray:
        """``(batch, timesteps)`` bool: True where some feature differs from ``mask_value``."""
        return self._boolean_mask(self._as_float(inputs))

    def _forward(self, inputs, mask=None, training=False, **kwargs):
        x = self._as_float(inputs)
        if x.ndim < 2:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"min_ndim=2, found ndim={x.ndim}. Full shape received: {x.shape}"
            )
        self._maybe_build((None,) + x.shape[1:])
        keep = self._boolean_mask(x)[..., None].astype(self.dtype)
        self._keep = keep if training else None
        return x * keep

    def _backward(self, d_outputs):
        keep = self._require_cache(self._keep)
        self._raw_grads = {}
        return np.asarray(d_outputs, dtype=self.dtype) * keep

    def get_config(self) -> dict:
        """Constructor arguments (Keras names)."""
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
