"""Shared fixtures of the pytest-benchmark suite.

Every benchmark checks that its implementation agrees with fastrnn on the same weights (fastrnn
itself: with the NumPy reference) before ``benchmark(...)`` times it; each workload and thread
count is one ``benchmark.group``, fastrnn and every peer separate benchmarks in it.

Environment:
    FASTRNN_BENCH_SCALE: ``full`` (issue-4 shapes) or ``smoke`` (tiny). Default: ``smoke`` when
        timing is off (``--benchmark-disable``, as CI runs it), ``full`` otherwise.
    FASTRNN_BENCH_THREADS: thread counts, comma-separated (default ``1,2``).

Run:  pytest bench                                  # timed, full shapes
      pytest bench --benchmark-disable -q           # CI: agreement only, seconds
      FASTRNN_BENCH_SCALE=full pytest bench --benchmark-disable   # agreement at full shapes
"""

from __future__ import annotations

import contextlib
import functools
import os

import numpy as np
import pytest

from fastrnn._bench import cases
from fastrnn._bench.agree import compare_results
from fastrnn._bench.timing import blas_threads, let_thread_pools_idle, numpy_flush_state
from fastrnn._bench.workloads import SCALE_ENV, Workload, scaled


def _threads() -> list:
    text = os.environ.get("FASTRNN_BENCH_THREADS", "1,2")
    return sorted({int(t) for t in text.split(",") if t.strip()})


def pytest_generate_tests(metafunc):
    if "threads" in metafunc.fixturenames:
        metafunc.parametrize("threads", _threads(), ids=lambda n: f"{n}thr")


@pytest.fixture(scope="session")
def bench_scale(request) -> str:
    """``full`` or ``smoke`` (see the module docstring)."""
    scale = os.environ.get(SCALE_ENV)
    if scale:
        return scale
    disabled = request.config.getoption("benchmark_disable", default=False)
    return "smoke" if disabled else "full"


@functools.lru_cache(maxsize=4)
def _data(w: Workload) -> cases.WorkloadData:
    return cases.WorkloadData(w)


@contextlib.contextmanager
def _torch_flush(on: bool):
    import torch

    torch.set_flush_denormal(on)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)


@pytest.fixture
def run_case(bench_scale):
    """``run_case(benchmark, workload, impl, threads)``: check agreement, then time."""

    def run(benchmark, workload: Workload, impl: str, threads: int) -> None:
        w = scaled(workload, bench_scale)
        if not cases.supports(impl, w):
            pytest.skip(f"{impl} has no {w.kind} version")
        if impl.startswith("torch"):
            pytest.importorskip("torch")
        if impl == "onnxruntime":
            pytest.importorskip("onnx")
            pytest.importorskip("onnxruntime")
        if impl == "torch+ftz" and threads != 1:
            pytest.skip("torch+ftz with several threads needs a fresh process (threads inherit "
                        "the MXCSR of their creator): use python -m fastrnn bench")
        import fastrnn

        fastrnn.set_num_threads(threads)
        if impl.startswith("torch"):
            import torch

            torch.set_num_threads(threads)
        data = _data(w)
        flush = _torch_flush(True) if impl == "torch+ftz" else contextlib.nullcontext()
        with blas_threads(threads), flush:
            reference = cases.build_case("fastrnn", w, data, threads).result()
            case = cases.build_case(impl, w, data, threads)
            if impl == "fastrnn":
                err = compare_results(f"{w.name} fastrnn vs numpy", reference,
                                      cases.build_case("numpy", w, data, threads).result())
            else:
                err = compare_results(f"{w.name} {impl} vs fastrnn", case.result(), reference)
            if impl == "numpy":
                assert not numpy_flush_state()["ftz"], "the main thread flushes subnormals"
            benchmark.group = f"{w.name} @ {threads} thr"
            benchmark.extra_info.update(shape=w.shape, flops=w.flops, agree_rel_err=err,
                                        impl=impl, threads=threads)
            if not benchmark.disabled:
                let_thread_pools_idle()  # e.g. NumPy's BLAS workers from the reference above
            if case.single_shot:
                benchmark.pedantic(case.run, rounds=1, iterations=1)
            else:
                benchmark(case.run)
        assert np.isfinite(err)

    return run
