"""``InputLayer`` and ``Input``: declare the input shape (and dtype) of a model."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .base import Layer, _shape_tuple

__all__ = ["InputLayer", "Input"]


class InputLayer(Layer):
    """The entry point of a model: holds ``batch_shape`` (batch axis first, may be None) and
    ``dtype``; passes its input through unchanged.

    ``dtype`` may be any NumPy dtype name (``"int32"`` for token ids); default ``"float32"``.
    """

    def __init__(
        self,
        shape: Any = None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: bool | None = None,
        batch_shape: Any = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if "input_shape" in kwargs:
            warnings.warn("Argument `input_shape` is deprecated. Use `shape` instead.",
                          stacklevel=2)
            shape = kwargs.pop("input_shape")
        if "batch_input_shape" in kwargs:
            batch_shape = kwargs.pop("batch_input_shape")
        kwargs.pop("ragged", None)
        kwargs.pop("input_tensor", None)
        kwargs.pop("optional", None)
        if sparse:
            raise NotImplementedError("InputLayer: sparse inputs are not supported by fastrnn")
        super().__init__(name=name, **kwargs)
        if shape is not None and batch_shape is not None:
            raise ValueError(
                "You cannot pass both `shape` and `batch_shape` at the same time."
            )
        if batch_shape is not None:
            batch_shape = _shape_tuple(batch_shape, "batch_shape")
        elif shape is not None:
            batch_shape = (batch_size,) + _shape_tuple(shape, "shape")
        else:
            raise ValueError("You must pass a `shape` argument.")
        if batch_size is not None and batch_shape[0] not in (None, batch_size):
            raise ValueError(
                f"batch_size={batch_size} disagrees with batch_shape={batch_shape}"
            )
        self.batch_shape = batch_shape
        try:
            self.dtype = np.dtype("float32" if dtype is None else dtype).name
        except TypeError:
            raise ValueError(f"InputLayer: unknown dtype. Received: dtype={dtype!r}") from None
        self.sparse = False
        self.built = True

    @property
    def shape(self) -> tuple:
        """Same as ``batch_shape``."""
        return self.batch_shape

    @property
    def batch_size(self) -> int | None:
        """The declared batch size (None when free)."""
        return self.batch_shape[0]

    def compute_output_shape(self, input_shape: tuple | None = None) -> tuple:
        """The declared ``batch_shape``."""
        return self.batch_shape

    def _forward(self, inputs, mask=None, training=False, **kwargs):
        x = np.asarray(inputs)
        if x.ndim != len(self.batch_shape):
            raise ValueError(
                f"Input of layer '{self.name}' is incompatible: expected shape={self.batch_shape}, "
                f"found shape={x.shape}"
            )
        for got, want in zip(x.shape, self.batch_shape):
            if want is not None and got != want:
                raise ValueError(
                    f"Input of layer '{self.name}' is incompatible: expected "
                    f"shape={self.batch_shape}, found shape={x.shape}"
                )
        self._raw_grads = {}
        return x

    def _backward(self, d_outputs):
        self._raw_grads = {}
        return d_outputs

    def get_config(self) -> dict:
        """Keras's InputLayer config."""
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "sparse": False,
                "name": self.name}


def Input(shape: Any = None, batch_size: int | None = None, dtype: Any = None,
          name: str | None = None, batch_shape: Any = None, **kwargs: Any) -> InputLayer:
    """Declare a model input: ``Input(shape=(timesteps, features))``.

    Returns an :class:`InputLayer` (fastrnn has no symbolic tensors); ``Sequential`` takes it as
    its first element, as Keras does with ``keras.Input``.
    """
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name,
                      batch_shape=batch_shape, **kwargs)
