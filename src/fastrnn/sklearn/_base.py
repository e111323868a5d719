"""Shared machinery of :class:`RNNClassifier` and :class:`RNNRegressor`: hyperparameter checks,
building the fastrnn ``Sequential`` inside ``fit``, training, incremental training and
prediction on any of the accepted input forms."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    _check_sample_weight, check_consistent_length, check_is_fitted,
)

from .. import callbacks, initializers, layers, optimizers
from ..models import Sequential
from ._inputs import RAGGED_PAD, SequenceData, check_sequences
from ._threads import check_n_threads, thread_limit

__all__ = ["BaseRNNEstimator"]

_OPTIMIZERS = {"rmsprop": optimizers.RMSprop, "adam": optimizers.Adam, "sgd": optimizers.SGD,
               "adagrad": optimizers.Adagrad}
_SEED_MAX = 2**31 - 1
_PREDICT_BATCH = 1024


def _is_int(value: Any, minimum: int) -> bool:
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and value >= minimum)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_positive(value: Any) -> bool:
    return _is_real(value) and value > 0


def _is_rate(value: Any, upper_open: bool = False) -> bool:
    if not _is_real(value):
        return False
    return 0.0 <= value < 1.0 if upper_open else 0.0 <= value <= 1.0


class BaseRNNEstimator(BaseEstimator):
    """Hyperparameters and training loop shared by the SimpleRNN estimators.

    Subclasses define ``_encode_y(y, first, classes)``, ``_head()`` (output units,
    activation, loss) and the public prediction methods.
    """

    def __init__(
        self,
        units: int | tuple[int, ...] = 32,
        *,
        bidirectional: bool = False,
        activation: str = "tanh",
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        embedding: tuple[int, int] | None = None,
        mask_value: float | None = None,
        optimizer: str = "rmsprop",
        learning_rate: float = 0.001,
        clipnorm: float | None = None,
        epochs: int = 20,
        batch_size: int = 32,
        validation_split: float = 0.0,
        early_stopping: int | None = None,
        warm_start: bool = False,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
        n_threads: int | None = None,
    ) -> None:
        self.units = units
        self.bidirectional = bidirectional
        self.activation = activation
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.embedding = embedding
        self.mask_value = mask_value
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.clipnorm = clipnorm
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.early_stopping = early_stopping
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.n_threads = n_threads

    # ------------------------------------------------------------------ tags
    def __sklearn_tags__(self):
        """2-D (univariate series) and 3-D (samples, time, features) float input; no NaN."""
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = True
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> tuple[int, ...]:
        """Validate the hyperparameters; return ``units`` as a tuple."""
        units = self.units if isinstance(self.units, (tuple, list)) else (self.units,)
        emb = self.embedding
        opt = self.optimizer
        rules = [
            ("units", bool(units) and all(_is_int(u, 1) for u in units),
             "a positive int or a non-empty tuple of positive ints"),
            ("dropout", _is_rate(self.dropout, upper_open=True), "a float in [0, 1)"),
            ("recurrent_dropout", _is_rate(self.recurrent_dropout, upper_open=True),
             "a float in [0, 1)"),
            ("validation_split", _is_rate(self.validation_split, upper_open=True),
             "a float in [0, 1)"),
            ("epochs", _is_int(self.epochs, 1), "an int >= 1"),
            ("batch_size", _is_int(self.batch_size, 1), "an int >= 1"),
            ("early_stopping", self.early_stopping is None or _is_int(self.early_stopping, 0),
             "None or a patience (an int >= 0)"),
            ("embedding", emb is None or (isinstance(emb, (tuple, list)) and len(emb) == 2
                                          and all(_is_int(v, 1) for v in emb)),
             "None or (input_dim, output_dim), two positive ints"),
            ("optimizer", isinstance(opt, str) and opt.lower() in _OPTIMIZERS,
             f"one of {sorted(_OPTIMIZERS)}"),
            ("learning_rate", _is_positive(self.learning_rate), "a float > 0"),
            ("clipnorm", self.clipnorm is None or _is_positive(self.clipnorm),
             "None or a float > 0"),
            ("mask_value", self.mask_value is None or _is_real(self.mask_value),
             "None or a float"),
        ]
        for name, ok, expected in rules:
            if not ok:
                raise ValueError(
                    f"`{name}` must be {expected}. Received: {name}={getattr(self, name)!r}"
                )
        check_n_threads(self.n_threads)
        return tuple(int(u) for u in units)

    def _pad_value(self) -> float:
        return float(RAGGED_PAD) if self.mask_value is None else float(self.mask_value)

    def _validate_X(self, X: Any, reset: bool) -> SequenceData:
        """Check X; set (``reset``) or compare ``n_features_in_``.

        As everywhere in scikit-learn, 2-D X has ``X.shape[1]`` features (here: the time
        steps of a univariate series, so predict needs the same length); for 3-D X and lists
        ``n_features_in_`` is the number of features per time step and lengths may differ.
        """
        pad = self._pad_value() if reset else self._pad
        ids = self.embedding is not None if reset else self._ids
        data = check_sequences(X, token_ids=ids, pad_value=pad)
        if reset:
            self.n_features_in_ = data.n_features
            self._flat = data.flat
        elif data.flat != self._flat or data.n_features != self.n_features_in_:
            got = f"{data.n_features} features" + ("" if data.flat else " per time step")
            want = f"{self.n_features_in_} features" + ("" if self._flat else " per time step")
            raise ValueError(
                f"X has {got}, but {type(self).__name__} is expecting {want} as input"
                + (" (it was fitted on 2-D X, whose columns are the time steps)."
                   if self._flat else ".")
            )
        return data

    # ------------------------------------------------------------------ model
    def _build_model(self, units: tuple[int, ...], data: SequenceData) -> Sequential:
        """A fresh, compiled ``Sequential`` with seeded weights, dropout and shuffling."""
        rng = check_random_state(self.random_state)
        seed = lambda: int(rng.randint(0, _SEED_MAX))  # noqa: E731
        ids = self.embedding is not None
        self._ids = ids
        self._pad = self._pad_value()
        self._masked = ids or self.mask_value is not None or data.ragged
        if ids:
            init = initializers.RandomUniform(seed=seed())
            stack = [layers.Input(shape=(None,), dtype="int64"),
                     layers.Embedding(*self.embedding, mask_zero=True,
                                      embeddings_initializer=init)]
        else:
            stack = [layers.Input(shape=(None, data.x.shape[2]))]
            if self._masked:
                stack.append(layers.Masking(mask_value=self._pad))
        for i, u in enumerate(units):
            stack.append(self._rnn_layer(u, i < len(units) - 1, seed))
        n_out, act, loss = self._head()
        stack.append(layers.Dense(n_out, activation=act,
                                  kernel_initializer=initializers.GlorotUniform(seed=seed())))
        model = Sequential(stack)
        opt = _OPTIMIZERS[self.optimizer.lower()](
            learning_rate=float(self.learning_rate),
            clipnorm=None if self.clipnorm is None else float(self.clipnorm))
        model.compile(optimizer=opt, loss=loss)
        # fastrnn has no public seed for fit's shuffling: seed its generator directly.
        model._shuffle_rng = np.random.default_rng(seed())
        return model

    def _rnn_layer(self, units: int, sequences: bool, seed: Any) -> Any:
        def rnn(go_backwards: bool) -> Any:
            return layers.SimpleRNN(
                units, activation=self.activation, dropout=float(self.dropout),
                recurrent_dropout=float(self.recurrent_dropout), return_sequences=sequences,
                go_backwards=go_backwards, seed=seed(),
                kernel_initializer=initializers.GlorotUniform(seed=seed()),
                recurrent_initializer=initializers.Orthogonal(seed=seed()))
        if not self.bidirectional:
            return rnn(False)
        return layers.Bidirectional(rnn(False), backward_layer=rnn(True))

    # ------------------------------------------------------------------ training
    def _fit(self, X: Any, y: Any, sample_weight: Any, *, partial: bool,
             classes: Any = None) -> "BaseRNNEstimator":
        units = self._check_params()
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        fitted = hasattr(self, "model_")
        first = not (fitted and (partial or self.warm_start))
        data = self._validate_X(X, reset=first)
        if data.ragged and not first and not self._masked:
            raise ValueError(
                "X is a list of sequences of different lengths, but this model was first fitted "
                "on equal-length arrays, so it has no masking layer to skip the padding. Set "
                "`mask_value`, or fit it first (warm_start=False) on the variable-length list."
            )
        check_consistent_length(data.x, y)
        y_enc = self._encode_y(y, first=first, classes=classes, partial=partial)
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, data.x)
        if first:
            self.model_ = self._build_model(units, data)
            self.history_ = {}
        x, n = data.x, data.x.shape[0]
        fit_kw: dict[str, Any] = {}
        epochs = 1 if partial else int(self.epochs)
        cbs = []
        if self.validation_split and not partial:
            n_val = n - int(np.floor(n * (1.0 - self.validation_split)))
            if n_val < 1 or n_val >= n:
                raise ValueError(
                    f"`validation_split={self.validation_split}` leaves no training or no "
                    f"validation samples for n_samples={n}."
                )
            order = self.model_._shuffle_rng.permutation(n)
            tr, va = order[:-n_val], order[-n_val:]
            fit_kw["validation_data"] = (x[va], y_enc[va]) + (() if sw is None else (sw[va],))
            x, y_enc, sw = x[tr], y_enc[tr], None if sw is None else sw[tr]
        if self.early_stopping is not None and not partial:
            monitor = "val_loss" if "validation_data" in fit_kw else "loss"
            cbs.append(callbacks.EarlyStopping(monitor=monitor, patience=int(self.early_stopping),
                                               restore_best_weights=True))
        with thread_limit(self.n_threads):
            hist = self.model_.fit(x, y_enc, batch_size=int(self.batch_size), epochs=epochs,
                                   verbose=self.verbose, callbacks=cbs, sample_weight=sw,
                                   shuffle=True, **fit_kw)
        for key, values in hist.history.items():
            self.history_.setdefault(key, []).extend(float(v) for v in values)
        return self

    # ------------------------------------------------------------------ prediction
    def _predict_raw(self, X: Any) -> np.ndarray:
        """Model outputs for ``X`` (ragged lists on an unmasked model go length by length)."""
        check_is_fitted(self)
        data = self._validate_X(X, reset=False)
        x = data.x
        with thread_limit(self.n_threads):
            if not data.ragged or self._masked:
                return self.model_.predict(x, batch_size=_PREDICT_BATCH, verbose=0)
            out = None
            for length in np.unique(data.lengths):
                idx = np.flatnonzero(data.lengths == length)
                part = self.model_.predict(x[idx, :length], batch_size=_PREDICT_BATCH, verbose=0)
                if out is None:
                    out = np.empty((x.shape[0],) + part.shape[1:], dtype=part.dtype)
                out[idx] = part
            return out

    # ------------------------------------------------------------------ hooks
    def _encode_y(self, y: Any, first: bool, classes: Any, partial: bool) -> np.ndarray:
        raise NotImplementedError

    def _head(self) -> tuple[int, str, str]:
        raise NotImplementedError
