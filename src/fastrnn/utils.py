"""Keras-named utilities: ``set_random_seed`` and ``to_categorical``."""

from __future__ import annotations

import random

import numpy as np

from ._random import _check_seed, set_global_seed

__all__ = ["set_random_seed", "to_categorical"]


def set_random_seed(seed: int) -> None:
    """Seed Python's ``random``, ``np.random`` and fastrnn's global generator (as Keras does)."""
    seed = _check_seed(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    set_global_seed(seed)


def to_categorical(y, num_classes: int | None = None) -> np.ndarray:
    """One-hot encode integer class ids ``y`` into a float32 array with a new last axis.

    As in Keras, a trailing axis of size 1 is dropped first, and ``num_classes`` defaults to
    ``max(y) + 1``.
    """
    y = np.asarray(y)
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.equal(np.mod(y, 1), 0)):
            raise ValueError(f"to_categorical: y must hold integer class ids. Received dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    num_classes = int(num_classes)
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"to_categorical: class ids must be in [0, num_classes={num_classes}). "
            f"Received: min {y.min()}, max {y.max()}"
        )
    out = np.zeros(y.shape + (num_classes,), dtype=np.float32)
    np.put_along_axis(out, y[..., None], 1.0, axis=-1)
    return out
