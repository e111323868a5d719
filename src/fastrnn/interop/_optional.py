"""Lazy imports of the optional packages interop needs (keras, torch, onnx, onnxruntime)."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["require"]


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` or raise an ImportError naming the pip package that provides it.

    fastrnn never picks a Keras backend for the user: set ``KERAS_BACKEND`` (e.g. ``"torch"``)
    before the first ``import keras`` when the default (TensorFlow) is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if importlib.util.find_spec(module) is not None:
            hint = " (it is installed but failed to import"
            if module == "keras":
                hint += "; is its backend installed? set KERAS_BACKEND, e.g. to 'torch'"
            hint += ")"
        else:
            hint = f". Install it with: pip install {module}"
        raise ImportError(
            f"{feature} needs the optional package '{module}'{hint}. Original error: {exc}"
        ) from exc
