"""The benchmark workloads: shapes, FLOP counts, targets and seeded data.

Shapes are ``(B, T, F) -> H``: batch, time steps, input features, units. A SimpleRNN forward
pass costs ``2*B*T*(F*H + H*H)`` flops (input projection plus recurrence); the backward pass is
counted as twice that, so forward+backward is three times the forward count. Stacked networks
add ``2*B*T*(H*H + H*H)`` per extra layer, a bidirectional layer doubles its layer's count.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Optional

import numpy as np

__all__ = [
    "Workload", "Target", "RNNData", "LectureData", "default_workloads", "full_epoch_workload",
    "scaled", "make_rnn_data", "make_lecture_data", "SCALE_ENV",
]

SMOKE_MARK = " [smoke]"
SCALE_ENV = "FASTRNN_BENCH_SCALE"  # "smoke" shrinks every shape (CI), "full" (default) keeps them

# Lecture model: Embedding(VOCAB, EMBED) -> SimpleRNN(EMBED) -> Dense(1, sigmoid), RMSprop.
VOCAB, EMBED = 10000, 32


@dataclass(frozen=True)
class Target:
    """A speed goal for one workload at the report's thread count (2 by default).

    ``peer`` is ``"torch"`` (the faster of PyTorch with and without flush-to-zero), ``"numpy"``
    or ``"sgemm"`` (fraction of the measured sgemm ceiling); ``"latency"`` means an absolute
    bound in milliseconds on fastrnn's median.
    """

    peer: str
    value: float

    def describe(self) -> str:
        """Human-readable goal, e.g. ``>= 5x torch``."""
        if self.peer == "latency":
            return f"<= {self.value:g} ms"
        if self.peer == "sgemm":
            return f">= {self.value:.0%} of sgemm"
        return f">= {self.value:g}x {self.peer}"


@dataclass(frozen=True)
class Workload:
    """One benchmarked job.

    ``kind``: ``"inference"`` (forward only), ``"train"`` (forward + backward through time with a
    loss on the final state, the layer's share of a training step), ``"lecture-step"`` (one
    ``train_on_batch`` of the lecture model) or ``"lecture-epoch"`` (one epoch of it).
    ``layers`` > 1 stacks SimpleRNNs (all but the last return sequences); ``bidirectional``
    wraps the (single) layer in Bidirectional with concatenated final states.
    """

    name: str
    kind: str
    B: int
    T: int
    F: int
    H: int
    layers: int = 1
    bidirectional: bool = False
    samples: int = 0  # lecture-epoch only: sequences per epoch
    targets: tuple = field(default_factory=tuple)

    @property
    def base_name(self) -> str:
        """The name without the ``[smoke]`` mark that :func:`scaled` adds."""
        return self.name[: -len(SMOKE_MARK)] if self.name.endswith(SMOKE_MARK) else self.name

    @property
    def shape(self) -> str:
        """``(B, T, F)->H`` as printed in tables."""
        return f"({self.B}, {self.T}, {self.F})->{self.H}"

    @property
    def forward_flops(self) -> float:
        """Flops of one forward pass over one batch (the formula in the module docstring)."""
        per_layer = [2.0 * self.B * self.T * (self.F * self.H + self.H * self.H)]
        for _ in range(1, self.layers):
            per_layer.append(2.0 * self.B * self.T * (self.H * self.H + self.H * self.H))
        total = sum(per_layer)
        return 2.0 * total if self.bidirectional else total

    @property
    def flops(self) -> float:
        """Flops of one timed call: forward, or forward + backward (3x forward) when training."""
        if self.kind == "inference":
            return self.forward_flops
        steps = 1
        if self.kind == "lecture-epoch":
            steps = -(-self.samples // self.B)
        return 3.0 * self.forward_flops * steps

    @property
    def trains(self) -> bool:
        """True when the workload computes gradients."""
        return self.kind != "inference"


def default_workloads() -> list[Workload]:
    """The suite's default workloads (issue 4), in report order."""
    shapes = [(128, 500, 32, 32), (128, 100, 128, 128), (64, 100, 512, 512), (1, 1000, 32, 32)]
    inf_targets = {
        (128, 500, 32, 32): (Target("torch", 5.0), Target("numpy", 2.5)),
        (1, 1000, 32, 32): (Target("latency", 0.07),),
    }
    train_targets = {
        (128, 100, 128, 128): (Target("torch", 2.0),),
        (64, 100, 512, 512): (Target("torch", 1.1), Target("sgemm", 0.60)),
    }
    out = []
    for s in shapes:
        B, T, F, H = s
        out.append(Workload(f"inference {B}x{T}x{F}->{H}", "inference", B, T, F, H,
                            targets=inf_targets.get(s, ())))
    for s in shapes:
        B, T, F, H = s
        out.append(Workload(f"train {B}x{T}x{F}->{H}", "train", B, T, F, H,
                            targets=train_targets.get(s, ())))
    out.append(Workload("train stacked 2x 128x500x32->32", "train", 128, 500, 32, 32, layers=2))
    out.append(Workload("train bidirectional 128x500x32->32", "train", 128, 500, 32, 32,
                        bidirectional=True))
    out.append(Workload("lecture step 128x500", "lecture-step", 128, 500, EMBED, EMBED,
                        targets=(Target("torch", 10.0),)))
    return out


def full_epoch_workload() -> Workload:
    """One epoch of the lecture model: 20,000 sequences of length 500, batch 128 (opt-in)."""
    return Workload("lecture epoch 20000x500", "lecture-epoch", 128, 500, EMBED, EMBED,
                    samples=20000)


def scaled(w: Workload, scale: Optional[str] = None) -> Workload:
    """Shrink ``w`` for smoke runs (``scale="smoke"`` or ``$FASTRNN_BENCH_SCALE=smoke``).

    Smoke shapes keep every code path (stacking, bidirectional, batch 1, the lecture model's
    vocabulary) but cap B at 8, T at 24 and F, H at 16 so the whole suite runs in seconds.
    """
    scale = scale or os.environ.get(SCALE_ENV, "full")
    if scale == "full":
        return w
    if scale != "smoke":
        raise ValueError(f"{SCALE_ENV} must be 'full' or 'smoke'. Received: {scale!r}")
    if w.name.endswith(SMOKE_MARK):
        return w
    lecture = w.kind.startswith("lecture")
    return replace(
        w, name=w.name + SMOKE_MARK, B=min(w.B, 8), T=min(w.T, 24),
        F=w.F if lecture else min(w.F, 16), H=w.H if lecture else min(w.H, 16),
        samples=min(w.samples, 40) if w.samples else 0,
    )


@dataclass
class RNNData:
    """Inputs and weights of a kernel workload (Keras layout, float32).

    ``weights[d][l]`` = ``(kernel (F_l, H), recurrent_kernel (H, H), bias (H,))`` for direction
    ``d`` (0 forward, 1 backward when bidirectional) and layer ``l``; ``d_final`` is the loss
    gradient on the network's final output ((B, H), or (B, 2H) when bidirectional).
    """

    x: np.ndarray
    weights: list
    d_final: np.ndarray


@dataclass
class LectureData:
    """Token ids (B*steps, T) int64, labels float32 and the lecture model's initial weights
    in Keras order: embeddings, kernel, recurrent_kernel, bias, dense kernel, dense bias."""

    ids: np.ndarray
    y: np.ndarray
    weights: list


def _glorot(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)


def _orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.sign(np.diag(r))).astype(np.float32)


def _rnn_layer(rng: np.random.Generator, F: int, H: int) -> tuple:
    # Keras defaults: glorot_uniform kernel, orthogonal recurrent kernel; a small random bias
    # (instead of Keras's zeros) so that agreement checks exercise the bias path.
    bias = rng.uniform(-0.1, 0.1, size=H).astype(np.float32)
    return _glorot(rng, F, H), _orthogonal(rng, H), bias


def make_rnn_data(w: Workload, seed: int = 0) -> RNNData:
    """Seeded inputs, Keras-initialized weights and a loss gradient for a kernel workload."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((w.B, w.T, w.F)).astype(np.float32)
    directions = 2 if w.bidirectional else 1
    weights = []
    for _ in range(directions):
        layers, fan_in = [], w.F
        for _ in range(w.layers):
            layers.append(_rnn_layer(rng, fan_in, w.H))
            fan_in = w.H
        weights.append(layers)
    d_final = rng.standard_normal((w.B, w.H * directions)).astype(np.float32) / w.B
    return RNNData(x, weights, d_final)


def make_lecture_data(w: Workload, seed: int = 0) -> LectureData:
    """IMDB-shaped synthetic data (ids in [1, VOCAB)) and Keras-initialized lecture weights."""
    rng = np.random.default_rng(seed)
    n = w.samples if w.kind == "lecture-epoch" else w.B
    ids = rng.integers(1, VOCAB, size=(n, w.T), dtype=np.int64)
    y = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    emb = rng.uniform(-0.05, 0.05, size=(VOCAB, EMBED)).astype(np.float32)
    kernel, rec, bias = _rnn_layer(rng, EMBED, EMBED)
    dense_k = _glorot(rng, EMBED, 1)
    dense_b = np.zeros(1, np.float32)
    return LectureData(ids, y, [emb, kernel, rec, bias, dense_k, dense_b])
