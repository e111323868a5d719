"""``RNNRegressor``: a SimpleRNN sequence regressor with the scikit-learn API."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_array

from ._base import BaseRNNEstimator

__all__ = ["RNNRegressor"]


class RNNRegressor(RegressorMixin, BaseRNNEstimator):
    """Sequence regressor: (Embedding |) SimpleRNN stack, then a linear Dense head with one
    unit per target, trained with mean squared error on standardized targets (predictions are
    mapped back to the original scale).

    X is ordered **(samples, time, features)** as in Keras, *not* sktime's
    (samples, channels, time); the accepted forms, the hyperparameters and the learned
    attributes are those of :class:`fastrnn.sklearn.RNNClassifier` (no ``classes_``).
    ``y`` is 1-D ``(n,)`` (``predict`` returns ``(n,)``) or 2-D ``(n, k)`` for ``k`` outputs.

    Attributes:
        model_: the trained ``fastrnn.models.Sequential``.
        history_: dict of per-epoch ``loss`` (and ``val_loss``) values (standardized scale).
        n_features_in_: features per time step (columns for 2-D X).
        n_outputs_: number of targets.
    """

    def __sklearn_tags__(self):
        """Regressor tags on top of the sequence input tags; multi-output targets allowed."""
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _head(self) -> tuple[int, str, str]:
        return self.n_outputs_, "linear", "mean_squared_error"

    def _encode_y(self, y: Any, first: bool, classes: Any, partial: bool) -> np.ndarray:
        y = check_array(y, ensure_2d=False, dtype="numeric", input_name="y")
        if y.ndim > 2 or y.ndim == 0:
            raise ValueError(f"y must be 1-D (n,) or 2-D (n, k). Received: y with shape {y.shape}")
        y2 = y.reshape(len(y), -1).astype(np.float64)
        if first:
            self._y_ndim = y.ndim
            self.n_outputs_ = y2.shape[1]
            self._y_mean = y2.mean(axis=0)
            std = y2.std(axis=0)
            self._y_scale = np.where(std > 0, std, 1.0)
        elif y2.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {y2.shape[1]} targets, but {type(self).__name__} was fitted with "
                f"{self.n_outputs_}. Received: y with shape {y.shape}"
            )
        return ((y2 - self._y_mean) / self._y_scale).astype(np.float32)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "RNNRegressor":
        """Build (unless ``warm_start``) and train the model; returns ``self``."""
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> "RNNRegressor":
        """One pass (one epoch) over ``(X, y)``; the first call fixes the target scaling.
        Returns ``self``."""
        return self._fit(X, y, sample_weight, partial=True)

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets: ``(n,)`` when fitted on 1-D y, else ``(n, k)``."""
        out = np.asarray(self._predict_raw(X), dtype=np.float64) * self._y_scale + self._y_mean
        return out.ravel() if self._y_ndim == 1 else out
