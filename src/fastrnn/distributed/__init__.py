"""Scaling fastrnn out: Dask batch prediction and MPI data-parallel training.

``fastrnn.distributed.dask`` needs ``dask[distributed]`` (``pip install fastrnn[dask]``) and
``fastrnn.distributed.mpi`` needs ``mpi4py`` (``pip install fastrnn[mpi]``). Importing this
package imports neither: each submodule is loaded on first attribute access.
"""

from __future__ import annotations

import importlib

__all__ = ["dask", "mpi"]


def __getattr__(name: str):
    """Import ``dask`` / ``mpi`` on first use, so ``import fastrnn.distributed`` stays light."""
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'fastrnn.distributed' has no attribute {name!r}")
