"""Callbacks driven by a tiny fake model (only get/set_weights, save, save_weights, stop_training)."""

from __future__ import annotations

import io
import math
import os

import numpy as np
import pytest

from fastrnn import callbacks, metrics


class FakeModel:
    def __init__(self):
        self.w = [np.zeros(3), np.ones((2, 2))]
        self.stop_training = False
        self.saved: list[tuple[str, str]] = []

    def get_weights(self):
        return [x.copy() for x in self.w]

    def set_weights(self, ws):
        for x, y in zip(self.w, ws):
            x[...] = y

    def save(self, path):
        self.saved.append(("model", path))
        open(path, "wb").write(b"m")

    def save_weights(self, path):
        self.saved.append(("weights", path))
        open(path, "wb").write(b"w")


def run_fit(model, cbs, losses_per_epoch, steps=2, verbose=0, extra=None):
    """A minimal training loop following Keras's hook order."""
    cl = callbacks.CallbackList(cbs, add_history=True, add_progbar=verbose != 0, model=model,
                                verbose=verbose, epochs=len(losses_per_epoch), steps=steps)
    cl.on_train_begin()
    for epoch, val_loss in enumerate(losses_per_epoch):
        cl.on_epoch_begin(epoch)
        for b in range(steps):
            cl.on_train_batch_begin(b)
            model.w[0] += 1.0
            cl.on_train_batch_end(b, {"loss": 1.0 / (epoch + 1)})
        logs = {"loss": 1.0 / (epoch + 1), "val_loss": val_loss, **(extra or {})}
        cl.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cl.on_train_end()
    return cl.history


def test_history_records_logs_epochs_params():
    model = FakeModel()
    h = run_fit(model, [], [0.5, 0.4, 0.3])
    assert h.epoch == [0, 1, 2]
    assert h.history["val_loss"] == [0.5, 0.4, 0.3]
    assert h.history["loss"] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert h.params == {"verbose": 0, "epochs": 3, "steps": 2}
    assert model.history is h


def test_callback_hooks_order_and_aliases():
    seen = []

    class Rec(callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(("batch_end", batch))

        def on_epoch_end(self, epoch, logs=None):
            seen.append(("epoch_end", epoch))

    run_fit(FakeModel(), [Rec()], [1.0], steps=2)
    assert seen == [("batch_end", 0), ("batch_end", 1), ("epoch_end", 0)]


def test_early_stopping_patience_and_restore():
    model = FakeModel()
    es = callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    h = run_fit(model, [es], [0.5, 0.3, 0.4, 0.35, 0.2, 0.1])
    # best at epoch 1; epochs 2 and 3 do not improve -> stop after epoch 3
    assert h.epoch == [0, 1, 2, 3] and es.stopped_epoch == 3 and es.best_epoch == 1
    np.testing.assert_array_equal(model.w[0], np.full(3, 4.0))  # weights after epoch 1 (2 epochs x 2 steps)


def test_early_stopping_min_delta_mode_baseline_start():
    es = callbacks.EarlyStopping(monitor="val_acc", min_delta=0.05, patience=1)
    h = run_fit(FakeModel(), [es], [0, 0, 0, 0], extra={"val_acc": 0.5})
    assert es.monitor_op is np.greater and h.epoch == [0, 1]
    seq = [0.5, 0.4, 0.45, 0.46, 0.47]
    h = run_fit(FakeModel(), [callbacks.EarlyStopping(patience=2)], seq)
    assert h.epoch == [0, 1, 2, 3]
    h = run_fit(FakeModel(), [callbacks.EarlyStopping(patience=2, baseline=0.1)], seq)
    assert h.epoch == [0, 1, 2]  # never beating the baseline keeps `wait` counting
    es = callbacks.EarlyStopping(patience=0, start_from_epoch=2)
    h = run_fit(FakeModel(), [es], [0.5, 0.6, 0.7, 0.8, 0.9])
    assert h.epoch == [0, 1, 2, 3]
    es = callbacks.EarlyStopping(monitor="val_custom", mode="auto")
    with pytest.raises(ValueError, match="mode='max'"):
        run_fit(FakeModel(), [es], [0.5], extra={"val_custom": 1.0})


def test_early_stopping_uses_metric_direction_from_model():
    model = FakeModel()
    model.metrics = [metrics.BinaryAccuracy(name="hits")]
    es = callbacks.EarlyStopping(monitor="val_hits")
    run_fit(model, [es], [0.5], extra={"val_hits": 0.9})
    assert es.monitor_op is np.greater


def test_early_stopping_missing_monitor_warns():
    with pytest.warns(UserWarning, match="not available"):
        run_fit(FakeModel(), [callbacks.EarlyStopping(monitor="val_acc", mode="max")], [0.5])


def test_model_checkpoint_formats_and_save_best_only(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "ck-{epoch:02d}-{val_loss:.2f}.keras")
    run_fit(model, [callbacks.ModelCheckpoint(path, save_best_only=True)], [0.5, 0.6, 0.25])
    assert [os.path.basename(p) for _, p in model.saved] == ["ck-01-0.50.keras", "ck-03-0.25.keras"]
    model = FakeModel()
    wpath = str(tmp_path / "sub" / "w{epoch}.weights.h5")
    run_fit(model, [callbacks.ModelCheckpoint(wpath, save_weights_only=True)], [0.5, 0.6])
    assert [k for k, _ in model.saved] == ["weights", "weights"]
    assert os.path.exists(tmp_path / "sub" / "w2.weights.h5")


def test_model_checkpoint_threshold_and_batches(tmp_path):
    model = FakeModel()
    cp = callbacks.ModelCheckpoint(str(tmp_path / "m.keras"), save_best_only=True,
                                   initial_value_threshold=0.3)
    run_fit(model, [cp], [0.5, 0.2])
    assert len(model.saved) == 1
    model = FakeModel()
    cp = callbacks.ModelCheckpoint(str(tmp_path / "b{epoch}-{batch}.keras"), save_freq=3)
    run_fit(model, [cp], [0.5, 0.4, 0.3], steps=2)  # 6 batches -> 2 saves
    assert [os.path.basename(p) for _, p in model.saved] == ["b2-1.keras", "b3-2.keras"]


def test_model_checkpoint_never_writes_nan_weights(tmp_path):
    model = FakeModel()
    model.w[1][0, 0] = np.nan
    with pytest.warns(RuntimeWarning, match="NaN"):
        run_fit(model, [callbacks.ModelCheckpoint(str(tmp_path / "m.keras"))], [0.5])
    assert model.saved == [] and not (tmp_path / "m.keras").exists()


def test_model_checkpoint_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match=".keras"):
        callbacks.ModelCheckpoint(str(tmp_path / "m.h6"))
    with pytest.raises(ValueError, match=".weights.h5"):
        callbacks.ModelCheckpoint(str(tmp_path / "m.keras"), save_weights_only=True)
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.ModelCheckpoint(str(tmp_path / "m.keras"), save_freq="batch")
    callbacks.ModelCheckpoint(str(tmp_path / "m.weights.npz"), save_weights_only=True)


def test_terminate_on_nan(capsys):
    model = FakeModel()
    cl = callbacks.CallbackList([callbacks.TerminateOnNaN()], model=model)
    cl.on_train_batch_end(0, {"loss": 0.5})
    assert not model.stop_training
    cl.on_train_batch_end(1, {"loss": math.nan})
    assert model.stop_training and "Invalid loss" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="NaN or Inf"):
        cb = callbacks.TerminateOnNaN(raise_error=True)
        cb.set_model(FakeModel())
        cb.on_train_batch_end(0, {"loss": math.inf})


def test_lambda_callback():
    ends = []
    cb = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(logs["val_loss"]),
                                  on_batch_end=lambda batch, logs: ends.append(batch))
    run_fit(FakeModel(), [cb], [0.5, 0.4], steps=1)
    assert ends == [0, 0.5, 0, 0.4]
    with pytest.raises(ValueError, match="unknown hook"):
        callbacks.LambdaCallback(on_nothing=print)


def test_progbar_verbose_1_and_2(capsys):
    run_fit(FakeModel(), [], [0.5, 0.4], steps=3, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "Epoch 2/2" in out
    lines = [ln for ln in out.splitlines() if ln.startswith("3/3")]
    assert len(lines) == 2
    assert "━" * 20 in lines[0] and "- loss: 1.0000 - val_loss: 0.5000" in lines[0]
    assert "/step" in lines[0]
    run_fit(FakeModel(), [], [0.5], steps=12, verbose=2)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and out[0].startswith("12/12 - ") and out[0].endswith("val_loss: 0.5000")


def test_progbar_dynamic_terminal_redraws():
    class TTY(io.StringIO):
        def isatty(self):
            return True

    stream = TTY()
    bar = callbacks.Progbar(target=4, stream=stream, interval=0.0)
    for i in range(1, 5):
        bar.update(i, [("loss", 0.5 / i)])
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n") and "ETA" not in text
    assert "\x1b[32m" in text and "loss: 0.1250" in text and "loss: 1.0000e-04" not in text
