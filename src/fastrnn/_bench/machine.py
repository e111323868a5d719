"""Facts about the machine and the run: versions, cores, SIMD path, the sgemm ceiling."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np

from .timing import blas_threads

__all__ = ["sgemm_ceiling", "machine_info", "fastrnn_flushes", "core_speeds"]


def sgemm_ceiling(threads: int, n: int = 0, budget_s: float = 0.6) -> dict:
    """Best float32 GEMM rate NumPy's BLAS reaches with ``threads`` threads, in GFLOP/s.

    Multiplies two ``n x n`` float32 matrices (``n`` = 1024 up to 4 threads, 2048 above) into
    a preallocated output, repeatedly for ``budget_s``; the ceiling is the best sample
    (``2*n**3`` flops), i.e. what this machine's BLAS can do now, not a theoretical peak.
    """
    n = n or (1024 if threads <= 4 else 2048)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    out = np.empty((n, n), np.float32)
    best = float("inf")
    with blas_threads(threads) as note:
        np.matmul(a, b, out=out)
        start = time.perf_counter()
        reps = 0
        while reps < 3 or time.perf_counter() - start < budget_s:
            t0 = time.perf_counter()
            np.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - t0)
            reps += 1
            if reps >= 200:
                break
    return {"threads": threads, "n": n, "gflops": 2.0 * n ** 3 / best / 1e9, "note": note}


def core_speeds(rounds: int = 9, shape: tuple = (64, 200, 32)) -> dict:
    """Single-thread speed of each usable core: the same one-thread fastrnn forward pass
    ((B, T, H) = ``shape``, token ids) with the calling thread pinned to each core in turn,
    ``rounds`` times round-robin; per-core medians in ms and slowest / fastest.

    Threads that split work evenly finish with the slowest core, so on a machine whose cores
    run at different speeds (a VM sharing them with other guests) the 1 -> N thread speedup is
    bounded by N x slowest / (the core the 1-thread run used). Linux only (thread affinity);
    elsewhere ``{"error": ...}``.
    """
    if not hasattr(os, "sched_setaffinity"):
        return {"error": "no os.sched_setaffinity on this platform"}
    from .. import ops

    B, T, H = shape
    rng = np.random.default_rng(0)
    table = (rng.standard_normal((100, H)) * 0.1).astype(np.float32)
    rec = (rng.standard_normal((H, H)) * 0.1).astype(np.float32)
    ids = rng.integers(0, 100, (B, T))
    saved = os.sched_getaffinity(0)
    cores = sorted(saved)
    times: dict = {c: [] for c in cores}
    try:
        for _ in range(max(1, rounds)):
            for c in cores:
                os.sched_setaffinity(0, {c})
                ops.simple_rnn_forward(table, None, rec, None, token_ids=ids,
                                       return_sequences=False, num_threads=1)  # warm on this core
                t0 = time.perf_counter()
                ops.simple_rnn_forward(table, None, rec, None, token_ids=ids,
                                       return_sequences=False, num_threads=1)
                times[c].append(time.perf_counter() - t0)
    except OSError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        os.sched_setaffinity(0, saved)
    ms = {str(c): float(np.median(v)) * 1e3 for c, v in times.items()}
    return {"shape": list(shape), "rounds": rounds, "ms": ms,
            "slowest_over_fastest": max(ms.values()) / min(ms.values())}


def fastrnn_flushes() -> bool:
    """True when fastrnn's kernels flush subnormals: a linear SimpleRNN step on a subnormal
    input (1e-39 times weight 1) returns exactly 0 only under denormals-are-zero."""
    from .. import ops

    x = np.full((1, 1, 1), 1e-39, np.float32)
    one = np.ones((1, 1), np.float32)
    zero = np.zeros((1, 1), np.float32)
    res = ops.simple_rnn_forward(x, one, zero, None, activation="linear", num_threads=1)
    return bool(res.outputs[0, 0, 0] == 0)


def _git_commit() -> str:
    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return ""
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """Versions, CPU, usable cores, load average, fastrnn build facts and the git commit."""
    import fastrnn

    info = {
        "fastrnn": fastrnn.__version__,
        "commit": _git_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": _cpu_model(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    try:
        from .. import _core

        info["simd"] = fastrnn.simd_path()
        info["openmp"] = bool(_core.openmp_enabled())
        info["compiler"] = str(_core.compiler())
    except Exception as exc:  # the extension is not built
        info["core_error"] = f"{type(exc).__name__}: {exc}"
    return info
