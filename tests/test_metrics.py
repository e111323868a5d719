"""Metrics: accumulation vs hand-computed means, masks, weights and Keras's accuracy resolution."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fastrnn import losses, metrics

RNG = np.random.default_rng(0)


def test_binary_accuracy_keras_doc_example_and_strict_threshold():
    m = metrics.BinaryAccuracy()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(0.5)
    m.reset_state()
    m.update_state([0, 1], [[0.5], [0.5]])  # 0.5 is class 0
    assert m.result() == pytest.approx(0.5)
    assert m.name == "binary_accuracy"


def test_accumulates_over_batches():
    m = metrics.SparseCategoricalAccuracy()
    y1, p1 = np.array([0, 1, 2]), np.eye(3)[[0, 2, 2]]
    y2, p2 = np.array([[1]]), np.eye(3)[[1]]
    m.update_state(y1, p1)
    m.update_state(y2, p2)
    assert m.result() == pytest.approx(3 / 4)
    m.reset_state()
    assert m.result() == 0.0


def test_categorical_accuracy():
    m = metrics.CategoricalAccuracy()
    yt = np.eye(4)[[0, 1, 2, 3, 0]]
    yp = RNG.normal(size=(5, 4))
    m.update_state(yt, yp)
    assert m.result() == pytest.approx(np.mean(yp.argmax(-1) == [0, 1, 2, 3, 0]))


def test_regression_metrics():
    yt, yp = RNG.normal(size=(6, 3)), RNG.normal(size=(6, 3))
    mse, mae = metrics.MeanSquaredError(), metrics.MeanAbsoluteError()
    mse.update_state(yt[:4], yp[:4])
    mse.update_state(yt[4:], yp[4:])
    mae.update_state(yt, yp)
    assert mse.result() == pytest.approx(((yt - yp) ** 2).mean())
    assert mae.result() == pytest.approx(np.abs(yt - yp).mean())


def test_mean_for_running_loss_weighted_by_batch_size():
    m = metrics.Mean(name="loss")
    m.update_state(0.5, sample_weight=128)
    m.update_state(1.0, sample_weight=32)
    assert m.result() == pytest.approx((0.5 * 128 + 32) / 160)
    m.reset_state()
    m.update_state(np.array([1.0, 2.0, 6.0]))
    assert m.result() == pytest.approx(3.0)


def test_sequence_mask_averages_valid_steps_only():
    yt = RNG.integers(0, 2, size=(3, 5, 1))
    yp = RNG.uniform(size=(3, 5, 1))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]], bool)
    m = metrics.BinaryAccuracy()
    m.update_state(yt, yp, mask=mask)
    hits = (yt[..., 0] == (yp[..., 0] > 0.5))
    assert m.result() == pytest.approx(hits[mask].mean())
    sw = np.array([1.0, 0.0, 2.0])
    m.reset_state()
    m.update_state(yt, yp, sample_weight=sw, mask=mask)
    w = sw[:, None] * mask
    assert m.result() == pytest.approx((hits * w).sum() / w.sum())


@pytest.mark.parametrize("ident,y_pred_shape,y_true_shape,cls", [
    ("acc", (32, 1), (32,), metrics.BinaryAccuracy),
    ("acc", (32, 1), (32, 1), metrics.BinaryAccuracy),
    ("accuracy", (32, 5), (32,), metrics.SparseCategoricalAccuracy),
    ("Accuracy", (32, 5), (32, 1), metrics.SparseCategoricalAccuracy),
    ("ACC", (32, 5), (32, 5), metrics.CategoricalAccuracy),
    ("acc", (8, 10, 1), (8, 10), metrics.BinaryAccuracy),
    ("acc", (8, 10, 4), (8, 10), metrics.SparseCategoricalAccuracy),
])
def test_accuracy_resolution(ident, y_pred_shape, y_true_shape, cls):
    m = metrics.get(ident, y_pred_shape=y_pred_shape, y_true_shape=y_true_shape)
    assert type(m) is cls and m.name == ident


def test_accuracy_resolution_from_loss_only():
    assert type(metrics.get("acc", loss="binary_crossentropy")) is metrics.BinaryAccuracy
    assert type(metrics.get("acc", loss=losses.SparseCategoricalCrossentropy())) is \
        metrics.SparseCategoricalAccuracy
    with pytest.raises(ValueError, match="y_pred_shape"):
        metrics.get("acc", loss="mse")


def test_get_other_identifiers_keep_names():
    assert metrics.get("mse").name == "mse" and type(metrics.get("mse")) is metrics.MeanSquaredError
    assert metrics.get("binary_accuracy").name == "binary_accuracy"
    m = metrics.BinaryAccuracy(name="bin", threshold=0.7)
    assert metrics.get(m) is m
    again = metrics.get(metrics.serialize(m))
    assert type(again) is metrics.BinaryAccuracy and again.get_config() == m.get_config()
    assert type(metrics.get(metrics.binary_accuracy)) is metrics.BinaryAccuracy
    custom = metrics.get(lambda t, p: np.abs(t - p))
    custom.update_state(np.zeros((2, 1)), np.ones((2, 1)))
    assert custom.result() == 1.0
    with pytest.raises(ValueError, match="f1"):
        metrics.get("f1")
    with pytest.raises(ValueError):
        metrics.get(None)


@pytest.mark.parametrize("name", ["BinaryAccuracy", "SparseCategoricalAccuracy",
                                  "CategoricalAccuracy", "MeanSquaredError", "BinaryCrossentropy"])
def test_keras_parity(name):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    if name == "BinaryAccuracy" or name == "BinaryCrossentropy":
        batches = [(RNG.integers(0, 2, (n, 1)).astype("float32"),
                    RNG.uniform(size=(n, 1)).astype("float32")) for n in (5, 3)]
    elif name == "SparseCategoricalAccuracy":
        batches = [(RNG.integers(0, 3, (n,)), RNG.uniform(size=(n, 3)).astype("float32"))
                   for n in (5, 3)]
    else:
        batches = [(np.eye(3, dtype="float32")[RNG.integers(0, 3, n)],
                    RNG.uniform(size=(n, 3)).astype("float32")) for n in (5, 3)]
    ours, theirs = getattr(metrics, name)(), getattr(keras.metrics, name)()
    for i, (yt, yp) in enumerate(batches):
        sw = RNG.uniform(size=len(yt)).astype("float32") if i else None
        ours.update_state(yt, yp, sample_weight=sw)
        theirs.update_state(yt, yp, sample_weight=sw)
    np.testing.assert_allclose(ours.result(), float(theirs.result()), rtol=1e-5)
