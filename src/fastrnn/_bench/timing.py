"""Timing and thread control shared by the command-line suite and the pytest-benchmark files."""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np

__all__ = ["Timing", "measure", "blas_threads", "numpy_flush_state", "Deadline",
           "let_thread_pools_idle"]

POOLS_IDLE_S = 0.3  # OpenBLAS worker threads spin ~2**28 cycles after their last call


def let_thread_pools_idle() -> None:
    """Wait until the thread pools of the work just done have gone to sleep.

    NumPy's OpenBLAS workers (and other pools) keep spinning on the cores for ~0.1 s after
    their last call; on 2 cores that made the next implementation's first calls 2.5x slower.
    Call this before timing anything."""
    time.sleep(POOLS_IDLE_S)


@dataclass
class Timing:
    """Seconds per call: every sample, and their median."""

    samples: list
    calls_per_sample: int

    @property
    def median(self) -> float:
        """Median seconds per call."""
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Interquartile range over median (0 for fewer than 4 samples): the noise."""
        if len(self.samples) < 4:
            return 0.0
        q = statistics.quantiles(self.samples, n=4)
        return (q[2] - q[0]) / self.median


def measure(fn: Callable[[], object], *, budget_s: float = 1.0, min_samples: int = 3,
            max_samples: int = 25, warmup: int = 1, min_sample_s: float = 2e-3) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then samples until ``budget_s`` is spent
    (at least ``min_samples``, at most ``max_samples``). Calls shorter than ``min_sample_s``
    are repeated inside one sample so the clock's resolution does not matter."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    calls = 1 if first >= min_sample_s else max(1, math.ceil(min_sample_s / max(first, 1e-7)))
    samples = [] if calls > 1 else [first]
    start = time.perf_counter()
    while len(samples) < max_samples and (
        len(samples) < min_samples or time.perf_counter() - start < budget_s
    ):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls)
    return Timing(samples, calls)


class Deadline:
    """Wall-clock limit for a whole run: ``expired()`` once ``seconds`` have passed."""

    def __init__(self, seconds: Optional[float]) -> None:
        self.seconds = seconds
        self.start = time.perf_counter()

    def expired(self) -> bool:
        """True when the limit is set and reached."""
        return self.seconds is not None and time.perf_counter() - self.start >= self.seconds

    def elapsed(self) -> float:
        """Seconds since the run began."""
        return time.perf_counter() - self.start


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[str]:
    """Limit NumPy's BLAS to ``n`` threads with threadpoolctl; yields a note for the report
    (which BLAS, or that the limit could not be applied)."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        yield "threadpoolctl not installed: NumPy's BLAS threads not limited"
        return
    info = [f"{i.get('internal_api')} {i.get('version')}" for i in threadpool_info()
            if i.get("user_api") == "blas"]
    with threadpool_limits(limits=int(n), user_api="blas"):
        yield f"BLAS {', '.join(info) or 'unknown'} limited to {n} threads"


def numpy_flush_state() -> dict:
    """Flush-to-zero / denormals-are-zero state of the calling thread, probed with NumPy.

    ``ftz``: a product whose exact result is subnormal comes out as 0. ``daz``: a subnormal
    input reads as 0. NumPy has no switch for either; they are both False unless another
    library (``torch.set_flush_denormal``) changed this thread's MXCSR.
    """
    tiny = np.array([1e-30], np.float32)
    small = np.array([1e-10], np.float32)
    sub = np.array([1e-39], np.float32)
    return {"ftz": bool((tiny * small)[0] == 0), "daz": bool((sub * np.float32(2.0))[0] == 0)}
