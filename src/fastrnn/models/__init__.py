"""Models: ``Sequential`` (Keras's linear stack) and ``load_model``."""

from __future__ import annotations

from typing import Any

from .sequential import Sequential

__all__ = ["Sequential", "load_model"]


def load_model(filepath: Any, custom_objects: dict | None = None, compile: bool = True,
               **kwargs: Any) -> Sequential:
    """Load a model saved by ``Sequential.save`` (re-exported from ``fastrnn.saving``)."""
    from ..saving import load_model as _load_model

    return _load_model(filepath, custom_objects=custom_objects, compile=compile, **kwargs)
