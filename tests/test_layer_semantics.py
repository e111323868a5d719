"""Keras semantics of the layers: golden values, masking, go_backwards, Bidirectional alignment,
and (when Keras is installed) live parity with Keras on the same weights."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fastrnn import initializers, layers

GOLDEN_TOL = 1e-6


@pytest.fixture(autouse=True)
def _seeded():
    """Deterministic weights: the same draws every run (no kink of relu hit by chance)."""
    from fastrnn.utils import set_random_seed

    set_random_seed(1234)


def _const_rnn(units: int, **kwargs) -> layers.SimpleRNN:
    return layers.SimpleRNN(
        units,
        kernel_initializer=initializers.Constant(0.01),
        recurrent_initializer=initializers.Constant(0.02),
        bias_initializer=initializers.Constant(0.03),
        **kwargs,
    )


def _rows(values, units: int) -> np.ndarray:
    return np.repeat(np.asarray(values, dtype=np.float64)[:, None], units, axis=1)


def np_simple_rnn(x, W, U, b, h0=None, mask=None, go_backwards=False, zero_output=False,
                  act=np.tanh):
    """Obvious float64 reference of Keras's SimpleRNN loop (outputs in processing order)."""
    x = np.asarray(x, np.float64)
    B, T, _ = x.shape
    H = W.shape[1]
    h = np.zeros((B, H)) if h0 is None else np.asarray(h0, np.float64).copy()
    prev = np.zeros((B, H))
    outs = []
    for s in range(T):
        t = T - 1 - s if go_backwards else s
        new = act(x[:, t] @ W + (0 if b is None else b) + h @ U)
        if mask is None:
            h, out = new, new
        else:
            m = np.asarray(mask)[:, t][:, None].astype(bool)
            h = np.where(m, new, h)
            out = np.where(m, new, prev)
        prev = out
        if zero_output and mask is not None:
            out = np.where(np.asarray(mask)[:, t][:, None].astype(bool), out, 0.0)
        outs.append(out)
    return np.stack(outs, axis=1), h


SEQ_234 = np.arange(24).reshape(2, 3, 4).astype("float32")
SEQ_243 = np.arange(24).reshape(2, 4, 3).astype("float32")
MASK = np.array([[True, True, False, True], [True, False, False, True]])


# ---------------------------------------------------------------- (b) golden values (§1.4)
@pytest.mark.parametrize("unroll", [False, True])
def test_golden_correctness(unroll):
    out = _const_rnn(4, unroll=unroll)(SEQ_234)
    np.testing.assert_allclose(out, _rows([0.405432, 0.73605347], 4), atol=GOLDEN_TOL)


def test_golden_go_backwards():
    out = _const_rnn(4, go_backwards=True)(SEQ_234)
    np.testing.assert_allclose(out, _rows([0.11144729, 0.5528889], 4), atol=GOLDEN_TOL)


def test_golden_stateful():
    layer = _const_rnn(4, stateful=True)
    expected = _rows([0.40559256, 0.7361247], 4)
    layer(SEQ_234)
    np.testing.assert_allclose(layer(SEQ_234), expected, atol=GOLDEN_TOL)
    layer.reset_state()
    first = layer(SEQ_234)
    np.testing.assert_allclose(first, _rows([0.405432, 0.73605347], 4), atol=GOLDEN_TOL)
    np.testing.assert_allclose(layer(SEQ_234), expected, atol=GOLDEN_TOL)
    layer.reset_states()
    np.testing.assert_array_equal(layer.states, 0.0)


def test_stateful_rejects_other_batch_size():
    layer = _const_rnn(4, stateful=True)
    layer(SEQ_234)
    with pytest.raises(ValueError, match="stateful"):
        layer(SEQ_234[:1])


@pytest.mark.parametrize("go_backwards, expected", [
    (False, [0.33621645, 0.6262637]),
    (True, [0.07344437, 0.43043602]),
])
def test_golden_initial_state(go_backwards, expected):
    h0 = np.arange(8).reshape(2, 4).astype("float32")
    out = _const_rnn(4, go_backwards=go_backwards)(SEQ_243, initial_state=h0)
    np.testing.assert_allclose(out, _rows(expected, 4), atol=GOLDEN_TOL)
    out_list = _const_rnn(4, go_backwards=go_backwards)(SEQ_243, initial_state=[h0])
    np.testing.assert_allclose(out_list, _rows(expected, 4), atol=GOLDEN_TOL)


def test_golden_mask():
    out = _const_rnn(4, unroll=True)(SEQ_243, mask=MASK)
    np.testing.assert_allclose(out, _rows([0.32951632, 0.61799484], 4), atol=GOLDEN_TOL)


def test_golden_mask_go_backwards():
    out = _const_rnn(4, go_backwards=True)(SEQ_243, mask=MASK)
    np.testing.assert_allclose(out, _rows([0.07376196, 0.43645123], 4), atol=GOLDEN_TOL)


@pytest.mark.parametrize("zero_output", [False, True])
def test_golden_mask_return_sequences(zero_output):
    out = _const_rnn(2, return_sequences=True, zero_output_for_mask=zero_output)(
        SEQ_243, mask=MASK)
    if zero_output:
        row0 = [0.0599281, 0.15122814, 0.0, 0.32394567]
        row1 = [0.3969304, 0.0, 0.0, 0.608085]
    else:
        row0 = [0.0599281, 0.15122814, 0.15122814, 0.32394567]
        row1 = [0.3969304, 0.3969304, 0.3969304, 0.608085]
    np.testing.assert_allclose(out[0], _rows(row0, 2), atol=GOLDEN_TOL)
    np.testing.assert_allclose(out[1], _rows(row1, 2), atol=GOLDEN_TOL)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
def test_matches_numpy_reference(dtype, go_backwards, return_sequences, with_mask):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 3))
    mask = rng.random((3, 5)) > 0.3 if with_mask else None
    h0 = rng.normal(size=(3, 4))
    layer = layers.SimpleRNN(4, go_backwards=go_backwards, return_sequences=return_sequences,
                             return_state=True, dtype=dtype)
    out, state = layer(x, initial_state=h0, mask=mask)
    W, U, b = (w.astype(np.float64) for w in layer.get_weights())
    ref_seq, ref_state = np_simple_rnn(x.astype(dtype), W, U, b, h0.astype(dtype), mask,
                                       go_backwards)
    tol = 1e-5 if dtype == "float32" else 1e-12
    assert out.dtype == np.dtype(dtype) and state.dtype == np.dtype(dtype)
    ref_out = ref_seq if return_sequences else ref_seq[:, -1]
    np.testing.assert_allclose(out, ref_out, atol=tol)
    np.testing.assert_allclose(state, ref_state, atol=tol)


def test_go_backwards_returns_processing_order():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 3))
    fwd = layers.SimpleRNN(4, return_sequences=True, dtype="float64")
    bwd = layers.SimpleRNN(4, return_sequences=True, go_backwards=True, dtype="float64")
    fwd(x)
    bwd(x)
    bwd.set_weights(fwd.get_weights())
    # processing reversed time = running forwards on the time-reversed input, no flip back
    np.testing.assert_allclose(bwd(x), fwd(x[:, ::-1]), atol=1e-12)


# ---------------------------------------------------------------- (c) masking semantics (§4)
def _ids_model(ids, weights=None, return_sequences=False, seed=0):
    emb = layers.Embedding(10, 3, mask_zero=True, dtype="float64")
    rnn = layers.SimpleRNN(3, return_sequences=return_sequences, dtype="float64")
    e = emb(ids)
    out = rnn(e, mask=emb.compute_mask(ids))
    return emb, rnn, out


def test_pre_and_post_padding_agree_with_a_mask():
    emb = layers.Embedding(10, 3, mask_zero=True, dtype="float64")
    rnn = layers.SimpleRNN(3, dtype="float64")
    results = []
    for ids in ([[3, 4, 5, 0, 0]], [[0, 0, 3, 4, 5]], [[3, 4, 5]]):
        ids = np.array(ids)
        results.append(rnn(emb(ids), mask=emb.compute_mask(ids)))
    np.testing.assert_allclose(results[0], results[2], atol=1e-12)
    np.testing.assert_allclose(results[1], results[2], atol=1e-12)
    # without the mask post-padding changes the answer
    ids = np.array([[3, 4, 5, 0, 0]])
    assert not np.allclose(rnn(emb(ids)), results[2])


def test_post_padding_sequences_repeat_last_and_pre_padding_gives_zeros():
    emb = layers.Embedding(10, 3, mask_zero=True, dtype="float64")
    rnn = layers.SimpleRNN(3, return_sequences=True, dtype="float64")
    post = np.array([[3, 4, 5, 0, 0]])
    pre = np.array([[0, 0, 3, 4, 5]])
    out_post = rnn(emb(post), mask=emb.compute_mask(post))
    out_pre = rnn(emb(pre), mask=emb.compute_mask(pre))
    np.testing.assert_allclose(out_post[0, 3], out_post[0, 2])
    np.testing.assert_allclose(out_post[0, 4], out_post[0, 2])
    np.testing.assert_array_equal(out_pre[0, :2], 0.0)
    np.testing.assert_allclose(out_pre[0, 2:], out_post[0, :3], atol=1e-12)


def test_mask_propagates_through_return_sequences_stack():
    emb = layers.Embedding(10, 3, mask_zero=True, dtype="float64")
    r1 = layers.SimpleRNN(4, return_sequences=True, dtype="float64")
    r2 = layers.SimpleRNN(2, dtype="float64")

    def run(ids):
        m = emb.compute_mask(ids)
        e = emb(ids)
        h = r1(e, mask=m)
        m2 = r1.compute_mask(e, m)
        return r2(h, mask=m2), m2

    a, m2 = run(np.array([[3, 4, 5, 0, 0]]))
    b, _ = run(np.array([[3, 4, 5]]))
    np.testing.assert_array_equal(m2, [[True, True, True, False, False]])
    np.testing.assert_allclose(a, b, atol=1e-12)
    assert r2.compute_mask(None, m2) is None


def test_masking_layer_mask_and_zeroing():
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]]])
    layer = layers.Masking(mask_value=0.0)
    np.testing.assert_array_equal(layer.compute_mask(x), [[True, False, True]])
    np.testing.assert_array_equal(layer(x), x)
    layer5 = layers.Masking(mask_value=1.0)
    x5 = np.array([[[1.0, 1.0], [1.0, 2.0]]])
    np.testing.assert_array_equal(layer5.compute_mask(x5), [[False, True]])
    np.testing.assert_array_equal(layer5(x5), [[[0.0, 0.0], [1.0, 2.0]]])


def test_masking_layer_feeds_rnn_like_explicit_mask():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 5, 3))
    x[0, 3:] = 0.0
    x[1, :2] = 0.0
    masking = layers.Masking(dtype="float64")
    rnn = layers.SimpleRNN(4, dtype="float64")
    out = rnn(masking(x), mask=masking.compute_mask(x))
    W, U, b = rnn.get_weights()
    mask = np.any(x != 0, axis=-1)
    _, ref = np_simple_rnn(x, W, U, b, mask=mask)
    np.testing.assert_allclose(out, ref, atol=1e-12)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_zeros_at_masked_positions(merge_mode):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 3))
    mask = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 1]], dtype=bool)
    bi = layers.Bidirectional(layers.SimpleRNN(4, return_sequences=True, dtype="float64"),
                              merge_mode=merge_mode)
    out = bi(x, mask=mask)
    for o in (out if isinstance(out, list) else [out]):
        np.testing.assert_array_equal(o[~mask], 0.0)
        assert np.all(np.abs(o[mask]) > 0)


def test_bidirectional_alignment_and_last_output():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 5, 3))
    seq = layers.Bidirectional(layers.SimpleRNN(4, return_sequences=True, dtype="float64"))
    last = layers.Bidirectional(layers.SimpleRNN(4, dtype="float64"))
    seq(x)
    last(x)
    last.set_weights(seq.get_weights())
    out_seq, out_last = seq(x), last(x)
    Wf, Uf, bf, Wb, Ub, bb = seq.get_weights()
    f, _ = np_simple_rnn(x, Wf, Uf, bf)
    b, _ = np_simple_rnn(x, Wb, Ub, bb, go_backwards=True)
    np.testing.assert_allclose(out_seq, np.concatenate([f, b[:, ::-1]], -1), atol=1e-12)
    # not the last row: concat(h_fwd after x_{T-1}, h_bwd after x_0) = position 0's backward half
    np.testing.assert_allclose(out_last[:, :4], out_seq[:, -1, :4], atol=1e-12)
    np.testing.assert_allclose(out_last[:, 4:], out_seq[:, 0, 4:], atol=1e-12)


def test_bidirectional_padding_position_independent_issue_4192():
    """keras-team/keras #4192: backward states must not depend on where the padding is."""
    emb = layers.Embedding(10, 3, mask_zero=True, dtype="float64")
    bi = layers.Bidirectional(layers.SimpleRNN(4, dtype="float64"))
    outs = []
    for ids in ([[3, 4, 5, 0, 0]], [[0, 0, 3, 4, 5]], [[3, 4, 5]]):
        ids = np.array(ids)
        outs.append(bi(emb(ids), mask=emb.compute_mask(ids)))
    np.testing.assert_allclose(outs[0], outs[2], atol=1e-12)
    np.testing.assert_allclose(outs[1], outs[2], atol=1e-12)


def test_masked_steps_do_not_leak_bias_issue_1300():
    rnn = layers.SimpleRNN(3, bias_initializer=initializers.Constant(0.5), dtype="float64")
    x = np.zeros((1, 4, 2))
    x[0, 0] = [1.0, -1.0]
    mask = np.array([[True, False, False, False]])
    full = rnn(x, mask=mask)
    one = rnn(x[:, :1])
    np.testing.assert_allclose(full, one, atol=1e-12)


def test_bidirectional_states_and_initial_state_halves():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 4, 3))
    h_f, h_b = rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    bi = layers.Bidirectional(layers.SimpleRNN(4, return_state=True, dtype="float64"))
    out, sf, sb = bi(x, initial_state=[h_f, h_b])
    Wf, Uf, bf, Wb, Ub, bb = bi.get_weights()
    f, ff = np_simple_rnn(x, Wf, Uf, bf, h0=h_f)
    b, fb = np_simple_rnn(x, Wb, Ub, bb, h0=h_b, go_backwards=True)
    np.testing.assert_allclose(sf, ff, atol=1e-12)
    np.testing.assert_allclose(sb, fb, atol=1e-12)
    np.testing.assert_allclose(out, np.concatenate([ff, fb], -1), atol=1e-12)
    none = layers.Bidirectional(layers.SimpleRNN(4, return_state=True, dtype="float64"),
                                merge_mode=None)
    none(x)
    none.set_weights(bi.get_weights())
    res = none(x, initial_state=[h_f, h_b])
    assert len(res) == 4
    np.testing.assert_allclose(res[0], ff, atol=1e-12)
    np.testing.assert_allclose(res[1], fb, atol=1e-12)


# ---------------------------------------------------------------- (d) live parity with Keras
def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


PARITY_TOL = 1e-5


def _to_np(t):
    if isinstance(t, (list, tuple)):
        return [_to_np(v) for v in t]
    try:
        return np.asarray(t)
    except Exception:  # torch tensors on the torch backend
        return t.detach().cpu().numpy()


@pytest.mark.parametrize("opts", [
    {},
    {"return_sequences": True},
    {"go_backwards": True},
    {"go_backwards": True, "return_sequences": True},
    {"activation": "relu", "return_sequences": True},
    {"return_state": True},
])
def test_keras_parity_simple_rnn_with_mask(opts):
    keras = _keras()
    rng = np.random.default_rng(10)
    x = rng.normal(size=(3, 5, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 1, 0]], dtype=bool)
    ours = layers.SimpleRNN(4, **opts)
    ours(x)
    k = keras.layers.SimpleRNN(4, **opts)
    k.build(x.shape)
    k.set_weights(ours.get_weights())
    for m in (None, mask):
        a = _to_np(k(x, mask=m))
        b = ours(x, mask=m)
        for u, v in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            np.testing.assert_allclose(v, u, atol=PARITY_TOL)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_keras_parity_bidirectional_with_mask(merge_mode, return_sequences):
    keras = _keras()
    rng = np.random.default_rng(11)
    x = rng.normal(size=(3, 5, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1]], dtype=bool)
    ours = layers.Bidirectional(layers.SimpleRNN(4, return_sequences=return_sequences),
                                merge_mode=merge_mode)
    ours(x)
    k = keras.layers.Bidirectional(keras.layers.SimpleRNN(4, return_sequences=return_sequences),
                                   merge_mode=merge_mode)
    k.build(x.shape)
    k.set_weights(ours.get_weights())
    assert k.count_params() == ours.count_params()
    for m in (None, mask):
        a = _to_np(k(x, mask=m))
        b = ours(x, mask=m)
        for u, v in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            np.testing.assert_allclose(v, u, atol=PARITY_TOL)


def test_keras_parity_embedding_dense_and_masked_stack():
    keras = _keras()
    rng = np.random.default_rng(12)
    ids = np.array([[3, 4, 5, 0, 0], [0, 0, 1, 2, 9], [7, 0, 2, 0, 1]])
    emb, r1, r2, dense = (layers.Embedding(10, 3, mask_zero=True),
                          layers.SimpleRNN(4, return_sequences=True), layers.SimpleRNN(4),
                          layers.Dense(2, activation="sigmoid"))
    kemb, kr1, kr2, kdense = (keras.layers.Embedding(10, 3, mask_zero=True),
                              keras.layers.SimpleRNN(4, return_sequences=True),
                              keras.layers.SimpleRNN(4),
                              keras.layers.Dense(2, activation="sigmoid"))
    kmodel = keras.Sequential([keras.Input((5,), dtype="int32"), kemb, kr1, kr2, kdense])
    m = emb.compute_mask(ids)
    e = emb(ids)
    h1 = r1(e, mask=m)
    h2 = r2(h1, mask=r1.compute_mask(e, m))
    ours = dense(h2)
    for a, b in ((kemb, emb), (kr1, r1), (kr2, r2), (kdense, dense)):
        a.set_weights(b.get_weights())
    np.testing.assert_allclose(_to_np(kemb(ids)), e, atol=PARITY_TOL)
    np.testing.assert_allclose(_to_np(kmodel(ids)), ours, atol=PARITY_TOL)
    x3 = rng.normal(size=(2, 4, 4)).astype("float32")
    np.testing.assert_allclose(_to_np(kdense(x3)), dense(x3), atol=PARITY_TOL)
    assert (emb.count_params(), dense.count_params()) == (kemb.count_params(),
                                                          kdense.count_params())
