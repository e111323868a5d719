"""``RNNClassifier``: a SimpleRNN sequence classifier with the scikit-learn API."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import _check_partial_fit_first_call, check_classification_targets
from sklearn.utils.validation import column_or_1d

from ._base import BaseRNNEstimator

__all__ = ["RNNClassifier"]


class RNNClassifier(ClassifierMixin, BaseRNNEstimator):
    """Sequence classifier: (Embedding |) SimpleRNN stack, then a sigmoid (two classes) or
    softmax (more) Dense head, trained by a fastrnn ``Sequential`` built in ``fit``.

    X is ordered **(samples, time, features)** as in Keras, *not* sktime's
    (samples, channels, time):

    - 3-D ``(n, T, F)`` floats are used as they are;
    - 2-D ``(n, T)`` floats are a univariate series, read as ``(n, T, 1)``;
    - 2-D ``(n, T)`` integers with ``embedding=(input_dim, output_dim)`` are token ids (id 0 is
      padding and is masked);
    - a list of ``(T_i, F)`` (or ``(T_i,)``) arrays of different lengths is padded at the end
      and masked internally.

    ``n_features_in_`` is the number of features per time step for 3-D X and lists (the
    number of steps may then differ at predict time); for 2-D X it is, as everywhere in
    scikit-learn, ``X.shape[1]`` (the time steps), and predict needs the same width.

    Args:
        units: units of the SimpleRNN, or a tuple for stacked layers (e.g. ``(32, 16)``).
        bidirectional: wrap each SimpleRNN in ``Bidirectional`` (concatenated outputs).
        activation: SimpleRNN activation (``"tanh"``, ``"relu"``, ``"linear"``...).
        dropout: input dropout rate of each SimpleRNN, in [0, 1).
        recurrent_dropout: recurrent-state dropout rate, in [0, 1).
        embedding: None, or ``(input_dim, output_dim)`` for token-id input.
        mask_value: None, or a value whose all-equal time steps are padding (a ``Masking``
            layer), e.g. ``0.0`` for zero-padded arrays.
        optimizer: ``"rmsprop"``, ``"adam"``, ``"sgd"`` or ``"adagrad"``.
        learning_rate: optimizer learning rate.
        clipnorm: None, or the per-variable gradient norm limit.
        epochs: training epochs of ``fit`` (``partial_fit`` makes one pass).
        batch_size: mini-batch size.
        validation_split: fraction of the (shuffled) training data held out to compute
            ``val_loss``, used by ``early_stopping``.
        early_stopping: None, or the patience in epochs (monitoring ``val_loss`` when
            ``validation_split > 0``, else ``loss``); the best weights are restored.
        warm_start: ``fit`` continues training the existing model instead of a fresh one.
        random_state: seeds the weights, dropout masks, shuffling and validation split;
            the same int gives identical predictions.
        verbose: 0 silent, 1 progress bar, 2 one line per epoch.
        n_threads: C++ threads used by ``fit``/``predict`` (None: ``fastrnn.get_num_threads()``);
            set it to ``cores // n_jobs`` under ``GridSearchCV(n_jobs=...)``.

    Attributes:
        model_: the trained ``fastrnn.models.Sequential``.
        history_: dict of per-epoch ``loss`` (and ``val_loss``) values.
        classes_: the class labels, sorted.
        n_features_in_: features per time step (columns for 2-D X).
    """

    def __sklearn_tags__(self):
        """Classifier tags on top of the sequence input tags."""
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        return tags

    # ------------------------------------------------------------------ targets
    def _head(self) -> tuple[int, str, str]:
        if len(self.classes_) == 2:
            return 1, "sigmoid", "binary_crossentropy"
        return len(self.classes_), "softmax", "sparse_categorical_crossentropy"

    def _encode_y(self, y: Any, first: bool, classes: Any, partial: bool) -> np.ndarray:
        check_classification_targets(y)
        y = column_or_1d(y, warn=True)
        if partial:
            _check_partial_fit_first_call(self, classes)
        elif first:
            self.classes_ = np.unique(y)
        else:  # warm start
            new = np.unique(y)
            if not np.isin(new, self.classes_).all():
                raise ValueError(
                    "warm_start can only be used where `y` has the same classes as in the "
                    f"previous call to fit. Previously got {self.classes_}, `y` has {new}"
                )
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the data, but "
                f"the data contain only one class: {self.classes_[0]!r}"
            )
        idx = np.searchsorted(self.classes_, y)
        idx_clipped = np.minimum(idx, len(self.classes_) - 1)
        unseen = self.classes_[idx_clipped] != y
        if unseen.any():
            raise ValueError(
                f"Expected only labels in classes_ = {self.classes_}, but got "
                f"{np.unique(y[unseen])}"
            )
        if len(self.classes_) == 2:
            return idx.astype(np.float32)[:, None]
        return idx.astype(np.int64)

    # ------------------------------------------------------------------ API
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "RNNClassifier":
        """Build (unless ``warm_start``) and train the model; returns ``self``.

        Args:
            X: sequences (see the class docstring for the accepted forms).
            y: class labels of any type (strings, ints), one per sample.
            sample_weight: optional per-sample loss weights.
        """
        return self._fit(X, y, sample_weight, partial=False)

    def partial_fit(self, X: Any, y: Any, classes: Any = None,
                    sample_weight: Any = None) -> "RNNClassifier":
        """One pass (one epoch) over ``(X, y)``; ``classes`` (every label) is required on the
        first call. Returns ``self``."""
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, ``(n_samples, n_classes)`` in ``classes_`` order."""
        p = np.asarray(self._predict_raw(X), dtype=np.float64)
        if p.shape[1] == 1:
            p = np.hstack([1.0 - p, p])
        return p

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each sample (values from ``classes_``)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
