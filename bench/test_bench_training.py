"""Training workloads: stacked and bidirectional SimpleRNNs (forward+BPTT), the lecture model's
training step (``Sequential.train_on_batch`` vs PyTorch vs NumPy) and, opt-in, a full epoch."""

from __future__ import annotations

import os

import pytest

from fastrnn._bench.cases import IMPLS
from fastrnn._bench.workloads import default_workloads, full_epoch_workload

TRAIN_WORKLOADS = [w for w in default_workloads()
                   if w.kind == "lecture-step" or w.layers > 1 or w.bidirectional]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("workload", TRAIN_WORKLOADS, ids=lambda w: w.name.replace(" ", "-"))
def test_training(benchmark, run_case, workload, impl, threads):
    run_case(benchmark, workload, impl, threads)


@pytest.mark.skipif(not os.environ.get("FASTRNN_BENCH_FULL_EPOCH"),
                    reason="a full epoch takes minutes: set FASTRNN_BENCH_FULL_EPOCH=1")
@pytest.mark.parametrize("impl", ["fastrnn", "torch", "numpy"])
def test_full_epoch(benchmark, run_case, impl, threads):
    run_case(benchmark, full_epoch_workload(), impl, threads)
