"""fastrnn's benchmark suite as a library: ``python -m fastrnn bench`` calls :func:`main`.

fastrnn's SimpleRNN (engine ops and the Keras-like ``Sequential``) is timed against a NumPy
reference loop, PyTorch (``nn.RNN``, with and without flush-to-zero) and ONNX Runtime's ``RNN``
operator on the same weights, after checking that they compute the same numbers. The pytest
files in ``bench/`` reuse the same workloads and implementations.
"""

from __future__ import annotations

from typing import Optional

__all__ = ["main"]


def main(argv: Optional[list] = None) -> int:
    """Run the suite with command-line arguments ``argv`` (see ``--help``); exit status."""
    from .cli import main as _main

    return _main(argv)
