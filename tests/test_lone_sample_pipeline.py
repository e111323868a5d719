"""A lone sample (B = 1) with two threads or more: a helper thread projects blocks of steps
ahead of the recurrence (pipeline_blocks in the engine). The results must be the bits of one
thread, whether the helper is awake (calls back to back), asleep (after a pause) or busy with
another caller, and correct against the NumPy float64 reference; and in a forked child, which
has no copy of the helper thread (it starts its own; a stale copy would leave every block to
the caller, which the bits alone cannot tell apart)."""

from __future__ import annotations

import multiprocessing
import sys
import time

import numpy as np
import pytest

from fastrnn import _core, ops

import reference
from thread_runner import run_threads

# Small problems would otherwise run on one thread (threads_for_work): the helper never used.
pytestmark = pytest.mark.usefixtures("threads_on_small_problems")
needs_two_threads = pytest.mark.skipif(_core.max_threads() < 2,
                                       reason="the helper needs two threads")


def _problem(T: int, dtype, seed: int = 0, F: int = 5, H: int = 16):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, T, F)).astype(dtype)
    kernel = (rng.standard_normal((F, H)) * 0.4).astype(dtype)
    rec = (np.linalg.qr(rng.standard_normal((H, H)))[0] * 0.9).astype(dtype)
    bias = (rng.standard_normal(H) * 0.1).astype(dtype)
    return x, kernel, rec, bias


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("T", [1, 23, 24, 25, 97, 1000])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_two_threads_give_the_bits_of_one(dtype, T, go_backwards):
    x, kernel, rec, bias = _problem(T, dtype, seed=T)
    one = ops.simple_rnn_forward(x, kernel, rec, bias, go_backwards=go_backwards, num_threads=1)
    want = reference.forward(x, kernel, rec, bias, go_backwards=go_backwards)[0]
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(one.outputs, want, rtol=tol, atol=tol)
    for call in range(30):  # back to back: the helper is awake and takes blocks
        two = ops.simple_rnn_forward(x, kernel, rec, bias, go_backwards=go_backwards,
                                     num_threads=2 + call % 2)
        np.testing.assert_array_equal(two.outputs, one.outputs)
        np.testing.assert_array_equal(two.final_state, one.final_state)
        np.testing.assert_array_equal(two.cache.states, one.cache.states)


@needs_two_threads
def test_the_helper_takes_blocks_of_calls_back_to_back():
    """The threaded path runs at all: over calls back to back the helper produces blocks (it
    polls for the next call; a caller alone would leave the count unchanged). Calls for up to
    10 s, not a fixed count: with other processes on both cores (CI beside other work) the
    helper was not scheduled within 200 calls of ~0.05 ms (with two busy processes beside
    it, 1-6 s)."""
    x, kernel, rec, bias = _problem(1000, np.float32, seed=2)
    before = _core._helper_blocks_produced()
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        ops.simple_rnn_forward(x, kernel, rec, bias, num_threads=2)
        if _core._helper_blocks_produced() > before:
            break
    assert _core._helper_blocks_produced() > before


def test_one_thread_never_uses_the_helper():
    x, kernel, rec, bias = _problem(1000, np.float32, seed=2)
    ops.simple_rnn_forward(x, kernel, rec, bias, num_threads=2)  # the helper exists
    time.sleep(0.01)  # and has finished any block it claimed
    before = _core._helper_blocks_produced()
    for _ in range(20):
        ops.simple_rnn_forward(x, kernel, rec, bias, num_threads=1)
    assert _core._helper_blocks_produced() == before


def test_after_a_pause_the_bits_are_the_same():
    """The helper sleeps after a pause: that call runs alone and wakes it for the next."""
    x, kernel, rec, bias = _problem(500, np.float32, seed=3)
    one = ops.simple_rnn_forward(x, kernel, rec, bias, num_threads=1).outputs
    for _ in range(4):
        time.sleep(0.01)
        for _ in range(3):
            two = ops.simple_rnn_forward(x, kernel, rec, bias, num_threads=2).outputs
            np.testing.assert_array_equal(two, one)


def test_masks_and_dropout_with_two_threads_match_the_reference():
    x, kernel, rec, bias = _problem(130, np.float64, seed=5)
    rng = np.random.default_rng(6)
    mask = rng.random((1, 130)) > 0.2
    in_drop = (rng.random((1, 5)) > 0.3) / 0.7
    rec_drop = (rng.random((1, 16)) > 0.3) / 0.7
    kwargs = dict(mask=mask, input_dropout_mask=in_drop, recurrent_dropout_mask=rec_drop)
    one = ops.simple_rnn_forward(x, kernel, rec, bias, num_threads=1, **kwargs)
    want = reference.forward(x, kernel, rec, bias, mask=mask, mx=in_drop, mh=rec_drop)[0]
    np.testing.assert_allclose(one.outputs, want, rtol=1e-12, atol=1e-12)
    for _ in range(10):
        two = ops.simple_rnn_forward(x, kernel, rec, bias, num_threads=2, **kwargs)
        np.testing.assert_array_equal(two.outputs, one.outputs)


def test_concurrent_callers_each_get_their_own_result():
    """Four Python threads at once (the GIL is released): one holds the helper, the others
    run alone; every result is its serial result."""
    problems = [_problem(300 + 17 * i, np.float32, seed=10 + i) for i in range(4)]
    serial = [ops.simple_rnn_forward(*p, num_threads=1).outputs for p in problems]
    results: dict = {}

    def job(i: int):
        def run() -> None:
            results[i] = [ops.simple_rnn_forward(*problems[i], num_threads=2).outputs
                          for _ in range(20)]
        return run

    run_threads([job(i) for i in range(len(problems))])
    assert sorted(results) == list(range(len(problems)))
    for i, outs in results.items():
        for out in outs:
            np.testing.assert_array_equal(out, serial[i])


def _child(queue) -> None:
    x, kernel, rec, bias = _problem(400, np.float32, seed=21)
    queue.put([ops.simple_rnn_forward(x, kernel, rec, bias, num_threads=2).outputs
               for _ in range(5)])


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_forked_child_gets_the_bits_of_one_thread():
    x, kernel, rec, bias = _problem(400, np.float32, seed=21)
    want = ops.simple_rnn_forward(x, kernel, rec, bias, num_threads=1).outputs
    for _ in range(5):  # the parent's helper exists and is awake when the child is forked
        ops.simple_rnn_forward(x, kernel, rec, bias, num_threads=2)
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child, args=(queue,))
    child.start()
    outs = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    for out in outs:
        np.testing.assert_array_equal(out, want)
