"""simple_rnn_forward/backward with return_sequences=False: only the last output (B, H) comes
back, the engine writes no (B, T, H) outputs, and projected inputs keep their states
time-major, (T, B, H). Checked against the NumPy reference (the last column of its outputs and
the gradients of a loss on it), against the return_sequences=True call on the same inputs,
across thread counts, on every option, and on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import _core, ops

import reference as ref

OPTIONS = [
    {},
    {"go_backwards": True},
    {"mask": True},
    {"mask": True, "zero_output_for_mask": True},
    {"mask": True, "zero_output_for_mask": True, "go_backwards": True},
    {"initial_state": True, "recurrent_dropout_mask": True, "activation": "relu"},
]
INPUTS = ["token_ids", "projected", "kernel"]


def _case(inputs, opts, dtype, B=6, T=9, H=8, V=13, F=5, seed=0):
    """(args, kwargs of simple_rnn_forward, reference kwargs incl. the gathered x and W)."""
    rng = np.random.default_rng(seed)
    rec = rng.normal(scale=0.5 / np.sqrt(H), size=(H, H)).astype(dtype)
    bias = rng.normal(scale=0.1, size=H).astype(dtype)
    kw, want = {}, {}
    if inputs == "token_ids":
        table = rng.normal(scale=0.5, size=(V, H)).astype(dtype)
        ids = rng.integers(0, V, size=(B, T))
        ids[0, :3] = 4  # repeated ids: their gradients add up
        args = (table, None, rec, bias)
        kw["token_ids"] = ids
        want.update(x=table.astype(np.float64)[ids], W=np.eye(H))
    elif inputs == "projected":
        x = rng.normal(size=(B, T, H)).astype(dtype)
        args = (x, None, rec, bias)
        want.update(x=x, W=np.eye(H))
    else:
        x = rng.normal(size=(B, T, F)).astype(dtype)
        kernel = rng.normal(scale=0.4, size=(F, H)).astype(dtype)
        args = (x, kernel, rec, bias)
        want.update(x=x, W=kernel)
    if opts.get("mask"):
        lengths = rng.integers(0, T + 1, size=B)
        lengths[0], lengths[-1] = 0, T  # a sample with every step masked, one with none
        kw["mask"] = np.arange(T)[None, :] < lengths[:, None]
    if opts.get("initial_state"):
        kw["initial_state"] = rng.normal(size=(B, H)).astype(dtype)
    if opts.get("recurrent_dropout_mask"):
        kw["recurrent_dropout_mask"] = (rng.random((B, H)) > 0.3).astype(dtype) / dtype(0.7)
    for name in ("activation", "go_backwards", "zero_output_for_mask"):
        if name in opts:
            kw[name] = opts[name]
    want.update(U=rec, b=bias, h0=kw.get("initial_state"), mask=kw.get("mask"),
                activation=kw.get("activation", "tanh"), go_backwards=kw.get("go_backwards", False),
                zero_output_for_mask=kw.get("zero_output_for_mask", False),
                mh=kw.get("recurrent_dropout_mask"))
    return args, kw, want


@pytest.mark.parametrize("opts", OPTIONS)
@pytest.mark.parametrize("inputs", INPUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_last_output_and_its_gradients_match_the_reference(opts, inputs, dtype):
    args, kw, want = _case(inputs, opts, dtype)
    B, H = 6, 8
    res = ops.simple_rnn_forward(*args, return_sequences=False, **kw)
    out, fin, _ = ref.forward(**want)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    assert res.outputs.shape == (B, H) and res.outputs.dtype == dtype
    np.testing.assert_allclose(res.outputs, out[:, -1], rtol=tol, atol=tol)
    np.testing.assert_allclose(res.final_state, fin, rtol=tol, atol=tol)
    assert res.cache.time_major_states == (inputs != "kernel")

    rng = np.random.default_rng(2)
    d_last = rng.normal(size=(B, H)).astype(dtype)
    d_fin = rng.normal(size=(B, H)).astype(dtype)
    d_last_before = d_last.copy()
    g = ops.simple_rnn_backward(res.cache, d_last, d_fin)
    np.testing.assert_array_equal(d_last, d_last_before)  # the caller's array is not modified
    d_outputs = np.zeros(out.shape)
    d_outputs[:, -1] = d_last
    dx, dW, drec, db, dh0 = ref.backward(**want, d_outputs=d_outputs, d_final=d_fin)
    if inputs == "token_ids":
        dx_table = np.zeros(args[0].shape)
        np.add.at(dx_table, kw["token_ids"].reshape(-1), dx.reshape(-1, H))
        dx = dx_table
    np.testing.assert_allclose(g.dx, dx, rtol=tol, atol=tol)
    if inputs == "kernel":
        np.testing.assert_allclose(g.dkernel, dW, rtol=tol, atol=tol)
    np.testing.assert_allclose(g.drecurrent_kernel, drec, rtol=tol, atol=tol)
    np.testing.assert_allclose(g.dbias, db, rtol=tol, atol=tol)
    np.testing.assert_allclose(g.dinitial_state, dh0, rtol=tol, atol=tol)


@pytest.mark.parametrize("inputs", ["token_ids", "projected"])
def test_time_major_states_give_the_same_states_and_final_state(inputs):
    """The time-major layout changes where states are stored, not how they are computed: the
    final state is bit-identical to the return_sequences=True call, and the saved states are
    its states transposed."""
    args, kw, _ = _case(inputs, {"mask": True, "go_backwards": True}, np.float32, B=7, T=30,
                        H=32)
    full = ops.simple_rnn_forward(*args, **kw)
    last = ops.simple_rnn_forward(*args, return_sequences=False, **kw)
    states = last.cache.states
    assert states.shape[0] == 30 and states.shape[1] >= 7 * 32  # a step's rows may be padded
    np.testing.assert_array_equal(last.final_state, full.final_state)
    np.testing.assert_array_equal(states[:, :7 * 32].reshape(30, 7, 32),
                                  full.cache.states.transpose(1, 0, 2))


@pytest.mark.parametrize("shape", [
    (13, 131, 16),  # embedding-sized: weight gradients added block by block during the pass
    (5, 40, 64),  # wide for a few samples: threads may split the units
    (40, 30, 48),  # weight gradients after the pass, from the time-major rows
])
@pytest.mark.parametrize("inputs", ["token_ids", "projected"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_time_major_results_are_bit_identical_for_any_thread_count(
        shape, inputs, go_backwards, threads_on_small_problems):
    B, T, H = shape
    args, kw, want = _case(inputs, {"mask": True, "initial_state": True,
                                    "go_backwards": go_backwards},
                           np.float32, B=B, T=T, H=H, V=50, seed=3)
    d_last = np.random.default_rng(4).normal(size=(B, H)).astype(np.float32)
    results = []
    for threads in (1, 2, 3):
        res = ops.simple_rnn_forward(*args, return_sequences=False, num_threads=threads, **kw)
        g = ops.simple_rnn_backward(res.cache, d_last, None, num_threads=threads)
        results.append((res.outputs, res.final_state, g.dx, g.drecurrent_kernel, g.dbias,
                        g.dinitial_state))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)
    out, _, _ = ref.forward(**want)
    np.testing.assert_allclose(results[0][0], out[:, -1], rtol=2e-5, atol=2e-5)
    d_outputs = np.zeros(out.shape)
    d_outputs[:, -1] = d_last
    dx, _, drec, db, dh0 = ref.backward(**want, d_outputs=d_outputs)
    if inputs == "token_ids":  # the table's gradient: the gathered rows' gradients per id
        dtable = np.zeros((args[0].shape[0], H))
        np.add.at(dtable, kw["token_ids"], dx)
        dx = dtable
    np.testing.assert_allclose(results[0][2], dx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(results[0][3], drec, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(results[0][4], db, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(results[0][5], dh0, rtol=1e-4, atol=1e-4)


def test_a_single_sample_keeps_the_batch_major_layout():
    args, kw, want = _case("token_ids", {}, np.float64, B=1)
    res = ops.simple_rnn_forward(*args, return_sequences=False, **kw)
    assert not res.cache.time_major_states
    out, _, _ = ref.forward(**want)
    np.testing.assert_allclose(res.outputs, out[:, -1], rtol=1e-12, atol=1e-12)


def test_bad_gradients_for_the_last_output_are_rejected():
    args, kw, _ = _case("token_ids", {}, np.float32)
    res = ops.simple_rnn_forward(*args, return_sequences=False, **kw)
    with pytest.raises(ValueError, match=r"d_outputs must be 2-D \(6, 8\)"):
        ops.simple_rnn_backward(res.cache, np.zeros((6, 9, 8), np.float32))
    with pytest.raises(ValueError, match=r"d_outputs must have shape \(6, 8\)"):
        ops.simple_rnn_backward(res.cache, np.zeros((6, 7), np.float32))
    with pytest.raises(TypeError, match="d_outputs must have the same dtype"):
        ops.simple_rnn_backward(res.cache, np.zeros((6, 8), np.float64))
    # The binding itself refuses sequence gradients for time-major states, and a layout flag
    # that does not match the states' shape.
    c = res.cache
    with pytest.raises(ValueError, match="d_outputs must be None with time-major states"):
        _core.simple_rnn_backward(c.x, None, c.recurrent_kernel, True, None, None, None, None,
                                  c.states, np.zeros((6, 9, 8), np.float32), None, "tanh",
                                  False, False, 1, c.token_ids, True)
    with pytest.raises(ValueError, match="states"):
        _core.simple_rnn_backward(c.x, None, c.recurrent_kernel, True, None, None, None, None,
                                  c.states, None, None, "tanh", False, False, 1, c.token_ids,
                                  False)


@pytest.mark.parametrize("pad_share", [0.0, 0.6, 1.0])
def test_skewed_token_ids_give_the_same_table_gradient_for_any_thread_count(
        pad_share, threads_on_small_problems):
    """Real text is far from uniform (the padding id 0 may be most ids, so one thread owns
    most of the adds to the table): the table gradient must still match the reference and not
    depend on the thread count."""
    B, T, H, V = 24, 60, 16, 500
    args, kw, want = _case("token_ids", {}, np.float32, B=B, T=T, H=H, V=V, seed=5)
    rng = np.random.default_rng(6)
    ids = rng.integers(1, V, size=(B, T))
    ids[rng.random((B, T)) < pad_share] = 0
    ids[:, :5] = V - 1  # the last row too: both ends of the table
    kw["token_ids"] = ids
    want["x"] = args[0].astype(np.float64)[ids]
    d_last = rng.normal(size=(B, H)).astype(np.float32)
    grads = []
    for threads in (1, 2, 3):
        res = ops.simple_rnn_forward(*args, return_sequences=False, num_threads=threads, **kw)
        grads.append(ops.simple_rnn_backward(res.cache, d_last, None, num_threads=threads).dx)
    for other in grads[1:]:
        np.testing.assert_array_equal(other, grads[0])
    out, _, _ = ref.forward(**want)
    d_outputs = np.zeros(out.shape)
    d_outputs[:, -1] = d_last
    dx = ref.backward(**want, d_outputs=d_outputs)[0]
    dtable = np.zeros((V, H))
    np.add.at(dtable, ids, dx)
    np.testing.assert_allclose(grads[0], dtable, rtol=1e-4, atol=1e-5)


def test_table_gradient_over_many_ring_blocks_matches_reference_for_any_thread_count(
        threads_on_small_problems):
    """The embedding-fed backward keeps the deltas of a few blocks of steps in a ring and
    scatters each block into the table gradient once every group of samples has finished it;
    threads wait for each other only before reusing a slot. With T = 170 the ring's slots are
    reused several times (its first block is short), and 4 threads on fewer cores must still
    give the reference's gradients and the bits of 1 thread."""
    B, T, H, V = 30, 170, 32, 300
    args, kw, want = _case("token_ids", {}, np.float32, B=B, T=T, H=H, V=V, seed=11)
    rng = np.random.default_rng(12)
    d_last = rng.normal(size=(B, H)).astype(np.float32)
    results = []
    for threads in (1, 2, 3, 4):
        res = ops.simple_rnn_forward(*args, return_sequences=False, num_threads=threads, **kw)
        g = ops.simple_rnn_backward(res.cache, d_last, None, num_threads=threads)
        results.append((g.dx, g.drecurrent_kernel, g.dbias))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(b, a)
    out, _, _ = ref.forward(**want)
    d_outputs = np.zeros(out.shape)
    d_outputs[:, -1] = d_last
    dx, _, dU, db, _ = ref.backward(**want, d_outputs=d_outputs)
    dtable = np.zeros((V, H))
    np.add.at(dtable, kw["token_ids"], dx)
    dtable_got, dU_got, db_got = results[0]
    np.testing.assert_allclose(dtable_got, dtable, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dU_got, dU, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(db_got, db, rtol=1e-4, atol=1e-5)
