"""``Sequential``: Keras's linear stack of layers on NumPy arrays.

Structure (add/pop/build), weights, config, saving and calling live here; compile/fit/evaluate/
predict live in :mod:`fastrnn.models.training`, the summary table in :mod:`.summary`.
"""

from __future__ import annotations

import copy
import warnings
from typing import Any, Callable

import numpy as np

from ..layers.base import Layer, unique_name
from ..layers.embedding import Embedding
from ..layers.input_layer import InputLayer
from . import summary as _summary
from .data import as_array
from .training import TrainingMixin

__all__ = ["Sequential"]


class _NotALayer(TypeError, ValueError):
    """Keras raises ValueError for a non-layer passed to ``add``; Python style is TypeError."""


class Sequential(TrainingMixin):
    """A linear stack of layers, trained and run on NumPy arrays (``keras.Sequential``).

    Args:
        layers: optional list of layers (an ``Input(...)``/``InputLayer`` may come first).
        name: model name; ``"sequential"``, ``"sequential_1"``... when None.
        trainable: whether ``fit`` updates the weights.
    """

    def __init__(self, layers: list | None = None, name: str | None = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"Sequential() got unexpected keyword arguments: {sorted(kwargs)}")
        if name is None:
            name = unique_name("sequential")
        elif not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string or None. Received: name={name!r}")
        self.name = name
        self._trainable = bool(trainable)
        self._input: InputLayer | None = None
        self._layers: list[Layer] = []
        self.built = False
        self._build_input_shape: tuple | None = None
        self._output_shape: Any = None
        self._mask_warned: set[str] = set()
        self._init_training_state()
        if layers is not None:
            if isinstance(layers, (Layer, InputLayer)) or not hasattr(layers, "__iter__"):
                raise TypeError(
                    f"`layers` must be a list of layers. Received: {type(layers).__name__}"
                )
            for layer in layers:
                self.add(layer, rebuild=False)
            self._maybe_rebuild()

    # ------------------------------------------------------------------ structure
    @property
    def layers(self) -> list[Layer]:
        """The layers added (without the input declaration), in order."""
        return list(self._layers)

    @layers.setter
    def layers(self, _: Any) -> None:
        raise AttributeError(
            "`Sequential.layers` attribute is reserved and should not be used. "
            "Use `add()` and `pop()` to change the layers in this model."
        )

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by ``name`` or by ``index`` (Keras's ``Model.get_layer``)."""
        if index is not None and name is not None:
            raise ValueError(
                f"Provide only a layer name or a layer index. Received: index={index}, name={name}."
            )
        if index is not None:
            if not -len(self._layers) <= index < len(self._layers):
                raise ValueError(
                    f"Was asked to retrieve layer at index {index} but model only has "
                    f"{len(self._layers)} layers."
                )
            return self._layers[index]
        if name is not None:
            for layer in self._layers:
                if layer.name == name:
                    return layer
            raise ValueError(
                f"No such layer: {name}. Existing layers are: {[lyr.name for lyr in self._layers]}."
            )
        raise ValueError("Provide either a layer name or layer index at `get_layer`.")

    def add(self, layer: Any, rebuild: bool = True) -> None:
        """Append ``layer`` (a fastrnn layer, or ``Input(...)``/``InputLayer`` first)."""
        if not self._layers and self._input is None:
            shape = getattr(layer, "_build_shape", None)
            if shape is not None and not isinstance(layer, InputLayer):
                self._input = InputLayer(batch_shape=shape)
        if isinstance(layer, InputLayer):
            if self._input is not None:
                raise ValueError(
                    f"Sequential model '{self.name}' has already been configured to use input "
                    f"shape {self._input.batch_shape}. You cannot add a different Input layer "
                    "to it."
                )
            if self._layers:
                raise ValueError(
                    "An Input/InputLayer can only be the first element of a Sequential model. "
                    f"Received it after {len(self._layers)} layer(s)"
                )
            self._input = layer
        elif not isinstance(layer, Layer):
            raise _NotALayer(
                "Only instances of `fastrnn.layers.Layer` can be added to a Sequential model. "
                f"Received: {layer!r} (of type {type(layer)})"
            )
        else:
            if any(other.name == layer.name for other in self._layers):
                raise ValueError(
                    "All layers added to a Sequential model should have unique names. Name "
                    f"'{layer.name}' is already the name of a layer in this model. Update the "
                    "`name` argument to pass a unique name."
                )
            self._layers.append(layer)
        if rebuild:
            self._maybe_rebuild()
        else:
            self.built = False

    def pop(self, rebuild: bool = True) -> Layer:
        """Remove and return the last layer (the input declaration when no layer is left)."""
        if self._layers:
            layer = self._layers.pop()
        elif self._input is not None:
            layer, self._input = self._input, None
        else:
            raise IndexError(f"Sequential model '{self.name}' has no layers to pop.")
        self.built = False
        if rebuild:
            self._maybe_rebuild()
        return layer

    def _maybe_rebuild(self) -> None:
        self.built = False
        self._output_shape = None
        if self._input is not None and self._layers:
            self.build(self._input.batch_shape)

    def build(self, input_shape: Any = None) -> None:
        """Create every layer's weights for inputs of ``input_shape`` (batch axis first)."""
        if not self._layers:
            raise ValueError(
                f"Sequential model {self.name} cannot be built because it has no layers. "
                "Call `model.add(layer)`."
            )
        if input_shape is None:
            if self._input is None:
                raise ValueError(
                    f"Sequential model '{self.name}' cannot be built without an input shape: "
                    "pass `input_shape` (e.g. build((None, timesteps, features))) or start "
                    "the model with fastrnn.layers.Input(shape=...)."
                )
            input_shape = self._input.batch_shape
        shape = _standardize_shape(input_shape)
        if self._input is not None and tuple(self._input.batch_shape) != shape:
            raise ValueError(
                f"Sequential model '{self.name}' has already been configured to use input shape "
                f"{self._input.batch_shape}. You cannot build it with input_shape {shape}"
            )
        if self._input is None:
            self._input = InputLayer(batch_shape=shape, dtype=self._first_dtype())
        for layer in self._layers:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self._output_shape = shape
        self._build_input_shape = tuple(self._input.batch_shape)
        self.built = True

    def _first_dtype(self) -> str:
        return getattr(self._layers[0], "dtype", "float32") if self._layers else "float32"

    def _layer_output_shapes(self) -> list:
        """Output shape of every layer (None where unknown: the model is unbuilt)."""
        if not self.built:
            return [None] * len(self._layers)
        shapes, shape = [], self._build_input_shape
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
            shapes.append(shape)
        return shapes

    @property
    def input_shape(self) -> tuple:
        """The batch shape of the input (Keras's ``model.input_shape``)."""
        if self._input is None:
            raise AttributeError(
                f"Sequential model '{self.name}' has no defined input shape yet (it is unbuilt)."
            )
        return tuple(self._input.batch_shape)

    @property
    def output_shape(self) -> Any:
        """The output shape of the last layer (the model must be built)."""
        if not self.built:
            raise AttributeError(
                f"Sequential model '{self.name}' has no defined output shape yet (it is unbuilt)."
            )
        return self._output_shape

    @property
    def dtype(self) -> str:
        """The weight dtype: that of the first layer (``"float32"`` by default)."""
        return self._first_dtype()

    # ------------------------------------------------------------------ weights
    @property
    def trainable(self) -> bool:
        """Whether training updates the weights; setting it sets every layer's flag."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    @property
    def weights(self) -> list[np.ndarray]:
        """All weight arrays (live, not copies): layer order, each layer's creation order."""
        return [w for layer in self._layers for w in layer.weights]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The weight arrays ``fit`` updates."""
        if not self._trainable:
            return []
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The weight arrays ``fit`` leaves alone."""
        if not self._trainable:
            return self.weights
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    @property
    def variables(self) -> list[np.ndarray]:
        """Same as ``weights`` (Keras 3 name)."""
        return self.weights

    def get_weights(self) -> list[np.ndarray]:
        """Copies of all weights in Keras order (layer order, each layer's creation order)."""
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights: Any) -> None:
        """Copy ``weights`` (a list in ``get_weights`` order) into the model's arrays.

        Every count and shape is checked before anything is written.
        """
        if not self.built and self._input is None and not all(lyr.built for lyr in self._layers):
            raise ValueError(
                f"You called `set_weights` on the unbuilt model '{self.name}'. Build it first "
                "(model.build(input_shape), an Input(...), or a call on data)."
            )
        if not self.built and self._input is not None:
            self.build()
        try:
            weights = list(weights)
        except TypeError:
            raise TypeError(
                f"`weights` must be a list of arrays. Received: {type(weights).__name__}"
            ) from None
        current = self.weights
        if len(weights) != len(current):
            raise ValueError(
                f"You called `set_weights(weights)` on model '{self.name}' with a weight list of "
                f"length {len(weights)}, but the model was expecting {len(current)} weights. "
                f"Expected shapes: {[w.shape for w in current]}"
            )
        for i, (w, new) in enumerate(zip(current, weights)):
            shape = np.shape(new)
            if shape != w.shape:
                raise ValueError(
                    f"Weight {i} of model '{self.name}' has shape {w.shape}; the value given has "
                    f"a different shape. Received: shape={shape}"
                )
        start = 0
        for layer in self._layers:
            n = len(layer.weights)
            layer.set_weights(weights[start:start + n])
            start += n

    def count_params(self) -> int:
        """Number of scalars in all weights."""
        if not self.built and not all(lyr.built for lyr in self._layers):
            raise ValueError(
                f"You tried to call `count_params` on model '{self.name}', but the model isn't "
                "built. You can build it manually via: `model.build(input_shape)`."
            )
        return int(sum(w.size for w in self.weights))

    def reset_states(self) -> None:
        """Reset the states of stateful layers."""
        for layer in self._layers:
            layer.reset_states()

    reset_state = reset_states

    # ------------------------------------------------------------------ calling
    def _check_input(self, x: np.ndarray) -> None:
        expected = self._build_input_shape if self.built else (
            self._input.batch_shape if self._input is not None else None)
        if expected is None:
            return
        ok = x.ndim == len(expected) and all(
            e is None or e == g for e, g in zip(expected[1:], x.shape[1:]))
        if not ok:
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                f"shape={(None,) + tuple(expected[1:])}, found shape={x.shape}"
            )

    def _ensure_built(self, x: np.ndarray) -> None:
        """Build on first use from the data's shape (Keras builds with the batch's shape)."""
        if not self._layers:
            raise ValueError(
                f"Sequential model '{self.name}' has no layers: add layers before calling, "
                "fitting or predicting with it."
            )
        if not self.built:
            if self._input is not None:
                self.build()
            else:
                self.build(x.shape)
        self._check_input(x)

    def _prepare_x(self, x: Any, arg: str = "x") -> np.ndarray:
        """``x`` as an array cast once to the model dtype, unless the first layer takes token
        ids (then ids keep their integer dtype)."""
        arr = as_array(x, arg)
        first = self._layers[0] if self._layers else None
        takes_ids = first is not None and getattr(first, "input_is_ids", None)
        if takes_ids is None:
            takes_ids = type(first).__name__ == "Embedding"
        if not takes_ids and arr.dtype != np.dtype(self.dtype):
            arr = arr.astype(self.dtype)  # once per call, not once per batch
        return arr

    def _forward(self, x: np.ndarray, training: bool, mask: Any = None) -> tuple[Any, Any]:
        """Run every layer; returns ``(outputs, output_mask)``."""
        layers = self._layers
        for i, layer in enumerate(layers):
            if mask is not None and not getattr(layer, "supports_masking", False):
                if layer.name not in self._mask_warned:
                    self._mask_warned.add(layer.name)
                    warnings.warn(
                        f"Layer '{layer.name}' (of type {type(layer).__name__}) was passed an "
                        "input with a mask attached to it. However, this layer does not support "
                        "masking and will therefore destroy the mask information. Downstream "
                        "layers will not see the mask.", stacklevel=3)
                mask = None
            if training and isinstance(layer, Embedding) and i + 1 < len(layers):
                # the next layer may project the embedding itself and skip the gather
                out = layer.forward(x, mask=mask, training=True, consumer=layers[i + 1])
            else:
                out = layer.forward(x, mask=mask, training=training)
            mask = layer.compute_mask(x, mask)
            x = out
        return x, mask

    def __call__(self, inputs: Any, training: bool = False, mask: Any = None) -> Any:
        """Run the model on NumPy ``inputs`` (building it on first use); returns NumPy."""
        x = self._prepare_x(inputs, "inputs")
        self._ensure_built(x)
        return self._forward(x, training=bool(training), mask=mask)[0]

    call = __call__

    def summary(self, line_length: int | None = None, positions: list | None = None,
                print_fn: Callable[..., Any] | None = None, **kwargs: Any) -> None:
        """Print Keras 3.15's summary table (see :mod:`fastrnn.models.summary`)."""
        _summary.print_summary(self, line_length=line_length, positions=positions,
                               print_fn=print_fn, **kwargs)

    # ------------------------------------------------------------------ config and saving
    def get_config(self) -> dict:
        """``{"name", "trainable", "dtype", "layers": [...], "build_input_shape"}`` (Keras's
        layout: the InputLayer, when known, is the first entry of ``layers``)."""
        from .. import layers as layers_mod

        configs = []
        if self._input is not None:
            configs.append({"module": "keras.layers", "class_name": "InputLayer",
                            "config": self._input.get_config(), "registered_name": None})
        configs.extend(layers_mod.serialize(layer) for layer in self._layers)
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype,
                  "layers": copy.deepcopy(configs)}
        if self._input is not None:
            config["build_input_shape"] = tuple(self._input.batch_shape)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Sequential:
        """Rebuild a model (new, freshly initialized weights) from ``get_config()``."""
        from .. import layers as layers_mod

        if not isinstance(config, dict) or "layers" not in config:
            raise ValueError(
                f"Sequential.from_config expects a dict with a 'layers' entry. Received: {config!r}"
            )
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for entry in config["layers"]:
            if isinstance(entry, dict) and entry.get("class_name") == "InputLayer":
                cfg = dict(entry.get("config", {}))
                layer = InputLayer(batch_shape=cfg.get("batch_shape"), dtype=cfg.get("dtype"),
                                   name=cfg.get("name"))
            else:
                layer = layers_mod.deserialize(entry)
            model.add(layer, rebuild=False)
        build_shape = config.get("build_input_shape")
        if model._layers and (model._input is not None or build_shape is not None):
            model.build(build_shape)
        if not config.get("trainable", True):
            model.trainable = False
        return model

    def save(self, filepath: Any, overwrite: bool = True, **kwargs: Any) -> None:
        """Save architecture, weights and optimizer to a ``.keras`` file (``fastrnn.saving``)."""
        from .. import saving

        saving.save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath: Any, overwrite: bool = True, **kwargs: Any) -> None:
        """Save the weights to a ``.weights.h5``-named file (``fastrnn.saving``)."""
        from .. import saving

        saving.save_weights(self, filepath, overwrite=overwrite, **kwargs)

    def load_weights(self, filepath: Any, **kwargs: Any) -> None:
        """Load weights saved by ``save_weights``/``save`` (``fastrnn.saving``)."""
        from .. import saving

        saving.load_weights(self, filepath, **kwargs)

    def __repr__(self) -> str:
        return f"<Sequential name={self.name}, built={self.built}>"


def _standardize_shape(shape: Any) -> tuple:
    if isinstance(shape, (int, np.integer)) or shape is None:
        shape = (shape,)
    try:
        out = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(
            f"`input_shape` must be a tuple of ints or None. Received: input_shape={shape!r}"
        ) from None
    if any(d is not None and d < 0 for d in out):
        raise ValueError(f"`input_shape` dimensions must be >= 0. Received: {out}")
    return out

