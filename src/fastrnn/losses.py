"""Keras losses with values AND gradients with respect to ``y_pred``.

``loss(y_true, y_pred, sample_weight=None)`` gives Keras's scalar (``sum_over_batch_size``:
the sum of the weighted per-sample values divided by their count). ``value_and_grad(...)`` also
returns ``dL/dy_pred`` for training. A ``mask`` (``y_pred.shape[:-1]``, True = valid) averages
over valid entries only, as Keras's ``apply_mask``: valid entries get weight total/valid.

Numerics follow Keras's backends (torch/NumPy): probabilities are clipped to
``[1e-7, 1 - 1e-7]`` in ``y_pred``'s dtype before the log, and the gradient goes through that
clip exactly as autodiff does (zero outside the range), so with ``from_logits=False`` a saturated
sigmoid/softmax output gets a zero gradient, as in Keras. Categorical losses first renormalize
``y_pred`` to sum to 1. With ``from_logits=True`` the stable log-sigmoid / log-softmax forms are
used. Shapes: a ``y_true`` of rank one less than ``y_pred`` whose last axis is 1 is expanded
(Keras's ``squeeze_or_expand_to_same_rank``; same value, and it keeps masks aligned).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = [
    "Loss", "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
    "MeanSquaredError", "MeanAbsoluteError", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "mean_squared_error", "mean_absolute_error", "get",
    "serialize", "deserialize", "EPSILON",
]

EPSILON = 1e-7  # keras.config.epsilon()
_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none", None)


def _float_dtype(y_pred: np.ndarray) -> np.dtype:
    return y_pred.dtype if y_pred.dtype in (np.float32, np.float64) else np.dtype(np.float32)


def _prepare(y_true, y_pred, sparse: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Convert to arrays and align ranks as Keras does; never modifies the inputs."""
    y_pred = np.asarray(y_pred)
    y_pred = y_pred.astype(_float_dtype(y_pred), copy=False)
    y_true = np.asarray(y_true)
    if y_pred.ndim == 0:
        raise ValueError(f"y_pred must have at least one axis. Received shape {y_pred.shape}")
    if sparse:
        if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true.reshape(y_true.shape[:-1])
        if y_true.shape != y_pred.shape[:-1]:
            raise ValueError(
                f"Sparse labels must have shape y_pred.shape[:-1] = {y_pred.shape[:-1]}. "
                f"Received: y_true.shape={y_true.shape}"
            )
        return y_true, y_pred
    if y_true.ndim + 1 == y_pred.ndim and y_pred.shape[-1] == 1:
        y_true = y_true[..., None]
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = y_true.reshape(y_true.shape[:-1])
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape. Received: y_true.shape={y_true.shape}, "
            f"y_pred.shape={y_pred.shape}"
        )
    return y_true.astype(y_pred.dtype, copy=False), y_pred


def _clip_eps(dtype: np.dtype) -> tuple[Any, Any]:
    return dtype.type(EPSILON), dtype.type(1.0) - dtype.type(EPSILON)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# --- per-sample forward/backward kernels: values have shape y_pred.shape[:-1] ---------------

def _bce(yt, yp, from_logits, dv=None):
    n = yp.shape[-1]
    if from_logits:
        if dv is None:
            return (np.maximum(yp, 0) - yp * yt + np.log1p(np.exp(-np.abs(yp)))).mean(axis=-1)
        return (_sigmoid(yp) - yt) * (dv[..., None] / n)
    values, slope = _bce_on_probabilities(yt, yp, slope=dv is not None)
    return values if dv is None else slope * (dv[..., None] / n)


def _bce_on_probabilities(yt, yp, slope: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-sample values of the cross-entropy on clipped probabilities and, if asked, the
    slope d values / d y_pred times the number of columns, sharing ``p``, ``1 - p``, ``1 - yt``."""
    lo, hi = _clip_eps(yp.dtype)
    # the ufuncs themselves: np.clip and .mean() run NumPy's Python wrappers, several calls
    # each, which cost more than the arithmetic on a batch's (B, 1) predictions; same bits
    p = np.minimum(np.maximum(yp, lo), hi)
    q, not_yt = 1 - p, 1 - yt
    values = -(np.add.reduce(yt * np.log(p) + not_yt * np.log(q), axis=-1) / yp.shape[-1])
    if not slope:
        return values, None
    g = not_yt / q - yt / p
    g *= (yp >= lo) & (yp <= hi)  # the clip's gradient
    return values, g


def _cce(yt, yp, from_logits, dv=None):
    if from_logits:
        logp = _log_softmax(yp)
        if dv is None:
            return -(yt * logp).sum(axis=-1)
        return (np.exp(logp) * yt.sum(axis=-1, keepdims=True) - yt) * dv[..., None]
    s = yp.sum(axis=-1, keepdims=True)
    q = yp / s
    lo, hi = _clip_eps(yp.dtype)
    qc = np.clip(q, lo, hi)
    if dv is None:
        return -(yt * np.log(qc)).sum(axis=-1)
    g = -yt / qc * ((q >= lo) & (q <= hi))
    return (g - (g * q).sum(axis=-1, keepdims=True)) / s * dv[..., None]


def _mse(yt, yp, dv=None):
    d = yp - yt
    if dv is None:
        return (d * d).mean(axis=-1)
    return d * (2.0 * dv[..., None] / yp.shape[-1])


def _mae(yt, yp, dv=None):
    d = yp - yt
    if dv is None:
        return np.abs(d).mean(axis=-1)
    return np.sign(d) * (dv[..., None] / yp.shape[-1])


def _one_hot(ids: np.ndarray, n: int, dtype) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.size and ids.dtype.kind not in "iu":
        if not np.all(np.mod(ids, 1) == 0):
            raise ValueError(f"Sparse labels must be integer class ids. Received dtype {ids.dtype}")
    ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ValueError(
            f"Sparse labels must be in [0, {n}). Received: min {ids.min()}, max {ids.max()}"
        )
    out = np.zeros(ids.shape + (n,), dtype=dtype)
    np.put_along_axis(out, ids[..., None], 1, axis=-1)
    return out


# --- Keras-style functions returning per-sample values ----------------------------------------

def binary_crossentropy(y_true, y_pred, from_logits: bool = False,
                        label_smoothing: float = 0.0) -> np.ndarray:
    """Per-sample binary cross-entropy (mean over the last axis), as ``keras.losses``."""
    yt, yp = _prepare(y_true, y_pred)
    if label_smoothing:
        yt = yt * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return _bce(yt, yp, from_logits)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False,
                             label_smoothing: float = 0.0) -> np.ndarray:
    """Per-sample categorical cross-entropy over the last axis (one-hot ``y_true``)."""
    yt, yp = _prepare(y_true, y_pred)
    if label_smoothing:
        yt = yt * (1.0 - label_smoothing) + label_smoothing / yp.shape[-1]
    return _cce(yt, yp, from_logits)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False) -> np.ndarray:
    """Per-sample categorical cross-entropy with integer class ids ``y_true``."""
    yt, yp = _prepare(y_true, y_pred, sparse=True)
    return _cce(_one_hot(yt, yp.shape[-1], yp.dtype), yp, from_logits)


def mean_squared_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean of squared errors over the last axis."""
    return _mse(*_prepare(y_true, y_pred))


def mean_absolute_error(y_true, y_pred) -> np.ndarray:
    """Per-sample mean of absolute errors over the last axis."""
    return _mae(*_prepare(y_true, y_pred))


# --- Loss classes ------------------------------------------------------------------------------

def _weights(values_shape: tuple, sample_weight, mask) -> np.ndarray | None:
    """Merge ``sample_weight`` and ``mask`` into one float64 weight array (Keras apply_mask)."""
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.ndim == len(values_shape) + 1 and w.shape[-1] == 1:
            w = w.reshape(w.shape[:-1])
        while w.ndim < len(values_shape):
            w = w[..., None]
        try:
            w = np.broadcast_to(w, values_shape)
        except ValueError:
            raise ValueError(
                f"sample_weight must broadcast to the per-sample loss shape {values_shape}. "
                f"Received: sample_weight.shape={np.shape(sample_weight)}"
            ) from None
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != values_shape:
            raise ValueError(
                f"mask must have shape y_pred.shape[:-1] = {values_shape}. Received: {m.shape}"
            )
        valid = int(m.sum())
        fm = m * (m.size / valid) if valid else np.zeros(m.shape)
        w = fm if w is None else w * fm
    return w


class Loss:
    """Base class: subclasses implement ``_values(yt, yp)`` and ``_grad(yt, yp, dvalues)``."""

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}. Received: {reduction!r}")
        self.name = name or type(self).__name__
        self.reduction = reduction
        self.dtype = dtype

    # subclass hooks ------------------------------------------------------------------------
    _sparse = False

    def _values(self, yt: np.ndarray, yp: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _grad(self, yt: np.ndarray, yp: np.ndarray, dv: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # public API -----------------------------------------------------------------------------
    def _reduce(self, values: np.ndarray, w: np.ndarray | None) -> tuple[Any, np.ndarray]:
        """Reduced loss and d loss / d values."""
        weighted = values if w is None else values * w
        if self.reduction in ("none", None):
            return weighted, np.ones_like(values) if w is None else w
        if self.reduction == "sum":
            scale = 1.0
        elif self.reduction == "mean_with_sample_weight" and w is not None:
            total = float(w.sum())
            scale = 1.0 / total if total else 0.0
        else:
            scale = 1.0 / values.size if values.size else 0.0
        total_loss = float(np.add.reduce(weighted, axis=None, dtype=np.float64)) * scale
        dv = np.full(values.shape, scale) if w is None else w * scale
        return total_loss, dv

    def __call__(self, y_true, y_pred, sample_weight=None, mask=None):
        """The reduced loss (a float; an array for ``reduction="none"``)."""
        yt, yp = _prepare(y_true, y_pred, sparse=self._sparse)
        values = self._values(yt, yp)
        return self._reduce(values, _weights(values.shape, sample_weight, mask))[0]

    def value_and_grad(self, y_true, y_pred, sample_weight=None, mask=None
                       ) -> tuple[float, np.ndarray]:
        """``(loss, dloss/dy_pred)``; the gradient has ``y_pred``'s shape and float dtype."""
        if self.reduction in ("none", None):
            raise ValueError("value_and_grad needs a reducing loss. Received: reduction='none'")
        yt, yp = _prepare(y_true, y_pred, sparse=self._sparse)
        values, grad = self._values_and_grad(yt, yp)
        loss, dv = self._reduce(values, _weights(values.shape, sample_weight, mask))
        return loss, grad(dv.astype(yp.dtype, copy=False)).astype(yp.dtype, copy=False)

    def _values_and_grad(self, yt: np.ndarray, yp: np.ndarray) -> tuple[np.ndarray, Callable]:
        """Per-sample values and a function of ``dvalues`` giving the gradient; losses whose
        two formulas share work override it."""
        return self._values(yt, yp), lambda dv: self._grad(yt, yp, dv)

    def get_config(self) -> dict:
        """Constructor arguments."""
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        """Rebuild from ``get_config()``."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class _CrossentropyBase(Loss):
    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction: str | None = "sum_over_batch_size", name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0.0 <= float(label_smoothing) <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1]. Received: {label_smoothing!r}")
        self.from_logits = bool(from_logits)
        self.label_smoothing = float(label_smoothing)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing}


class BinaryCrossentropy(_CrossentropyBase):
    """Keras ``BinaryCrossentropy(from_logits=False, label_smoothing=0.0)``."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction: str | None = "sum_over_batch_size",
                 name: str | None = "binary_crossentropy", dtype: Any = None) -> None:
        super().__init__(from_logits, label_smoothing, reduction, name, dtype)

    def _smooth(self, yt):
        s = self.label_smoothing
        return yt * (1.0 - s) + 0.5 * s if s else yt

    def _values(self, yt, yp):
        return _bce(self._smooth(yt), yp, self.from_logits)

    def _grad(self, yt, yp, dv):
        return _bce(self._smooth(yt), yp, self.from_logits, dv)

    def _values_and_grad(self, yt, yp):
        if self.from_logits:
            return super()._values_and_grad(yt, yp)
        n = yp.shape[-1]  # one pass for both (as _bce computes them, so the same bits)
        values, slope = _bce_on_probabilities(self._smooth(yt), yp, slope=True)
        return values, lambda dv: slope * (dv[..., None] / n)


class CategoricalCrossentropy(_CrossentropyBase):
    """Keras ``CategoricalCrossentropy(from_logits=False, label_smoothing=0.0)``: one-hot labels."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0,
                 reduction: str | None = "sum_over_batch_size",
                 name: str | None = "categorical_crossentropy", dtype: Any = None) -> None:
        super().__init__(from_logits, label_smoothing, reduction, name, dtype)

    def _smooth(self, yt):
        s = self.label_smoothing
        return yt * (1.0 - s) + s / yt.shape[-1] if s else yt

    def _values(self, yt, yp):
        return _cce(self._smooth(yt), yp, self.from_logits)

    def _grad(self, yt, yp, dv):
        return _cce(self._smooth(yt), yp, self.from_logits, dv)


class SparseCategoricalCrossentropy(Loss):
    """Keras ``SparseCategoricalCrossentropy(from_logits=False)``: integer class ids."""

    _sparse = True

    def __init__(self, from_logits: bool = False, reduction: str | None = "sum_over_batch_size",
                 name: str | None = "sparse_categorical_crossentropy", dtype: Any = None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.from_logits = bool(from_logits)

    def _values(self, yt, yp):
        return _cce(_one_hot(yt, yp.shape[-1], yp.dtype), yp, self.from_logits)

    def _grad(self, yt, yp, dv):
        return _cce(_one_hot(yt, yp.shape[-1], yp.dtype), yp, self.from_logits, dv)

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits}


class MeanSquaredError(Loss):
    """Keras ``MeanSquaredError``: mean of ``(y_pred - y_true)**2`` over the last axis."""

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str | None = "mean_squared_error", dtype: Any = None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _values(self, yt, yp):
        return _mse(yt, yp)

    def _grad(self, yt, yp, dv):
        return _mse(yt, yp, dv)


class MeanAbsoluteError(Loss):
    """Keras ``MeanAbsoluteError``: mean of ``|y_pred - y_true|`` (gradient ``sign``, 0 at 0)."""

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str | None = "mean_absolute_error", dtype: Any = None) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def _values(self, yt, yp):
        return _mae(yt, yp)

    def _grad(self, yt, yp, dv):
        return _mae(yt, yp, dv)


class _FunctionLoss(Loss):
    """A user function ``f(y_true, y_pred) -> per-sample values``; it has no gradient."""

    def __init__(self, fn: Callable, name: str | None = None) -> None:
        super().__init__(name=name or getattr(fn, "__name__", "loss"))
        self.fn = fn

    def _values(self, yt, yp):
        return np.asarray(self.fn(yt, yp), dtype=np.float64)

    def _grad(self, yt, yp, dv):
        raise NotImplementedError(
            f"Loss {self.name!r} is a plain function: fastrnn cannot differentiate it. Use a "
            "built-in loss or a Loss subclass implementing _values and _grad."
        )


_CLASSES = {c.__name__: c for c in (BinaryCrossentropy, CategoricalCrossentropy,
                                     SparseCategoricalCrossentropy, MeanSquaredError,
                                     MeanAbsoluteError)}
_FUNCTIONS: dict[Any, type[Loss]] = {
    binary_crossentropy: BinaryCrossentropy, categorical_crossentropy: CategoricalCrossentropy,
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    mean_squared_error: MeanSquaredError, mean_absolute_error: MeanAbsoluteError,
}
_NAMES: dict[str, type[Loss]] = {
    **{f.__name__: c for f, c in _FUNCTIONS.items()},
    "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy, "mse": MeanSquaredError,
    "MSE": MeanSquaredError, "mae": MeanAbsoluteError, "MAE": MeanAbsoluteError,
}


def _crossentropy_for(y_true_shape, y_pred_shape) -> type[Loss]:
    if y_true_shape is None or y_pred_shape is None:
        raise ValueError('Loss "crossentropy"/"ce" needs y_true_shape and y_pred_shape to choose '
                         "between binary, sparse and categorical cross-entropy.")
    if y_pred_shape[-1] == 1:
        return BinaryCrossentropy
    if len(y_true_shape) < len(y_pred_shape) or (y_true_shape[-1] == 1 and y_pred_shape[-1] > 1):
        return SparseCategoricalCrossentropy
    return CategoricalCrossentropy


def get(identifier: Any, y_true_shape: tuple | None = None,
        y_pred_shape: tuple | None = None) -> Loss | None:
    """Resolve a loss name, alias, class name, config dict, class, instance or function.

    ``"crossentropy"``/``"ce"`` pick binary / sparse / categorical from the shapes as Keras's
    ``compile_utils.get_loss``. String names keep the given name (``get("mse").name == "mse"``).
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str):
        if identifier.lower() in ("crossentropy", "ce"):
            return _crossentropy_for(y_true_shape, y_pred_shape)(name=identifier)
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        cls = _NAMES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown loss: {identifier!r}. Known: {sorted(set(_NAMES) | set(_CLASSES))}"
            )
        return cls(name=identifier)
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier) and identifier in _FUNCTIONS:
        return _FUNCTIONS[identifier]()
    if hasattr(identifier, "value_and_grad"):
        return identifier
    if callable(identifier):
        return _FunctionLoss(identifier)
    raise ValueError(f"Could not interpret loss identifier. Received: {identifier!r}")


def serialize(loss: Loss) -> dict:
    """Keras-style ``{"module", "class_name", "config", "registered_name"}``."""
    if not isinstance(loss, Loss) or isinstance(loss, _FunctionLoss):
        raise TypeError(f"serialize expects a built-in Loss. Received: {loss!r}")
    return {"module": "keras.losses", "class_name": type(loss).__name__,
            "config": loss.get_config(), "registered_name": None}


def deserialize(config: dict | str) -> Loss:
    """Inverse of ``serialize``; a string is resolved by ``get``."""
    if isinstance(config, str):
        return get(config)
    cls = _CLASSES.get(config.get("class_name")) if isinstance(config, dict) else None
    if cls is None:
        raise ValueError(f"Unknown loss config. Received: {config!r}")
    return cls.from_config(dict(config.get("config") or {}))
