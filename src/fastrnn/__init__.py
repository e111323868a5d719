"""fastrnn: Keras-compatible recurrent neural networks with a fast C++ core for CPUs.

Not to be confused with Microsoft EdgeML's "FastRNN" cell: this package implements Keras's
``SimpleRNN`` (Elman) layer, its training API and scikit-learn estimators.
"""

from __future__ import annotations

import importlib
import os
import warnings

# OpenMP threads that finished a kernel spin before sleeping; libgomp's default (300,000 spins)
# steals the cores from the Python code running between kernels on a busy machine. A shorter
# spin keeps barriers inside a kernel fast. Read once when the OpenMP runtime loads; an explicit
# setting by the user wins.
os.environ.setdefault("GOMP_SPINCOUNT", "20000")

from ._config import (
    available_simd_paths,
    get_num_threads,
    set_num_threads,
    set_simd_path,
    show_config,
    simd_path,
    thread_limit,
)

__version__ = "0.1.0"

_SUBMODULES = (
    "activations", "callbacks", "datasets", "initializers", "interop", "layers", "losses",
    "metrics", "models", "ops", "optimizers", "preprocessing", "regularizers", "saving",
    "sklearn", "utils", "distributed",
)

__all__ = [
    "__version__", "available_simd_paths", "get_num_threads", "set_num_threads",
    "set_simd_path", "show_config", "simd_path", "thread_limit", *_SUBMODULES,
]


def _check_simd_request() -> None:
    """Warn when FASTRNN_SIMD asks for a path this CPU or build cannot run."""
    requested = os.environ.get("FASTRNN_SIMD")
    if requested and requested != simd_path():
        warnings.warn(
            f"FASTRNN_SIMD={requested!r} is unknown or not supported here; using "
            f"{simd_path()!r} (available: {', '.join(available_simd_paths())})",
            RuntimeWarning,
            stacklevel=2,
        )


_check_simd_request()


def __getattr__(name: str):
    """Import submodules on first use (``fastrnn.layers``, ``fastrnn.models``, ...)."""
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fastrnn' has no attribute {name!r}")
