"""``thread_limit``: run a block with the C++ engine's global thread count set to ``n``.

fastrnn's layers take their thread count from the process-wide setting
(:func:`fastrnn.get_num_threads`), so an estimator's ``n_threads`` is applied by setting that
global for the duration of ``fit``/``predict`` and restoring it afterwards. A re-entrant lock
serializes such blocks between Python threads of one process (joblib's default ``loky``
backend runs each job in its own process, where the lock is never contended).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Iterator

from .. import _config

__all__ = ["thread_limit", "check_n_threads"]

_lock = threading.RLock()


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
    """Use ``n_threads`` C++ threads inside the block (no change when ``None``)."""
    n = check_n_threads(n_threads)
    if n is None:
        yield
        return
    with _lock:
        # Save the raw setting (None = "not set": follow OMP_NUM_THREADS / the cores), so that
        # restoring it does not freeze the default into an explicit value.
        with _config._lock:
            saved = _config._num_threads
        _config.set_num_threads(n)
        try:
            yield
        finally:
            with _config._lock:
                _config._num_threads = saved
