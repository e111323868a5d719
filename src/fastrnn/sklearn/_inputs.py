"""Input validation for the sequence estimators: arrays, univariate series, token ids and
variable-length lists, turned into the arrays a fastrnn model takes.

The layout is always Keras's **(samples, time, features)**, not sktime's
(samples, channels, time).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_array

__all__ = ["SequenceData", "check_sequences", "is_ragged", "pad_ragged"]

#: Value that fills the padded steps of variable-length lists when no ``mask_value`` is set:
#: far outside any real data, and masked (then zeroed) by the model's ``Masking`` layer.
RAGGED_PAD = np.float32(-3.0e38)


class SequenceData:
    """Validated input: ``x`` is ``(n, T, F)`` float32 or ``(n, T)`` int64 token ids;
    ``lengths`` holds each sample's real length when the input was a ragged list;
    ``flat`` is True for a 2-D array input, whose columns (time steps) scikit-learn counts as
    its features; ``n_features`` is that count for 2-D input, else features per step."""

    __slots__ = ("x", "lengths", "n_features", "flat")

    def __init__(self, x: np.ndarray, lengths: np.ndarray | None, n_features: int,
                 flat: bool = False) -> None:
        self.x = x
        self.lengths = lengths
        self.n_features = n_features
        self.flat = flat

    @property
    def ragged(self) -> bool:
        """Whether the input was a list of sequences of different lengths."""
        return self.lengths is not None


def is_ragged(X: Any) -> bool:
    """True for a list/tuple of array-likes whose lengths differ (a variable-length batch)."""
    if not isinstance(X, (list, tuple)) or len(X) < 2:
        return False
    try:
        lengths = {len(x) for x in X}
    except TypeError:
        return False
    return len(lengths) > 1


def _check_ids(x: np.ndarray, name: str) -> np.ndarray:
    """Whole, non-negative numbers as int64 token ids."""
    if np.issubdtype(x.dtype, np.floating):
        if not np.all(np.mod(x, 1) == 0):
            raise ValueError(
                f"With `embedding` set, {name} must hold integer token ids. Received: "
                f"non-integer values of dtype {x.dtype}"
            )
    x = x.astype(np.int64)
    if x.size and x.min() < 0:
        raise ValueError(
            f"Token ids in {name} must be >= 0 (0 is padding). Received: min={int(x.min())}"
        )
    return x


def _one(x: Any, name: str, token_ids: bool) -> np.ndarray:
    """Validate one sample of a ragged list: ``(T,)`` or ``(T, F)``."""
    arr = check_array(x, ensure_2d=False, allow_nd=True, dtype="numeric", input_name=name,
                      ensure_min_samples=1)
    max_ndim = 1 if token_ids else 2
    if arr.ndim > max_ndim:
        raise ValueError(
            f"Each sequence in a list X must be {'(T,)' if token_ids else '(T,) or (T, F)'}. "
            f"Received: {name} with shape {arr.shape}"
        )
    if token_ids:
        return _check_ids(arr, name)
    return arr.reshape(len(arr), -1).astype(np.float32)


def pad_ragged(seqs: list[np.ndarray], pad_value: float) -> np.ndarray:
    """Post-pad ``(T_i, F)`` float or ``(T_i,)`` id arrays to one ``(n, T_max, ...)`` array."""
    t_max = max(len(s) for s in seqs)
    out = np.full((len(seqs), t_max) + seqs[0].shape[1:], pad_value, dtype=seqs[0].dtype)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out


def check_sequences(X: Any, *, token_ids: bool, pad_value: float) -> SequenceData:
    """Validate ``X`` with scikit-learn's checks and messages and return model input.

    Args:
        X: ``(n, T, F)`` floats; ``(n, T)`` floats (a univariate series, read as
            ``(n, T, 1)``) or token ids when ``token_ids``; or a list of ``(T_i, F)`` /
            ``(T_i,)`` arrays of different lengths, padded at the end with ``pad_value``
            (0 for token ids).
        token_ids: the model starts with an Embedding (X holds integer ids).
        pad_value: fill value of padded steps of a ragged list of float sequences.

    Raises:
        ValueError: 1-D X, NaN/inf, empty X, more than 3 dimensions, mixed feature counts,
            non-integer or negative token ids, 3-D X with token ids.
    """
    if is_ragged(X):
        seqs = [_one(x, f"X[{i}]", token_ids) for i, x in enumerate(X)]
        if not token_ids:
            widths = sorted({s.shape[1] for s in seqs})
            if len(widths) > 1:
                raise ValueError(
                    "All sequences in a list X must have the same number of features. "
                    f"Received: feature counts {widths}"
                )
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        x = pad_ragged(seqs, 0 if token_ids else pad_value)
        return SequenceData(x, lengths, 1 if token_ids else x.shape[2])
    arr = check_array(X, allow_nd=True, dtype="numeric", input_name="X")
    if arr.ndim > 3:
        raise ValueError(
            "X must be 2-D (samples, time) or 3-D (samples, time, features). "
            f"Received: X with shape {arr.shape}"
        )
    if token_ids:
        if arr.ndim != 2:
            raise ValueError(
                "With `embedding` set, X must be 2-D token ids (samples, time). "
                f"Received: X with shape {arr.shape}"
            )
        return SequenceData(_check_ids(arr, "X"), None, arr.shape[1], flat=True)
    x = arr.astype(np.float32)
    if x.ndim == 2:
        return SequenceData(np.ascontiguousarray(x[:, :, None]), None, x.shape[1], flat=True)
    return SequenceData(np.ascontiguousarray(x), None, x.shape[2])
