"""fastrnn.interop.from_keras / to_keras against live Keras 3 (torch backend).

Round trips Keras -> fastrnn -> Keras give Keras's outputs within 1e-5; one epoch of training
from the same start ends with weights within 1e-4; unsupported layers/options are named.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from fastrnn import layers as L
from fastrnn.interop import from_keras, to_keras
from fastrnn.interop._optional import require
from fastrnn.models import Sequential

import reference  # tests/reference.py: float64 NumPy SimpleRNN

TOL = 1e-5


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("torch", reason="the Keras tests use the torch backend")
    os.environ.setdefault("KERAS_BACKEND", "torch")
    k = pytest.importorskip("keras", reason="keras is not installed")
    if k.backend.backend() != "torch":  # pragma: no cover
        pytest.skip("these tests need KERAS_BACKEND=torch")
    return k


def _np(keras, y):
    return np.asarray(keras.ops.convert_to_numpy(y))


def _ids(rng, n=6, t=7, vocab=30, padding="post"):
    ids = rng.integers(1, vocab, (n, t))
    lengths = [7, 4, 1, 5, 3, 6][:n]
    for i, length in enumerate(lengths):
        if padding == "post":
            ids[i, length:] = 0
        else:
            ids[i, :t - length] = 0
    return ids


def _build(keras, case):
    """A seeded Keras model for ``case`` and a matching input batch."""
    kl = keras.layers
    keras.utils.set_random_seed(11)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 7, 3)).astype(np.float32)
    if case == "single":
        layers = [keras.Input((7, 3)), kl.SimpleRNN(5, bias_initializer="random_normal"),
                  kl.Dense(2)]
    elif case == "stacked":
        layers = [keras.Input((None, 3)), kl.SimpleRNN(5, return_sequences=True),
                  kl.SimpleRNN(4, activation="relu", go_backwards=True), kl.Dense(1, "sigmoid")]
    elif case == "bidirectional":
        layers = [keras.Input((7, 3)),
                  kl.Bidirectional(kl.SimpleRNN(4, return_sequences=True)),
                  kl.Bidirectional(kl.SimpleRNN(3), merge_mode="sum"), kl.Dense(2, "softmax")]
    elif case in ("masked_post", "masked_pre"):
        x = _ids(rng, padding=case[len("masked_"):])
        layers = [keras.Input((7,), dtype="int32"), kl.Embedding(30, 6, mask_zero=True),
                  kl.SimpleRNN(5, return_sequences=True, dropout=0.2),
                  kl.Bidirectional(kl.SimpleRNN(4, return_sequences=True)),
                  kl.TimeDistributed(kl.Dense(3, activation="tanh")), kl.SimpleRNN(2)]
    elif case == "masking_misc":
        x[1, 4:] = 0.0
        x[2, :3] = 0.0
        layers = [keras.Input((7, 3)), kl.Masking(0.0), kl.SimpleRNN(4, return_sequences=True),
                  kl.Dropout(0.3), kl.Flatten(), kl.Activation("relu"), kl.Dense(2)]
    else:  # pragma: no cover
        raise AssertionError(case)
    return keras.Sequential(layers), x


CASES = ["single", "stacked", "bidirectional", "masked_post", "masked_pre", "masking_misc"]


@pytest.mark.parametrize("case", CASES)
def test_round_trip_outputs_and_weights(keras, case):
    kmodel, x = _build(keras, case)
    expected = _np(keras, kmodel(x))
    fmodel = from_keras(kmodel)
    assert isinstance(fmodel, Sequential)
    np.testing.assert_allclose(fmodel(x), expected, rtol=0, atol=TOL)
    back = to_keras(fmodel)
    assert isinstance(back, keras.Sequential)
    np.testing.assert_allclose(_np(keras, back(x)), expected, rtol=0, atol=TOL)
    for a, b, c in zip(kmodel.get_weights(), fmodel.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert len(back.get_weights()) == len(kmodel.get_weights())


@pytest.mark.parametrize("case", CASES)
def test_config_is_kept(keras, case):
    kmodel, _ = _build(keras, case)
    fmodel = from_keras(kmodel)
    back = to_keras(fmodel)
    keys = ("units", "activation", "use_bias", "return_sequences", "go_backwards", "dropout",
            "recurrent_dropout", "mask_zero", "input_dim", "output_dim", "rate", "mask_value",
            "merge_mode")
    for original, ours, again in zip(kmodel.layers, fmodel.layers, back.layers):
        assert type(original).__name__ == type(ours).__name__ == type(again).__name__
        assert original.name == ours.name == again.name
        kc, fc, bc = original.get_config(), ours.get_config(), again.get_config()
        for key in keys:
            if key in kc:
                assert fc[key] == kc[key] == bc[key], (original.name, key)
    assert fmodel.input_shape == tuple(kmodel.input_shape)


def test_single_layer_matches_float64_reference(keras):
    kmodel, x = _build(keras, "single")
    W, U, b, Wd, bd = kmodel.get_weights()
    _, final, _ = reference.forward(x, W, U, b)
    expected = final @ Wd + bd
    np.testing.assert_allclose(from_keras(kmodel)(x), expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("case", ["lecture", "masked_bidirectional"])
def test_one_epoch_of_training_matches(keras, case):
    kl = keras.layers
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(9)
    if case == "lecture":
        x = rng.integers(1, 50, (48, 12))
        kmodel = keras.Sequential([keras.Input((12,), dtype="int32"), kl.Embedding(50, 8),
                                   kl.SimpleRNN(8), kl.Dense(1, activation="sigmoid")])
        kopt, fopt = keras.optimizers.RMSprop(1e-3), "rmsprop"
    else:
        x = rng.integers(1, 50, (48, 12))
        for i in range(48):
            x[i, rng.integers(3, 12):] = 0
        kmodel = keras.Sequential([
            keras.Input((12,), dtype="int32"), kl.Embedding(50, 8, mask_zero=True),
            kl.Bidirectional(kl.SimpleRNN(6, return_sequences=True)), kl.SimpleRNN(4),
            kl.Dense(1, activation="sigmoid")])
        kopt = keras.optimizers.SGD(0.1)
        from fastrnn.optimizers import SGD

        fopt = SGD(0.1)
    y = rng.integers(0, 2, (48, 1)).astype(np.float32)
    fmodel = from_keras(kmodel)
    kmodel.compile(optimizer=kopt, loss="binary_crossentropy")
    fmodel.compile(optimizer=fopt, loss="binary_crossentropy")
    start = kmodel.get_weights()
    kmodel.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    fmodel.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(kmodel.get_weights(), start))
    assert moved > 1e-3  # training changed the weights, so the comparison means something
    for kw, fw in zip(kmodel.get_weights(), fmodel.get_weights()):
        np.testing.assert_allclose(fw, kw, rtol=0, atol=1e-4)


def _model(keras, layer, shape=(4, 2)):
    return keras.Sequential([keras.Input(shape), layer])


@pytest.mark.parametrize("make, words", [
    (lambda kl: kl.LSTM(3), ["LSTM", "not supported"]),
    (lambda kl: kl.GRU(3), ["GRU"]),
    (lambda kl: kl.SimpleRNN(3, kernel_constraint="non_neg"), ["kernel_constraint"]),
    (lambda kl: kl.Dense(2, bias_constraint="non_neg"), ["bias_constraint"]),
    (lambda kl: kl.Dense(2, activation="elu"), ["dense", "elu"]),
    (lambda kl: kl.SimpleRNN(3, activation="softmax"), ["activation"]),
    (lambda kl: kl.SimpleRNN(3, recurrent_initializer="identity"), ["recurrent_initializer",
                                                                    "Identity"]),
    (lambda kl: kl.Bidirectional(kl.LSTM(3)), ["bidirectional", "LSTM"]),
    (lambda kl: kl.Dense(2, dtype="mixed_float16"), ["dtype"]),
])
def test_unsupported_layers_and_options_are_named(keras, make, words):
    with pytest.raises(ValueError) as info:
        from_keras(_model(keras, make(keras.layers)))
    for word in words:
        assert word in str(info.value)


def test_from_keras_rejects_non_sequential_and_unbuilt(keras):
    inp = keras.Input((4, 2))
    functional = keras.Model(inp, keras.layers.SimpleRNN(3)(inp))
    with pytest.raises(TypeError, match="keras.Sequential"):
        from_keras(functional)
    with pytest.raises(ValueError, match="not built"):
        from_keras(keras.Sequential([keras.layers.SimpleRNN(3)]))
    with pytest.raises(TypeError, match="Received"):
        from_keras("model")


def test_to_keras_rejects_bad_input(keras):
    with pytest.raises(TypeError, match="Sequential"):
        to_keras(L.SimpleRNN(3))
    with pytest.raises(ValueError, match="not built"):
        to_keras(Sequential([L.SimpleRNN(3)]))


def test_keras_built_without_input_keeps_its_build_shape(keras):
    kmodel = keras.Sequential([keras.layers.SimpleRNN(3)])
    kmodel.build((None, 4, 2))
    fmodel = from_keras(kmodel)
    assert fmodel.input_shape == (None, 4, 2)
    x = np.random.default_rng(0).normal(size=(2, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(fmodel(x), _np(keras, kmodel(x)), rtol=0, atol=TOL)


def test_missing_optional_package_names_pip_package():
    with pytest.raises(ImportError, match="pip install fastrnn_no_such_package"):
        require("fastrnn_no_such_package", "fastrnn.interop.test")
