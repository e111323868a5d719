"""compile / fit / evaluate / predict semantics (Keras 3.15 trainer on arrays)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from fastrnn import callbacks, layers, optimizers
from fastrnn.layers import reset_name_counters
from fastrnn.models import Sequential
from fastrnn.utils import set_random_seed


@pytest.fixture(autouse=True)
def _seed():
    reset_name_counters()
    set_random_seed(1234)


def _binary_model(units: int = 8, T: int = 6, D: int = 1) -> Sequential:
    return Sequential([layers.Input(shape=(T, D)), layers.SimpleRNN(units),
                       layers.Dense(1, activation="sigmoid")])


def _data(n: int = 50, T: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, T, 1)).astype(np.float32)
    y = (x.sum(axis=(1, 2)) > 0).astype(np.float32)
    return x, y


def _bce(y, p):
    p = np.clip(p.astype(np.float64).ravel(), 1e-7, 1 - 1e-7)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _record_batches(model, monkeypatch):
    """Record the x of every training batch (wrapping the one-batch step)."""
    seen = []
    original = model._train_batch

    def spy(x, y, sw, weights):
        seen.append(np.array(x))
        return original(x, y, sw, weights)

    monkeypatch.setattr(model, "_train_batch", spy)
    return seen


def test_learns_sign_of_sum_quickly():
    x, y = _data(n=768, T=8, seed=1)
    xt, yt = _data(n=256, T=8, seed=2)
    m = _binary_model(units=16, T=8)
    m.compile(optimizers.Adam(0.01), "binary_crossentropy", metrics=["acc"])
    start = time.perf_counter()
    m.fit(x, y, epochs=8, batch_size=32, verbose=0)
    elapsed = time.perf_counter() - start
    _, acc = m.evaluate(xt, yt, verbose=0)
    assert acc > 0.9, acc  # chance is 0.5
    assert elapsed < 30


def test_history_keys_as_given_and_params():
    x, y = _data(n=40)
    m = _binary_model()
    m.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    h = m.fit(x, y, epochs=2, batch_size=16, validation_split=0.25, verbose=0)
    assert h is m.history
    assert sorted(h.history) == ["acc", "loss", "val_acc", "val_loss"]
    assert h.epoch == [0, 1] and all(len(v) == 2 for v in h.history.values())
    assert h.params == {"verbose": 0, "epochs": 2, "steps": 2}  # 30 train samples, batch 16
    assert all(isinstance(v, float) for v in h.history["loss"])
    m.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
    assert sorted(m.fit(x, y, verbose=0).history) == ["accuracy", "loss"]


def test_validation_split_is_the_last_fraction_before_shuffling(monkeypatch):
    x, y = _data(n=50)
    m = _binary_model()
    m.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    seen = _record_batches(m, monkeypatch)
    h = m.fit(x, y, epochs=2, batch_size=16, validation_split=0.3, verbose=0)
    split_at = math.floor(50 * 0.7)  # 35 train, 15 validation
    for epoch in range(2):
        batches = seen[epoch * 3:(epoch + 1) * 3]
        assert [len(b) for b in batches] == [16, 16, 3]  # partial last batch kept
        got = np.sort(np.concatenate(batches)[:, 0, 0])
        np.testing.assert_array_equal(got, np.sort(x[:split_at, 0, 0]))  # exactly the first 35
    assert not np.array_equal(np.concatenate(seen[:3]), np.concatenate(seen[3:6]))  # reshuffled
    # the validation numbers are those of the last 15 samples with the final weights
    loss, acc = m.evaluate(x[split_at:], y[split_at:], verbose=0)
    assert h.history["val_loss"][-1] == pytest.approx(loss, rel=1e-6)
    assert h.history["val_acc"][-1] == pytest.approx(acc)
    p = m.predict(x[split_at:], verbose=0)
    assert loss == pytest.approx(_bce(y[split_at:], p).mean(), rel=1e-5)


def test_shuffle_false_keeps_order(monkeypatch):
    x, y = _data(n=20)
    m = _binary_model()
    m.compile("sgd", "binary_crossentropy")
    seen = _record_batches(m, monkeypatch)
    m.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    np.testing.assert_array_equal(np.concatenate(seen), x)


def test_validation_data_and_errors():
    x, y = _data(n=30)
    m = _binary_model()
    m.compile("rmsprop", "binary_crossentropy")
    h = m.fit(x, y, validation_data=(x[:7], y[:7]), verbose=0)
    assert h.history["val_loss"][0] == pytest.approx(m.evaluate(x[:7], y[:7], verbose=0), rel=1e-6)
    with pytest.raises(ValueError, match="validation_data"):
        m.fit(x, y, validation_data=(x,), verbose=0)
    with pytest.raises(ValueError, match="not sufficient"):
        m.fit(x[:1], y[:1], validation_split=0.5, verbose=0)
    with pytest.raises(ValueError, match="validation_split"):
        m.fit(x, y, validation_split=1.5, verbose=0)


def test_epoch_loss_is_the_sample_weighted_mean():
    """With a zero learning rate the weights stay put, so the epoch loss over uneven batches
    must equal the plain mean of the per-sample losses (batches weighted by their size)."""
    x, y = _data(n=50)
    m = _binary_model()
    m.compile(optimizers.SGD(learning_rate=0.0), "binary_crossentropy", metrics=["acc"])
    h = m.fit(x, y, batch_size=16, verbose=0)
    p = m.predict(x, verbose=0)
    assert h.history["loss"][0] == pytest.approx(_bce(y, p).mean(), rel=1e-5)
    assert h.history["acc"][0] == pytest.approx(np.mean((p.ravel() > 0.5) == (y > 0.5)))


def test_evaluate_return_forms():
    x, y = _data(n=30)
    m = _binary_model()
    m.compile("rmsprop", "binary_crossentropy")
    loss = m.evaluate(x, y, verbose=0)
    assert isinstance(loss, float)
    assert loss == pytest.approx(_bce(y, m.predict(x, verbose=0)).mean(), rel=1e-5)
    m.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    res = m.evaluate(x, y, batch_size=7, verbose=0)
    assert isinstance(res, list) and res[0] == pytest.approx(loss, rel=1e-6)
    assert m.evaluate(x, y, batch_size=7, verbose=0, return_dict=True) == {"acc": res[1],
                                                                              "loss": res[0]}


def test_train_on_batch_reports_pre_update_loss_and_trains():
    x, y = _data(n=16)
    m = _binary_model()
    m.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    expected = _bce(y, m.predict(x, verbose=0)).mean()
    before = m.get_weights()
    loss, acc = m.train_on_batch(x, y)
    assert loss == pytest.approx(expected, rel=1e-5)
    assert any(not np.allclose(a, b) for a, b in zip(before, m.get_weights()))
    assert m.test_on_batch(x, y, return_dict=True)["loss"] == pytest.approx(
        _bce(y, m.predict(x, verbose=0)).mean(), rel=1e-5)


def test_zero_sample_weights_leave_weights_unchanged_and_class_weight_equivalence():
    x, y = _data(n=24)
    m = _binary_model()
    m.compile("rmsprop", "binary_crossentropy")
    before = m.get_weights()
    m.fit(x, y, sample_weight=np.zeros(24), verbose=0)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)

    def trained(**kw):
        model = _binary_model()
        model.set_weights(before)
        model.compile("rmsprop", "binary_crossentropy")
        model.fit(x, y, batch_size=8, shuffle=False, verbose=0, **kw)
        return model.get_weights()

    cw = trained(class_weight={0: 0.5, 1: 3.0})
    sw = trained(sample_weight=np.where(y > 0.5, 3.0, 0.5))
    plain = trained()
    for a, b in zip(cw, sw):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert any(not np.allclose(a, b) for a, b in zip(cw, plain))
    with pytest.raises(ValueError, match="class_weight"):
        m.fit(x, y, class_weight={0: 1.0}, sample_weight=np.ones(24), verbose=0)


def test_initial_epoch_validation_freq_and_steps_per_epoch(monkeypatch):
    x, y = _data(n=40)
    m = _binary_model()
    m.compile("rmsprop", "binary_crossentropy")
    h = m.fit(x, y, epochs=4, initial_epoch=2, verbose=0)
    assert h.epoch == [2, 3]
    h = m.fit(x, y, epochs=4, validation_split=0.25, validation_freq=2, verbose=0)
    assert len(h.history["loss"]) == 4 and len(h.history["val_loss"]) == 2
    seen = _record_batches(m, monkeypatch)
    m.fit(x, y, batch_size=8, steps_per_epoch=2, epochs=1, verbose=0)
    assert len(seen) == 2
    # Keras: with steps_per_epoch one pass over the data continues across epochs, and an
    # epoch that runs out of batches stops early with a warning
    seen.clear()
    with pytest.warns(UserWarning, match="ran out of data"):
        h = m.fit(x, y, batch_size=8, steps_per_epoch=2, epochs=3, shuffle=False, verbose=0)
    assert len(seen) == 5 and h.params["steps"] == 2
    np.testing.assert_array_equal(np.concatenate(seen), x)


def test_stop_training_from_a_callback_stops_mid_epoch(monkeypatch):
    x, y = _data(n=40)
    m = _binary_model()
    m.compile("rmsprop", "binary_crossentropy")
    seen = _record_batches(m, monkeypatch)

    def stop(batch, logs):
        if batch == 1:
            m.stop_training = True

    h = m.fit(x, y, batch_size=8, epochs=3, verbose=0,
              callbacks=[callbacks.LambdaCallback(on_train_batch_end=stop)])
    assert len(seen) == 2 and h.epoch == [0]


def test_early_stopping_restores_best_weights():
    x, y = _data(n=40)
    m = _binary_model()
    m.compile(optimizers.SGD(0.5), "binary_crossentropy")
    snapshots = []
    record = callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: snapshots.append(m.get_weights()))
    # "best" = the highest loss: training lowers the loss, so epoch 0 stays best and the run
    # stops after `patience` more epochs, restoring epoch 0's weights.
    stop = callbacks.EarlyStopping(monitor="loss", mode="max", patience=1,
                                   restore_best_weights=True)
    h = m.fit(x, y, epochs=10, batch_size=8, verbose=0, callbacks=[record, stop])
    assert h.epoch == [0, 1] and h.history["loss"][1] < h.history["loss"][0]
    for a, b in zip(m.get_weights(), snapshots[0]):
        np.testing.assert_array_equal(a, b)


def test_inputs_are_never_modified():
    x, y = _data(n=20)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    sw = np.linspace(0.5, 1.5, 20)
    copies = [a.copy() for a in (x64, y64, sw)]
    for a in (x64, y64, sw):
        a.setflags(write=False)
    m = _binary_model()
    m.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    m.fit(x64, y64, sample_weight=sw, validation_split=0.2, epochs=2, batch_size=6, verbose=0)
    m.evaluate(x64, y64, sample_weight=sw, verbose=0)
    m.predict(x64, verbose=0)
    for a, c in zip((x64, y64, sw), copies):
        np.testing.assert_array_equal(a, c)


def test_input_validation_errors():
    x, y = _data(n=20)
    m = _binary_model()
    with pytest.raises(RuntimeError, match="compile"):
        m.fit(x, y, verbose=0)
    m.compile("rmsprop")
    with pytest.raises(ValueError, match="No loss"):
        m.fit(x, y, verbose=0)
    m.compile("rmsprop", "binary_crossentropy")
    with pytest.raises(ValueError, match="(?s)cardinality.*'x' sizes: 20.*'y' sizes: 19"):
        m.fit(x, y[:-1], verbose=0)
    with pytest.raises(ValueError, match="at least one sample"):
        m.fit(x[:0], y[:0], verbose=0)
    with pytest.raises(ValueError, match="incompatible"):
        m.fit(x[..., 0], y, verbose=0)
    with pytest.raises(ValueError, match="y"):
        m.fit(x, None, verbose=0)
    with pytest.raises(ValueError, match="batch_size"):
        m.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        m.fit(x, y, verbose=3)
    with pytest.raises((TypeError, ValueError), match="x"):
        m.fit([[1, 2], [3]], y[:2], verbose=0)


def test_unknown_names_are_value_errors_naming_them():
    m = _binary_model()
    with pytest.raises(ValueError, match="rmsprob"):
        m.compile("rmsprob", "binary_crossentropy")
    with pytest.raises(ValueError, match="binary_crossentropi"):
        m.compile("rmsprop", "binary_crossentropi")
    with pytest.raises(ValueError, match="acuracy"):
        m.compile("rmsprop", "binary_crossentropy", metrics=["acuracy"])
    with pytest.raises(ValueError, match="list"):
        m.compile("rmsprop", "binary_crossentropy", metrics="acc")


def test_accuracy_resolution_for_categorical_heads():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 5, 2)).astype(np.float32)
    labels = rng.integers(0, 3, size=30)
    m = Sequential([layers.Input(shape=(5, 2)), layers.SimpleRNN(4),
                    layers.Dense(3, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["acc"])
    res = m.evaluate(x, labels, verbose=0, return_dict=True)
    p = m.predict(x, verbose=0)
    assert res["acc"] == pytest.approx(np.mean(p.argmax(1) == labels))
    m.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    onehot = np.eye(3, dtype=np.float32)[labels]
    res = m.evaluate(x, onehot, verbose=0, return_dict=True)
    assert res["accuracy"] == pytest.approx(np.mean(p.argmax(1) == labels))
    expected = -np.mean(np.log(np.clip(p[np.arange(30), labels], 1e-7, 1)))
    assert res["loss"] == pytest.approx(expected, rel=1e-5)


def test_sequence_output_loss_ignores_masked_steps():
    """Embedding(mask_zero) -> SimpleRNN(return_sequences) -> Dense: the loss averages over
    valid steps only (Keras apply_mask)."""
    rng = np.random.default_rng(4)
    ids = rng.integers(1, 9, size=(6, 5))
    ids[:, 3:] = 0
    y = rng.integers(0, 2, size=(6, 5, 1)).astype(np.float32)
    m = Sequential([layers.Input(shape=(5,), dtype="int32"), layers.Embedding(9, 3, mask_zero=True),
                    layers.SimpleRNN(4, return_sequences=True),
                    layers.Dense(1, activation="sigmoid")])
    m.compile("rmsprop", "binary_crossentropy")
    p = m.predict(ids, verbose=0)
    per_step = _bce(y.ravel(), p.ravel()).reshape(6, 5)
    assert m.evaluate(ids, y, verbose=0) == pytest.approx(per_step[:, :3].mean(), rel=1e-5)


def test_predict_batches_agree_and_verbose_zero_is_silent(capsys):
    x, _ = _data(n=37)
    m = _binary_model()
    a = m.predict(x, batch_size=5, verbose=0)
    b = m.predict(x, verbose=0)
    assert isinstance(a, np.ndarray) and a.shape == (37, 1)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert capsys.readouterr().out == ""
    m.predict(x, verbose=1)
    assert capsys.readouterr().out != ""


def test_reported_loss_includes_weight_regularization():
    x, y = _data(n=24)
    m = Sequential([layers.Input(shape=(6, 1)), layers.SimpleRNN(4),
                    layers.Dense(1, activation="sigmoid", kernel_regularizer="l2")])
    m.compile(optimizers.SGD(learning_rate=0.0), "binary_crossentropy")
    h = m.fit(x, y, batch_size=10, verbose=0)
    penalty = 0.01 * float(np.sum(m.layers[1].get_weights()[0].astype(np.float64) ** 2))
    data_loss = _bce(y, m.predict(x, verbose=0)).mean()
    assert penalty > 1e-4
    assert h.history["loss"][0] == pytest.approx(data_loss + penalty, rel=1e-5)
    assert m.evaluate(x, y, verbose=0) == pytest.approx(data_loss + penalty, rel=1e-5)
