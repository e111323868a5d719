"""One implementation of one workload, ready to check and time: :func:`build_case`.

Implementations: ``fastrnn``, ``numpy`` (always), ``torch`` and ``torch+ftz`` (PyTorch, without
and with flush-to-zero; the latter only in a process whose threads were created after
``torch.set_flush_denormal(True)``), ``onnxruntime`` (inference only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import fastrnn_impl, numpy_peer
from .workloads import Workload, make_lecture_data, make_rnn_data

__all__ = ["Case", "build_case", "supports", "IMPLS", "WorkloadData"]

IMPLS = ("fastrnn", "numpy", "torch", "torch+ftz", "onnxruntime")


@dataclass
class Case:
    """``run()`` is the timed call; ``result()`` gives the dict compared with fastrnn's
    (it may change state, so it runs before timing); ``single_shot`` marks workloads timed
    once (a whole epoch)."""

    run: Callable[[], object]
    result: Callable[[], dict]
    single_shot: bool = False
    note: str = ""


def supports(impl: str, w: Workload) -> bool:
    """Whether ``impl`` has a version of workload ``w`` (ONNX Runtime only does inference)."""
    if impl == "onnxruntime":
        return w.kind == "inference"
    return impl in IMPLS


class WorkloadData:
    """Seeded inputs of one workload, built once and shared by all implementations."""

    def __init__(self, w: Workload, seed: int = 0) -> None:
        self.w = w
        self.results: dict = {}  # reference results worth keeping across thread counts
        if w.kind.startswith("lecture"):
            self.lecture = make_lecture_data(w, seed)
            self.rnn = None
        else:
            self.rnn = make_rnn_data(w, seed)
            self.lecture = None


def _batches(n: int, batch: int, seed: int = 1):
    order = np.random.default_rng(seed).permutation(n)
    return [order[i:i + batch] for i in range(0, n, batch)]


def _fastrnn_case(w: Workload, d: WorkloadData, threads: int) -> Case:
    if d.rnn is not None:
        r = d.rnn
        if w.kind == "inference":
            fn = lambda: fastrnn_impl.network_forward(r.x, r.weights, w.bidirectional, threads)  # noqa: E731
        else:
            fn = lambda: fastrnn_impl.network_train(r.x, r.weights, w.bidirectional, r.d_final, threads)  # noqa: E731
        return Case(fn, fn)
    lec = d.lecture
    import fastrnn

    fastrnn.set_num_threads(threads)  # layers use the global setting
    model = fastrnn_impl.lecture_model(lec.weights)
    first = (lec.ids[:w.B], lec.y[:w.B])

    def result() -> dict:
        probe = fastrnn_impl.lecture_model(lec.weights)
        loss, grads = fastrnn_impl.lecture_step_details(probe, *first)
        return {"loss": loss, "grads": grads}

    if w.kind == "lecture-step":
        return Case(lambda: model.train_on_batch(*first), result, note="Sequential.train_on_batch")
    return Case(lambda: model.fit(lec.ids, lec.y, batch_size=w.B, epochs=1, verbose=0,
                                  shuffle=True),
                result, single_shot=True, note="Sequential.fit, 1 epoch")


def _numpy_case(w: Workload, d: WorkloadData) -> Case:
    if d.rnn is not None:
        r = d.rnn
        if w.kind == "inference":
            fn = lambda: numpy_peer.network_forward(r.x, r.weights, w.bidirectional)  # noqa: E731
        else:
            fn = lambda: numpy_peer.network_train(r.x, r.weights, w.bidirectional, r.d_final)  # noqa: E731
        return Case(fn, fn)
    lec = d.lecture
    model = numpy_peer.LectureNumpy(lec.weights)
    first = (lec.ids[:w.B], lec.y[:w.B])

    def result() -> dict:
        loss, grads = numpy_peer.LectureNumpy(lec.weights).train_step(*first)
        return {"loss": loss, "grads": grads}

    if w.kind == "lecture-step":
        return Case(lambda: model.train_step(*first), result)

    def epoch() -> None:
        for idx in _batches(len(lec.ids), w.B):
            model.train_step(lec.ids[idx], lec.y[idx])

    return Case(epoch, result, single_shot=True)


def _torch_case(w: Workload, d: WorkloadData) -> Case:
    import torch

    from . import torch_peer

    if d.rnn is not None:
        r = d.rnn
        net = torch_peer.TorchNetwork(r.weights, w.bidirectional)
        x_t = torch.from_numpy(r.x)
        if w.kind == "inference":
            return Case(lambda: net.forward(x_t), lambda: net.forward(x_t))
        d_t = torch.from_numpy(r.d_final)
        return Case(lambda: net.train(x_t, d_t),
                    lambda: net.keras_grads(net.train(x_t, d_t)), note="dx computed too")
    lec = d.lecture
    model = torch_peer.TorchLecture(lec.weights)
    ids_t, y_t = torch.from_numpy(lec.ids), torch.from_numpy(lec.y)
    first = (ids_t[:w.B], y_t[:w.B])

    def result() -> dict:
        probe = torch_peer.TorchLecture(lec.weights)
        loss = float(probe.train_step(*first).detach())
        return {"loss": loss, "grads": probe.keras_grads()}

    note = "RMSprop eps outside sqrt (Keras: inside)"
    if w.kind == "lecture-step":
        return Case(lambda: model.train_step(*first), result, note=note)

    def epoch() -> None:
        for idx in _batches(len(lec.ids), w.B):
            idx_t = torch.from_numpy(idx)
            model.train_step(ids_t[idx_t], y_t[idx_t])

    return Case(epoch, result, single_shot=True, note=note)


def _onnx_case(w: Workload, d: WorkloadData, threads: int) -> Case:
    from . import onnx_peer

    r = d.rnn
    net = onnx_peer.OnnxNetwork(r.weights, w.bidirectional, w.F, threads)
    x_tbf = net.time_major(r.x)
    return Case(lambda: net.run(x_tbf), lambda: net.forward(x_tbf),
                note="time-major input prepared outside the timing")


def build_case(impl: str, w: Workload, d: WorkloadData, threads: int) -> Optional[Case]:
    """The :class:`Case` of ``impl`` for ``w`` at ``threads`` (the caller has already set the
    torch / BLAS thread counts), or None when ``impl`` has no version of ``w``."""
    if not supports(impl, w):
        return None
    if impl == "fastrnn":
        return _fastrnn_case(w, d, threads)
    if impl == "numpy":
        return _numpy_case(w, d)
    if impl in ("torch", "torch+ftz"):
        return _torch_case(w, d)
    return _onnx_case(w, d, threads)
