"""The C++ SimpleRNN engine against the NumPy float64 reference, every option and dtype."""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from rnn_cases import OPTION_CASES, cast, make_problem, reference_kwargs, split_case
from fastrnn import ops

ACTIVATIONS = ["tanh", "relu", "sigmoid", "linear"]


def _tol(dtype):
    return dict(rtol=1e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)


def _run(p, dtype, options, d_out, d_fin, threads=None):
    q = cast(p, dtype)
    fwd = ops.simple_rnn_forward(
        q["x"], q["kernel"], q["recurrent_kernel"], q["bias"], initial_state=q["initial_state"],
        mask=q["mask"], input_dropout_mask=q["input_dropout_mask"],
        recurrent_dropout_mask=q["recurrent_dropout_mask"], num_threads=threads, **options)
    grads = ops.simple_rnn_backward(fwd.cache, d_out.astype(dtype), d_fin.astype(dtype),
                                    num_threads=threads)
    return fwd, grads


@pytest.mark.parametrize("case", OPTION_CASES, ids=lambda c: "-".join(c) or "plain")
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_and_backward_match_reference(rng, dtype, case, activation):
    problem_opts, options = split_case(case)
    p = make_problem(rng, B=5, T=7, F=3, H=11, **problem_opts)
    options = dict(options, activation=activation)
    d_out = rng.normal(size=(5, 7, 11))
    d_fin = rng.normal(size=(5, 11))
    fwd, grads = _run(p, dtype, options, d_out, d_fin)
    kw = reference_kwargs(p)
    flags = dict(activation=activation, go_backwards=options.get("go_backwards", False),
                 zero_output_for_mask=options.get("zero_output_for_mask", False))
    out, fin, _ = ref.forward(**kw, **flags)
    expected = ref.backward(**kw, **flags, d_outputs=d_out, d_final=d_fin)
    tol = _tol(dtype)
    assert fwd.outputs.dtype == dtype and fwd.final_state.dtype == dtype
    np.testing.assert_allclose(fwd.outputs, out, **tol)
    np.testing.assert_allclose(fwd.final_state, fin, **tol)
    names = ["dx", "dkernel", "drecurrent_kernel", "dbias", "dinitial_state"]
    for name, got, want in zip(names, grads, expected):
        if name == "dbias" and p["bias"] is None:
            assert got is None
            continue
        assert got.dtype == dtype, name
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=name)


@pytest.mark.parametrize(
    "shape", [(1, 1, 1, 1), (1, 9, 2, 3), (13, 3, 17, 33), (2, 4, 5, 70), (3, 4, 128, 130),
              (4, 3, 260, 257)]  # the last goes through OpenBLAS when it is linked
)
def test_odd_shapes(rng, dtype, shape):
    """Shapes that are not multiples of any SIMD width or tile, T=1, B=1."""
    B, T, F, H = shape
    p = make_problem(rng, B, T, F, H, h0=True, mask=T > 1)
    d_out = rng.normal(size=(B, T, H))
    d_fin = rng.normal(size=(B, H))
    fwd, grads = _run(p, dtype, {}, d_out, d_fin)
    out, fin, _ = ref.forward(**reference_kwargs(p))
    tol = _tol(dtype)
    np.testing.assert_allclose(fwd.outputs, out, **tol)
    exp = ref.backward(**reference_kwargs(p), d_outputs=d_out, d_final=d_fin)
    for got, want in zip(grads, exp):
        np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * max(1, np.abs(want).max()))


@pytest.mark.parametrize("case", OPTION_CASES, ids=lambda c: "-".join(c) or "plain")
@pytest.mark.parametrize("H", [16, 11])
def test_single_sample_long_sequence_matches_reference(rng, dtype, case, H):
    """A batch of one runs its own path (blocks of steps in one kernel call, several blocks
    here, the last one partial): every option against the reference, 1 and 2 threads alike."""
    problem_opts, options = split_case(case)
    p = make_problem(rng, B=1, T=53, F=5, H=H, **problem_opts)
    kw = reference_kwargs(p)
    flags = dict(go_backwards=options.get("go_backwards", False),
                 zero_output_for_mask=options.get("zero_output_for_mask", False))
    out, fin, _ = ref.forward(**kw, **flags)
    tol = _tol(dtype)
    results = []
    for threads in (1, 2):
        q = cast(p, dtype)
        fwd = ops.simple_rnn_forward(
            q["x"], q["kernel"], q["recurrent_kernel"], q["bias"], initial_state=q["initial_state"],
            mask=q["mask"], input_dropout_mask=q["input_dropout_mask"],
            recurrent_dropout_mask=q["recurrent_dropout_mask"], num_threads=threads, **options)
        np.testing.assert_allclose(fwd.outputs, out, **tol)
        np.testing.assert_allclose(fwd.final_state, fin, **tol)
        results.append(fwd.outputs)
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
@pytest.mark.parametrize("H", [4, 8, 16, 24, 32, 40])
def test_single_sample_widths_and_activations(rng, dtype, H, activation):
    """Layers one to four vectors wide run a recurrence unrolled for their width (others the
    general loop): each width and activation against the reference, and a mask of all ones
    (which runs the steps one call at a time) gives the same bits as no mask."""
    p = make_problem(rng, B=1, T=61, F=7, H=H, h0=True)
    out, fin, _ = ref.forward(**reference_kwargs(p), activation=activation)
    q = cast(p, dtype)
    args = (q["x"], q["kernel"], q["recurrent_kernel"], q["bias"])
    plain = ops.simple_rnn_forward(*args, initial_state=q["initial_state"], activation=activation)
    tol = _tol(dtype)
    np.testing.assert_allclose(plain.outputs, out, **tol)
    np.testing.assert_allclose(plain.final_state, fin, **tol)
    ones = ops.simple_rnn_forward(*args, initial_state=q["initial_state"], activation=activation,
                                  mask=np.ones((1, 61), bool))
    np.testing.assert_array_equal(ones.outputs, plain.outputs)


def test_gradient_of_outputs_only_or_final_state_only(rng):
    p = make_problem(rng, mask=True)
    fwd = ops.simple_rnn_forward(p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], mask=p["mask"])
    d_fin = rng.normal(size=fwd.final_state.shape)
    g = ops.simple_rnn_backward(fwd.cache, d_final_state=d_fin)
    e = ref.backward(**reference_kwargs(p), d_final=d_fin)
    np.testing.assert_allclose(g.dkernel, e[1], rtol=1e-10, atol=1e-12)
    zero = ops.simple_rnn_backward(fwd.cache)
    assert not np.any(zero.dkernel) and not np.any(zero.dx)


def test_pre_and_post_padding_give_the_same_final_state(rng):
    """Keras: with a mask, the final state is the last valid one wherever the padding is."""
    x = rng.normal(size=(1, 3, 4))
    W, U = rng.normal(size=(4, 5)), rng.normal(size=(5, 5)) * 0.3
    pad = np.zeros((1, 2, 4))
    post = np.concatenate([x, pad], axis=1)
    pre = np.concatenate([pad, x], axis=1)
    f_post = ops.simple_rnn_forward(post, W, U, mask=np.array([[1, 1, 1, 0, 0]], bool)).final_state
    f_pre = ops.simple_rnn_forward(pre, W, U, mask=np.array([[0, 0, 1, 1, 1]], bool)).final_state
    f_plain = ops.simple_rnn_forward(x, W, U).final_state
    np.testing.assert_allclose(f_post, f_plain, rtol=1e-12)
    np.testing.assert_allclose(f_pre, f_plain, rtol=1e-12)


def test_go_backwards_returns_processing_order(rng):
    p = make_problem(rng)
    fwd = ops.simple_rnn_forward(p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], go_backwards=True)
    flipped = ops.simple_rnn_forward(p["x"][:, ::-1], p["kernel"], p["recurrent_kernel"], p["bias"])
    np.testing.assert_allclose(fwd.outputs, flipped.outputs, rtol=1e-12)
    np.testing.assert_allclose(fwd.final_state, fwd.outputs[:, -1], rtol=1e-12)


@pytest.mark.parametrize("units", [1, 32])  # the scalar edge path and the vector tiles
def test_float32_tanh_is_within_1e6_of_std_tanh(units):
    z = np.concatenate([np.linspace(-20, 20, 200001), np.logspace(-12, 1.3, 5000),
                        -np.logspace(-12, 1.3, 5000), [0.0, -0.0]]).astype(np.float32)
    z = np.concatenate([z, np.zeros(-z.size % units, np.float32)])
    x = z.reshape(-1, 1, units)
    identity = np.eye(units, dtype=np.float32)
    out = ops.simple_rnn_forward(x, identity, np.zeros((units, units), np.float32)).outputs.ravel()
    exact = np.tanh(z.astype(np.float64))
    err = np.abs(out.astype(np.float64) - exact)
    assert err.max() <= 1e-6, err.max()
    near_zero = (np.abs(z) < 0.5) & (z != 0)
    assert (err[near_zero] / np.abs(exact[near_zero])).max() <= 1e-6  # relative accuracy
    assert np.all(np.abs(out) <= 1.0)
    flipped = ops.simple_rnn_forward(-x, identity, np.zeros((units, units), np.float32)).outputs
    np.testing.assert_array_equal(flipped.ravel(), -out)  # odd, bit for bit


def test_float64_activations_are_accurate():
    z = np.linspace(-30, 30, 60001)
    x = z.reshape(-1, 1, 1)
    for act, f in [("tanh", np.tanh), ("sigmoid", lambda v: 1 / (1 + np.exp(-v)))]:
        out = ops.simple_rnn_forward(x, np.ones((1, 1)), np.zeros((1, 1)), activation=act).outputs.ravel()
        np.testing.assert_allclose(out, f(z), rtol=1e-14, atol=1e-15)


def test_inputs_are_not_modified(rng):
    p = make_problem(rng, h0=True, mask=True, mx=True, mh=True)
    copies = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in p.items()}
    fwd = ops.simple_rnn_forward(p["x"], p["kernel"], p["recurrent_kernel"], p["bias"],
                                 initial_state=p["initial_state"], mask=p["mask"],
                                 input_dropout_mask=p["input_dropout_mask"],
                                 recurrent_dropout_mask=p["recurrent_dropout_mask"])
    d = rng.normal(size=fwd.outputs.shape)
    d_copy = d.copy()
    ops.simple_rnn_backward(fwd.cache, d)
    for k, v in p.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(v, copies[k], err_msg=k)
    np.testing.assert_array_equal(d, d_copy)


def test_non_contiguous_and_read_only_inputs_are_accepted(rng):
    x = rng.normal(size=(4, 10, 6))[:, ::2, ::2]  # strided view
    W = np.asfortranarray(rng.normal(size=(3, 5)))
    U = rng.normal(size=(5, 5))[::-1]
    U.flags.writeable = False
    fwd = ops.simple_rnn_forward(x, W, U)
    out, _, _ = ref.forward(x, W, U)
    np.testing.assert_allclose(fwd.outputs, out, rtol=1e-12)


@pytest.mark.parametrize("act", ["relu", "sigmoid", "linear", None])
def test_none_activation_means_linear(rng, act):
    p = make_problem(rng)
    a = ops.simple_rnn_forward(p["x"], p["kernel"], p["recurrent_kernel"], activation=act).outputs
    expected, _, _ = ref.forward(p["x"], p["kernel"], p["recurrent_kernel"], activation=act or "linear")
    np.testing.assert_allclose(a, expected, rtol=1e-11, atol=1e-12)


def test_unpickled_arrays_are_accepted(rng):
    """Arrays from a pickle carry equal but distinct dtype objects; both dtypes must work."""
    import pickle

    for dtype in (np.float32, np.float64):
        p = make_problem(rng)
        arrays = pickle.loads(pickle.dumps([p["x"].astype(dtype), p["kernel"].astype(dtype),
                                            p["recurrent_kernel"].astype(dtype)]))
        assert arrays[1].dtype is not np.dtype(dtype)
        out = ops.simple_rnn_forward(*arrays).outputs
        expected, _, _ = ref.forward(p["x"], p["kernel"], p["recurrent_kernel"])
        np.testing.assert_allclose(out, expected, **_tol(dtype))
        emb = pickle.loads(pickle.dumps(rng.normal(size=(5, 2)).astype(dtype)))
        got = ops.embedding_forward(np.array([[0, 4]]), emb)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got[0], emb[[0, 4]])


@pytest.mark.parametrize("case", [dict(), dict(mask=True, h0=True, go_backwards=True), dict(mh=True)],
                         ids=["plain", "mask-h0-backwards", "recurrent-dropout"])
def test_projected_inputs_without_kernel(rng, dtype, case, threads_on_small_problems):
    """kernel=None: x is x @ kernel already; outputs equal, dx is the projected-input gradient."""
    go_backwards = case.pop("go_backwards", False)
    p = make_problem(rng, B=7, T=6, F=5, H=9, **case)
    d_out = rng.normal(size=(7, 6, 9))
    d_fin = rng.normal(size=(7, 9))
    q = cast(p, dtype)
    kw = dict(initial_state=q["initial_state"], mask=q["mask"],
              recurrent_dropout_mask=q["recurrent_dropout_mask"], go_backwards=go_backwards)
    full = ops.simple_rnn_forward(q["x"], q["kernel"], q["recurrent_kernel"], q["bias"], **kw)
    projected = (q["x"].astype(np.float64) @ q["kernel"].astype(np.float64)).astype(dtype)
    fused = ops.simple_rnn_forward(projected, None, q["recurrent_kernel"], q["bias"], **kw)
    tol = _tol(dtype)
    np.testing.assert_allclose(fused.outputs, full.outputs, **tol)
    for threads in (1, 2):
        g = ops.simple_rnn_backward(fused.cache, d_out.astype(dtype), d_fin.astype(dtype),
                                    num_threads=threads)
        e = ref.backward(**reference_kwargs(p), go_backwards=go_backwards, d_outputs=d_out,
                         d_final=d_fin)
        assert g.dkernel is None
        # dL/d(projected x) mapped back through the kernel gives dL/dx
        np.testing.assert_allclose(g.dx @ q["kernel"].T, e[0], rtol=tol["rtol"] * 10,
                                   atol=tol["atol"] * 10 * max(1, np.abs(e[0]).max()))
        np.testing.assert_allclose(g.drecurrent_kernel, e[2], rtol=tol["rtol"],
                                   atol=tol["atol"] * max(1, np.abs(e[2]).max()))
    with pytest.raises(ValueError, match="input_dropout_mask"):
        ops.simple_rnn_forward(projected, None, q["recurrent_kernel"],
                               input_dropout_mask=np.ones((7, 9), dtype))


# (43, 17, 11): rows split between threads; (32, 5000, 32) and (20, 9000, 3): short and deep
# (the embedding's weight gradient), the sum split into fixed chunks of k
@pytest.mark.parametrize("mkn", [(43, 17, 11), (32, 5000, 32), (20, 9000, 3)], ids=str)
@pytest.mark.parametrize("transpose_a", [False, True])
def test_matmul_matches_numpy_and_is_thread_independent(rng, dtype, transpose_a, mkn,
                                                        threads_on_small_problems):
    m, k, n = mkn
    a = rng.normal(size=(k, m) if transpose_a else (m, k)).astype(dtype)
    b = rng.normal(size=(k, n)).astype(dtype)
    expected = (a.T if transpose_a else a).astype(np.float64) @ b.astype(np.float64)
    got = ops.matmul(a, b, transpose_a=transpose_a, num_threads=1)
    tol = _tol(dtype)  # rounding errors of a sum grow like the square root of its length
    np.testing.assert_allclose(got, expected, rtol=tol["rtol"], atol=tol["atol"] * np.sqrt(k))
    for threads in (2, 3):
        np.testing.assert_array_equal(
            ops.matmul(a, b, transpose_a=transpose_a, num_threads=threads), got)


def test_matmul_rejects_bad_arguments():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="b"):
        ops.matmul(a, np.ones((5, 2), np.float32))
    with pytest.raises(TypeError, match="b"):
        ops.matmul(a, np.ones((4, 2), np.float64))
    with pytest.raises(TypeError, match="a"):
        ops.matmul(np.ones((3, 4), np.int64), np.ones((4, 2)))
    with pytest.raises(ValueError, match="a"):
        ops.matmul(np.ones(3, np.float32), np.ones((3, 2), np.float32))


def test_matmul_takes_views_lists_and_transposed_operands(rng):
    """Operands that skip ops.matmul's fast path (views, lists, a transposed b) are converted,
    and the results match NumPy's; the inputs are not modified."""
    a = rng.normal(size=(6, 8)).astype(np.float32)
    b = rng.normal(size=(5, 8)).astype(np.float32)
    a_before, b_before = a.copy(), b.copy()
    expected = a.astype(np.float64) @ b.T.astype(np.float64)
    np.testing.assert_allclose(ops.matmul(a, b.T), expected, rtol=1e-5, atol=1e-5)
    from_list = ops.matmul(a.tolist(), b.T.astype(np.float64))  # a list: float64, as NumPy
    assert from_list.dtype == np.float64
    np.testing.assert_allclose(from_list, expected, rtol=1e-12)
    np.testing.assert_allclose(ops.matmul(a.T.copy(), b.T, transpose_a=True), expected,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.matmul(a[::2], b.T), expected[::2], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(a, a_before)
    np.testing.assert_array_equal(b, b_before)
    with pytest.raises(ValueError, match=r"b must have shape \(8, N\)"):
        ops.matmul(a, b)  # K differs: the fast path's shape test sends it to the full check
