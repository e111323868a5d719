"""``Dense``: ``activation(x @ kernel + bias)`` on the last axis of 2-D or N-D input."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops

from .base import Layer, get_initializer, get_regularizer, lazy_module, reject_constraint
from .base import serialize_initializer, serialize_regularizer

__all__ = ["Dense"]


class Dense(Layer):
    """Densely connected layer applied to the last axis (on 3-D input it acts per time step).

    Weights: ``kernel (in, units)`` and ``bias (units,)``. The product is one BLAS matmul on the
    input reshaped to ``(-1, in)``.
    """

    supports_masking = True

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        lora_rank: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
            raise ValueError(
                "Received an invalid value for argument `units`, expected a positive integer. "
                f"Received: units={units}"
            )
        reject_constraint("Dense", "kernel_constraint", kernel_constraint)
        reject_constraint("Dense", "bias_constraint", bias_constraint)
        if lora_rank is not None:
            raise NotImplementedError(
                f"Dense: `lora_rank` is not supported by fastrnn. Received: {lora_rank!r}"
            )
        self.units = int(units)
        self.activation = lazy_module("activations").get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = get_initializer(kernel_initializer)
        self.bias_initializer = get_initializer(bias_initializer)
        self.kernel_regularizer = get_regularizer(kernel_regularizer)
        self.bias_regularizer = get_regularizer(bias_regularizer)
        self._cache: tuple | None = None

    def build(self, input_shape: tuple) -> None:
        """Create ``kernel (in, units)`` and ``bias (units,)``."""
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"Layer {self.name!r} needs input of rank >= 2 with a known last dimension. "
                f"Received: input_shape={input_shape}"
            )
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      self.kernel_initializer, self.kernel_regularizer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        self.bias_regularizer)
        super().build(input_shape)

    def _forward(self, inputs, mask=None, training=False, **kwargs):
        x = self._as_float(inputs)
        if x.ndim < 2:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"min_ndim=2, found ndim={x.ndim}. Full shape received: {x.shape}"
            )
        self._maybe_build((None,) + x.shape[1:])
        if x.shape[-1] != self.kernel.shape[0]:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected axis -1 "
                f"of input shape to have value {self.kernel.shape[0]}, but received input with "
                f"shape {x.shape}"
            )
        x2 = x.reshape(-1, x.shape[-1])
        z = ops.matmul(x2, self.kernel)  # the engine's threads: no second pool, batch-invariant
        if self.bias is not None:
            z += self.bias
        y = self.activation.forward(z)
        y = np.asarray(y, dtype=self.dtype).reshape(x.shape[:-1] + (self.units,))
        self._cache = (x2, y, x.shape) if training else None
        return y

    def _backward(self, d_outputs):
        x2, y, shape = self._require_cache(self._cache)
        d = np.asarray(d_outputs, dtype=self.dtype)
        if d.shape != y.shape:
            raise ValueError(
                f"Layer {self.name!r}: gradient shape must be {y.shape}. Received: shape={d.shape}"
            )
        dz = np.asarray(self.activation.backward(y, d), dtype=self.dtype).reshape(-1, self.units)
        self._raw_grads = {"kernel": ops.matmul(x2, dz, transpose_a=True)}
        if self.bias is not None:
            self._raw_grads["bias"] = dz.sum(axis=0)
        return ops.matmul(dz, np.ascontiguousarray(self.kernel.T)).reshape(shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """``input_shape[:-1] + (units,)``."""
        return tuple(input_shape)[:-1] + (self.units,)

    def get_config(self) -> dict:
        """Constructor arguments (Keras names)."""
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": lazy_module("activations").serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_initializer(self.kernel_initializer),
            "bias_initializer": serialize_initializer(self.bias_initializer),
            "kernel_regularizer": serialize_regularizer(self.kernel_regularizer),
            "bias_regularizer": serialize_regularizer(self.bias_regularizer),
            "kernel_constraint": None,
            "bias_constraint": None,
        })
        return config
