"""Keras-compatible layers on NumPy arrays (names mirror ``keras.layers``)."""

from __future__ import annotations

from typing import Any

from .base import Layer, Weight, reset_name_counters
from .bidirectional import Bidirectional
from .core import Activation, Flatten
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .input_layer import Input, InputLayer
from .masking import Masking
from .simple_rnn import SimpleRNN, SimpleRNNCell
from .time_distributed import TimeDistributed

__all__ = [
    "Layer", "Weight", "Input", "InputLayer", "SimpleRNN", "SimpleRNNCell", "Bidirectional",
    "Embedding", "Dense", "Dropout", "Masking", "TimeDistributed", "Flatten", "Activation",
    "serialize", "deserialize", "get", "reset_name_counters",
]

_CLASSES: dict[str, type] = {
    c.__name__: c for c in (
        InputLayer, SimpleRNN, SimpleRNNCell, Bidirectional, Embedding, Dense, Dropout, Masking,
        TimeDistributed, Flatten, Activation,
    )
}


def serialize(layer: Layer) -> dict:
    """``{"module", "class_name", "config", "registered_name"}`` as Keras writes it."""
    if not isinstance(layer, Layer):
        raise TypeError(f"serialize expects a fastrnn layer. Received: {type(layer).__name__}")
    return {"module": "keras.layers", "class_name": type(layer).__name__,
            "config": layer.get_config(), "registered_name": None}


def deserialize(config: dict, custom_objects: dict | None = None) -> Layer:
    """Inverse of ``serialize``; ``custom_objects`` maps class names to extra layer classes."""
    if isinstance(config, Layer):
        return config
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            f"A layer config must be a dict with 'class_name' and 'config'. Received: {config!r}"
        )
    name = config["class_name"]
    classes = dict(_CLASSES)
    classes.update(custom_objects or {})
    cls = classes.get(name)
    if cls is None:
        raise ValueError(f"Unknown layer: {name!r}. Known: {sorted(classes)}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier: Any) -> Layer:
    """A layer instance, or one deserialized from a config dict."""
    return deserialize(identifier)
