"""``thread_limit``: run a block with at most ``n`` C++ engine threads.

An estimator's ``n_threads`` is applied with :class:`fastrnn.thread_limit`, a per-Python-thread
limit, so concurrent fits in one process (a threading joblib backend, Dask workers) each keep
their own budget and never touch the process-wide setting or ``OMP_NUM_THREADS``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from .._config import thread_limit as _engine_thread_limit

__all__ = ["thread_limit", "check_n_threads"]


def check_n_threads(n_threads: Any) -> int | None:
    """``None`` or an int >= 1; raises ValueError naming ``n_threads`` otherwise."""
    if n_threads is None:
        return None
    if isinstance(n_threads, bool) or not hasattr(n_threads, "__index__") or n_threads < 1:
        raise ValueError(
            f"`n_threads` must be None or an int >= 1. Received: n_threads={n_threads!r}"
        )
    return int(n_threads)


@contextmanager
def thread_limit(n_threads: int | None) -> Iterator[None]:
    """Use at most ``n_threads`` C++ threads inside the block (no change when ``None``)."""
    n = check_n_threads(n_threads)
    if n is None:
        yield
        return
    with _engine_thread_limit(n):
        yield
