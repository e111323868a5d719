"""Run workloads x implementations x thread counts: check agreement, then time.

PyTorch with flush-to-zero runs in a child process (:mod:`fastrnn._bench.worker`) that calls
``torch.set_flush_denormal(True)`` before torch creates any thread, so every intra-op thread
inherits it; this process never enables it, so NumPy and PyTorch here run without it.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from .agree import Disagreement, compare_results
from .cases import WorkloadData, build_case, supports
from .timing import Deadline, blas_threads, let_thread_pools_idle, measure, numpy_flush_state
from .workloads import Workload

__all__ = ["Settings", "run_in_process", "run_ftz_worker", "available_impls"]

# Seconds of calls per interleaved scaling sample: long enough that the switch between thread
# counts (the pool's worker woken, placed on a core) is a small part of it.
SCALING_SAMPLE_S = 0.02


@dataclass
class Settings:
    """What to run and how long to spend on each measurement."""

    threads: list = field(default_factory=lambda: [1, 2])
    impls: list = field(default_factory=lambda: ["fastrnn", "numpy", "torch", "torch+ftz",
                                                 "onnxruntime"])
    budget_s: float = 0.6  # per reading (after one warm-up call)
    readings: int = 2  # timing rounds over all implementations; the best reading counts
    min_samples: int = 3
    max_samples: int = 25
    scale: str = "full"
    seed: int = 0
    deadline_s: Optional[float] = None


def available_impls(requested: list) -> tuple[list, list]:
    """Split ``requested`` into (runnable, notes on the ones skipped for missing packages)."""
    from . import onnx_peer, torch_peer

    keep, notes = [], []
    for impl in requested:
        if impl.startswith("torch") and not torch_peer.available():
            notes.append(f"{impl}: skipped, torch is not installed (pip install fastrnn[bench] "
                         "and torch==2.13.0)")
        elif impl == "onnxruntime" and not onnx_peer.available():
            notes.append("onnxruntime: skipped, onnx and onnxruntime are not both installed")
        else:
            keep.append(impl)
    return keep, notes


def _set_threads(impls: list, n: int) -> None:
    import fastrnn

    fastrnn.set_num_threads(n)
    if any(i.startswith("torch") for i in impls):
        from . import torch_peer

        torch_peer.set_threads(n)


def _record(w: Workload, impl: str, n: int, **extra) -> dict:
    rec = {"workload": w.name, "kind": w.kind, "shape": w.shape, "impl": impl, "threads": n,
           "flops": w.flops, "median_s": None, "samples_s": [], "spread": None,
           "agree_rel_err": None, "status": "ok", "note": ""}
    rec.update(extra)
    return rec


def run_in_process(workloads: list, settings: Settings, impls: list,
                   log: Callable[[str], None] = lambda s: None,
                   deadline: Optional[Deadline] = None) -> list:
    """Run ``impls`` (never ``torch+ftz`` unless this process set flush-to-zero first) on every
    workload and thread count. Returns one record per (workload, impl, threads)."""
    deadline = deadline or Deadline(settings.deadline_s)
    records = []
    for w in workloads:
        data = WorkloadData(w, settings.seed)
        mine = []
        for n in settings.threads:
            _set_threads(impls, n)
            with blas_threads(n) as blas_note:
                mine.extend(_run_one_setting(w, data, n, impls, settings, deadline, log,
                                             blas_note))
        _interleaved_scaling(w, data, impls, settings, deadline, mine)
        records.extend(mine)
    return records


def _interleaved_scaling(w, data, impls, settings, deadline, records) -> None:
    """fastrnn at every thread count in alternation, sample by sample (1, 2, 1, 2, ...):
    ``interleaved_samples_s`` and ``interleaved_median_s`` on each fastrnn record. The thread
    speed-up from these compares the same moments of a machine whose speed drifts within
    seconds, not the two ends of a workload's peer timings. Each sample follows one untimed
    call at its thread count, so the threads it times are awake, as they are in a loop of
    calls (timing the first call after a switch would charge every sample a wake-up), and
    lasts about SCALING_SAMPLE_S."""
    if "fastrnn" not in impls or len(settings.threads) < 2:
        return
    recs = {r["threads"]: r for r in records
            if r["impl"] == "fastrnn" and r["status"] == "ok" and r["median_s"] is not None}
    if len(recs) < len(settings.threads):
        return
    cases, calls = {}, {}
    for n in settings.threads:
        _set_threads(["fastrnn"], n)
        cases[n] = build_case("fastrnn", w, data, n)
        if cases[n].single_shot:  # a whole epoch: one reading is all it gets
            return
        calls[n] = max(1, math.ceil(SCALING_SAMPLE_S / max(recs[n]["median_s"], 1e-7)))
    samples = {n: [] for n in settings.threads}
    budget = settings.budget_s * settings.readings * len(settings.threads)
    most = settings.max_samples * settings.readings
    if settings.scale == "full":
        let_thread_pools_idle()  # the peers' pools, as before every other timing
    start = time.perf_counter()
    for taken in range(most):
        if deadline.expired() or (taken >= settings.min_samples
                                  and time.perf_counter() - start >= budget):
            break
        for n in settings.threads:
            _set_threads(["fastrnn"], n)
            with blas_threads(n):
                cases[n].run()
                t0 = time.perf_counter()
                for _ in range(calls[n]):
                    cases[n].run()
                samples[n].append((time.perf_counter() - t0) / calls[n])
    for n, got in samples.items():
        if got:
            recs[n].update(interleaved_samples_s=got,
                           interleaved_median_s=statistics.median(got))


def _run_one_setting(w, data, n, impls, settings, deadline, log, blas_note) -> list:
    """Check every implementation against fastrnn, then time them: ``settings.readings``
    rounds over all of them (A B C, A B C), each keeping its best reading's median, so that a
    burst of load on a shared machine does not decide a ratio."""
    out, ready = [], []
    reference = None  # fastrnn's result, computed once per setting
    for impl in impls:
        if not supports(impl, w):
            continue
        rec = _record(w, impl, n)
        out.append(rec)
        if deadline.expired():
            rec["status"] = "skipped: run deadline reached"
            continue
        try:
            if reference is None:
                reference = build_case("fastrnn", w, data, n).result()
            case = build_case(impl, w, data, n)
            _check_agreement(rec, impl, case, w, data, n, reference)
            rec["note"] = "; ".join(_notes(rec, impl, case, blas_note))
            ready.append((rec, case))
        except Exception as exc:
            _failed(rec, exc, log)
    for reading in range(settings.readings):
        for rec, case in ready:
            if rec["status"] != "ok" or (reading and case.single_shot):
                continue
            if deadline.expired() and rec["median_s"] is not None:
                continue
            try:
                _time_once(rec, case, settings)
            except Exception as exc:
                _failed(rec, exc, log)
    for rec, _ in ready:
        if rec["status"] == "ok" and rec["median_s"] is not None:
            log(f"  {w.name:38s} {rec['impl']:12s} {n:2d} threads  "
                f"{rec['median_s'] * 1e3:10.3f} ms  (agree {rec['agree_rel_err']:.1e})")
    return out


def _check_agreement(rec, impl, case, w, data, n, reference) -> None:
    if impl == "fastrnn":  # fastrnn itself is checked against the NumPy reference
        if "numpy" not in data.results:  # thread-independent: computed once
            data.results["numpy"] = build_case("numpy", w, data, n).result()
        rec["agree_rel_err"] = compare_results(f"{w.name} fastrnn vs numpy", reference,
                                               data.results["numpy"])
    else:
        rec["agree_rel_err"] = compare_results(f"{w.name} {impl} vs fastrnn", case.result(),
                                               reference)


def _notes(rec, impl, case, blas_note) -> list:
    notes = [case.note] if case.note else []
    if impl == "numpy":
        notes.append(blas_note)
        state = numpy_flush_state()
        rec["flush"] = state
        notes.append("NumPy cannot flush subnormals" if not state["ftz"] else
                     "WARNING: this thread flushes subnormals (someone set MXCSR)")
    if impl.startswith("torch"):
        from . import torch_peer

        rec["flush_fraction"] = torch_peer.flush_fraction()
        notes.append(f"torch threads flushing subnormals: {rec['flush_fraction']:.0%}")
    return notes


def _time_once(rec: dict, case, settings: Settings) -> None:
    """One reading of ``case``; the record keeps the reading with the lowest median."""
    if settings.scale == "full":
        let_thread_pools_idle()
    if case.single_shot:
        timing = measure(case.run, budget_s=0.0, min_samples=1, max_samples=1, warmup=0)
    else:
        timing = measure(case.run, budget_s=settings.budget_s, min_samples=settings.min_samples,
                         max_samples=settings.max_samples)
    rec.setdefault("reading_medians_s", []).append(timing.median)
    if rec["median_s"] is None or timing.median < rec["median_s"]:
        rec.update(median_s=timing.median, samples_s=timing.samples, spread=timing.spread)


def _failed(rec: dict, exc: Exception, log) -> None:
    """A peer failing must not sink the whole run: the record says why."""
    label = f"  {rec['workload']:38s} {rec['impl']:12s} {rec['threads']:2d} threads"
    if isinstance(exc, Disagreement):
        rec["status"] = f"DISAGREES: {exc}"
        log(f"{label}  DISAGREES: {exc}")
        return
    rec["status"] = f"error: {type(exc).__name__}: {exc}"
    log(f"{label}  error: {exc}")
    if os.environ.get("FASTRNN_BENCH_DEBUG"):
        traceback.print_exc()


def run_ftz_worker(workloads: list, settings: Settings, deadline: Deadline,
                   log: Callable[[str], None] = lambda s: None) -> list:
    """Run ``torch+ftz`` in a child process started fresh with flush-to-zero enabled."""
    remaining = None
    if settings.deadline_s is not None:
        remaining = max(1.0, settings.deadline_s - deadline.elapsed())
    payload = {
        "workloads": [w.base_name for w in workloads],
        "threads": settings.threads, "budget_s": settings.budget_s,
        "min_samples": settings.min_samples, "max_samples": settings.max_samples,
        "scale": settings.scale, "seed": settings.seed, "deadline_s": remaining,
        "readings": settings.readings,
    }
    src_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = src_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "fastrnn._bench.worker", json.dumps(payload)],
            capture_output=True, text=True, env=env,
            timeout=None if remaining is None else remaining + 120,
        )
    except subprocess.TimeoutExpired:
        return [_record(w, "torch+ftz", n, status="error: worker timed out")
                for w in workloads for n in settings.threads]
    for line in proc.stderr.splitlines():
        if line.startswith("  "):
            log(line)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return [_record(w, "torch+ftz", n, status=f"error: worker failed: {' | '.join(tail)}")
                for w in workloads for n in settings.threads]
    return json.loads(proc.stdout.strip().splitlines()[-1])
