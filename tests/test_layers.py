"""Layer API: construction, names, weights, parameter counts, shapes, configs, dtypes, dropout,
and clear errors for bad input (without touching the caller's arrays)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fastrnn import initializers, layers
from fastrnn.layers.base import reset_name_counters


@pytest.fixture(autouse=True)
def _fresh_names():
    reset_name_counters()
    yield
    reset_name_counters()


def _x(shape, seed=0, dtype="float32"):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


def _built(layer, shape, **kw):
    layer(_x(shape), **kw)
    return layer


# ---------------------------------------------------------------- parameter counts (§1.3)
def test_keras_parameter_counts():
    assert _built(layers.SimpleRNN(32), (2, 5, 32)).count_params() == 2080
    assert _built(layers.SimpleRNN(32), (2, 5, 1)).count_params() == 1088
    assert _built(layers.Bidirectional(layers.SimpleRNN(32)), (2, 5, 32)).count_params() == 4160
    emb = layers.Embedding(10000, 32)
    emb(np.array([[1, 2, 3]]))
    assert emb.count_params() == 320_000
    assert _built(layers.Dense(1), (2, 32)).count_params() == 33
    assert _built(layers.Dense(1), (2, 64)).count_params() == 65
    assert _built(layers.SimpleRNN(4, use_bias=False), (2, 3, 3)).count_params() == 28


def test_count_params_unbuilt_raises():
    with pytest.raises(ValueError, match="isn't built"):
        layers.SimpleRNN(4).count_params()


def test_build_without_calling():
    rnn = layers.SimpleRNN(4)
    rnn.build((None, 7, 3))
    assert rnn.count_params() == 4 * (3 + 4 + 1)
    dense = layers.Dense(2)
    dense.build((None, 5))
    assert [w.shape for w in dense.weights] == [(5, 2), (2,)]


# ---------------------------------------------------------------- names and weights
def test_automatic_names_and_weight_paths():
    a, b = layers.SimpleRNN(2), layers.SimpleRNN(2)
    assert (a.name, b.name) == ("simple_rnn", "simple_rnn_1")
    assert layers.Dense(1).name == "dense"
    assert layers.TimeDistributed(layers.Dense(1)).name == "time_distributed"
    a.build((None, 3, 2))
    assert [w.path for w in a._weight_records()] == [
        "simple_rnn/simple_rnn_cell/kernel", "simple_rnn/simple_rnn_cell/recurrent_kernel",
        "simple_rnn/simple_rnn_cell/bias"]
    bi = layers.Bidirectional(layers.SimpleRNN(2, name="rnn"))
    assert (bi.forward_layer.name, bi.backward_layer.name) == ("forward_rnn", "backward_rnn")
    assert bi.backward_layer.go_backwards and not bi.forward_layer.go_backwards
    bi.build((None, 3, 2))
    paths = [w.path for w in bi._weight_records()]
    assert paths[0] == "bidirectional/forward_rnn/simple_rnn_cell/kernel"
    assert paths[3] == "bidirectional/backward_rnn/simple_rnn_cell/kernel"


def test_weight_order_shapes_and_dtype():
    rnn = _built(layers.SimpleRNN(4), (2, 3, 5))
    assert [w.shape for w in rnn.get_weights()] == [(5, 4), (4, 4), (4,)]
    assert all(w.dtype == np.float32 and w.flags.c_contiguous for w in rnn.weights)
    rnn64 = _built(layers.SimpleRNN(4, dtype="float64"), (2, 3, 5))
    assert all(w.dtype == np.float64 for w in rnn64.weights)
    assert rnn64(_x((2, 3, 5))).dtype == np.float64
    assert rnn(_x((2, 3, 5), dtype="float64")).dtype == np.float32
    with pytest.raises(ValueError, match="dtype"):
        layers.SimpleRNN(4, dtype="int32")


def test_default_initializers_follow_keras():
    rnn = _built(layers.SimpleRNN(32, dtype="float64"), (2, 3, 32))
    W, U, b = rnn.get_weights()
    assert np.abs(W).max() <= np.sqrt(6 / 64) + 1e-12
    np.testing.assert_allclose(U.T @ U, np.eye(32), atol=1e-10)  # orthogonal
    np.testing.assert_array_equal(b, 0.0)
    emb = layers.Embedding(100, 8)
    emb(np.array([[1]]))
    assert np.abs(emb.embeddings).max() <= 0.05


def test_get_weights_copies_and_set_weights_copies_in():
    rnn = _built(layers.SimpleRNN(3), (2, 4, 2))
    live = rnn.weights
    got = rnn.get_weights()
    got[0][...] = 7.0
    assert not np.any(rnn.kernel == 7.0)
    new = [np.full(w.shape, 0.5, dtype=np.float64) for w in got]
    rnn.set_weights(new)
    assert all(a is b for a, b in zip(live, rnn.weights))  # updated in place
    np.testing.assert_array_equal(rnn.kernel, 0.5)
    assert rnn.kernel.dtype == np.float32
    new[0][...] = 1.0
    np.testing.assert_array_equal(rnn.kernel, 0.5)


def test_set_weights_wrong_count_or_shape_changes_nothing():
    rnn = _built(layers.SimpleRNN(3), (2, 4, 2))
    before = rnn.get_weights()
    with pytest.raises(ValueError, match="expects 3 weights.*Received"):
        rnn.set_weights(before[:2])
    bad = [np.ones((2, 3)), np.ones((3, 4)), np.ones(3)]
    with pytest.raises(ValueError, match=r"weight 1 \(recurrent_kernel\) expects shape \(3, 3\)"):
        rnn.set_weights(bad)
    for a, b in zip(before, rnn.get_weights()):
        np.testing.assert_array_equal(a, b)  # the valid first weight was not copied either
    np.testing.assert_array_equal(bad[0], 1.0)


def test_trainable_flag():
    rnn = _built(layers.SimpleRNN(3, trainable=False), (2, 4, 2))
    assert rnn.trainable_weights == [] and len(rnn.non_trainable_weights) == 3
    rnn.forward(_x((2, 4, 2)), training=True)
    assert rnn.backward(_x((2, 3))).shape == (2, 4, 2)
    assert rnn.grads == []
    bi = _built(layers.Bidirectional(layers.SimpleRNN(3)), (2, 4, 2))
    bi.trainable = False
    assert bi.trainable_weights == [] and len(bi.non_trainable_weights) == 6
    bi.trainable = True
    assert len(bi.trainable_weights) == 6


# ---------------------------------------------------------------- constructor validation
@pytest.mark.parametrize("units", [0, -1, 2.5, None])
def test_invalid_units(units):
    with pytest.raises(ValueError, match="units"):
        layers.SimpleRNN(units)
    with pytest.raises(ValueError, match="units"):
        layers.Dense(units)


def test_unknown_keyword_argument():
    with pytest.raises(ValueError, match="Unrecognized keyword arguments.*foo"):
        layers.SimpleRNN(2, foo=1)
    with pytest.raises(TypeError):
        layers.Dense(2, bar=1)


@pytest.mark.parametrize("arg", ["kernel_constraint", "recurrent_constraint", "bias_constraint"])
def test_constraints_rejected_clearly(arg):
    layers.SimpleRNN(2, **{arg: None})
    with pytest.raises(NotImplementedError, match=arg):
        layers.SimpleRNN(2, **{arg: "non_neg"})


def test_activation_must_be_engine_activation():
    for act in ("tanh", "relu", "sigmoid", "linear", None):
        layers.SimpleRNN(2, activation=act)
    with pytest.raises(ValueError, match="activation"):
        layers.SimpleRNN(2, activation="softmax")


def test_dropout_rates_clamped():
    rnn = layers.SimpleRNN(2, dropout=1.5, recurrent_dropout=-0.2)
    assert (rnn.dropout, rnn.recurrent_dropout) == (1.0, 0.0)
    with pytest.raises(ValueError, match="rate"):
        layers.Dropout(1.5)


def test_input_shape_declarations_recorded():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert layers.SimpleRNN(2, input_shape=(5, 3))._build_shape == (None, 5, 3)
        assert layers.SimpleRNN(2, batch_input_shape=(4, 5, 3))._build_shape == (4, 5, 3)
        assert layers.SimpleRNN(2, input_shape=(5, 3), batch_size=8)._build_shape == (8, 5, 3)
        assert layers.Dense(2, input_dim=7)._build_shape == (None, 7)


def test_stateful_needs_a_batch_size():
    with pytest.raises(ValueError, match="batch size must be static"):
        layers.SimpleRNN(2, stateful=True).build((None, 3, 2))


# ---------------------------------------------------------------- shapes and masks
@pytest.mark.parametrize("layer, in_shape, x_shape", [
    (lambda: layers.SimpleRNN(4), (None, 5, 3), (2, 5, 3)),
    (lambda: layers.SimpleRNN(4, return_sequences=True), (None, 5, 3), (2, 5, 3)),
    (lambda: layers.SimpleRNN(4, return_state=True), (None, 5, 3), (2, 5, 3)),
    (lambda: layers.Bidirectional(layers.SimpleRNN(4)), (None, 5, 3), (2, 5, 3)),
    (lambda: layers.Bidirectional(layers.SimpleRNN(4, return_sequences=True), merge_mode="sum"),
     (None, 5, 3), (2, 5, 3)),
    (lambda: layers.Bidirectional(layers.SimpleRNN(4, return_state=True), merge_mode=None),
     (None, 5, 3), (2, 5, 3)),
    (lambda: layers.Dense(6), (None, 5, 3), (2, 5, 3)),
    (lambda: layers.TimeDistributed(layers.Dense(6)), (None, 5, 3), (2, 5, 3)),
    (lambda: layers.Flatten(), (None, 5, 3), (2, 5, 3)),
    (lambda: layers.Dropout(0.5), (None, 5, 3), (2, 5, 3)),
    (lambda: layers.Masking(), (None, 5, 3), (2, 5, 3)),
    (lambda: layers.Activation("softmax"), (None, 5, 3), (2, 5, 3)),
])
def test_compute_output_shape_matches_outputs(layer, in_shape, x_shape):
    layer = layer()
    out = layer(_x(x_shape))
    shapes = layer.compute_output_shape(in_shape)
    outs = out if isinstance(out, list) else [out]
    shapes = shapes if isinstance(shapes, list) else [shapes]
    assert len(outs) == len(shapes)
    for o, s in zip(outs, shapes):
        assert o.shape == (x_shape[0],) + tuple(s)[1:]


def test_embedding_shape_and_mask():
    emb = layers.Embedding(10, 4, mask_zero=True)
    ids = np.array([[1, 0, 3], [0, 0, 9]])
    assert emb(ids).shape == (2, 3, 4)
    assert emb.compute_output_shape((None, 3)) == (None, 3, 4)
    np.testing.assert_array_equal(emb.compute_mask(ids), ids != 0)
    assert layers.Embedding(10, 4).compute_mask(ids) is None
    np.testing.assert_array_equal(emb(ids)[0, 1], emb.embeddings[0])


def test_rnn_compute_mask_rules():
    m = np.ones((2, 3), bool)
    assert layers.SimpleRNN(2).compute_mask(None, m) is None
    assert layers.SimpleRNN(2, return_sequences=True).compute_mask(None, m) is m
    assert layers.SimpleRNN(2, return_sequences=True, return_state=True).compute_mask(None, m) \
        == [m, None]
    assert layers.Bidirectional(layers.SimpleRNN(2, return_sequences=True)).compute_mask(
        None, m) is m
    assert layers.Dropout(0.1).compute_mask(None, m) is m
    assert layers.Dense(2).compute_mask(None, m) is m
    assert layers.Flatten().compute_mask(None, m) is None


# ---------------------------------------------------------------- configs
def _roundtrip_layers():
    return [
        layers.SimpleRNN(3, activation="relu", use_bias=False, dropout=0.1,
                         recurrent_dropout=0.2, return_sequences=True, return_state=True,
                         go_backwards=True, unroll=True, seed=3, zero_output_for_mask=True,
                         kernel_initializer=initializers.Constant(0.1), dtype="float64"),
        layers.SimpleRNN(3, stateful=True, batch_input_shape=(2, 4, 2)),
        layers.Bidirectional(layers.SimpleRNN(3, return_sequences=True), merge_mode="ave"),
        layers.Bidirectional(layers.SimpleRNN(3), merge_mode=None),
        layers.Embedding(7, 3, mask_zero=True),
        layers.Dense(3, activation="softmax", use_bias=False),
        layers.Dropout(0.3, noise_shape=(None, 1, 2), seed=1),
        layers.Masking(mask_value=-1.0),
        layers.TimeDistributed(layers.Dense(2, activation="tanh")),
        layers.Flatten(),
        layers.Activation("sigmoid"),
        layers.InputLayer(shape=(4, 2), batch_size=2),
    ]


@pytest.mark.parametrize("index", range(12))
def test_config_round_trip(index):
    layer = _roundtrip_layers()[index]
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone2 = layers.deserialize(layers.serialize(layer))
    assert type(clone2) is type(layer) and clone2.get_config() == config


def test_round_trip_gives_same_outputs_with_same_weights():
    x = _x((2, 4, 2))
    for make in (lambda: layers.SimpleRNN(3, return_sequences=True, go_backwards=True),
                 lambda: layers.Bidirectional(layers.SimpleRNN(3), merge_mode="mul"),
                 lambda: layers.TimeDistributed(layers.Dense(2))):
        layer = make()
        out = layer(x)
        clone = layers.deserialize(layers.serialize(layer))
        clone(x)
        clone.set_weights(layer.get_weights())
        np.testing.assert_array_equal(clone(x), out)


def test_regularizer_config_round_trip():
    pytest.importorskip("fastrnn.regularizers")
    layer = layers.SimpleRNN(2, kernel_regularizer="l2", activity_regularizer="l1")
    config = layer.get_config()
    assert config["kernel_regularizer"] is not None and config["activity_regularizer"] is not None
    assert layers.SimpleRNN.from_config(config).get_config() == config


def test_input_layer():
    inp = layers.Input(shape=(5, 3), batch_size=4, name="seq")
    assert isinstance(inp, layers.InputLayer)
    assert inp.batch_shape == (4, 5, 3) and inp.dtype == "float32" and inp.name == "seq"
    ids = layers.Input(shape=(7,), dtype="int32")
    assert ids.batch_shape == (None, 7) and ids.dtype == "int32"
    assert layers.InputLayer(batch_shape=(None, 2)).compute_output_shape() == (None, 2)
    x = _x((4, 5, 3))
    assert inp(x) is x
    with pytest.raises(ValueError, match="shape"):
        inp(_x((4, 6, 3)))
    with pytest.raises(ValueError, match="shape"):
        layers.InputLayer()


def test_embedding_input_length_deprecated_and_weights():
    with pytest.warns(UserWarning, match="input_length"):
        layers.Embedding(5, 2, input_length=3)
    w = np.arange(10, dtype="float32").reshape(5, 2)
    emb = layers.Embedding(5, 2, weights=[w])
    np.testing.assert_array_equal(emb(np.array([[4, 1]]))[0], w[[4, 1]])


def test_bidirectional_weights_argument_and_validation():
    rnn = layers.SimpleRNN(2)
    ws = [np.full((3, 2), 1.0), np.full((2, 2), 2.0), np.full(2, 3.0),
          np.full((3, 2), 4.0), np.full((2, 2), 5.0), np.full(2, 6.0)]
    bi = layers.Bidirectional(rnn, weights=ws)
    bi(_x((1, 4, 3)))
    for a, b in zip(bi.get_weights(), ws):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="merge mode"):
        layers.Bidirectional(layers.SimpleRNN(2), merge_mode="max")
    with pytest.raises(ValueError, match="go_backwards"):
        layers.Bidirectional(layers.SimpleRNN(2), backward_layer=layers.SimpleRNN(2))
    with pytest.raises(ValueError, match="return_sequences"):
        layers.Bidirectional(layers.SimpleRNN(2), backward_layer=layers.SimpleRNN(
            2, go_backwards=True, return_sequences=True))
    with pytest.raises(ValueError, match="recurrent"):
        layers.Bidirectional(layers.Dense(2))
    custom = layers.SimpleRNN(2, go_backwards=True, activation="relu")
    bi2 = layers.Bidirectional(layers.SimpleRNN(2), backward_layer=custom)
    assert bi2.backward_layer is custom


def test_bidirectional_zero_output_forced_to_return_sequences():
    for rs in (False, True):
        bi = layers.Bidirectional(layers.SimpleRNN(2, return_sequences=rs))
        assert bi.forward_layer.zero_output_for_mask is rs
        assert bi.backward_layer.zero_output_for_mask is rs


# ---------------------------------------------------------------- dropout
def test_dropout_layer_training_only():
    x = np.ones((200, 50), dtype="float32")
    layer = layers.Dropout(0.25, seed=0)
    np.testing.assert_array_equal(layer(x), x)
    y = layer(x, training=True)
    assert set(np.unique(y).tolist()) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    assert not np.array_equal(y, layer(x, training=True))  # a new mask every call
    np.testing.assert_array_equal(layers.Dropout(1.0)(x, training=True), 0.0)
    shared = layers.Dropout(0.5, noise_shape=(None, 1, 4), seed=1)(np.ones((3, 6, 4)),
                                                                   training=True)
    assert np.all(shared == shared[:, :1])
    a = layers.Dropout(0.5, seed=7)(x, training=True)
    b = layers.Dropout(0.5, seed=7)(x, training=True)
    np.testing.assert_array_equal(a, b)


def test_simple_rnn_dropout_masks():
    rnn = layers.SimpleRNN(5, dropout=0.5, recurrent_dropout=0.3, seed=0)
    x = _x((4, 3, 6))
    rnn(x)
    m_in, m_rec = rnn.cell.dropout_masks(4, 6, training=True)
    assert m_in.shape == (4, 6) and m_rec.shape == (4, 5)
    assert set(np.unique(m_in).tolist()) <= {0.0, 2.0}
    assert set(np.unique(m_rec).tolist()) <= {0.0, np.float32(1 / 0.7)}
    assert rnn.cell.dropout_masks(4, 6, training=False) == (None, None)
    # inference ignores dropout; training changes the result and differs between calls
    plain = layers.SimpleRNN(5)
    plain(x)
    plain.set_weights(rnn.get_weights())
    np.testing.assert_array_equal(rnn(x), plain(x))
    t1, t2 = rnn(x, training=True), rnn(x, training=True)
    assert not np.allclose(t1, plain(x)) and not np.allclose(t1, t2)


def test_simple_rnn_dropout_uses_the_masks_it_draws():
    """Training output = engine run with the drawn masks (checked via a NumPy reference)."""
    rnn = layers.SimpleRNN(3, dropout=0.5, recurrent_dropout=0.5, return_sequences=True,
                           dtype="float64", seed=4)
    x = _x((2, 4, 3), dtype="float64")
    rnn(x)
    drawn = {}
    original = rnn.cell.dropout_masks

    def spy(B, F, training):
        drawn["m"] = original(B, F, training)
        return drawn["m"]

    rnn.cell.dropout_masks = spy
    out = rnn(x, training=True)
    m_in, m_rec = drawn["m"]
    W, U, b = rnn.get_weights()
    h = np.zeros((2, 3))
    for t in range(4):
        h = np.tanh((x[:, t] * m_in) @ W + b + (h * m_rec) @ U)
        np.testing.assert_allclose(out[:, t], h, atol=1e-12)


# ---------------------------------------------------------------- other behaviour
def test_time_distributed_equals_per_step_application():
    dense = layers.Dense(3, activation="tanh")
    td = layers.TimeDistributed(dense)
    x = _x((2, 4, 5))
    out = td(x)
    for t in range(4):
        np.testing.assert_allclose(out[:, t], dense(x[:, t]), atol=1e-6)
    m = np.array([[1, 0, 1, 1], [1, 1, 1, 0]], bool)
    assert td.compute_mask(x, m) is m
    assert td.count_params() == dense.count_params() == 18


def test_flatten_and_activation_values():
    x = _x((2, 3, 4))
    np.testing.assert_array_equal(layers.Flatten()(x), x.reshape(2, 12))
    np.testing.assert_allclose(layers.Activation("tanh")(x), np.tanh(x), rtol=1e-6)
    sm = layers.Activation("softmax")(x)
    np.testing.assert_allclose(sm.sum(-1), 1.0, rtol=1e-6)


def test_dense_on_3d_matches_2d():
    dense = layers.Dense(3, activation="relu")
    x = _x((2, 4, 5))
    np.testing.assert_allclose(dense(x).reshape(8, 3), dense(x.reshape(8, 5)), rtol=1e-6)


def test_cell_single_step():
    cell = layers.SimpleRNNCell(3, dtype="float64")
    x, h = _x((2, 4), dtype="float64"), _x((2, 3), seed=1, dtype="float64")
    out, states = cell(x, [h])
    expected = np.tanh(x @ cell.kernel + cell.bias + h @ cell.recurrent_kernel)
    np.testing.assert_allclose(out, expected)
    assert states[0] is out
    rnn = layers.SimpleRNN(3, dtype="float64")
    rnn(x[:, None])
    rnn.set_weights(cell.get_weights())
    np.testing.assert_allclose(rnn(x[:, None], initial_state=h), out, atol=1e-12)


def test_backward_requires_a_training_forward():
    rnn = _built(layers.SimpleRNN(2), (1, 3, 2))
    with pytest.raises(RuntimeError, match="training=True"):
        rnn.backward(np.ones((1, 2), "float32"))
    dense = layers.Dense(2)
    dense(_x((1, 3)))
    with pytest.raises(RuntimeError, match="training=True"):
        dense.backward(np.ones((1, 2), "float32"))


# ---------------------------------------------------------------- (e) bad input
def test_wrong_ranks_and_feature_counts():
    rnn = _built(layers.SimpleRNN(2), (1, 3, 4))
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        rnn(_x((3, 4)))
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=4"):
        rnn(_x((1, 3, 4, 1)))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 4"):
        rnn(_x((1, 3, 5)))
    dense = _built(layers.Dense(2), (2, 4))
    with pytest.raises(ValueError, match="value 4"):
        dense(_x((2, 3)))
    with pytest.raises(ValueError, match="min_ndim=2"):
        dense(_x((4,)))
    with pytest.raises(ValueError, match="ndim=3"):
        layers.Bidirectional(layers.SimpleRNN(2))(_x((3, 4)))
    with pytest.raises(ValueError, match="at least 3 dimensions"):
        layers.TimeDistributed(layers.Dense(2))(_x((3, 4)))
    with pytest.raises(TypeError, match="numeric"):
        rnn(np.array([[["a"] * 4] * 3]))


def test_mask_and_initial_state_shapes_checked():
    rnn = _built(layers.SimpleRNN(2), (2, 3, 4))
    x = _x((2, 3, 4))
    with pytest.raises(ValueError, match=r"mask must have shape.*\(2, 3\).*Received"):
        rnn(x, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError,
                       match=r"initial_state must have shape.*Received: shape=\(2, 3\)"):
        rnn(x, initial_state=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="even number"):
        layers.Bidirectional(layers.SimpleRNN(2))(x, initial_state=[np.zeros((2, 2))])


@pytest.mark.parametrize("ids", [[[0, 5]], [[-1, 2]], [[1, 100]]])
def test_embedding_ids_out_of_range(ids):
    emb = layers.Embedding(5, 2)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        emb(np.array(ids))


def test_embedding_float_ids():
    emb = layers.Embedding(5, 2)
    ints = emb(np.array([[1, 4, 0]]))
    np.testing.assert_array_equal(emb(np.array([[1.0, 4.0, 0.0]])), ints)
    with pytest.raises(ValueError, match="whole numbers"):
        emb(np.array([[1.5, 2.0]]))
    with pytest.raises(TypeError, match="integer"):
        emb(np.array([["a", "b"]]))


def test_inputs_never_modified():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    x64 = x.astype("float64")
    mask = rng.random((3, 5)) > 0.3
    h0 = rng.normal(size=(3, 2)).astype("float32")
    ids = np.array([[1, 2, 0, 0, 3]] * 3)
    saved = [a.copy() for a in (x, x64, mask, h0, ids)]
    for layer, args, kwargs, d in [
        (layers.SimpleRNN(2, return_sequences=True, dropout=0.5), (x,),
         {"mask": mask, "initial_state": h0}, np.ones((3, 5, 2), "float32")),
        (layers.Bidirectional(layers.SimpleRNN(2)), (x64,), {"mask": mask},
         np.ones((3, 4), "float32")),
        (layers.Dense(3), (x,), {}, np.ones((3, 5, 3), "float32")),
        (layers.Masking(), (x,), {}, np.ones((3, 5, 4), "float32")),
        (layers.Dropout(0.5), (x,), {}, np.ones((3, 5, 4), "float32")),
        (layers.TimeDistributed(layers.Dense(2)), (x,), {}, np.ones((3, 5, 2), "float32")),
        (layers.Embedding(4, 2, mask_zero=True), (ids,), {}, np.ones((3, 5, 2), "float32")),
    ]:
        layer.forward(*args, training=True, **kwargs)
        d_saved = d.copy()
        layer.backward(d)
        np.testing.assert_array_equal(d, d_saved)
    for a, b in zip((x, x64, mask, h0, ids), saved):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- pickling and regularization
@pytest.mark.parametrize("make, x", [
    (lambda: layers.SimpleRNN(3, stateful=True, return_sequences=True), _x((2, 4, 2))),
    (lambda: layers.Bidirectional(layers.SimpleRNN(3), merge_mode="sum"), _x((2, 4, 2))),
    (lambda: layers.Dense(3, activation="tanh"), _x((2, 4, 2))),
    (lambda: layers.TimeDistributed(layers.Dense(2, activation="softmax")), _x((2, 4, 2))),
    (lambda: layers.Activation("relu"), _x((2, 4, 2))),
    (lambda: layers.Embedding(5, 2, mask_zero=True), np.array([[1, 2, 0]])),
])
def test_pickle_round_trip(make, x):
    import pickle

    layer = make()
    layer.forward(x, training=True)  # leaves training caches behind
    layer.reset_states()
    expected = layer(x)
    layer.reset_states()
    clone = pickle.loads(pickle.dumps(layer))
    np.testing.assert_array_equal(clone(x), expected)  # the engine accepts unpickled arrays
    assert all(a is r.value for a, r in zip(clone.weights, clone._weight_records()))


def test_activity_regularizer_is_divided_by_batch_size():
    pytest.importorskip("fastrnn.regularizers")
    dense = layers.Dense(2, activity_regularizer="l2", dtype="float64")
    x = _x((4, 3), dtype="float64")
    y = dense.forward(x, training=True)
    np.testing.assert_allclose(dense.regularization_loss(), 0.01 * np.sum(y * y) / 4)
    dense.forward(x, training=False)
    assert dense.regularization_loss() == 0.0


def test_weight_regularizer_loss_and_gradient():
    pytest.importorskip("fastrnn.regularizers")
    rnn = layers.SimpleRNN(2, kernel_regularizer="l2", dtype="float64")
    x = _x((2, 3, 2), dtype="float64")
    rnn.forward(x, training=True)
    np.testing.assert_allclose(rnn.regularization_loss(), 0.01 * np.sum(rnn.kernel ** 2))
    rnn.backward(np.zeros((2, 2)))
    np.testing.assert_allclose(rnn.grads[0], 0.02 * rnn.kernel, atol=1e-15)
    np.testing.assert_array_equal(rnn.grads[1], 0.0)
