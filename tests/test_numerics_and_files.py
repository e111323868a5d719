"""Numerics (exploding gradients, NaN losses, NaN-free checkpoints) and files (atomic writes
that survive a real crash, no code execution on load, clear errors naming the file)."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
import zipfile

import numpy as np
import pytest

from fastrnn import callbacks, optimizers
from fastrnn import layers as L
from fastrnn.models import Sequential
from fastrnn.saving import load_model
from fastrnn.utils import set_random_seed

# ------------------------------------------------------------------ exploding gradients


def _exploding_model(optimizer) -> Sequential:
    """A linear RNN whose recurrent kernel is 1.5 * I: gradients grow like 1.5^T."""
    set_random_seed(0)
    m = Sequential([L.Input((None, 2)), L.SimpleRNN(4, activation="linear"), L.Dense(1)])
    m.compile(optimizer=optimizer, loss="mse")
    w = m.get_weights()
    w[1] = 1.5 * np.eye(4, dtype=w[1].dtype)
    m.set_weights(w)
    return m


def _one_step_delta(optimizer) -> list[np.ndarray]:
    m = _exploding_model(optimizer)
    x = np.ones((4, 40, 2), np.float32)
    y = np.zeros((4, 1), np.float32)
    before = [w.astype(np.float64) for w in m.get_weights()]
    m.train_on_batch(x, y)
    return [w.astype(np.float64) - b for w, b in zip(m.get_weights(), before)]


def test_gradients_really_explode_without_clipping():
    delta = _one_step_delta(optimizers.SGD(learning_rate=0.01))
    assert max(np.abs(d).max() for d in delta) > 1e3  # 1.5^40 ~ 1e7: the premise of the tests


def test_clipnorm_bounds_every_variable_update():
    lr, clip = 0.01, 1.0
    delta = _one_step_delta(optimizers.SGD(learning_rate=lr, clipnorm=clip))
    for d in delta:
        assert np.isfinite(d).all()
        assert np.linalg.norm(d) <= lr * clip * (1 + 1e-5)
    # the largest gradients were clipped to exactly the norm
    assert max(np.linalg.norm(d) for d in delta) == pytest.approx(lr * clip, rel=1e-4)


def test_clipvalue_bounds_every_element_update():
    lr, clip = 0.01, 0.5
    delta = _one_step_delta(optimizers.SGD(learning_rate=lr, clipvalue=clip))
    for d in delta:
        assert np.abs(d).max() <= lr * clip * (1 + 1e-5)
    assert max(np.abs(d).max() for d in delta) == pytest.approx(lr * clip, rel=1e-4)


def test_global_clipnorm_bounds_the_joint_update():
    lr, clip = 0.01, 1.0
    delta = _one_step_delta(optimizers.SGD(learning_rate=lr, global_clipnorm=clip))
    joint = np.sqrt(sum((d**2).sum() for d in delta))
    assert joint == pytest.approx(lr * clip, rel=1e-4)


# ------------------------------------------------------------------ NaN losses


def _nan_data(bad_sample: int = 20):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6, 2)).astype(np.float32)
    y = rng.normal(size=(32, 1)).astype(np.float32)
    y[bad_sample] = np.nan  # the batch holding this sample has a NaN loss
    return x, y


class _BatchCounter(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_terminate_on_nan_stops_at_the_first_nan_batch():
    x, y = _nan_data()
    m = Sequential([L.Input((None, 2)), L.SimpleRNN(3), L.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    counter = _BatchCounter()
    m.fit(x, y, batch_size=8, epochs=5, shuffle=False, verbose=0,
          callbacks=[callbacks.TerminateOnNaN(), counter])
    assert counter.batches == 3  # batches 0, 1 fine; batch 2 (samples 16..23) is NaN
    assert m.stop_training


def test_fit_warns_when_the_loss_turns_nan():
    x, y = _nan_data()
    m = Sequential([L.Input((None, 2)), L.SimpleRNN(3), L.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    with pytest.warns(RuntimeWarning, match="(?i)nan"):
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)


@pytest.mark.parametrize("save_weights_only", [False, True])
def test_model_checkpoint_never_overwrites_a_good_checkpoint_with_nan(tmp_path, save_weights_only):
    x, y = _nan_data(bad_sample=28)  # the last batch: the weights are NaN at the epoch's end
    good_y = np.nan_to_num(y)
    path = str(tmp_path / ("ckpt.weights.h5" if save_weights_only else "ckpt.keras"))
    m = Sequential([L.Input((None, 2)), L.SimpleRNN(3), L.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    ckpt = callbacks.ModelCheckpoint(path, save_weights_only=save_weights_only)
    m.fit(x, good_y, batch_size=8, epochs=1, verbose=0, callbacks=[ckpt])
    good_bytes = open(path, "rb").read()
    with pytest.warns(RuntimeWarning, match="NaN"):
        m.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[ckpt])
    assert not all(np.isfinite(w).all() for w in m.get_weights())  # training did go NaN
    assert open(path, "rb").read() == good_bytes
    restored = Sequential([L.Input((None, 2)), L.SimpleRNN(3), L.Dense(1)])
    restored.load_weights(path)
    assert all(np.isfinite(w).all() for w in restored.get_weights())


# ------------------------------------------------------------------ atomic writes

_CRASH_SCRIPT = textwrap.dedent("""
    import os, signal, sys, zipfile
    import numpy as np
    from fastrnn import callbacks
    from fastrnn import layers as L
    from fastrnn.models import Sequential

    path, kind = sys.argv[1], sys.argv[2]
    m = Sequential([L.Input((None, 2)), L.SimpleRNN(3), L.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    m.set_weights([w + 1.0 for w in m.get_weights()])  # different content from the old file

    real_write = os.write
    def crash_after_some_bytes(f_write):
        def write(data, *a, **k):
            n = f_write(data[: max(1, len(data) // 2)], *a, **k)
            os.kill(os.getpid(), signal.SIGKILL)  # a real crash mid-write
        return write
    # Wrap every file object's write: the first real write of the new file kills the process.
    import builtins
    real_open = builtins.open
    real_fdopen = os.fdopen
    def fdopen(*a, **k):
        f = real_fdopen(*a, **k)
        f.write = crash_after_some_bytes(f.write)
        return f
    os.fdopen = fdopen
    if kind == "save":
        m.save(path)
    elif kind == "save_weights":
        m.save_weights(path)
    else:
        x = np.zeros((4, 3, 2), np.float32); y = np.zeros((4, 1), np.float32)
        m.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(path)])
    print("NOT KILLED")
""")


@pytest.mark.parametrize("kind,name", [("save", "m.keras"), ("save_weights", "m.weights.h5"),
                                       ("checkpoint", "m.keras")])
def test_a_real_crash_mid_write_leaves_the_old_file_intact(tmp_path, kind, name):
    path = str(tmp_path / name)
    old = Sequential([L.Input((None, 2)), L.SimpleRNN(3), L.Dense(1)])
    old.compile(optimizer="sgd", loss="mse")
    old.save(path) if name.endswith(".keras") else old.save_weights(path)
    old_bytes = open(path, "rb").read()
    proc = subprocess.run([sys.executable, "-c", _CRASH_SCRIPT, path, kind],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, (proc.returncode, proc.stdout, proc.stderr[-2000:])
    assert open(path, "rb").read() == old_bytes
    fresh = Sequential([L.Input((None, 2)), L.SimpleRNN(3), L.Dense(1)])
    fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), old.get_weights()):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ loading never runs code


class _Payload:
    """Unpickling this creates the marker file: proof that code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _model_file(tmp_path) -> str:
    m = Sequential([L.Input((None, 2)), L.SimpleRNN(3), L.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    path = str(tmp_path / "good.keras")
    m.save(path)
    return path


def _rewrite(path: str, out: str, replace: dict) -> None:
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))


def test_pickled_weights_are_refused_without_running_them(tmp_path):
    marker = str(tmp_path / "code_ran")
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    buf = io.BytesIO()
    np.savez(buf, arr_0000=evil)  # np.savez pickles object arrays
    target = str(tmp_path / "evil.keras")
    _rewrite(_model_file(tmp_path), target, {"weights.npz": buf.getvalue()})
    with pytest.raises(ValueError, match="evil.keras"):
        load_model(target)
    assert not os.path.exists(marker)
    # the same payload as a weights file
    wpath = str(tmp_path / "evil.weights.npz")
    with open(wpath, "wb") as f:
        np.savez(f, arr_0000=evil, __format_version__=np.array(1))
    m = Sequential([L.Input((None, 2)), L.SimpleRNN(3), L.Dense(1)])
    with pytest.raises(ValueError, match="evil.weights.npz"):
        m.load_weights(wpath)
    assert not os.path.exists(marker)


@pytest.mark.parametrize("entry", [
    {"module": "os", "class_name": "system", "config": {"command": "touch {marker}"}},
    {"module": "builtins", "class_name": "eval", "config": {"source": "open('{marker}','w')"}},
    {"module": "subprocess", "class_name": "Popen", "registered_name": "subprocess>Popen",
     "config": {"args": ["touch", "{marker}"]}},
])
def test_a_config_naming_arbitrary_callables_is_refused(tmp_path, entry):
    marker = str(tmp_path / "code_ran")
    path = _model_file(tmp_path)
    with zipfile.ZipFile(path) as z:
        header = json.loads(z.read("config.json"))
    entry = json.loads(json.dumps(entry).replace("{marker}", marker))
    header["model_config"]["layers"].append(entry)
    target = str(tmp_path / "evil_config.keras")
    _rewrite(path, target, {"config.json": json.dumps(header).encode()})
    with pytest.raises((ValueError, TypeError)):
        load_model(target)
    assert not os.path.exists(marker)


def test_pickle_module_is_never_used_by_loading(tmp_path, monkeypatch):
    """load_model and load_weights must not reach pickle at all."""
    path = _model_file(tmp_path)

    def forbidden(*args, **kwargs):
        raise AssertionError("pickle used while loading")

    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    m = load_model(path)
    m.load_weights(path)


# ------------------------------------------------------------------ damaged files


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_every_truncation_raises_a_value_error_naming_the_file(tmp_path, suffix):
    m = Sequential([L.Input((None, 2)), L.SimpleRNN(3), L.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    good = str(tmp_path / f"good{suffix}")
    m.save(good) if suffix == ".keras" else m.save_weights(good)
    blob = open(good, "rb").read()
    bad = str(tmp_path / f"truncated{suffix}")
    for cut in sorted({0, 1, 10, 100, len(blob) // 4, len(blob) // 2, len(blob) - 22,
                       len(blob) - 1}):
        with open(bad, "wb") as f:
            f.write(blob[:cut])
        with pytest.raises(ValueError) as info, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if suffix == ".keras":
                load_model(bad)
            else:
                m.load_weights(bad)
        assert bad in str(info.value), (cut, str(info.value))
