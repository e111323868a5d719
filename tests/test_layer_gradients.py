"""Every layer's backward pass against central finite differences, in float64.

The scalar checked is ``L = sum_i <R_i, output_i> (+ regularization_loss())`` with fixed random
``R_i``; its gradient for an output is ``R_i``, so ``layer.backward(R)`` must return dL/dx and
leave dL/dw in ``layer.grads``.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import layers

EPS = 1e-6


@pytest.fixture(autouse=True)
def _seeded():
    """Deterministic weights: the same draws every run (no kink of relu hit by chance)."""
    from fastrnn.utils import set_random_seed

    set_random_seed(1234)
RTOL = 1e-6
ATOL = 1e-8


def _flat(v):
    return list(v) if isinstance(v, (list, tuple)) else [v]


def check_gradients(layer, x, *, seed=0, with_regularization=False, check_input=True, **kwargs):
    """Compare backward() with central differences for the input and every trainable weight."""
    rng = np.random.default_rng(seed)
    out = layer.forward(x, training=True, **kwargs)
    R = [None if o is None else rng.normal(size=np.shape(o)) for o in _flat(out)]

    def loss() -> float:
        o = _flat(layer.forward(x, training=True, **kwargs))
        total = sum(float(np.sum(r * np.asarray(v))) for r, v in zip(R, o))
        if with_regularization:
            total += layer.regularization_loss()
        return total

    loss()  # fresh forward for the analytic pass (and the activity penalty)
    d_in = layer.backward(R if isinstance(out, list) else R[0])
    grads = [g.copy() for g in layer.grads]
    weights = layer.trainable_weights
    assert len(grads) == len(weights)
    for w, g in zip(weights, grads):
        assert g.shape == w.shape and g.dtype == w.dtype
        num = np.zeros_like(w)
        for idx in np.ndindex(w.shape):
            old = w[idx]
            w[idx] = old + EPS
            lp = loss()
            w[idx] = old - EPS
            lm = loss()
            w[idx] = old
            num[idx] = (lp - lm) / (2 * EPS)
        np.testing.assert_allclose(g, num, rtol=RTOL, atol=ATOL)
    if check_input:
        assert d_in is not None and d_in.shape == np.shape(x)
        xs = x  # perturb a private copy
        num = np.zeros(np.shape(x))
        for idx in np.ndindex(num.shape):
            old = xs[idx]
            xs[idx] = old + EPS
            lp = loss()
            xs[idx] = old - EPS
            lm = loss()
            xs[idx] = old
            num[idx] = (lp - lm) / (2 * EPS)
        np.testing.assert_allclose(d_in, num, rtol=RTOL, atol=ATOL)
    return d_in, grads


def _x(shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape)


MASK = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1], [1, 0, 0, 0, 1]], dtype=bool)


# ---------------------------------------------------------------- SimpleRNN
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_simple_rnn(go_backwards, return_sequences, masked):
    layer = layers.SimpleRNN(4, go_backwards=go_backwards, return_sequences=return_sequences,
                             bias_initializer="glorot_uniform", dtype="float64")
    check_gradients(layer, _x((3, 5, 3)), mask=MASK if masked else None)


@pytest.mark.parametrize("activation", ["sigmoid", "linear", "relu"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_simple_rnn_activations(activation, use_bias):
    layer = layers.SimpleRNN(4, activation=activation, use_bias=use_bias, return_sequences=True,
                             dtype="float64")
    check_gradients(layer, _x((2, 4, 3), seed=2))


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_simple_rnn_zero_output_for_mask(go_backwards, return_sequences):
    layer = layers.SimpleRNN(4, zero_output_for_mask=True, go_backwards=go_backwards,
                             return_sequences=return_sequences, dtype="float64")
    check_gradients(layer, _x((3, 5, 3), seed=3), mask=MASK)


def _initial_state_differences(loss, h0):
    """Central differences of ``loss(h)`` at ``h0``, one element at a time."""
    num = np.zeros_like(h0)
    for idx in np.ndindex(h0.shape):
        vals = []
        for sign in (1, -1):
            h = h0.copy()
            h[idx] += sign * EPS
            vals.append(loss(h))
        num[idx] = (vals[0] - vals[1]) / (2 * EPS)
    return num


@pytest.mark.parametrize("masked", [False, True])
def test_simple_rnn_return_state_and_initial_state(masked):
    layer = layers.SimpleRNN(4, return_state=True, return_sequences=True, dtype="float64")
    x = _x((3, 5, 3), seed=4)
    h0 = _x((3, 4), seed=5)
    check_gradients(layer, x, initial_state=h0, mask=MASK if masked else None)
    # the initial-state gradient by finite differences
    rng = np.random.default_rng(0)
    out = layer.forward(x, training=True, initial_state=h0)
    R = [rng.normal(size=o.shape) for o in out]
    layer.backward(R)
    num = _initial_state_differences(
        lambda h: sum(float(np.sum(r * v))
                      for r, v in zip(R, layer.forward(x, training=True, initial_state=h))), h0)
    np.testing.assert_allclose(layer.initial_state_grads[0], num, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("zero_output_for_mask", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_simple_rnn_last_output_with_fully_masked_samples(go_backwards, zero_output_for_mask):
    """return_sequences=False: the last output is the final state except where it is a masked
    step's zeros (a sample with no valid step; with zero_output_for_mask, a masked last step).
    Gradients of the inputs, weights and initial state against central differences."""
    mask = np.array([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 0, 0, 0, 1], [0, 1, 1, 0, 0]], bool)
    layer = layers.SimpleRNN(4, dtype="float64", go_backwards=go_backwards,
                             zero_output_for_mask=zero_output_for_mask)
    x, h0 = _x((4, 5, 3), seed=6), _x((4, 4), seed=7)
    check_gradients(layer, x, initial_state=h0, mask=mask)
    r = np.random.default_rng(1).normal(size=(4, 4))
    layer.forward(x, training=True, initial_state=h0, mask=mask)
    layer.backward(r)
    dh0 = layer.initial_state_grads[0]
    num = _initial_state_differences(
        lambda h: float(np.sum(r * layer.forward(x, training=True, initial_state=h, mask=mask))),
        h0)
    np.testing.assert_allclose(dh0, num, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(dh0[1], 0)  # no valid step: the output is zeros


@pytest.mark.parametrize("go_backwards", [False, True])
def test_simple_rnn_fixed_dropout_masks(go_backwards):
    layer = layers.SimpleRNN(4, dropout=0.5, recurrent_dropout=0.5, go_backwards=go_backwards,
                             return_sequences=True, dtype="float64")
    x = _x((3, 5, 3), seed=6)
    rng = np.random.default_rng(7)
    m_in = (rng.random((3, 3)) > 0.5) * 2.0
    m_rec = (rng.random((3, 4)) > 0.5) * 2.0
    layer(x)  # build
    layer.cell.dropout_masks = lambda B, F, training: (m_in, m_rec)
    check_gradients(layer, x, mask=MASK)


def test_simple_rnn_regularizers():
    pytest.importorskip("fastrnn.regularizers")
    layer = layers.SimpleRNN(4, kernel_regularizer="l2", recurrent_regularizer="l1",
                             bias_regularizer="l2", bias_initializer="ones",
                             activity_regularizer="l2", return_sequences=True, dtype="float64")
    check_gradients(layer, _x((2, 4, 3), seed=8), with_regularization=True)
    assert layer.regularization_loss() > 0


# ---------------------------------------------------------------- Bidirectional
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_bidirectional(merge_mode, return_sequences, masked):
    layer = layers.Bidirectional(
        layers.SimpleRNN(4, return_sequences=return_sequences, dtype="float64"),
        merge_mode=merge_mode)
    check_gradients(layer, _x((3, 5, 3), seed=9), mask=MASK if masked else None)


@pytest.mark.parametrize("merge_mode", ["concat", None])
def test_bidirectional_return_state_and_initial_state(merge_mode):
    layer = layers.Bidirectional(
        layers.SimpleRNN(4, return_sequences=True, return_state=True, dtype="float64"),
        merge_mode=merge_mode)
    check_gradients(layer, _x((2, 4, 3), seed=10), mask=MASK[:2, :4],
                    initial_state=[_x((2, 4), 11), _x((2, 4), 12)])


def test_bidirectional_fixed_dropout_masks():
    layer = layers.Bidirectional(layers.SimpleRNN(4, dropout=0.3, recurrent_dropout=0.3,
                                                  dtype="float64"))
    x = _x((3, 5, 3), seed=13)
    layer(x)
    rng = np.random.default_rng(14)
    for sub in (layer.forward_layer, layer.backward_layer):
        m_in = (rng.random((3, 3)) > 0.3) / 0.7
        m_rec = (rng.random((3, 4)) > 0.3) / 0.7
        sub.cell.dropout_masks = lambda B, F, training, a=m_in, b=m_rec: (a, b)
    check_gradients(layer, x)


# ---------------------------------------------------------------- Dense
@pytest.mark.parametrize("activation", [None, "linear", "tanh", "sigmoid", "relu", "softmax"])
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 3)])
def test_dense(activation, shape):
    layer = layers.Dense(4, activation=activation, bias_initializer="glorot_uniform",
                         dtype="float64")
    check_gradients(layer, _x(shape, seed=15))


def test_dense_no_bias_with_regularizers():
    pytest.importorskip("fastrnn.regularizers")
    layer = layers.Dense(3, use_bias=False, kernel_regularizer="l1_l2",
                         activity_regularizer="l1", dtype="float64")
    check_gradients(layer, _x((3, 4), seed=16), with_regularization=True)


# ---------------------------------------------------------------- Embedding
@pytest.mark.parametrize("ids_shape", [(3, 5), (4,), (2, 3, 2)])
def test_embedding(ids_shape):
    rng = np.random.default_rng(17)
    ids = rng.integers(0, 6, size=ids_shape)
    layer = layers.Embedding(6, 3, dtype="float64")
    _, grads = check_gradients(layer, ids, check_input=False)
    assert layer.backward(np.ones(ids_shape + (3,))) is None
    # ids that never occur get no gradient
    unused = sorted(set(range(6)) - set(ids.ravel().tolist()))
    np.testing.assert_array_equal(grads[0][unused], 0.0)


def test_embedding_regularizer():
    pytest.importorskip("fastrnn.regularizers")
    layer = layers.Embedding(5, 2, embeddings_regularizer="l2", dtype="float64")
    check_gradients(layer, np.array([[1, 2, 2], [4, 0, 1]]), check_input=False,
                    with_regularization=True)


def test_embedding_into_rnn_chain():
    """Chain rule through Embedding(mask_zero) -> SimpleRNN: embedding gradient by differences."""
    ids = np.array([[3, 4, 5, 0, 0], [0, 1, 2, 3, 1]])
    emb = layers.Embedding(6, 3, mask_zero=True, dtype="float64")
    rnn = layers.SimpleRNN(4, dtype="float64")
    rng = np.random.default_rng(18)
    R = rng.normal(size=(2, 4))
    mask = emb.compute_mask(ids)

    def loss():
        return float(np.sum(R * rnn.forward(emb.forward(ids, training=True), mask=mask,
                                            training=True)))

    loss()
    emb.backward(rnn.backward(R))
    g = emb.grads[0]
    E = emb.embeddings
    num = np.zeros_like(E)
    for idx in np.ndindex(E.shape):
        old = E[idx]
        E[idx] = old + EPS
        lp = loss()
        E[idx] = old - EPS
        lm = loss()
        E[idx] = old
        num[idx] = (lp - lm) / (2 * EPS)
    np.testing.assert_allclose(g, num, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(g[0], 0.0)  # padding id 0 only ever sits at masked steps


# ---------------------------------------------------------------- wrappers and simple layers
@pytest.mark.parametrize("activation", ["tanh", "softmax"])
def test_time_distributed_dense(activation):
    layer = layers.TimeDistributed(layers.Dense(3, activation=activation, dtype="float64"))
    check_gradients(layer, _x((2, 4, 3), seed=19))


def test_time_distributed_dropout_fixed_mask():
    inner = layers.Dropout(0.5, dtype="float64")
    fixed = (np.random.default_rng(20).random((6, 3)) > 0.5) * 2.0
    inner._draw_mask = lambda shape: fixed
    check_gradients(layers.TimeDistributed(inner), _x((2, 3, 3), seed=21))


@pytest.mark.parametrize("noise_shape", [None, (None, 1, 3)])
def test_dropout_fixed_mask(noise_shape):
    layer = layers.Dropout(0.4, noise_shape=noise_shape, dtype="float64")
    x = _x((2, 4, 3), seed=22)
    mask_shape = layer._noise_shape(x.shape)
    fixed = (np.random.default_rng(23).random(mask_shape) > 0.4) / 0.6
    layer._draw_mask = lambda shape: fixed
    dx, _ = check_gradients(layer, x)
    np.testing.assert_allclose(layer.forward(x, training=True), x * fixed)


def test_masking_flatten_activation():
    x = _x((2, 4, 3), seed=24)
    x[0, 1] = 0.0
    x[1, 3] = 0.0
    # the mask is a constant of the graph (as in Keras): d/dx = R where kept, 0 where masked;
    # differences would flip the mask at an all-zero step, so compare with the formula
    masking = layers.Masking(dtype="float64")
    masking.forward(x, training=True)
    R = np.random.default_rng(0).normal(size=x.shape)
    keep = np.any(x != 0, axis=-1)[..., None]
    np.testing.assert_array_equal(masking.backward(R), R * keep)
    np.testing.assert_array_equal(masking.backward(R)[0, 1], 0.0)
    x_dense = _x((2, 4, 3), seed=27)
    check_gradients(layers.Masking(dtype="float64"), x_dense)
    check_gradients(layers.Flatten(dtype="float64"), _x((2, 4, 3), seed=25))
    for act in ("tanh", "sigmoid", "softmax", "relu"):
        check_gradients(layers.Activation(act, dtype="float64"), _x((3, 4), seed=26))
