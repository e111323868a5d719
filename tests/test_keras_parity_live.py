"""Live comparison with Keras 3 (torch backend): same weights, same data, same numbers.

Skipped when keras or torch is not importable.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover
    pytest.skip("these tests need KERAS_BACKEND=torch", allow_module_level=True)

from fastrnn import layers, optimizers  # noqa: E402
from fastrnn.layers import reset_name_counters  # noqa: E402
from fastrnn.models import Sequential  # noqa: E402


def _pair(specs, input_shape, dtype="float32"):
    """The same architecture in Keras and fastrnn, fastrnn given Keras's initial weights."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(7)
    reset_name_counters()

    def build(mod, spec):
        name, kw = spec
        kw = dict(kw)
        if name == "Bidirectional":
            return mod.Bidirectional(build(mod, kw.pop("layer")), **kw)
        return getattr(mod, name)(**kw)

    k = keras.Sequential([keras.Input(shape=input_shape, dtype=dtype)]
                         + [build(keras.layers, s) for s in specs])
    f = Sequential([layers.Input(shape=input_shape, dtype=dtype)]
                   + [build(layers, s) for s in specs])
    f.set_weights(k.get_weights())
    return k, f


def _assert_weights_close(k, f, atol=1e-4):
    for i, (a, b) in enumerate(zip(k.get_weights(), f.get_weights())):
        diff = float(np.max(np.abs(a - b))) if a.size else 0.0
        assert diff < atol, f"weight {i}: max diff {diff}"


OPTIMIZERS = {
    "adam": (lambda: keras.optimizers.Adam(0.01), lambda: optimizers.Adam(0.01)),
    "sgd_momentum": (lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                     lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True)),
    "rmsprop_clipnorm": (lambda: keras.optimizers.RMSprop(0.005, clipnorm=0.1),
                         lambda: optimizers.RMSprop(0.005, clipnorm=0.1)),
}


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_two_epochs_with_validation_split_match_keras(opt):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(45, 6, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(1) > 0).astype(np.float32)
    specs = [["SimpleRNN", {"units": 5, "return_sequences": True}],
             ["SimpleRNN", {"units": 4, "activation": "relu"}],
             ["Dense", {"units": 1, "activation": "sigmoid"}]]
    k, f = _pair(specs, (6, 2))
    kopt, fopt = OPTIMIZERS[opt]
    k.compile(kopt(), "binary_crossentropy", metrics=["acc"])
    f.compile(fopt(), "binary_crossentropy", metrics=["acc"])
    kw = dict(epochs=2, batch_size=8, validation_split=0.2, shuffle=False, verbose=0)
    kh, fh = k.fit(x, y, **kw), f.fit(x, y, **kw)
    assert kh.params == fh.params
    assert sorted(kh.history) == sorted(fh.history)
    for key in kh.history:
        np.testing.assert_allclose(fh.history[key], kh.history[key], rtol=1e-4, atol=1e-6,
                                   err_msg=key)
    _assert_weights_close(k, f)


def test_steps_per_epoch_matches_keras():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(36, 5, 2)).astype(np.float32)
    y = x[:, :, 1].sum(1, keepdims=True).astype(np.float32)
    specs = [["SimpleRNN", {"units": 3}], ["Dense", {"units": 1}]]
    k, f = _pair(specs, (5, 2))
    k.compile("adam", "mse")
    f.compile("adam", "mse")
    kw = dict(epochs=4, batch_size=8, steps_per_epoch=2, shuffle=False, verbose=0)
    with pytest.warns(UserWarning):
        kh = k.fit(x, y, **kw)
    with pytest.warns(UserWarning, match="ran out of data"):
        fh = f.fit(x, y, **kw)
    assert kh.params == fh.params and kh.epoch == fh.epoch
    np.testing.assert_allclose(fh.history["loss"], kh.history["loss"], rtol=1e-5)
    _assert_weights_close(k, f)


def test_class_weight_and_sample_weight_match_keras():
    rng = np.random.default_rng(6)
    ids = rng.integers(1, 20, size=(30, 5)).astype("int32")
    y = (ids.sum(1) > 50).astype(np.float32)
    specs = [["Embedding", {"input_dim": 20, "output_dim": 4}], ["SimpleRNN", {"units": 3}],
             ["Dense", {"units": 1, "activation": "sigmoid"}]]
    for kw in ({"class_weight": {0: 0.3, 1: 2.0}}, {"sample_weight": rng.uniform(0, 2, 30)}):
        k, f = _pair(specs, (5,), "int32")
        k.compile("rmsprop", "binary_crossentropy", metrics=["acc"], weighted_metrics=["acc"])
        f.compile("rmsprop", "binary_crossentropy", metrics=["acc"], weighted_metrics=["acc"])
        kh = k.fit(ids, y, batch_size=8, shuffle=False, verbose=0, **kw)
        fh = f.fit(ids, y, batch_size=8, shuffle=False, verbose=0, **kw)
        assert sorted(kh.history) == sorted(fh.history)
        for key in kh.history:
            np.testing.assert_allclose(fh.history[key], kh.history[key], rtol=1e-5, err_msg=key)
        _assert_weights_close(k, f)


def test_evaluate_and_on_batch_return_values_match_keras():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(20, 4, 3)).astype(np.float32)
    labels = rng.integers(0, 3, size=20)
    specs = [["SimpleRNN", {"units": 4}], ["Dense", {"units": 3, "activation": "softmax"}]]
    k, f = _pair(specs, (4, 3))
    for m in (k, f):
        m.compile("adam", "sparse_categorical_crossentropy", metrics=["acc"])
    np.testing.assert_allclose(f.evaluate(x, labels, batch_size=6, verbose=0),
                               k.evaluate(x, labels, batch_size=6, verbose=0), rtol=1e-5)
    kd = k.evaluate(x, labels, verbose=0, return_dict=True)
    fd = f.evaluate(x, labels, verbose=0, return_dict=True)
    assert list(kd) == list(fd)
    np.testing.assert_allclose(f.train_on_batch(x, labels), k.train_on_batch(x, labels), rtol=1e-5)
    np.testing.assert_allclose(f.test_on_batch(x, labels), k.test_on_batch(x, labels), rtol=1e-5)
    np.testing.assert_allclose(f.predict_on_batch(x), np.asarray(k.predict_on_batch(x)), atol=1e-6)


def _summary(model, **kw) -> str:
    out = []
    model.summary(print_fn=out.append, **kw)
    return "".join(out)


@pytest.mark.parametrize("columns,line_length", [("200", None), ("80", None), ("60", None),
                                                 ("200", 45), ("200", 120)])
def test_summary_text_matches_keras_at_several_widths(monkeypatch, columns, line_length):
    monkeypatch.setenv("COLUMNS", columns)
    specs = [["Embedding", {"input_dim": 1000, "output_dim": 16, "mask_zero": True}],
             ["SimpleRNN", {"units": 8, "return_sequences": True,
                            "name": "a_rather_long_recurrent_layer_name_that_needs_wrapping"}],
             ["Bidirectional", {"layer": ["SimpleRNN", {"units": 4}]}],
             ["Dense", {"units": 1, "activation": "sigmoid"}]]
    k, f = _pair(specs, (None,), "int32")
    assert _summary(f, line_length=line_length) == _summary(k, line_length=line_length)


def test_summary_after_fitting_an_unbuilt_model_matches_keras(monkeypatch):
    """Keras builds an unbuilt model with the first batch's shape: (16, 7, 4), not None."""
    monkeypatch.setenv("COLUMNS", "200")
    rng = np.random.default_rng(9)
    ids = rng.integers(1, 20, size=(40, 7))
    y = rng.integers(0, 2, size=40).astype(np.float32)
    keras.backend.clear_session()
    reset_name_counters()
    k = keras.Sequential([keras.layers.Embedding(20, 4), keras.layers.SimpleRNN(3),
                          keras.layers.Dense(1, activation="sigmoid")])
    f = Sequential([layers.Embedding(20, 4), layers.SimpleRNN(3),
                    layers.Dense(1, activation="sigmoid")])
    assert _summary(f) == _summary(k)
    for m in (k, f):
        m.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
        m.fit(ids, y, batch_size=16, validation_split=0.25, verbose=0)
    assert _summary(f) == _summary(k)
    assert json.loads(json.dumps(f.get_config()["build_input_shape"])) == [16, 7]
