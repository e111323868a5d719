"""SimpleRNN kernel workloads: inference and forward+BPTT, fastrnn vs NumPy/PyTorch/ONNX Runtime."""

from __future__ import annotations

import pytest

from fastrnn._bench.cases import IMPLS
from fastrnn._bench.workloads import default_workloads

KERNEL_WORKLOADS = [w for w in default_workloads()
                    if w.kind in ("inference", "train") and w.layers == 1 and not w.bidirectional]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("workload", KERNEL_WORKLOADS, ids=lambda w: w.name.replace(" ", "-"))
def test_kernel(benchmark, run_case, workload, impl, threads):
    run_case(benchmark, workload, impl, threads)
