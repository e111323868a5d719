"""``SequenceScaler``: standardize each feature over all samples and time steps."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from ._inputs import is_ragged

__all__ = ["SequenceScaler"]


def _as_steps(X: Any) -> tuple[list[np.ndarray], str]:
    """Split X into ``(T_i, F)`` float arrays; the kind says how to rebuild the output."""
    if is_ragged(X):
        seqs = []
        for i, x in enumerate(X):
            a = check_array(x, ensure_2d=False, dtype=[np.float64, np.float32],
                            input_name=f"X[{i}]")
            if a.ndim > 2:
                raise ValueError(f"Each sequence in a list X must be (T,) or (T, F). "
                                 f"Received: X[{i}] with shape {a.shape}")
            seqs.append(a.reshape(len(a), -1))
        return seqs, "list1d" if np.ndim(X[0]) == 1 else "list"
    arr = check_array(X, allow_nd=True, dtype=[np.float64, np.float32], input_name="X")
    if arr.ndim > 3:
        raise ValueError("X must be 2-D (samples, time) or 3-D (samples, time, features). "
                         f"Received: X with shape {arr.shape}")
    kind = "2d" if arr.ndim == 2 else "3d"
    return [arr.reshape(arr.shape[0], arr.shape[1], -1)], kind


class SequenceScaler(TransformerMixin, BaseEstimator):
    """Standardize each feature of sequences over all samples **and** time steps.

    X is ``(samples, time, features)`` (Keras's order, not sktime's (samples, channels,
    time)), a 2-D ``(samples, time)`` univariate series (one mean and scale for all columns;
    as in scikit-learn, ``n_features_in_`` is then the number of columns), or a list of
    ``(T_i, F)`` arrays of different lengths; ``transform`` returns the same form. Time steps
    whose features all equal ``mask_value`` are padding: they are ignored by ``fit`` and left
    unchanged by ``transform``, so a downstream ``RNNClassifier(mask_value=...)`` still masks
    them.

    Args:
        mask_value: None (every step is data) or the padding value (e.g. ``0.0``).
        with_mean: subtract the per-feature mean.
        with_std: divide by the per-feature standard deviation (1 where it is 0).

    Attributes:
        mean_: per-feature mean ``(F,)``.
        scale_: per-feature standard deviation ``(F,)`` (1 where constant).
        n_features_in_: features per time step (columns for 2-D X).
    """

    def __init__(self, *, mask_value: float | None = None, with_mean: bool = True,
                 with_std: bool = True) -> None:
        self.mask_value = mask_value
        self.with_mean = with_mean
        self.with_std = with_std

    def __sklearn_tags__(self):
        """2-D and 3-D float input, no NaN; float32 and float64 kept."""
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _valid(self, block: np.ndarray) -> np.ndarray:
        """``block.shape[:-1]`` bool: steps that are data (not padding)."""
        if self.mask_value is None:
            return np.ones(block.shape[:-1], dtype=bool)
        return np.any(block != self.mask_value, axis=-1)

    def fit(self, X: Any, y: Any = None) -> "SequenceScaler":
        """Compute per-feature mean and standard deviation over the non-padding steps."""
        if self.mask_value is not None and (isinstance(self.mask_value, bool) or not isinstance(
                self.mask_value, numbers.Real)):
            raise ValueError(
                f"`mask_value` must be None or a float. Received: mask_value={self.mask_value!r}"
            )
        blocks, kind = _as_steps(X)
        widths = {b.shape[-1] for b in blocks}
        if len(widths) > 1:
            raise ValueError(f"All sequences must have the same number of features. "
                             f"Received: feature counts {sorted(widths)}")
        rows = np.concatenate([b[self._valid(b)].astype(np.float64) for b in blocks])
        if rows.shape[0] == 0:
            raise ValueError("X has no time steps that are not padding (all equal mask_value="
                             f"{self.mask_value!r}).")
        # scikit-learn counts the columns of 2-D X as its features (here: time steps).
        self._flat = kind == "2d"
        self.n_features_in_ = blocks[0].shape[1] if self._flat else rows.shape[1]
        self.mean_ = rows.mean(axis=0) if self.with_mean else np.zeros(rows.shape[1])
        std = rows.std(axis=0) if self.with_std else np.ones(rows.shape[1])
        tiny = 10 * np.finfo(np.float64).eps * np.abs(self.mean_) + 1e-300
        self.scale_ = np.where(std > tiny, std, 1.0)
        return self

    def _apply(self, X: Any, forward: bool) -> Any:
        check_is_fitted(self)
        blocks, kind = _as_steps(X)
        flat = kind == "2d"
        got = blocks[0].shape[1] if flat else blocks[0].shape[-1]
        if flat != self._flat or got != self.n_features_in_:
            raise ValueError(
                f"X has {got} features{'' if flat else ' per time step'}, but "
                f"{type(self).__name__} is expecting {self.n_features_in_} features"
                f"{'' if self._flat else ' per time step'} as input.")
        out = []
        for b in blocks:
            mean, scale = self.mean_.astype(b.dtype), self.scale_.astype(b.dtype)
            new = (b - mean) / scale if forward else b * scale + mean
            if self.mask_value is not None:
                keep = self._valid(b)[..., None]
                new = np.where(keep, new, b)
            out.append(new)
        if kind == "3d":
            return out[0]
        if kind == "2d":
            return out[0][..., 0]
        return [o[:, 0] for o in out] if kind == "list1d" else out

    def transform(self, X: Any) -> Any:
        """Standardized copy of X, in the same form (array or list) as given."""
        return self._apply(X, forward=True)

    def inverse_transform(self, X: Any) -> Any:
        """Undo ``transform`` (padding steps are left unchanged)."""
        return self._apply(X, forward=False)
