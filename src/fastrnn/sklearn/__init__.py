"""scikit-learn estimators built on fastrnn: ``RNNClassifier``, ``RNNRegressor`` and the
``SequenceScaler`` transformer.

Input is ordered **(samples, time, features)** as in Keras (not sktime's
(samples, channels, time)); 2-D float input is a univariate series and lists of sequences of
different lengths are padded and masked internally.
"""

from __future__ import annotations

from .classifier import RNNClassifier
from .regressor import RNNRegressor
from .scaler import SequenceScaler

__all__ = ["RNNClassifier", "RNNRegressor", "SequenceScaler"]
