"""Stateful metrics with Keras's names and accumulation rules.

Every metric keeps a weighted running mean: ``update_state`` adds a batch, ``result()`` returns
``total / count`` (0.0 when nothing was counted), ``reset_state()`` clears it. As in Keras's
``Mean``, each sample's value is the mean over its non-batch axes, ``count`` grows by the number
of samples (or the sum of the per-sample mean weights). A ``mask`` (shape ``y_pred.shape[:-1]``,
True = valid) acts as a 0/1 weight, so sequence metrics average over valid steps only.

The running loss in ``fit`` is ``Mean(name="loss")`` updated with
``update_state(batch_loss, sample_weight=batch_size)``, as Keras's loss tracker.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import losses as _losses

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "MeanSquaredError", "MeanAbsoluteError", "BinaryCrossentropy",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "binary_accuracy",
    "categorical_accuracy", "sparse_categorical_accuracy", "get", "serialize", "deserialize",
]


def _same_rank(x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras's squeeze_or_expand_to_same_rank: fix a rank difference of 1 with a unit last axis."""
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1:
            x2 = x2[:, None]
        else:
            x1 = x1[..., 0]
    elif x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1:
            x1 = x1[:, None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _expand(a: np.ndarray, ndim: int) -> np.ndarray:
    """Append unit axes so ``a`` has at least ``ndim`` axes (weights broadcast over time)."""
    return a.reshape(a.shape + (1,) * (ndim - a.ndim)) if a.ndim < ndim else a


def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """Elementwise ``y_true == (y_pred > threshold)`` as float32 (strict ``>``: 0.5 is class 0)."""
    y_true, y_pred = _same_rank(np.asarray(y_true), np.asarray(y_pred))
    return (y_true == (y_pred > threshold).astype(y_true.dtype)).astype(np.float32)


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """``argmax(y_true) == argmax(y_pred)`` over the last axis, as float32."""
    return (np.argmax(y_true, axis=-1) == np.argmax(y_pred, axis=-1)).astype(np.float32)


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """``y_true == argmax(y_pred)`` for integer class ids ``y_true``, as float32."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    matches = (y_true == np.argmax(y_pred, axis=-1)).astype(np.float32)
    return matches[..., 0] if matches.ndim > 1 and matches.shape[-1] == 1 else matches


class Metric:
    """Base class: a weighted running mean of per-sample values."""

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        self.name = name or type(self).__name__.lower()
        self.dtype = dtype
        self.reset_state()

    def reset_state(self) -> None:
        """Forget every update."""
        self.total = 0.0
        self.count = 0.0

    def _accumulate(self, values, sample_weight=None, mask=None) -> None:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim == 0:
            w = 1.0 if sample_weight is None else float(np.sum(sample_weight))
            self.total += float(values) * w
            self.count += w
            return
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.ndim == 0:
                w = np.full(values.shape[:1], float(w))
        if mask is not None:
            m = np.asarray(mask, dtype=np.float64)
            w = m if w is None else _expand(w, m.ndim) * m
        if w is None:
            self.total += float(values.reshape(values.shape[0], -1).mean(axis=1).sum())
            self.count += values.shape[0]
            return
        if w.ndim == values.ndim + 1 and w.shape[-1] == 1:
            w = w[..., 0]
        if values.ndim > w.ndim:  # reduce values to the weights' rank
            values = values.mean(axis=tuple(range(w.ndim, values.ndim)))
        try:
            w = np.broadcast_to(_expand(w, values.ndim), values.shape)
        except ValueError:
            raise ValueError(
                f"{self.name}: sample_weight/mask of shape {np.shape(sample_weight)}/"
                f"{np.shape(mask)} does not match values of shape {values.shape}"
            ) from None
        n = values.shape[0]
        self.total += float((values * w).reshape(n, -1).mean(axis=1).sum())
        self.count += float(w.reshape(n, -1).mean(axis=1).sum())

    def result(self) -> float:
        """The current value: ``total / count`` (0.0 before any update)."""
        return self.total / self.count if self.count else 0.0

    def get_config(self) -> dict:
        """Constructor arguments."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        """Rebuild from ``get_config()``."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} result={self.result():.6g}>"


class Mean(Metric):
    """Weighted mean of the values passed to ``update_state(values, sample_weight=None)``."""

    def __init__(self, name: str = "mean", dtype: Any = None) -> None:
        super().__init__(name=name, dtype=dtype)

    def update_state(self, values, sample_weight=None, mask=None) -> None:
        """Add ``values`` (scalar or per-sample array) with optional weights."""
        self._accumulate(values, sample_weight, mask)


class MeanMetricWrapper(Metric):
    """Mean of ``fn(y_true, y_pred)`` over every update (Keras's MeanMetricWrapper)."""

    def __init__(self, fn: Callable, name: str | None = None, dtype: Any = None, **fn_kwargs) -> None:
        self._fn = fn
        self._fn_kwargs = fn_kwargs
        super().__init__(name=name or getattr(fn, "__name__", "metric"), dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        """Add one batch; ``mask`` (``y_pred.shape[:-1]``) excludes padded steps."""
        self._accumulate(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight, mask)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._fn_kwargs}


def _wrapper(fn: Callable, default_name: str, doc: str, **defaults) -> type[MeanMetricWrapper]:
    params = dict(defaults)

    def __init__(self, name: str = default_name, dtype: Any = None, **kwargs) -> None:
        unknown = set(kwargs) - set(params)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected arguments {sorted(unknown)}")
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **{**params, **kwargs})

    return type(default_name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc})


BinaryAccuracy = _wrapper(binary_accuracy, "binary_accuracy",
                          "Share of ``y_true == (y_pred > threshold)``; threshold 0.5, strict.",
                          threshold=0.5)
CategoricalAccuracy = _wrapper(categorical_accuracy, "categorical_accuracy",
                               "Share of samples whose argmax matches the one-hot label.")
SparseCategoricalAccuracy = _wrapper(sparse_categorical_accuracy, "sparse_categorical_accuracy",
                                     "Share of samples whose argmax equals the integer label.")
MeanSquaredError = _wrapper(_losses.mean_squared_error, "mean_squared_error",
                            "Mean of squared errors.")
MeanAbsoluteError = _wrapper(_losses.mean_absolute_error, "mean_absolute_error",
                             "Mean of absolute errors.")
BinaryCrossentropy = _wrapper(_losses.binary_crossentropy, "binary_crossentropy",
                              "Mean binary cross-entropy.", from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = _wrapper(_losses.categorical_crossentropy, "categorical_crossentropy",
                                   "Mean categorical cross-entropy.", from_logits=False,
                                   label_smoothing=0.0)
SparseCategoricalCrossentropy = _wrapper(_losses.sparse_categorical_crossentropy,
                                         "sparse_categorical_crossentropy",
                                         "Mean sparse categorical cross-entropy.", from_logits=False)
for _cls, _name in [(BinaryAccuracy, "BinaryAccuracy"), (CategoricalAccuracy, "CategoricalAccuracy"),
                    (SparseCategoricalAccuracy, "SparseCategoricalAccuracy"),
                    (MeanSquaredError, "MeanSquaredError"), (MeanAbsoluteError, "MeanAbsoluteError"),
                    (BinaryCrossentropy, "BinaryCrossentropy"),
                    (CategoricalCrossentropy, "CategoricalCrossentropy"),
                    (SparseCategoricalCrossentropy, "SparseCategoricalCrossentropy")]:
    _cls.__name__ = _cls.__qualname__ = _name

_CLASSES: dict[str, type[Metric]] = {c.__name__: c for c in (
    Mean, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, MeanSquaredError,
    MeanAbsoluteError, BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy)}
_NAMES: dict[str, type[Metric]] = {
    **_CLASSES,
    "mean": Mean, "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError, "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
    "binary_crossentropy": BinaryCrossentropy, "bce": BinaryCrossentropy,
    "BCE": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_FUNCTIONS = {binary_accuracy: BinaryAccuracy, categorical_accuracy: CategoricalAccuracy,
              sparse_categorical_accuracy: SparseCategoricalAccuracy}


def _accuracy_class(loss, y_pred_shape, y_true_shape) -> type[Metric]:
    """Keras's rule (compile_utils.is_binary_or_sparse_categorical), else guess from the loss."""
    if y_pred_shape is not None and y_true_shape is not None:
        if y_pred_shape[-1] == 1:
            return BinaryAccuracy
        if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
            return SparseCategoricalAccuracy
        return CategoricalAccuracy
    if y_pred_shape is not None and y_pred_shape[-1] == 1:
        return BinaryAccuracy
    loss_obj = None
    if loss is not None:
        try:
            loss_obj = _losses.get(loss)
        except ValueError:  # "ce" without shapes, unknown names
            loss_obj = None
    by_loss = {_losses.BinaryCrossentropy: BinaryAccuracy,
               _losses.SparseCategoricalCrossentropy: SparseCategoricalAccuracy,
               _losses.CategoricalCrossentropy: CategoricalAccuracy}
    if type(loss_obj) in by_loss:
        return by_loss[type(loss_obj)]
    raise ValueError(
        '"accuracy"/"acc" needs y_pred_shape and y_true_shape (or a cross-entropy loss) to pick '
        f"binary, sparse or categorical accuracy. Received: y_pred_shape={y_pred_shape}, "
        f"y_true_shape={y_true_shape}, loss={loss!r}"
    )


def get(identifier: Any, loss: Any = None, y_pred_shape: tuple | None = None,
        y_true_shape: tuple | None = None) -> Metric:
    """Resolve a metric the way ``Model.compile`` does, keeping the name the user gave.

    ``"acc"``/``"accuracy"`` (any case) -> BinaryAccuracy when ``y_pred_shape[-1] == 1``,
    SparseCategoricalAccuracy when y_true has lower rank (or last dim 1 vs > 1), else
    CategoricalAccuracy (Keras 3.15 ``compile_utils.get_metric``). Without shapes the loss decides.
    """
    if identifier is None:
        raise ValueError("Expected a metric. Received: None")
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in ("acc", "accuracy"):
            return _accuracy_class(loss, y_pred_shape, y_true_shape)(name=identifier)
        cls = _NAMES.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown metric: {identifier!r}. Known: {sorted(_NAMES)} and 'acc'")
        return cls(name=identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]()
        return MeanMetricWrapper(identifier)
    raise ValueError(f"Could not interpret metric identifier. Received: {identifier!r}")


def serialize(metric: Metric) -> dict:
    """Keras-style ``{"module", "class_name", "config", "registered_name"}``."""
    if type(metric).__name__ not in _CLASSES:
        raise TypeError(f"serialize expects a built-in Metric. Received: {metric!r}")
    return {"module": "keras.metrics", "class_name": type(metric).__name__,
            "config": metric.get_config(), "registered_name": None}


def deserialize(config: dict | str) -> Metric:
    """Inverse of ``serialize``; a string is resolved by ``get``."""
    if isinstance(config, str):
        return get(config)
    cls = _CLASSES.get(config.get("class_name")) if isinstance(config, dict) else None
    if cls is None:
        raise ValueError(f"Unknown metric config. Received: {config!r}")
    return cls.from_config(dict(config.get("config") or {}))


# Direction of improvement, read by EarlyStopping / ModelCheckpoint in mode="auto".
Metric._direction = "down"
for _cls in (BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy):
    _cls._direction = "up"
