"""Input checks and batching for ``Sequential.fit/evaluate/predict`` (Keras array semantics).

Nothing here modifies the caller's arrays: conversions make new arrays only when the dtype or
memory layout has to change, and batches are slices or ``np.take`` gathers.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "as_array", "check_cardinality", "class_weight_to_sample_weights", "split_validation",
    "unpack_validation_data", "batch_indices", "resolve_batch_size", "resolve_verbose",
    "EpochBatches", "take",
]


def as_array(value: Any, arg: str, allow_none: bool = False) -> np.ndarray | None:
    """``value`` as a NumPy array (no copy when it already is one); lists of arrays of equal
    shape are stacked. ``None`` is allowed only when ``allow_none``."""
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"`{arg}` must be an array. Received: {arg}=None")
    if isinstance(value, np.ndarray):
        arr = value
    else:
        if isinstance(value, dict):
            raise TypeError(
                f"`{arg}` must be a NumPy array (fastrnn models have one input and one output). "
                f"Received: a dict with keys {sorted(value)}"
            )
        if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensors
            value = value.detach().cpu().numpy()
        try:
            arr = np.asarray(value)
        except ValueError as exc:
            raise ValueError(
                f"`{arg}` must be a rectangular array (pad sequences to one length, e.g. with "
                f"fastrnn.preprocessing.sequence.pad_sequences). Received: {type(value).__name__} "
                f"({exc})"
            ) from None
    if arr.dtype == object:
        raise TypeError(
            f"`{arg}` must be a numeric array. Received: an array of dtype=object with shape "
            f"{arr.shape} (ragged sequences? pad them first)"
        )
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"`{arg}` must be numeric. Received: dtype={arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"`{arg}` must have a batch dimension. Received: a scalar {arr!r}")
    return arr


def check_cardinality(**arrays: np.ndarray | None) -> int:
    """The common number of samples of the arrays given (``None`` ignored); Keras's error if
    they differ; ValueError for empty data."""
    sizes = {name: int(a.shape[0]) for name, a in arrays.items() if a is not None}
    if len(set(sizes.values())) > 1:
        detail = "\n".join(f"'{name}' sizes: {n}" for name, n in sizes.items())
        raise ValueError(
            "Data cardinality is ambiguous. Make sure all arrays contain the same number of "
            f"samples. Received:\n{detail}"
        )
    n = next(iter(sizes.values()))
    if n == 0:
        raise ValueError(
            "Expected at least one sample. Received: empty input "
            + ", ".join(f"{name}.shape={a.shape}" for name, a in arrays.items() if a is not None)
        )
    return n


def class_weight_to_sample_weights(y: np.ndarray, class_weight: dict) -> np.ndarray:
    """Keras's conversion: one weight per sample from its class (argmax of one-hot rows,
    else the rounded label); classes missing from the dict get 1.0."""
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"`class_weight` must be a dict mapping class ids to weights. "
            f"Received: {type(class_weight).__name__}"
        )
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = np.argmax(labels, axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
    if labels.ndim != 1:
        raise ValueError(
            "`class_weight` needs one label per sample (y of shape (N,), (N, 1) or one-hot "
            f"(N, classes)). Received: y.shape={np.shape(y)}"
        )
    labels = np.round(labels).astype(np.int64)
    weights = np.ones(labels.shape[0], dtype=np.float32)
    for cls, w in class_weight.items():
        weights[labels == int(cls)] = float(w)
    return weights


def split_validation(arrays: list, validation_split: float) -> tuple[list, list]:
    """Keras ``train_validation_split``: the LAST ``N - floor(N * (1 - split))`` samples,
    taken before any shuffling. Views, no copies."""
    if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)):
        raise TypeError(
            f"`validation_split` must be a float in [0, 1). Received: {validation_split!r}"
        )
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split}"
        )
    n = next(a for a in arrays if a is not None).shape[0]
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"Training data contains {split_at} samples, which is not sufficient to split it "
            "into a validation and training set as specified by "
            f"`validation_split={validation_split}`. "
            "Either provide more data, or a different value for the `validation_split` argument."
        )
    train = [None if a is None else a[:split_at] for a in arrays]
    val = [None if a is None else a[split_at:] for a in arrays]
    return train, val


def unpack_validation_data(validation_data: Any) -> tuple:
    """``(x, y)`` or ``(x, y, sample_weight)`` -> a 3-tuple; anything else is a ValueError."""
    if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3):
        x, y = validation_data[0], validation_data[1]
        sw = validation_data[2] if len(validation_data) == 3 else None
        return x, y, sw
    raise ValueError(
        "`validation_data` must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight). "
        f"Received: {type(validation_data).__name__}"
        + (f" of length {len(validation_data)}" if hasattr(validation_data, "__len__") else "")
    )


def resolve_batch_size(batch_size: Any, arg: str = "batch_size") -> int:
    """``None`` -> 32 (Keras's default); otherwise a positive int."""
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"`{arg}` must be a positive int or None. Received: {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"`{arg}` must be a positive int or None. Received: {arg}={batch_size}")
    return int(batch_size)


def resolve_verbose(verbose: Any) -> int:
    """``"auto"`` -> 1; 0, 1 or 2 pass through."""
    if verbose == "auto":
        return 1
    if isinstance(verbose, bool) or verbose not in (0, 1, 2):
        raise ValueError(f"`verbose` must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}")
    return int(verbose)


def batch_indices(n: int, batch_size: int, shuffle: Any, rng: np.random.Generator | None,
                  steps: int | None = None) -> Iterator[Any]:
    """Yield per-batch selectors: ``slice`` objects in order, or index arrays of one fresh
    permutation (``shuffle=True``). The last partial batch is kept; ``steps`` caps the count."""
    total = math.ceil(n / batch_size)
    if steps is not None:
        total = min(total, steps)
    if shuffle and shuffle != "batch":
        perm = rng.permutation(n)
        for i in range(total):
            yield perm[i * batch_size:(i + 1) * batch_size]
    elif shuffle == "batch":
        order = rng.permutation(total)
        for i in order:
            yield slice(i * batch_size, min((i + 1) * batch_size, n))
    else:
        for i in range(total):
            yield slice(i * batch_size, min((i + 1) * batch_size, n))


def take(a: np.ndarray | None, sel: Any) -> np.ndarray | None:
    """Rows ``sel`` (a slice: a view; an index array: one gather) of ``a``; None stays None."""
    if a is None:
        return None
    return a[sel] if isinstance(sel, slice) else np.take(a, sel, axis=0)


class EpochBatches:
    """Keras's EpochIterator on arrays: a fresh (re)shuffled pass per epoch; with
    ``steps_per_epoch`` the pass continues across epochs until it is used up, and an epoch
    asking for more batches than are left stops early with Keras's warning."""

    def __init__(self, n: int, batch_size: int, shuffle: Any, rng: np.random.Generator,
                 steps_per_epoch: int | None) -> None:
        self.n, self.batch_size, self.shuffle, self.rng = n, batch_size, shuffle, rng
        self.steps_per_epoch = steps_per_epoch
        self.total = math.ceil(n / batch_size)
        self._it = None
        self._seen = 0

    def epoch(self):
        """Yield ``(step, selector)`` for one epoch."""
        if self.steps_per_epoch is None:
            yield from enumerate(batch_indices(self.n, self.batch_size, self.shuffle, self.rng))
            return
        if self._it is None:
            self._it = batch_indices(self.n, self.batch_size, self.shuffle, self.rng)
            self._seen = 0
        for step in range(self.steps_per_epoch):
            if self._seen >= self.total:
                warnings.warn(
                    "Your input ran out of data; interrupting training. Make sure that your "
                    "dataset or generator can generate at least `steps_per_epoch * epochs` "
                    "batches.", stacklevel=3)
                break
            self._seen += 1
            yield step, next(self._it)
        if self._seen >= self.total:
            self._it = None
