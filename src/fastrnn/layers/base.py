"""The ``Layer`` base class shared by every fastrnn layer (see docs/LAYER_CONTRACT.md).

A layer holds its weights as plain NumPy arrays, runs ``forward`` on NumPy inputs and, after a
training forward pass, ``backward`` from the gradient of its outputs to the gradient of its
inputs, leaving the weight gradients (regularizer terms included) in ``self.grads``.
"""

from __future__ import annotations

import importlib
import re
import threading
import warnings
from typing import Any, Iterable, Sequence

import numpy as np

__all__ = ["Layer", "Weight", "reset_name_counters", "standardize_dtype"]

_SUPPORTED_DTYPES = ("float32", "float64")
_name_lock = threading.Lock()
_name_counters: dict[str, int] = {}


def reset_name_counters() -> None:
    """Forget the automatic names given so far (the next ``SimpleRNN`` is ``simple_rnn`` again)."""
    with _name_lock:
        _name_counters.clear()


def _snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """``base`` the first time, then ``base_1``, ``base_2``... (Keras's automatic names)."""
    with _name_lock:
        count = _name_counters.get(base, 0)
        _name_counters[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def standardize_dtype(dtype: Any) -> str:
    """``"float32"`` (the default for ``None``) or ``"float64"``; anything else is a ValueError."""
    if dtype is None:
        return "float32"
    if isinstance(dtype, dict):  # a serialized Keras DTypePolicy
        dtype = dtype.get("config", {}).get("name", dtype)
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise ValueError(
            f"dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}"
        ) from None
    if name not in _SUPPORTED_DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64'. Received: dtype={dtype!r}")
    return name


def lazy_module(name: str):
    """Import ``fastrnn.<name>`` on first use (sibling modules are written in parallel)."""
    return importlib.import_module(f"fastrnn.{name}")


def get_regularizer(identifier: Any):
    """``None`` or a regularizer object with ``__call__(w)`` and ``gradient(w)``."""
    if identifier is None:
        return None
    return lazy_module("regularizers").get(identifier)


def serialize_regularizer(reg: Any) -> Any:
    """Keras-style config of a regularizer (``None`` stays ``None``)."""
    if reg is None:
        return None
    return lazy_module("regularizers").serialize(reg)


def get_initializer(identifier: Any):
    """An initializer object callable as ``init(shape, dtype)``."""
    init = lazy_module("initializers").get(identifier)
    if init is None:
        raise ValueError(f"An initializer is required. Received: {identifier!r}")
    return init


def serialize_initializer(init: Any) -> Any:
    """Keras-style config of an initializer."""
    return lazy_module("initializers").serialize(init)


def reject_constraint(layer_name: str, arg: str, value: Any) -> None:
    """Constraints are not implemented: accept ``None``, refuse anything else clearly."""
    if value is not None:
        raise NotImplementedError(
            f"{layer_name}: `{arg}` is not supported by fastrnn (weight constraints are not "
            f"implemented); pass {arg}=None. Received: {value!r}"
        )


class Weight:
    """One weight of a layer: ``value`` is the array (optimizers update it in place)."""

    __slots__ = ("name", "value", "trainable", "regularizer", "path")

    def __init__(self, name: str, value: np.ndarray, trainable: bool, regularizer: Any, path: str):
        self.name = name
        self.value = value
        self.trainable = trainable
        self.regularizer = regularizer
        self.path = path

    def __repr__(self) -> str:
        return f"<Weight {self.path} shape={self.value.shape} dtype={self.value.dtype}>"

    def __getstate__(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        _canonical_dtype(self.value)


def _canonical_dtype(arr: np.ndarray) -> None:
    """Give an unpickled array the canonical dtype object, in place (same array object).

    Unpickled arrays carry an equal but distinct dtype instance, which the C++ bindings
    (pybind11 ``dtype().is(...)``) do not recognize.
    """
    canonical = np.dtype(arr.dtype.name) if arr.dtype.isnative else None
    if canonical is not None and arr.dtype is not canonical and arr.dtype == canonical:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr.dtype = canonical
        except (AttributeError, TypeError, ValueError):  # pragma: no cover - future NumPy
            pass


class Layer:
    """Base class of fastrnn layers (Keras-like API on NumPy arrays).

    Args:
        name: layer name; if None, the snake_case class name (``dense``, ``dense_1``...).
        trainable: whether the weights are updated by training.
        dtype: ``"float32"`` (default) or ``"float64"``: dtype of the weights and float outputs.
        activity_regularizer: penalty on the layer's outputs, divided by the batch size
            (as Keras 3).
        input_shape / input_dim / batch_input_shape / batch_size: Keras 2 style input declarations,
            recorded in ``_build_shape`` (batch dimension first).
    """

    #: whether the layer passes an input mask on (Keras ``supports_masking``)
    supports_masking = False

    def __init__(
        self,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
        activity_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        if name is None:
            name = unique_name(_snake_case(type(self).__name__))
        elif not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string or None. Received: name={name!r}")
        self.name = name
        self._trainable = bool(trainable)
        self.dtype = standardize_dtype(dtype)
        self.activity_regularizer = get_regularizer(activity_regularizer)
        self._build_shape = self._pop_input_declarations(kwargs)
        if kwargs:
            raise _UnrecognizedArguments(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}"
            )
        self.built = False
        self._weights: list[Weight] = []
        self._sublayers: list[Layer] = []
        self.grads: list[np.ndarray] = []
        self._raw_grads: dict[str, np.ndarray] = {}
        self._activity_outputs: list[np.ndarray] | None = None
        self._input_shape: tuple | None = None

    # ------------------------------------------------------------------ construction helpers
    def _pop_input_declarations(self, kwargs: dict) -> tuple | None:
        batch_input_shape = kwargs.pop("batch_input_shape", None)
        input_shape = kwargs.pop("input_shape", None)
        input_dim = kwargs.pop("input_dim", None)
        batch_size = kwargs.pop("batch_size", None)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            return _shape_tuple(batch_input_shape, "batch_input_shape")
        if input_shape is not None:
            return (batch_size,) + _shape_tuple(input_shape, "input_shape")
        return None

    def add_weight(
        self,
        name: str,
        shape: Sequence[int],
        initializer: Any = "zeros",
        regularizer: Any = None,
        trainable: bool = True,
        path_prefix: str | None = None,
    ) -> np.ndarray:
        """Create a weight of this layer's dtype (C-contiguous), record it and return the array."""
        init = get_initializer(initializer)
        shape = tuple(int(s) for s in shape)
        value = np.ascontiguousarray(init(shape, self.dtype), dtype=self.dtype)
        if value.shape != shape:
            raise ValueError(
                f"Initializer for weight {name!r} of layer {self.name!r} returned shape "
                f"{value.shape}; expected {shape}"
            )
        prefix = path_prefix or self.name
        self._weights.append(Weight(name, value, bool(trainable), regularizer, f"{prefix}/{name}"))
        return value

    def build(self, input_shape: tuple) -> None:
        """Create the weights for inputs of ``input_shape`` (batch first; None allowed)."""
        self._input_shape = tuple(input_shape) if input_shape is not None else None
        self.built = True

    def _maybe_build(self, input_shape: tuple) -> None:
        if not self.built:
            self.build(tuple(input_shape))

    # ------------------------------------------------------------------ weights
    @property
    def trainable(self) -> bool:
        """Whether training updates this layer's weights."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self._sublayers:
            layer.trainable = value

    def _weight_records(self) -> list[Weight]:
        records = list(self._weights)
        for layer in self._sublayers:
            records.extend(layer._weight_records())
        return records

    def _trainable_records(self) -> list[Weight]:
        if not self._trainable:
            return []
        records = [w for w in self._weights if w.trainable]
        for layer in self._sublayers:
            records.extend(layer._trainable_records())
        return records

    @property
    def weights(self) -> list[np.ndarray]:
        """All weight arrays, in creation order (the live arrays, not copies)."""
        return [w.value for w in self._weight_records()]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The weight arrays training updates (empty when ``trainable`` is False)."""
        return [w.value for w in self._trainable_records()]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The weight arrays training leaves alone."""
        ids = {id(w) for w in self._trainable_records()}
        return [w.value for w in self._weight_records() if id(w) not in ids]

    @property
    def variables(self) -> list[np.ndarray]:
        """Same as ``weights`` (Keras 3 name)."""
        return self.weights

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weight arrays."""
        return [w.value.copy() for w in self._weight_records()]

    def set_weights(self, weights: Iterable[Any]) -> None:
        """Copy ``weights`` into the existing arrays after checking count and shapes.

        Nothing is modified when any check fails.
        """
        records = self._weight_records()
        try:
            weights = list(weights)
        except TypeError:
            raise TypeError(
                f"set_weights of layer {self.name!r} expects a list of arrays. "
                f"Received: {type(weights).__name__}"
            ) from None
        if len(weights) != len(records):
            raise ValueError(
                f"Layer {self.name!r} expects {len(records)} weights, but the weight list "
                f"received has {len(weights)} entries. Received: weights={_shapes(weights)}"
            )
        arrays = []
        for i, (rec, value) in enumerate(zip(records, weights)):
            arr = np.asarray(value)
            if arr.shape != rec.value.shape:
                raise ValueError(
                    f"Layer {self.name!r} weight {i} ({rec.name}) expects shape "
                    f"{rec.value.shape}. Received: shape={arr.shape}"
                )
            if arr.dtype.kind not in "biufc":
                raise TypeError(
                    f"Layer {self.name!r} weight {i} ({rec.name}) must be numeric. "
                    f"Received: dtype={arr.dtype}"
                )
            arrays.append(arr)
        for rec, arr in zip(records, arrays):
            rec.value[...] = arr

    def count_params(self) -> int:
        """Number of scalars in all weights (the layer must be built)."""
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the layer isn't "
                "built. You can build it manually via: `layer.build(input_shape)`."
            )
        return int(sum(w.value.size for w in self._weight_records()))

    def _set_path_prefix(self, prefix: str) -> None:
        """Prefix every weight path (used by wrappers and models)."""
        for w in self._weight_records():
            if not w.path.startswith(prefix + "/"):
                w.path = f"{prefix}/{w.path}"

    # ------------------------------------------------------------------ shapes and masks
    def compute_output_shape(self, input_shape: tuple) -> Any:
        """Output shape for ``input_shape`` (batch dimension may be None)."""
        return tuple(input_shape)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask of the outputs: the input mask for masking-aware layers, else None."""
        return mask if self.supports_masking else None

    # ------------------------------------------------------------------ calling
    def __call__(self, inputs: Any, training: bool | None = False, mask: Any = None, **kwargs: Any):
        """Run the layer on NumPy inputs (building it first if needed) and return the outputs."""
        if mask is not None and not self.supports_masking:
            warnings.warn(
                f"Layer '{self.name}' (of type {type(self).__name__}) was passed an input with a "
                "mask attached to it. However, this layer does not support masking and will "
                "therefore destroy the mask information. Downstream layers will not see the mask.",
                stacklevel=2,
            )
            mask = None
        return self.forward(inputs, mask=mask, training=bool(training), **kwargs)

    def forward(self, inputs: Any, mask: Any = None, training: bool = False, **kwargs: Any):
        """Compute the outputs; in training mode also keep what ``backward`` needs."""
        if training:
            self._drop_training_caches()  # free the last step's activations before allocating
        outputs = self._forward(inputs, mask=mask, training=training, **kwargs)
        if training and self.activity_regularizer is not None:
            flat = outputs if isinstance(outputs, list) else [outputs]
            self._activity_outputs = [np.asarray(o) for o in flat]
        else:
            self._activity_outputs = None
        return outputs

    def _drop_training_caches(self) -> None:
        """Forget what the last training forward pass kept for backward."""
        for key in self._CACHE_ATTRS:
            if key in self.__dict__:
                setattr(self, key, None)

    def backward(self, d_outputs: Any):
        """Gradient for the inputs from ``d_outputs``; sets ``self.grads`` (with regularizers)."""
        if self._activity_outputs is not None:
            d_outputs = self._add_activity_gradient(d_outputs)
        d_inputs = self._backward(d_outputs)
        grads: list[np.ndarray] = []
        if self._trainable:
            raw = self._raw_grads
            for rec in self._weights:
                if not rec.trainable:
                    continue
                g = raw[rec.name]
                if rec.regularizer is not None:
                    g = g + np.asarray(rec.regularizer.gradient(rec.value), dtype=g.dtype)
                grads.append(g)
            for layer in self._sublayers:  # their backward already ran inside _backward
                grads.extend(layer.grads)
        self.grads = grads
        return d_inputs

    def regularization_loss(self) -> float:
        """Sum of this layer's weight penalties and of the activity penalty of the last
        training forward pass (sub-layers included)."""
        total = 0.0
        for rec in self._weights:
            if rec.regularizer is not None:
                total += float(rec.regularizer(rec.value))
        if self._activity_outputs is not None:
            for out in self._activity_outputs:
                batch = out.shape[0] if out.ndim > 0 else 1
                total += float(self.activity_regularizer(out)) / max(batch, 1)
        for layer in self._sublayers:
            total += layer.regularization_loss()
        return total

    def _add_activity_gradient(self, d_outputs: Any) -> Any:
        outs = self._activity_outputs
        is_list = isinstance(d_outputs, (list, tuple))
        ds = list(d_outputs) if is_list else [d_outputs]
        for i, out in enumerate(outs):
            batch = out.shape[0] if out.ndim > 0 else 1
            g = np.asarray(self.activity_regularizer.gradient(out), dtype=out.dtype) / max(batch, 1)
            ds[i] = g if ds[i] is None else np.asarray(ds[i]) + g
        return ds if is_list else ds[0]

    # subclasses implement these two
    def _forward(self, inputs: Any, mask: Any = None, training: bool = False, **kwargs: Any):
        raise NotImplementedError

    def _backward(self, d_outputs: Any):
        """Return the input gradient; set ``self._raw_grads`` (own weight name -> gradient,
        without regularizer terms) and call ``backward`` of every sub-layer."""
        raise NotImplementedError

    def _require_cache(self, cache: Any) -> Any:
        if cache is None:
            raise RuntimeError(
                f"Layer {self.name!r}: backward() needs a forward(..., training=True) call first"
            )
        return cache

    def _as_float(self, x: Any, arg: str = "inputs") -> np.ndarray:
        """``x`` as an array of the layer dtype (a copy only when a conversion is needed)."""
        try:
            arr = np.asarray(x)
        except Exception as exc:
            raise TypeError(
                f"Layer {self.name!r}: {arg} must be array-like. "
                f"Received: {type(x).__name__} ({exc})"
            ) from None
        if arr.dtype.kind not in "biufc":
            raise TypeError(
                f"Layer {self.name!r}: {arg} must be numeric. Received: dtype={arr.dtype}"
            )
        if arr.dtype.kind == "c":
            raise TypeError(
                f"Layer {self.name!r}: {arg} must be real. Received: dtype={arr.dtype}"
            )
        return np.asarray(arr, dtype=self.dtype)

    # ------------------------------------------------------------------ state and config
    def reset_states(self) -> None:
        """Reset recurrent states (no-op for stateless layers)."""
        for layer in self._sublayers:
            layer.reset_states()

    def reset_state(self) -> None:
        """Keras 3 name of ``reset_states``."""
        self.reset_states()

    def get_config(self) -> dict:
        """Constructor arguments with Keras's names."""
        config: dict[str, Any] = {
            "name": self.name, "trainable": self.trainable, "dtype": self.dtype,
        }
        if self._build_shape is not None:
            config["batch_input_shape"] = self._build_shape
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = serialize_regularizer(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        """Inverse of ``get_config``: ``cls(**config)``."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"

    # ------------------------------------------------------------------ pickling
    _CACHE_ATTRS = ("_cache", "_ids", "_y", "_keep", "_mask", "_shape", "_activity_outputs")

    def __getstate__(self) -> dict:
        """Pickle weights and settings; training caches are dropped and built-in activations
        (module-level objects holding lambdas) are stored by name."""
        state = self.__dict__.copy()
        for key in self._CACHE_ATTRS:
            if key in state:
                state[key] = None
        if "_training_pass" in state:
            state["_training_pass"] = False
        acts = lazy_module("activations")
        for key, value in state.items():
            if isinstance(value, acts.Activation):
                try:
                    builtin = acts.get(value.name) is value
                except ValueError:
                    builtin = False
                if builtin:
                    state[key] = _BuiltinActivationRef(value.name)
        return state

    def __setstate__(self, state: dict) -> None:
        for key, value in state.items():
            if isinstance(value, _BuiltinActivationRef):
                state[key] = lazy_module("activations").get(value.name)
            elif isinstance(value, np.ndarray):
                _canonical_dtype(value)  # e.g. the state of a stateful RNN
        self.__dict__.update(state)


class _BuiltinActivationRef:
    """Picklable stand-in for a built-in activation object (resolved again on unpickling)."""

    def __init__(self, name: str) -> None:
        self.name = name


class _UnrecognizedArguments(ValueError, TypeError):
    """Unknown constructor keyword: Keras 3 raises ValueError, Python itself TypeError."""


def _shape_tuple(shape: Any, arg: str) -> tuple:
    if isinstance(shape, (int, np.integer)) or shape is None:
        shape = (shape,)
    try:
        out = tuple(None if s is None else int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"{arg} must be a tuple of ints or None. Received: {arg}={shape!r}"
        ) from None
    return out


def _shapes(values: list) -> list:
    out = []
    for v in values:
        try:
            out.append(np.shape(v))
        except Exception:  # pragma: no cover - ragged
            out.append(type(v).__name__)
    return out


def standardize_mask(mask: Any, batch: int, steps: int, layer_name: str) -> np.ndarray | None:
    """A (batch, steps) boolean mask (True = keep) or None; a ValueError names the mismatch."""
    if isinstance(mask, (list, tuple)) and mask and not np.isscalar(mask[0]) and (
        mask[0] is None or np.ndim(mask[0]) == 2
    ):
        mask = mask[0]  # Keras-style [output_mask, *state_masks]
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.shape != (batch, steps):
        raise ValueError(
            f"Layer {layer_name!r}: mask must have shape (batch, timesteps) = ({batch}, {steps}). "
            f"Received: mask.shape={arr.shape}"
        )
    if arr.dtype != np.bool_:
        if arr.dtype.kind not in "iufc":
            raise TypeError(
                f"Layer {layer_name!r}: mask must be boolean. Received: dtype={arr.dtype}"
            )
        arr = arr != 0
    return arr


def check_ndim(x: np.ndarray, ndim: int, layer_name: str, what: str = "") -> None:
    """Keras-style 'expected ndim=..., found ndim=...' ValueError."""
    if x.ndim != ndim:
        raise ValueError(
            f"Input 0 of layer '{layer_name}' is incompatible with the layer: expected "
            f"ndim={ndim}, found ndim={x.ndim}. Full shape received: {x.shape}"
            + (f". Expected shape: {what}" if what else "")
        )


def dropout_keep_mask(
    rng: np.random.Generator, shape: tuple, rate: float, dtype: str
) -> np.ndarray:
    """Inverted-dropout multiplier: 0 with probability ``rate``, else ``1 / (1 - rate)``."""
    if rate >= 1.0:
        return np.zeros(shape, dtype=dtype)
    keep = rng.random(shape) >= rate
    return np.where(keep, 1.0 / (1.0 - rate), 0.0).astype(dtype)
