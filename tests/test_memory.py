"""Memory: repeated calls leave the resident set flat, and a request too large for the machine
raises MemoryError naming the size before any kernel runs.

RSS comes from /proc/self/statm (Linux; skipped elsewhere), read after a warm-up so that
allocator pools, OpenMP thread stacks and import-time caches are already in place.
"""

from __future__ import annotations

import gc
import os
import re
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from crash_guard import note, run_guarded  # noqa: E402

from fastrnn import layers as L  # noqa: E402
from fastrnn import ops  # noqa: E402
from fastrnn.models import Sequential  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")

_MB = 2**20
_TOLERANCE = 4 * _MB  # "within a few MB"


def rss() -> int:
    gc.collect()
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_10000_forward_backward_calls_keep_rss_flat():
    rng = np.random.default_rng(0)
    cases = []
    for dtype in ("float32", "float64"):
        x = rng.normal(size=(4, 9, 3)).astype(dtype)
        k = rng.normal(size=(3, 17)).astype(dtype)
        r = (rng.normal(size=(17, 17)) * 0.2).astype(dtype)
        cases.append((x, k, r, np.zeros(17, dtype), np.ones((4, 9), bool),
                      np.ones((4, 3), dtype), np.ones((4, 17), dtype)))
    ids = rng.integers(0, 20, size=(4, 9))
    emb = rng.normal(size=(20, 5))

    def step(i):
        x, k, r, b, m, dm, rdm = cases[i % 2]
        f = ops.simple_rnn_forward(x, k, r, b, mask=m if i % 3 == 0 else None,
                                   input_dropout_mask=dm, recurrent_dropout_mask=rdm,
                                   go_backwards=i % 4 == 0, num_threads=1 + i % 2)
        ops.simple_rnn_backward(f.cache, f.outputs, f.final_state, num_threads=1 + i % 2)
        out = ops.embedding_forward(ids, emb)
        ops.embedding_backward(ids, out, 20)

    for i in range(500):  # warm-up
        step(i)
    before = rss()
    for i in range(10_000):
        step(i)
    grown = rss() - before
    assert grown < _TOLERANCE, f"RSS grew by {grown / _MB:.1f} MB over 10,000 calls"


def test_200_fit_predict_cycles_keep_rss_flat():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 10, 3)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    m = Sequential([L.Input((None, 3)), L.SimpleRNN(8, dropout=0.1, recurrent_dropout=0.1),
                    L.Dense(1)])
    m.compile(optimizer="adam", loss="mse", metrics=["mae"])

    def cycle():
        m.fit(x, y, epochs=1, batch_size=16, verbose=0)
        m.predict(x, verbose=0)

    for _ in range(20):
        cycle()
    before = rss()
    for _ in range(200):
        cycle()
    grown = rss() - before
    assert grown < _TOLERANCE, f"RSS grew by {grown / _MB:.1f} MB over 200 fit/predict cycles"


# ------------------------------------------------------------------ requests too large

_SIZE = re.compile(r"\d+(\.\d+)?\s*(bytes|B|KiB|MiB|GiB|TiB|PiB|KB|MB|GB|TB|PB)\b")


def _physical_bytes() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _expect_memory_error(fn, label: str) -> str:
    note(label)
    try:
        fn()
    except MemoryError as exc:
        message = str(exc)
        assert _SIZE.search(message), f"{label}: MemoryError does not say the size: {message!r}"
        return message
    raise AssertionError(f"{label}: no MemoryError")


def _prop_broadcast_giants():
    """Batch 10^6 by length 10^6 through zero-stride views: the copy cannot be made."""
    from fastrnn import _core

    def no_kernel(*args, **kwargs):
        raise AssertionError("the kernel was called")

    for name in ("simple_rnn_forward", "simple_rnn_backward", "embedding_forward",
                 "embedding_backward"):
        setattr(_core, name, no_kernel)
    giant = np.broadcast_to(np.float32(0.5), (10**6, 10**6, 1))
    k, r = np.ones((1, 4), np.float32), np.eye(4, dtype=np.float32)
    out = [_expect_memory_error(lambda: ops.simple_rnn_forward(giant, k, r), "forward 1e6 x 1e6")]
    ids = np.broadcast_to(np.int64(1), (10**6, 10**4))  # 10^6 x 10^6 hangs: see the note below
    out.append(_expect_memory_error(
        lambda: ops.embedding_backward(ids, np.broadcast_to(np.float32(1), (10**6, 10**4, 10**3)),
                                       5), "embedding_backward 1e6 x 1e4 x 1e3"))
    m = Sequential([L.Input((None, 1)), L.SimpleRNN(4), L.Dense(1)])
    out.append(_expect_memory_error(lambda: m.predict(giant, batch_size=10**6, verbose=0),
                                    "Sequential.predict 1e6 x 1e6"))
    return out


def test_batch_1e6_by_length_1e6_raises_memory_error_with_size():
    # A child with an 8 GiB address-space limit: whatever the kernel's overcommit policy, a
    # runaway allocation fails there instead of waking the OOM killer.
    result = run_guarded("test_memory", "_prop_broadcast_giants", timeout=120,
                         address_space_limit=8 * 2**30)
    assert len(result["value"]) == 3


def _prop_outputs_too_large():
    """Small inputs whose outputs/states cannot fit in physical memory: ops must refuse before
    allocating them or calling the kernel."""
    from fastrnn import _core

    def no_kernel(*args, **kwargs):
        raise AssertionError("the kernel was called: the size was not checked first")

    _core.simple_rnn_forward = no_kernel
    _core.embedding_backward = no_kernel
    B, T = 4000, 1000  # x: 16 MB of float32
    H = int(_physical_bytes() // (3 * 4 * B * T)) * 2 + 1  # outputs+states: > 2x physical
    x = np.zeros((B, T, 1), np.float32)
    k = np.zeros((1, H), np.float32)
    r = np.zeros((H, H), np.float32)
    out = [_expect_memory_error(lambda: ops.simple_rnn_forward(x, k, r),
                                f"forward B={B} T={T} H={H}")]
    out.append(_expect_memory_error(
        lambda: ops.embedding_backward(np.zeros((2, 3), np.int64), np.ones((2, 3, 4)), 10**13),
        "embedding_backward input_dim=1e13"))
    return out


def test_outputs_too_large_for_memory_raise_before_the_kernel():
    run_guarded("test_memory", "_prop_outputs_too_large", timeout=120,
                address_space_limit=8 * 2**30)


def _prop_giant_token_ids():
    ids = np.broadcast_to(np.int64(1), (10**6, 10**6))
    return [_expect_memory_error(
        lambda: ops.embedding_forward(ids, np.ones((5, 3), np.float32)), "embedding 1e6 x 1e6")]


def test_embedding_forward_1e6_by_1e6_ids_raises_memory_error_quickly():
    run_guarded("test_memory", "_prop_giant_token_ids", timeout=10,
                address_space_limit=8 * 2**30)
