"""``Embedding``: token ids -> dense vectors (C++ gather forward, scatter-add backward)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import ops
from .base import Layer, get_initializer, get_regularizer, reject_constraint
from .base import serialize_initializer, serialize_regularizer

__all__ = ["Embedding", "EmbeddedTokens", "EmbeddingTableGradient"]


class EmbeddedTokens(np.ndarray):
    """An Embedding's training output that remembers its token ids and its layer.

    A ``SimpleRNN`` fed directly by it can project the vocabulary once (``embeddings @ kernel``,
    V rows) instead of every token (B*T rows), and hand the embedding gradient back as an
    :class:`EmbeddingTableGradient`. Any array derived from it (slices, arithmetic, another
    layer's output) is plain data: the link is not inherited.
    """

    _source: Any = None  # (Embedding layer, 2-D ids) on the object the layer returned
    _deferred: bool = False  # values never gathered: only a projecting consumer may read it

    def __array_finalize__(self, obj: Any) -> None:
        self._source = None
        self._deferred = False


def _zero_stand_in(shape: tuple, dtype: np.dtype) -> EmbeddedTokens:
    """Read-only zeros of ``shape`` that hold no buffer of that size: one row of zeros seen
    through zero strides (built directly: np.broadcast_to runs an nditer in Python)."""
    row = np.zeros(shape[-1], dtype)
    strides = (0,) * (len(shape) - 1) + (row.itemsize,)
    out = np.ndarray.__new__(EmbeddedTokens, shape, dtype, row, 0, strides)
    out.flags.writeable = False
    return out


class EmbeddingTableGradient:
    """Gradient of an Embedding's whole table, computed by the layer after it."""

    __slots__ = ("value",)

    def __init__(self, value: np.ndarray):
        self.value = value

    def __add__(self, other: Any) -> "EmbeddingTableGradient":
        if isinstance(other, EmbeddingTableGradient):  # e.g. both Bidirectional directions
            return EmbeddingTableGradient(self.value + other.value)
        return NotImplemented


class Embedding(Layer):
    """Turn integer ids ``(batch, ...)`` into vectors ``(batch, ..., output_dim)``.

    Args:
        input_dim: vocabulary size; ids must lie in ``[0, input_dim)`` (ValueError otherwise).
        output_dim: size of each vector.
        embeddings_initializer: default ``"uniform"`` = U(-0.05, 0.05).
        embeddings_regularizer: penalty on the embedding matrix.
        mask_zero: id 0 is padding: ``compute_mask`` returns ``ids != 0``.
        weights: optional initial ``[embeddings]``.
        input_length: deprecated (Keras 2), ignored with a warning.
    Float ids holding whole numbers are accepted (Keras casts them).
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        weights: Any = None,
        lora_rank: Any = None,
        input_length: Any = None,
        **kwargs: Any,
    ) -> None:
        if input_length is not None:
            warnings.warn(
                "Argument `input_length` is deprecated. Just remove it.", UserWarning,
                stacklevel=2,
            )
        super().__init__(**kwargs)
        for arg, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
                raise ValueError(
                    f"Embedding: `{arg}` must be a positive integer. Received: {arg}={value!r}"
                )
        reject_constraint("Embedding", "embeddings_constraint", embeddings_constraint)
        if lora_rank is not None:
            raise NotImplementedError(
                f"Embedding: `lora_rank` is not supported by fastrnn. Received: {lora_rank!r}"
            )
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = get_initializer(embeddings_initializer)
        self.embeddings_regularizer = get_regularizer(embeddings_regularizer)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self._initial_weights = weights
        self._ids: tuple | None = None

    def build(self, input_shape: tuple | None = None) -> None:
        """Create ``embeddings (input_dim, output_dim)``."""
        self.embeddings = self.add_weight(
            "embeddings", (self.input_dim, self.output_dim), self.embeddings_initializer,
            self.embeddings_regularizer)
        super().build(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _ids2d(self, inputs: Any) -> tuple[np.ndarray, tuple]:
        arr = np.asarray(inputs)
        if arr.dtype.kind not in "iuf":
            raise TypeError(
                f"Layer {self.name!r} expects integer token ids. Received: dtype={arr.dtype}"
            )
        shape = arr.shape
        flat = arr.reshape(1, -1) if arr.ndim != 2 else arr
        return flat, shape

    def _forward(self, inputs, mask=None, training=False, consumer=None, **kwargs):
        """Gather the vectors. In training, when ``consumer`` (the next layer of a Sequential)
        projects this embedding itself (see ``SimpleRNN.projects_embedding``), the gather is
        skipped: the consumer reads only the ids."""
        ids, shape = self._ids2d(inputs)
        self._maybe_build(shape)
        offer = training and ids.shape == shape  # (batch, time) ids: offer the fused RNN path
        deferred = offer and consumer is not None and getattr(
            consumer, "projects_embedding", lambda *a: False)(self, ids)
        try:
            if deferred:  # check the ids now (as int64: converted once); the consumer gathers
                ids = ops.checked_token_ids(ids, self.input_dim)  # projected rows later
                out = _zero_stand_in(shape + (self.output_dim,), self.embeddings.dtype)
            else:
                out = ops.embedding_forward(ids, self.embeddings)
                out = out.reshape(shape + (self.output_dim,))
        except ValueError as exc:
            raise ValueError(f"Layer {self.name!r}: {exc}") from None
        self._ids = (ids, shape) if training else None
        if offer:
            if not deferred:
                out = out.view(EmbeddedTokens)
            out._source = (self, ids)
            out._deferred = deferred
        return out

    def _backward(self, d_outputs):
        ids, shape = self._require_cache(self._ids)
        if isinstance(d_outputs, EmbeddingTableGradient):  # from a fused SimpleRNN
            self._raw_grads = {"embeddings": d_outputs.value}
            return None
        d = np.asarray(d_outputs, dtype=self.dtype)
        if d.shape != shape + (self.output_dim,):
            raise ValueError(
                f"Layer {self.name!r}: gradient shape must be {shape + (self.output_dim,)}. "
                f"Received: shape={d.shape}"
            )
        d2 = d.reshape(ids.shape + (self.output_dim,))
        self._raw_grads = {"embeddings": ops.embedding_backward(ids, d2, self.input_dim)}
        return None

    def compute_mask(self, inputs: Any, mask: Any = None) -> np.ndarray | None:
        """``inputs != 0`` when ``mask_zero``, else None."""
        if not self.mask_zero:
            return None
        return np.asarray(inputs) != 0

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        """``input_shape + (output_dim,)``."""
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self) -> dict:
        """Constructor arguments (Keras names)."""
        config = super().get_config()
        config.update({
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": serialize_initializer(self.embeddings_initializer),
            "embeddings_regularizer": serialize_regularizer(self.embeddings_regularizer),
            "embeddings_constraint": None,
            "mask_zero": self.mask_zero,
        })
        return config
