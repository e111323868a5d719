"""Process-wide settings of the C++ engine: thread count and SIMD path."""

from __future__ import annotations

import os
import threading


_num_threads: int | None = None  # set_num_threads; a single assignment or read needs no lock


class _ThreadLocalLimit(threading.local):
    """Per-Python-thread override set by thread_limit(); None when unset (a class default, so
    reading it raises and catches nothing: kernels are called often)."""

    limit: int | None = None


_local = _ThreadLocalLimit()


_CPU_COUNT = max(1, os.cpu_count() or 1)


def _max_threads() -> int:
    """Upper bound for any thread count: more threads than this only add overhead."""
    return 4 * _CPU_COUNT


_default_cache: tuple[str, int] | None = None  # (OMP_NUM_THREADS as read, its thread count)


def _default_num_threads() -> int:
    """Threads used when none were set: ``OMP_NUM_THREADS``, else the usable cores (the CPU
    affinity, read once per value of ``OMP_NUM_THREADS``: kernels are called often)."""
    global _default_cache
    raw = os.environ.get("OMP_NUM_THREADS", "")
    cached = _default_cache
    if cached is not None and cached[0] == raw:
        return cached[1]
    env = raw.split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        n = int(env)
    else:
        try:
            n = max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - not Linux
            n = max(1, os.cpu_count() or 1)
    _default_cache = (raw, n)
    return n


def get_num_threads() -> int:
    """Number of threads the C++ kernels use when a call does not say otherwise."""
    override = _local.limit
    if override is not None:
        return override
    chosen = _num_threads
    return chosen if chosen is not None else min(_default_num_threads(), _max_threads())


def _thread_count(n, name: str) -> int:
    """Validate a thread count: an int >= 1, capped at 4x the CPUs."""
    if isinstance(n, bool) or not hasattr(n, "__index__"):
        raise TypeError(f"{name} must be an int >= 1. Received: {n!r}")
    n = int(n)
    if n < 1:
        raise ValueError(f"{name} must be >= 1. Received: {n}")
    return min(n, _max_threads())


def set_num_threads(n: int) -> None:
    """Set the number of threads the C++ kernels use (``n >= 1``; capped at 4x the CPUs)."""
    global _num_threads
    n = _thread_count(n, "set_num_threads: n")
    _num_threads = n


class thread_limit:
    """Context manager: kernels called from this Python thread use at most ``n`` threads.

    The limit is per Python thread, so concurrent fits (e.g. scikit-learn searches with a
    threading backend) can each have their own budget::

        with fastrnn.thread_limit(1):
            model.fit(x, y)
    """

    def __init__(self, n: int):
        self.n = _thread_count(n, "thread_limit: n")
        self._saved: list[int | None] = []

    def __enter__(self) -> "thread_limit":
        self._saved.append(_local.limit)
        _local.limit = self.n
        return self

    def __exit__(self, *exc) -> None:
        _local.limit = self._saved.pop()


def resolve_num_threads(num_threads: int | None) -> int:
    """A call's thread count: the explicit value if given, else the current setting."""
    if num_threads is None:
        return get_num_threads()
    if type(num_threads) is int and num_threads >= 1:
        return min(num_threads, _max_threads())
    if isinstance(num_threads, float) and num_threads.is_integer():
        num_threads = int(num_threads)
    if isinstance(num_threads, bool) or not hasattr(num_threads, "__index__"):
        raise ValueError(f"num_threads must be an int >= 1 or None. Received: {num_threads!r}")
    if int(num_threads) < 1:
        raise ValueError(f"num_threads must be an int >= 1 or None. Received: {num_threads!r}")
    return min(int(num_threads), _max_threads())


def simd_path() -> str:
    """The SIMD path the kernels use now: ``"avx512"``, ``"avx2"`` or ``"generic"``."""
    from . import _core

    return _core.simd_path()


def available_simd_paths() -> list[str]:
    """Every SIMD path this CPU can run, fastest first."""
    from . import _core

    return list(_core.available_simd_paths())


def set_simd_path(name: str) -> None:
    """Force a SIMD path (``"avx512"``, ``"avx2"``, ``"generic"``); also ``FASTRNN_SIMD``."""
    from . import _core

    _core.set_simd_path(name)


def show_config() -> None:
    """Print the version, SIMD path, OpenMP, thread count and compiler of this build."""
    from . import __version__, _core

    print(f"fastrnn {__version__}")
    print(f"  SIMD path:        {simd_path()} (available: {', '.join(available_simd_paths())})")
    print(f"  OpenMP:           {'on' if _core.openmp_enabled() else 'off'}")
    blas = "OpenBLAS (scipy-openblas32), for wide layers" if _core.blas_available() else "none"
    print(f"  BLAS:             {blas}")
    print(f"  threads:          {get_num_threads()}")
    print(f"  compiler:         {_core.compiler()}")
