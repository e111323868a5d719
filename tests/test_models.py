"""Sequential structure: add/pop/build, Input handling, weights order, config, calling, saving."""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import layers, optimizers
from fastrnn.layers import reset_name_counters
from fastrnn.models import Sequential


@pytest.fixture(autouse=True)
def _fresh_names():
    reset_name_counters()


def _lecture(vocab: int = 10000) -> Sequential:
    return Sequential([layers.Embedding(vocab, 32), layers.SimpleRNN(32),
                       layers.Dense(1, activation="sigmoid")])


def _np_forward(model: Sequential, ids: np.ndarray) -> np.ndarray:
    """Independent float64 NumPy forward of Embedding -> SimpleRNN(tanh) -> Dense(sigmoid)."""
    emb, k, rk, b, dk, db = [w.astype(np.float64) for w in model.get_weights()]
    h = np.zeros((ids.shape[0], k.shape[1]))
    for t in range(ids.shape[1]):
        h = np.tanh(emb[ids[:, t]] @ k + b + h @ rk)
    return 1.0 / (1.0 + np.exp(-(h @ dk + db)))


def test_auto_names_and_layers_list():
    m = _lecture()
    assert m.name == "sequential"
    assert [lyr.name for lyr in m.layers] == ["embedding", "simple_rnn", "dense"]
    assert Sequential().name == "sequential_1"
    with pytest.raises(AttributeError):
        m.layers = []


def test_unbuilt_until_input_shape_known():
    m = _lecture()
    assert not m.built
    m.build((None, 500))
    assert m.built
    assert m.output_shape == (None, 1)
    assert m._layer_output_shapes() == [(None, 500, 32), (None, 32), (None, 1)]


def test_input_first_builds_at_add_time():
    m = Sequential([layers.Input(shape=(None,), dtype="int32"), layers.Embedding(50, 4)])
    assert m.built and m.input_shape == (None, None)
    assert m._layer_output_shapes() == [(None, None, 4)]
    m.add(layers.SimpleRNN(3, return_sequences=True))
    assert m._layer_output_shapes()[-1] == (None, None, 3)
    assert len(m.layers) == 2  # the InputLayer is not listed, as in Keras


def test_keras2_input_shape_kwarg_builds():
    m = Sequential([layers.SimpleRNN(4, input_shape=(7, 3)), layers.Dense(2)])
    assert m.built and m.input_shape == (None, 7, 3)
    assert m.count_params() == 3 * 4 + 4 * 4 + 4 + 4 * 2 + 2


def test_add_rejects_bad_layers():
    m = Sequential([layers.Dense(2)])
    with pytest.raises((TypeError, ValueError), match="Only instances"):
        m.add("dense")
    with pytest.raises(ValueError, match="unique names"):
        m.add(layers.Dense(3, name="dense"))
    with pytest.raises(ValueError, match="first element"):
        m.add(layers.Input(shape=(3,)))
    m2 = Sequential([layers.Input(shape=(3,))])
    with pytest.raises(ValueError, match="already been configured"):
        m2.add(layers.Input(shape=(4,)))


def test_pop():
    m = Sequential([layers.Input(shape=(5, 2)), layers.SimpleRNN(3, return_sequences=True),
                    layers.SimpleRNN(2)])
    last = m.pop()
    assert last.name == "simple_rnn_1" and len(m.layers) == 1
    assert m.built and m.output_shape == (None, 5, 3)
    m.pop()
    assert m.layers == [] and not m.built
    assert isinstance(m.pop(), layers.InputLayer)
    with pytest.raises(IndexError, match="no layers"):
        m.pop()


def test_build_errors():
    with pytest.raises(ValueError, match="no layers"):
        Sequential().build((None, 3))
    m = Sequential([layers.Input(shape=(4,)), layers.Dense(2)])
    with pytest.raises(ValueError, match="already been configured"):
        m.build((None, 5))
    with pytest.raises(ValueError, match="input_shape"):
        Sequential([layers.Dense(2)]).build(("a", 3))


def test_predict_without_layers_is_a_clear_error():
    with pytest.raises(ValueError, match="no layers"):
        Sequential().predict(np.zeros((2, 3)), verbose=0)
    with pytest.raises(ValueError, match="no layers"):
        Sequential()(np.zeros((2, 3)))


def test_unbuilt_model_builds_on_first_call_and_matches_numpy():
    m = _lecture(vocab=40)
    ids = np.random.default_rng(0).integers(0, 40, size=(6, 9))
    out = m(ids)
    assert m.built and out.shape == (6, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out, _np_forward(m, ids), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(m.predict(ids, batch_size=4, verbose=0), out, rtol=1e-6)
    np.testing.assert_allclose(m.predict_on_batch(ids), out, rtol=1e-6)


def test_wrong_input_rank_or_length_raises():
    m = Sequential([layers.Input(shape=(5, 2)), layers.SimpleRNN(3)])
    with pytest.raises(ValueError, match="incompatible"):
        m.predict(np.zeros((4, 5)), verbose=0)
    with pytest.raises(ValueError, match="incompatible"):
        m.predict(np.zeros((4, 6, 2)), verbose=0)


def test_get_weights_keras_order_and_shapes():
    m = _lecture()
    m.build((None, 500))
    shapes = [w.shape for w in m.get_weights()]
    assert shapes == [(10000, 32), (32, 32), (32, 32), (32,), (32, 1), (1,)]
    assert m.count_params() == 322_113
    w = m.get_weights()
    w[0][:] = 123.0  # copies: the model is unchanged
    assert not np.any(m.weights[0] == 123.0)


def test_set_weights_checks_everything_before_writing():
    m = _lecture(vocab=20)
    m.build((None, 4))
    before = m.get_weights()
    bad = [np.ones_like(w) for w in before]
    bad[4] = np.ones((2, 1), np.float32)
    with pytest.raises(ValueError, match=r"Weight 4 .*\(32, 1\).*Received: shape=\(2, 1\)"):
        m.set_weights(bad)
    for a, b in zip(m.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="length 5.*expecting 6"):
        m.set_weights(before[:5])
    new = [np.full_like(w, i + 1) for i, w in enumerate(before)]
    m.set_weights(new)
    for a, b in zip(m.get_weights(), new):
        np.testing.assert_array_equal(a, b)


def test_weight_dtype_follows_layers():
    m = Sequential([layers.Input(shape=(3, 2)), layers.SimpleRNN(4, dtype="float64"),
                    layers.Dense(1, dtype="float64")])
    assert m.dtype == "float64"
    assert all(w.dtype == np.float64 for w in m.get_weights())
    out = m.predict(np.ones((2, 3, 2), np.float32), verbose=0)
    assert out.dtype == np.float64


def test_trainable_flag():
    m = _lecture(vocab=20)
    m.build((None, 4))
    assert len(m.trainable_weights) == 6
    m.layers[0].trainable = False
    assert len(m.trainable_weights) == 5 and len(m.non_trainable_weights) == 1
    m.trainable = False
    assert m.trainable_weights == [] and len(m.non_trainable_weights) == 6


def test_call_does_not_modify_inputs_and_accepts_read_only():
    m = Sequential([layers.Input(shape=(4, 3)), layers.SimpleRNN(2), layers.Dense(1)])
    x = np.random.default_rng(1).normal(size=(5, 4, 3))
    x.setflags(write=False)
    x_copy = x.copy()
    out = m(x)
    np.testing.assert_array_equal(x, x_copy)
    assert out.shape == (5, 1) and out.dtype == np.float32


def test_config_round_trip_same_architecture_and_predictions():
    m = Sequential([layers.Input(shape=(6,), dtype="int32"),
                    layers.Embedding(30, 5, mask_zero=True),
                    layers.SimpleRNN(4, return_sequences=True),
                    layers.Bidirectional(layers.SimpleRNN(3)), layers.Dense(2)], name="net")
    config = m.get_config()
    assert config["name"] == "net" and config["layers"][0]["class_name"] == "InputLayer"
    assert config["build_input_shape"] == (None, 6)
    m2 = Sequential.from_config(config)
    assert [type(lyr) for lyr in m2.layers] == [type(lyr) for lyr in m.layers]
    assert m2.built and [w.shape for w in m2.get_weights()] == [w.shape for w in m.get_weights()]
    m2.set_weights(m.get_weights())
    ids = np.random.default_rng(2).integers(0, 30, size=(7, 6))
    ids[:, :2] = 0
    np.testing.assert_allclose(m2.predict(ids, verbose=0), m.predict(ids, verbose=0), rtol=1e-6)


def test_save_and_load_model_give_identical_predictions(tmp_path):
    from fastrnn.models import load_model

    m = Sequential([layers.Input(shape=(5,), dtype="int32"), layers.Embedding(12, 4),
                    layers.SimpleRNN(3), layers.Dense(1, activation="sigmoid")])
    m.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    ids = np.random.default_rng(3).integers(0, 12, size=(16, 5))
    m.fit(ids, (ids.sum(1) > 27).astype("float32"), epochs=1, verbose=0)
    path = tmp_path / "m.keras"
    m.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(ids, verbose=0), m.predict(ids, verbose=0))
    for a, b in zip(loaded.get_weights(), m.get_weights()):
        np.testing.assert_array_equal(a, b)
    m2 = Sequential.from_config(m.get_config())
    wpath = tmp_path / "w.weights.h5"
    m.save_weights(wpath)
    m2.load_weights(wpath)
    np.testing.assert_array_equal(m2.predict(ids, verbose=0), m.predict(ids, verbose=0))


def test_load_model_recompiles_with_the_same_settings(tmp_path):
    from fastrnn.models import load_model

    m = Sequential([layers.Input(shape=(3, 2)), layers.SimpleRNN(2), layers.Dense(1)])
    m.compile(optimizers.Adam(learning_rate=0.01), "mse", metrics=["mae"])
    path = tmp_path / "m.keras"
    m.save(path)
    loaded = load_model(path)
    assert loaded.compiled and loaded.loss == "mse"
    assert type(loaded.optimizer).__name__ == "Adam"
    assert loaded.optimizer.learning_rate == pytest.approx(0.01)
    x = np.random.default_rng(0).normal(size=(8, 3, 2)).astype(np.float32)
    y = x.sum(axis=(1, 2))[:, None]
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(m.evaluate(x, y, verbose=0), rel=1e-6)
    assert load_model(path, compile=False).compiled is False


def test_pickle_round_trip_predicts_and_keeps_training_identically():
    import pickle

    m = Sequential([layers.Input(shape=(5,), dtype="int32"), layers.Embedding(12, 4),
                    layers.SimpleRNN(3), layers.Dense(1, activation="sigmoid")])
    m.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    ids = np.random.default_rng(3).integers(0, 12, size=(16, 5))
    y = (ids.sum(1) > 27).astype("float32")
    m.fit(ids, y, verbose=0)
    m2 = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(m2.predict(ids, verbose=0), m.predict(ids, verbose=0))
    m.fit(ids, y, shuffle=False, verbose=0)
    m2.fit(ids, y, shuffle=False, verbose=0)  # the optimizer state travelled with the model
    for a, b in zip(m.get_weights(), m2.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_get_layer_by_name_and_index():
    m = _lecture(vocab=20)
    assert m.get_layer("simple_rnn") is m.layers[1]
    assert m.get_layer(index=-1) is m.layers[2]
    with pytest.raises(ValueError, match="No such layer: lstm"):
        m.get_layer("lstm")
    with pytest.raises(ValueError, match="only has 3 layers"):
        m.get_layer(index=3)
    with pytest.raises(ValueError, match="only a layer name or a layer index"):
        m.get_layer("dense", 0)
