"""simple_rnn_forward/backward reading a table of projected rows through token ids (what an
Embedding followed by a SimpleRNN runs): checked against the NumPy reference on the gathered
rows, against the engine's own gathered path, by finite differences, across thread counts,
and on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import _core, ops

import reference as ref

V, H, B, T = 11, 6, 5, 7


def _case(dtype, seed=0):
    rng = np.random.default_rng(seed)
    table = rng.normal(scale=0.5, size=(V, H)).astype(dtype)
    rec = rng.normal(scale=0.4, size=(H, H)).astype(dtype)
    bias = rng.normal(scale=0.1, size=H).astype(dtype)
    ids = rng.integers(0, V, size=(B, T))
    ids[0, :3] = 4  # repeated ids: their gradients must add up
    return table, rec, bias, ids


OPTIONS = [
    {},
    {"go_backwards": True},
    {"mask": "post"},
    {"mask": "post", "zero_output_for_mask": True, "go_backwards": True},
    {"initial_state": True, "recurrent_dropout_mask": True, "activation": "relu"},
]


def _options(opts, dtype, seed=1):
    rng = np.random.default_rng(seed)
    out = dict(opts)
    if out.get("mask") == "post":
        lengths = [7, 3, 5, 1, 6]
        out["mask"] = np.arange(T)[None, :] < np.array(lengths)[:, None]
    if out.get("initial_state"):
        out["initial_state"] = rng.normal(size=(B, H)).astype(dtype)
    if out.get("recurrent_dropout_mask"):
        out["recurrent_dropout_mask"] = (rng.random((B, H)) > 0.3).astype(dtype) / dtype(0.7)
    return out


@pytest.mark.parametrize("opts", OPTIONS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_token_ids_match_the_reference_on_gathered_rows(opts, dtype):
    table, rec, bias, ids = _case(dtype)
    o = _options(opts, dtype)
    res = ops.simple_rnn_forward(table, None, rec, bias, token_ids=ids, **o)
    ref_kwargs = {"h0": o.get("initial_state"), "mask": o.get("mask"),
                  "activation": o.get("activation", "tanh"),
                  "go_backwards": o.get("go_backwards", False),
                  "zero_output_for_mask": o.get("zero_output_for_mask", False),
                  "mh": o.get("recurrent_dropout_mask")}
    gathered = table.astype(np.float64)[ids]
    eye = np.eye(H)
    out, fin, _ = ref.forward(gathered, eye, rec, bias, **ref_kwargs)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(res.outputs, out, rtol=tol, atol=tol)
    np.testing.assert_allclose(res.final_state, fin, rtol=tol, atol=tol)

    rng = np.random.default_rng(2)
    d_out = rng.normal(size=(B, T, H)).astype(dtype)
    d_fin = rng.normal(size=(B, H)).astype(dtype)
    g = ops.simple_rnn_backward(res.cache, d_out, d_fin)
    dx, _, drec, db, dh0 = ref.backward(gathered, eye, rec, bias, d_outputs=d_out,
                                        d_final=d_fin, **ref_kwargs)
    d_table = np.zeros((V, H))
    np.add.at(d_table, ids.reshape(-1), dx.reshape(-1, H))
    assert g.dx.shape == (V, H) and g.dkernel is None
    np.testing.assert_allclose(g.dx, d_table, rtol=tol, atol=tol)
    np.testing.assert_allclose(g.drecurrent_kernel, drec, rtol=tol, atol=tol)
    np.testing.assert_allclose(g.dbias, db, rtol=tol, atol=tol)
    np.testing.assert_allclose(g.dinitial_state, dh0, rtol=tol, atol=tol)


def test_token_ids_equal_the_gathered_path_bit_for_bit():
    table, rec, bias, ids = _case(np.float32)
    fused = ops.simple_rnn_forward(table, None, rec, bias, token_ids=ids)
    plain = ops.simple_rnn_forward(table[ids], None, rec, bias)
    np.testing.assert_array_equal(fused.outputs, plain.outputs)
    d_fin = np.random.default_rng(3).normal(size=(B, H)).astype(np.float32)
    g_fused = ops.simple_rnn_backward(fused.cache, None, d_fin)
    g_plain = ops.simple_rnn_backward(plain.cache, None, d_fin)
    np.testing.assert_array_equal(g_fused.dx, ops.embedding_backward(ids, g_plain.dx, V))
    np.testing.assert_array_equal(g_fused.drecurrent_kernel, g_plain.drecurrent_kernel)


def test_table_gradient_matches_finite_differences():
    table, rec, bias, ids = _case(np.float64, seed=5)
    rng = np.random.default_rng(6)
    d_out = rng.normal(size=(B, T, H))

    def loss(tab):
        return float((ops.simple_rnn_forward(tab, None, rec, bias, token_ids=ids).outputs
                      * d_out).sum())

    res = ops.simple_rnn_forward(table, None, rec, bias, token_ids=ids)
    g = ops.simple_rnn_backward(res.cache, d_out, None)
    eps = 1e-6
    numeric = np.zeros_like(table)
    for v in range(V):
        for j in range(H):
            up, down = table.copy(), table.copy()
            up[v, j] += eps
            down[v, j] -= eps
            numeric[v, j] = (loss(up) - loss(down)) / (2 * eps)
    np.testing.assert_allclose(g.dx, numeric, rtol=1e-6, atol=1e-8)


def test_token_ids_are_bit_identical_for_any_thread_count(threads_on_small_problems):
    rng = np.random.default_rng(8)
    table = rng.normal(size=(50, 32)).astype(np.float32)
    rec = (rng.normal(size=(32, 32)) * 0.2).astype(np.float32)
    ids = rng.integers(0, 50, size=(40, 30))
    d_fin = rng.normal(size=(40, 32)).astype(np.float32)
    results = []
    for threads in (1, 2, 3):
        res = ops.simple_rnn_forward(table, None, rec, None, token_ids=ids, num_threads=threads)
        g = ops.simple_rnn_backward(res.cache, res.outputs, d_fin, num_threads=threads)
        results.append((res.outputs, g.dx, g.drecurrent_kernel))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def test_bad_token_ids_are_rejected_with_clear_errors():
    table, rec, bias, ids = _case(np.float32)
    with pytest.raises(ValueError, match=r"token_ids must be in \[0, 11\)"):
        ops.simple_rnn_forward(table, None, rec, bias, token_ids=np.full((B, T), 11))
    with pytest.raises(ValueError, match=r"token_ids must be in"):
        ops.simple_rnn_forward(table, None, rec, bias, token_ids=np.full((B, T), -1))
    with pytest.raises(TypeError, match="token_ids must be an integer array"):
        ops.simple_rnn_forward(table, None, rec, bias, token_ids=np.full((B, T), "a"))
    with pytest.raises(ValueError, match="token_ids must be 2-D"):
        ops.simple_rnn_forward(table, None, rec, bias, token_ids=ids.reshape(-1))
    with pytest.raises(ValueError, match="token_ids needs kernel=None"):
        ops.simple_rnn_forward(table[ids], np.eye(H, dtype=np.float32), rec, bias, token_ids=ids)
    with pytest.raises(ValueError, match="x"):
        ops.simple_rnn_forward(table[:, :4], None, rec, bias, token_ids=ids)
    with pytest.raises(ValueError, match="at least one sample"):
        ops.simple_rnn_forward(table, None, rec, bias, token_ids=np.zeros((0, T), np.int64))
    bad = table.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        ops.simple_rnn_forward(bad, None, rec, bias, token_ids=ids)
    ids_before = ids.copy()
    ops.simple_rnn_forward(table, None, rec, bias, token_ids=ids)
    np.testing.assert_array_equal(ids, ids_before)


def test_converted_token_inputs_equal_the_plain_ones_bit_for_bit():
    """int64 C-contiguous arrays skip ops' conversions; int32 ids, a Fortran-ordered table and
    recurrent kernel, or a strided bias are converted first, with the same results."""
    table, rec, bias, ids = _case(np.float32)
    plain = ops.simple_rnn_forward(table, None, rec, bias, token_ids=ids)
    wide_bias = np.zeros(2 * H, np.float32)
    wide_bias[::2] = bias
    converted = ops.simple_rnn_forward(np.asfortranarray(table), None, np.asfortranarray(rec),
                                       wide_bias[::2], token_ids=ids.astype(np.int32))
    np.testing.assert_array_equal(converted.outputs, plain.outputs)
    np.testing.assert_array_equal(converted.final_state, plain.final_state)


def test_the_binding_checks_token_ids_itself():
    table, rec, bias, _ = _case(np.float32)
    ids = np.full((B, T), 99, dtype=np.int64)
    with pytest.raises(ValueError, match=r"token_ids must be in \[0, 11\)"):
        _core.simple_rnn_forward(table, None, rec, bias, None, None, None, None, "tanh",
                                 False, False, 1, ids)
    with pytest.raises(TypeError, match="token_ids must have dtype int64"):
        _core.simple_rnn_forward(table, None, rec, bias, None, None, None, None, "tanh",
                                 False, False, 1, ids.astype(np.int32))


@pytest.mark.parametrize("units", [16, 12])  # a multiple of every vector width, and not
@pytest.mark.parametrize("opts", [
    {},
    {"go_backwards": True, "initial_state": True},
    {"mask": True, "initial_state": True},
    {"mask": True, "zero_output_for_mask": True, "go_backwards": True},
])
def test_weight_gradients_over_many_steps(opts, units, threads_on_small_problems):
    """Embedding-fed layers add their weight gradients block by block during the sequential
    pass (samples in fixed groups): long sequences (several blocks, the last partial), a batch
    that is no multiple of any group size, every option; the reference's gradients, and the
    same bits for 1, 2 and 3 threads."""
    rng = np.random.default_rng(5)
    b, t, v = 13, 131, 40
    table = rng.normal(scale=0.5, size=(v, units))
    rec = rng.normal(scale=0.5 / np.sqrt(units), size=(units, units))
    bias = rng.normal(scale=0.1, size=units)
    ids = rng.integers(0, v, size=(b, t))
    kw = {"go_backwards": opts.get("go_backwards", False),
          "zero_output_for_mask": opts.get("zero_output_for_mask", False)}
    h0 = rng.normal(size=(b, units)) if opts.get("initial_state") else None
    mask = None
    if opts.get("mask"):
        mask = np.arange(t)[None, :] < rng.integers(1, t + 1, size=b)[:, None]
    d_out = rng.normal(size=(b, t, units))
    d_fin = rng.normal(size=(b, units))
    gathered = table[ids]
    eye = np.eye(units)
    want = ref.backward(gathered, eye, rec, bias, h0=h0, mask=mask, d_outputs=d_out, d_final=d_fin,
                        **kw)
    first = None
    for threads in (1, 2, 3):
        res = ops.simple_rnn_forward(table.astype(np.float32), None, rec.astype(np.float32),
                                     bias.astype(np.float32), token_ids=ids, mask=mask,
                                     initial_state=None if h0 is None else h0.astype(np.float32),
                                     num_threads=threads, **kw)
        g = ops.simple_rnn_backward(res.cache, d_out.astype(np.float32),
                                    d_fin.astype(np.float32), num_threads=threads)
        for name, got, exp in (("drecurrent_kernel", g.drecurrent_kernel, want[2]),
                               ("dbias", g.dbias, want[3]), ("dinitial_state", g.dinitial_state, want[4])):
            scale = max(1.0, float(np.abs(exp).max()))
            np.testing.assert_allclose(got, exp, rtol=1e-4, atol=2e-5 * scale, err_msg=name)
        if first is None:
            first = g
        else:
            np.testing.assert_array_equal(g.drecurrent_kernel, first.drecurrent_kernel)
            np.testing.assert_array_equal(g.dbias, first.dbias)


@pytest.mark.parametrize("bad", [-1, 11, np.iinfo(np.int64).min, np.iinfo(np.int64).max])
def test_checked_token_ids_finds_any_id_out_of_range(bad):
    """One vectorized pass checks the range (the message still gives the ids' range)."""
    ok = np.zeros((3, 40), np.int64)
    ok[1, 7] = 10  # both ends of [0, 11) are fine
    assert ops.checked_token_ids(ok, 11) is ok  # already C-contiguous int64: no copy
    ids = ok.copy()
    ids[2, 39] = bad
    with pytest.raises(ValueError, match=rf"ids must be in \[0, 11\).*values in "
                                         rf"\[{min(0, bad)}, {max(10, bad)}\]"):
        ops.checked_token_ids(ids, 11)


@pytest.mark.parametrize("ids", [np.array([[1, 2 ** 63 + 5]], np.uint64),
                                 np.array([[1.0, 1e30]]), np.array([[-3.0, 1.0]])])
def test_checked_token_ids_rejects_ids_that_wrap_in_int64(ids):
    """uint64 ids above 2**63 and huge float ids do not fit int64: their own range decides."""
    with pytest.raises(ValueError, match=r"ids must be in \[0, 11\)"):
        ops.checked_token_ids(ids, 11)
    out = ops.checked_token_ids(np.array([[0, 10]], np.uint64), 11)
    assert out.dtype == np.int64 and out.tolist() == [[0, 10]]


def test_embedding_converts_int32_ids_once_for_a_fused_simple_rnn(monkeypatch):
    """pad_sequences gives int32 ids: the Embedding checks and converts them once and the
    fused SimpleRNN reads that int64 array (a second (B, T) conversion cost ~0.035 ms a step)."""
    from fastrnn import layers
    from fastrnn.models import Sequential

    model = Sequential([layers.Embedding(20, 4), layers.SimpleRNN(3), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    ids = np.random.default_rng(0).integers(0, 20, (4, 30)).astype(np.int32)
    conversions = []
    real = ops._token_ids
    monkeypatch.setattr(ops, "_token_ids", lambda a, *args, **kw: (
        conversions.append(a.dtype), real(a, *args, **kw))[1])
    model.train_on_batch(ids, np.zeros((4, 1), np.float32))
    assert conversions[0] == np.dtype(np.int32)  # the Embedding's check
    assert all(dtype == np.int64 for dtype in conversions[1:])  # no second copy
