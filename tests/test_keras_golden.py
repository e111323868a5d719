"""fastrnn against Keras 3.15 golden files (tests/data/golden_*.npz, made by tests/make_golden.py).

Each model is rebuilt in fastrnn from the stored description, given Keras's initial weights,
and must reproduce Keras's predictions (1e-5), the weights after one epoch of
``fit(shuffle=False)`` with RMSprop (1e-4), the History and the ``summary()`` text.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fastrnn import layers
from fastrnn.layers import reset_name_counters
from fastrnn.models import Sequential

DATA = Path(__file__).resolve().parent / "data"
NAMES = ["lecture", "stacked", "bidirectional", "masked", "masked_sequence"]


def _load(name: str) -> dict:
    with np.load(DATA / f"golden_{name}.npz") as f:
        return {k: f[k] for k in f.files}


def _layer(spec):
    cls_name, kwargs = spec
    kwargs = dict(kwargs)
    if cls_name == "Bidirectional":
        return layers.Bidirectional(_layer(kwargs.pop("layer")), **kwargs)
    return getattr(layers, cls_name)(**kwargs)


def _model(g: dict) -> tuple[Sequential, dict]:
    spec = json.loads(str(g["spec"]))
    reset_name_counters()
    shape, dtype = spec["input"]
    model = Sequential([layers.Input(shape=tuple(shape), dtype=dtype)]
                       + [_layer(s) for s in spec["layers"]])
    model.compile(**spec["compile"])
    model.set_weights([g[f"w0_{i}"] for i in range(int(g["n_weights"]))])
    return model, spec


def _max_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # Keras's default 88-column summary


def test_golden_header():
    for name in NAMES:
        g = _load(name)
        assert str(g["keras_version"]).startswith("3.15"), name
        assert str(g["backend"]) == "torch"


@pytest.mark.parametrize("name", NAMES)
def test_predict_matches_keras(name):
    g = _load(name)
    model, _ = _model(g)
    pred = model.predict(g["x"], verbose=0)
    assert pred.shape == g["pred_before"].shape
    diff = _max_diff(pred, g["pred_before"])
    print(f"{name}: predict max |fastrnn - keras| = {diff:.3g}")
    assert diff < 1e-5


@pytest.mark.parametrize("name", NAMES)
def test_one_epoch_of_fit_matches_keras(name):
    g = _load(name)
    model, spec = _model(g)
    history = model.fit(g["x"], g["y"], verbose=0, **spec["fit"])
    trained = model.get_weights()
    diffs = [_max_diff(w, g[f"w1_{i}"]) for i, w in enumerate(trained)]
    print(f"{name}: trained weights max diff per weight = {[f'{d:.2g}' for d in diffs]}")
    assert len(trained) == int(g["n_weights"])
    assert max(diffs) < 1e-4
    # the weights really moved, so the comparison is not vacuous
    moved = max(_max_diff(g[f"w0_{i}"], g[f"w1_{i}"]) for i in range(len(trained)))
    assert moved > 1e-3
    pdiff = _max_diff(model.predict(g["x"], verbose=0), g["pred_after"])
    print(f"{name}: predict after fit max diff = {pdiff:.3g}")
    assert pdiff < 1e-4
    keras_hist = json.loads(str(g["history"]))
    assert sorted(history.history) == sorted(keras_hist)
    for key, values in keras_hist.items():
        np.testing.assert_allclose(history.history[key], values, rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("name", NAMES)
def test_summary_matches_keras(name, capsys):
    g = _load(name)
    model, spec = _model(g)
    model.summary()
    assert capsys.readouterr().out == str(g["summary_before"])
    model.fit(g["x"], g["y"], verbose=0, **spec["fit"])
    model.summary()
    assert capsys.readouterr().out == str(g["summary_after"])


LECTURE = {
    "rnn_only": (322_080, [layers.Embedding, layers.SimpleRNN]),
    "four_rnn": (328_320, None),
    "lecture": (322_113, None),
    "bidirectional": (324_225, None),
}


def _lecture_model(name: str) -> Sequential:
    reset_name_counters()
    emb = layers.Embedding(10000, 32)
    if name == "rnn_only":
        return Sequential([emb, layers.SimpleRNN(32)])
    if name == "four_rnn":
        return Sequential([emb] + [layers.SimpleRNN(32, return_sequences=True) for _ in range(3)]
                          + [layers.SimpleRNN(32)])
    if name == "lecture":
        return Sequential([emb, layers.SimpleRNN(32), layers.Dense(1, activation="sigmoid")])
    return Sequential([emb, layers.Bidirectional(layers.SimpleRNN(32)),
                       layers.Dense(1, activation="sigmoid")])


@pytest.mark.parametrize("name", sorted(LECTURE))
def test_lecture_summaries_match_keras(name, capsys):
    with np.load(DATA / "golden_summaries.npz") as g:
        unbuilt, built = str(g[f"{name}_unbuilt"]), str(g[f"{name}_built"])
        params = int(g[f"{name}_params"])
    assert params == LECTURE[name][0]
    model = _lecture_model(name)
    model.summary()
    assert capsys.readouterr().out == unbuilt
    model.build((None, 500))
    model.summary()
    assert capsys.readouterr().out == built
    assert model.count_params() == params
