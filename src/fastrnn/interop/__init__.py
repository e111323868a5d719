"""Conversions between fastrnn and Keras 3, PyTorch ``nn.RNN`` and ONNX.

keras, torch, onnx and onnxruntime are optional: each is imported only inside the function that
needs it, which raises an ImportError naming the pip package when it is missing. The layout
mapping and the unsupported options are listed in ``docs/interop.md``.
"""

from __future__ import annotations

from .keras_io import from_keras, to_keras
from .onnx_export import export_onnx
from .torch_io import from_torch, to_torch

__all__ = ["from_keras", "to_keras", "from_torch", "to_torch", "export_onnx"]
