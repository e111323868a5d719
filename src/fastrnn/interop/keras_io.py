"""Keras 3 ``Sequential`` <-> fastrnn ``Sequential`` (same config, same weights).

Both libraries use the same weight layout (``kernel (in, units)``, ``recurrent_kernel
(units, units)``, one ``bias``) and the same ``get_weights`` order, so weights are copied as they
are; the work here is translating configs and refusing, by name, what fastrnn does not have.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np

from ._optional import require

__all__ = ["from_keras", "to_keras", "SUPPORTED_KERAS_LAYERS"]

#: Keras layer classes ``from_keras`` accepts (``InputLayer`` is what ``keras.Input`` creates).
SUPPORTED_KERAS_LAYERS = (
    "InputLayer", "Embedding", "SimpleRNN", "Bidirectional", "Dense", "Dropout",
    "TimeDistributed", "Masking", "Flatten", "Activation",
)

# Keras config keys fastrnn has no argument for, with the value that means "feature unused".
_NEUTRAL = {"quantization_config": None, "sparse": False, "ragged": False, "optional": False}
# Initializer config keys Keras 3.15 writes that fastrnn's initializers do not take.
_NEUTRAL_INIT = {"input_axes": None, "output_axes": None}
_BASE_KEYS = {"name", "trainable", "dtype", "activity_regularizer"}


def _unsupported(where: str, what: str) -> ValueError:
    return ValueError(f"from_keras: {where}: {what} is not supported by fastrnn.")


def _accepted_keys(cls: type) -> set[str]:
    params = inspect.signature(cls.__init__).parameters
    return {p for p in params if p not in ("self", "kwargs")} | _BASE_KEYS


def _translate_initializer(value: Any, where: str, key: str) -> Any:
    from .. import initializers

    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict) or "class_name" not in value:
        raise _unsupported(where, f"`{key}`={value!r}")
    cfg = dict(value.get("config") or {})
    for k, neutral in _NEUTRAL_INIT.items():
        if k in cfg and cfg[k] == neutral:
            del cfg[k]
        elif k in cfg:
            raise _unsupported(where, f"`{key}` option {k}={cfg[k]!r}")
    out = {"module": "keras.initializers", "class_name": value["class_name"], "config": cfg,
           "registered_name": None}
    try:
        initializers.deserialize(out)
    except (TypeError, ValueError) as exc:
        raise _unsupported(where, f"`{key}`={value['class_name']} ({exc})") from None
    return out


def _translate_regularizer(value: Any, where: str, key: str) -> Any:
    from .. import regularizers

    if value is None:
        return None
    try:
        regularizers.get(value)
    except (TypeError, ValueError) as exc:
        raise _unsupported(where, f"`{key}`={value!r} ({exc})") from None
    return value


def _translate_layer(entry: Any, where: str) -> dict:
    """A Keras layer config entry as a fastrnn one (same keys); ValueError naming the option."""
    from .. import layers

    if not isinstance(entry, dict) or "class_name" not in entry:
        raise ValueError(f"from_keras: {where}: expected a serialized layer. Received: {entry!r}")
    name = entry["class_name"]
    cfg = dict(entry.get("config") or {})
    where = f"layer '{cfg.get('name', '?')}' ({name})" if where == "" else \
        f"{where} -> layer '{cfg.get('name', '?')}' ({name})"
    if name not in SUPPORTED_KERAS_LAYERS:
        raise ValueError(
            f"from_keras: {where}: the Keras layer class {name} is not supported by fastrnn. "
            f"Supported: {', '.join(SUPPORTED_KERAS_LAYERS)}."
        )
    accepted = _accepted_keys(getattr(layers, name))
    if name == "InputLayer":
        accepted = {"batch_shape", "dtype", "name"}
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        if key in _NEUTRAL and (value == _NEUTRAL[key]):
            continue
        if key.endswith("_constraint"):
            if value is not None:
                raise _unsupported(where, f"`{key}`={value!r} (weight constraints)")
            out[key] = None
        elif key in ("layer", "backward_layer"):
            out[key] = None if value is None else _translate_layer(value, where)
        elif key.endswith("_initializer"):
            out[key] = _translate_initializer(value, where, key)
        elif key.endswith("_regularizer"):
            out[key] = _translate_regularizer(value, where, key)
        elif key in accepted:
            out[key] = value
        elif value is None or value is False:
            continue  # an option fastrnn lacks, switched off
        else:
            raise _unsupported(where, f"option `{key}`={value!r}")
    return {"module": "keras.layers", "class_name": name, "config": out, "registered_name": None}


def _build_layer(entry: dict) -> Any:
    from .. import layers

    cfg = entry["config"]
    where = f"layer '{cfg.get('name', '?')}' ({entry['class_name']})"
    try:
        if entry["class_name"] == "InputLayer":
            return layers.InputLayer(batch_shape=cfg.get("batch_shape"), dtype=cfg.get("dtype"),
                                     name=cfg.get("name"))
        return layers.deserialize(copy.deepcopy(entry))
    except (TypeError, ValueError, NotImplementedError) as exc:
        raise ValueError(f"from_keras: {where} cannot be built in fastrnn: {exc}") from exc


def from_keras(keras_model: Any) -> Any:
    """A fastrnn ``Sequential`` with the config and weights of a built Keras 3 ``Sequential``.

    Every layer must be one of :data:`SUPPORTED_KERAS_LAYERS`; a layer class or an option
    fastrnn lacks (weight constraints, LoRA, quantization, an activation or initializer it does
    not implement...) raises a ``ValueError`` naming the layer and the option. The optimizer and
    compile settings are not copied (call ``compile`` on the result); stateful layers start with
    zero states.
    """
    from ..models import Sequential

    keras = require("keras", "fastrnn.interop.from_keras")
    if not isinstance(keras_model, keras.Sequential):
        raise TypeError(
            "from_keras converts keras.Sequential models only. "
            f"Received: {type(keras_model).__module__}.{type(keras_model).__name__}"
        )
    if not keras_model.built:
        raise ValueError(
            f"from_keras: the Keras model '{keras_model.name}' is not built, so it has no "
            "weights yet. Start it with keras.Input(shape=...) or call build()/the model first."
        )
    config = keras_model.get_config()
    entries = [_translate_layer(e, "") for e in config["layers"]]
    built = [_build_layer(e) for e in entries]
    model = Sequential(name=config.get("name"))
    for layer in built:
        model.add(layer, rebuild=False)
    model.build(config.get("build_input_shape"))
    model.set_weights([np.asarray(w) for w in keras_model.get_weights()])
    if not config.get("trainable", True):
        model.trainable = False
    return model


def _strip_for_keras(entry: dict) -> dict:
    cfg = dict(entry.get("config") or {})
    cfg.pop("batch_input_shape", None)
    for key in ("layer", "backward_layer"):
        if isinstance(cfg.get(key), dict):
            cfg[key] = _strip_for_keras(cfg[key])
    return dict(entry, config=cfg)


def to_keras(model: Any) -> Any:
    """A Keras 3 ``Sequential`` with the config and weights of a built fastrnn ``Sequential``.

    Keras must be importable with a working backend (set ``KERAS_BACKEND`` first). Layers with a
    custom (non built-in) activation cannot be rebuilt by Keras and raise its error. The
    optimizer and compile settings are not copied.
    """
    from ..models import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(
            f"to_keras expects a fastrnn.models.Sequential. Received: {type(model).__name__}"
        )
    if not model.built:
        raise ValueError(
            f"to_keras: the fastrnn model '{model.name}' is not built, so it has no weights yet. "
            "Start it with fastrnn.layers.Input(shape=...) or call build() first."
        )
    keras = require("keras", "fastrnn.interop.to_keras")
    config = model.get_config()
    config["layers"] = [_strip_for_keras(e) for e in config["layers"]]
    keras_model = keras.Sequential.from_config(config)
    keras_model.set_weights(model.get_weights())
    return keras_model
