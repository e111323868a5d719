"""The ``fastrnn`` command line (``demo``, ``info``, ``bench``) and the demo's NumPy reference."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import types

import numpy as np
import pytest

from fastrnn import layers as L
from fastrnn import optimizers
from fastrnn.__main__ import main
from fastrnn.cli.demo import time_call
from fastrnn.cli.numpy_reference import NumpyRNNClassifier
from fastrnn.models import Sequential
from fastrnn.utils import set_random_seed

SMALL_DEMO = ["demo", "--epochs", "2", "--units", "8", "--verbose", "0"]


def _refused_url() -> str:
    """A local URL nobody listens on, so a download fails at once (no network needed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _accuracy(text: str) -> float:
    m = re.search(r"^Test accuracy: ([0-9.]+) \((\d+)/370\)$", text, re.M)
    assert m, text
    assert int(m.group(2)) == round(float(m.group(1)) * 370)
    return float(m.group(1))


# ------------------------------------------------------------------ info / dispatch
def test_info_prints_show_config(capsys):
    import fastrnn

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"fastrnn {fastrnn.__version__}"
    assert f"SIMD path:        {fastrnn.simd_path()}" in out
    assert f"threads:          {fastrnn.get_num_threads()}" in out


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "{demo,info,bench}" in capsys.readouterr().out


def test_unknown_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train"])
    assert exc.value.code == 2
    assert "invalid choice: 'train'" in capsys.readouterr().err


def test_bench_passes_every_argument_to_bench_main(monkeypatch):
    seen = []
    fake = types.ModuleType("fastrnn._bench")
    fake.main = lambda argv: seen.append(list(argv)) or 3
    monkeypatch.setitem(sys.modules, "fastrnn._bench", fake)
    assert main(["bench", "--smoke", "--json", "x.json", "-h"]) == 3
    assert seen == [["--smoke", "--json", "x.json", "-h"]]


def test_bench_missing_prints_a_clear_message(monkeypatch, capsys):
    import fastrnn.__main__ as cli

    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(cli.importlib, "import_module", missing)
    assert main(["bench"]) == 1
    assert "fastrnn._bench" in capsys.readouterr().err


def test_bench_import_errors_inside_the_suite_are_not_hidden(monkeypatch):
    import fastrnn.__main__ as cli

    def broken(name):
        raise ModuleNotFoundError("No module named 'pytest_benchmark'", name="pytest_benchmark")

    monkeypatch.setattr(cli.importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="pytest_benchmark"):
        main(["bench"])


# ------------------------------------------------------------------ demo
@pytest.mark.parametrize("bad", [["--epochs", "0"], ["--units", "-3"], ["--threads", "x"],
                                 ["--dataset", "mnist"]])
def test_demo_rejects_bad_options(bad, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", *bad])
    assert exc.value.code == 2
    assert "Received" in capsys.readouterr().err or bad[0] == "--dataset"


def test_demo_small_run_reports_accuracy_speed_and_same_step(capsys):
    assert main(SMALL_DEMO + ["--threads", "1"]) == 0
    out = capsys.readouterr().out
    acc = _accuracy(out)
    assert 0.0 <= acc <= 1.0
    assert "SimpleRNN(8) on Japanese Vowels (270 train / 370 test" in out
    assert "1 thread(s)" in out
    assert re.search(r"^Time per epoch: [0-9.]+ m?s \(median of 2 epochs, 17 steps", out, re.M)
    fast = re.search(r"fastrnn \(C\+\+ engine\): +([0-9.]+) ms", out)
    ref = re.search(r"NumPy reference \(same model\): +([0-9.]+) ms +-> fastrnn is "
                    r"([0-9.]+)x (faster|slower)", out)
    assert fast and ref, out
    ratio = float(ref.group(1)) / float(fast.group(1))
    shown = float(ref.group(2)) if ref.group(3) == "faster" else 1 / float(ref.group(2))
    if abs(ratio - 1) > 0.02:  # the printed times are rounded
        assert ref.group(3) == ("faster" if ratio >= 1 else "slower")
    assert shown == pytest.approx(ratio, rel=0.06)
    losses = re.search(r"loss ([0-9.]+) fastrnn vs ([0-9.]+) NumPy", out)
    assert losses and abs(float(losses.group(1)) - float(losses.group(2))) < 1e-5
    assert re.search(r"^Total wall time: [0-9.]+ s$", out, re.M)


def test_demo_is_reproducible_and_bidirectional_runs(capsys):
    main(SMALL_DEMO + ["--bidirectional"])
    first = capsys.readouterr().out
    main(SMALL_DEMO + ["--bidirectional"])
    second = capsys.readouterr().out
    assert "Bidirectional(SimpleRNN(8))" in first
    assert _accuracy(first) == _accuracy(second)


@pytest.mark.slow
def test_default_demo_reaches_095_accuracy():
    """The documented promise: ``python -m fastrnn demo`` with default settings."""
    res = subprocess.run([sys.executable, "-m", "fastrnn", "demo"], capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    assert _accuracy(res.stdout) >= 0.95
    assert "Epoch 30/30" in res.stdout  # Keras-style progress output
    assert "Traceback" not in res.stderr


def test_demo_imdb_offline_exits_1_with_the_loader_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FASTRNN_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("FASTRNN_DATASETS_BASE_URL", _refused_url())
    assert main(["demo", "--dataset", "imdb", "--verbose", "0"]) == 1
    err = capsys.readouterr().err
    assert "the IMDB data set is not available" in err
    assert "Could not download" in err and str(tmp_path) in err


def test_demo_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    assert main(SMALL_DEMO + ["--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"Training curves saved to {path}" in capsys.readouterr().out


def test_demo_plot_without_matplotlib_says_so(tmp_path):
    (tmp_path / "matplotlib.py").write_text("raise ImportError('blocked for this test')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-m", "fastrnn", *SMALL_DEMO, "--plot",
                          str(tmp_path / "x.png")], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 1
    assert "--plot needs matplotlib" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x.png").exists()


def test_time_call_warms_up_then_takes_the_median():
    calls = []
    durations = iter([0.0] + [0.001] * 100)

    def fn():
        calls.append(1)
        next(durations)

    assert time_call(fn, budget_s=0.0, min_repeats=4, max_repeats=10) >= 0.0
    assert len(calls) == 5  # one warm-up, then min_repeats since the budget is spent
    calls.clear()
    time_call(fn, budget_s=100.0, min_repeats=1, max_repeats=7)
    assert len(calls) == 8


# ------------------------------------------------------------------ NumPy reference
def _model(kind: str, bidirectional: bool, rng: np.random.Generator):
    set_random_seed(3)
    rnn = L.SimpleRNN(6)
    rnn = L.Bidirectional(rnn) if bidirectional else rnn
    if kind == "masking":
        x = rng.normal(size=(5, 7, 4)).astype(np.float32)
        x[:2, 4:] = 0.0  # post padding
        x[2, :3] = 0.0  # pre padding
        y = rng.integers(0, 3, 5)
        model = Sequential([L.Input(shape=(7, 4)), L.Masking(0.0), rnn,
                            L.Dense(3, activation="softmax")])
        model.compile(optimizer=optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
        return model, x, y, "adam", 0.01
    x = rng.integers(0, 15, (5, 7))
    y = rng.integers(0, 2, 5)
    model = Sequential([L.Input(shape=(7,), dtype="int32"), L.Embedding(15, 4), rnn,
                        L.Dense(1, activation="sigmoid")])
    model.compile(optimizer=optimizers.RMSprop(0.01), loss="binary_crossentropy")
    return model, x, y, "rmsprop", 0.01


@pytest.mark.parametrize("kind", ["masking", "embedding"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_numpy_reference_trains_exactly_like_fastrnn(kind, bidirectional, rng):
    model, x, y, opt, lr = _model(kind, bidirectional, rng)
    model.predict(x, verbose=0)  # build
    ref = NumpyRNNClassifier.from_model(model, opt, lr)
    before = [w.copy() for w in model.get_weights()]
    for _ in range(3):
        ref_loss = ref.train_step(x, y)
        loss = model.train_on_batch(x, y)
        assert ref_loss == pytest.approx(float(loss), rel=1e-5, abs=1e-6)
    for got, want, start in zip(ref.params(), model.trainable_weights, before):
        assert not np.array_equal(want, start)  # the weights did move
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-6)


@pytest.mark.parametrize("kind", ["masking", "embedding"])
def test_numpy_reference_gradients_match_finite_differences(kind, rng):
    model, x, y, opt, lr = _model(kind, True, rng)
    model.predict(x, verbose=0)
    ref = NumpyRNNClassifier.from_model(model, opt, lr)
    # switch the copy to float64 so central differences are accurate
    if ref.embeddings is not None:
        ref.embeddings = ref.embeddings.astype(np.float64)
    for w in ref.directions:
        for name in ("kernel", "recurrent_kernel", "bias"):
            setattr(w, name, getattr(w, name).astype(np.float64))
    ref.dense_kernel = ref.dense_kernel.astype(np.float64)
    ref.dense_bias = ref.dense_bias.astype(np.float64)
    x64 = x.astype(np.float64) if kind == "masking" else x
    _, grads = ref.loss_and_grads(x64, y)
    h = 1e-6
    for p, g in zip(ref.params(), grads):
        for idx in list(np.ndindex(p.shape))[:: max(1, p.size // 6)]:
            old = p[idx]
            p[idx] = old + h
            up = ref.loss_and_grads(x64, y)[0]
            p[idx] = old - h
            down = ref.loss_and_grads(x64, y)[0]
            p[idx] = old
            assert g[idx] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-8)


def test_numpy_reference_leaves_the_model_alone_and_rejects_other_stacks(rng):
    model, x, y, opt, lr = _model("masking", False, rng)
    model.predict(x, verbose=0)
    before = model.get_weights()
    NumpyRNNClassifier.from_model(model, opt, lr).train_step(x, y)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    deep = Sequential([L.Input(shape=(7, 4)), L.SimpleRNN(3, return_sequences=True),
                       L.SimpleRNN(3), L.Dense(2, activation="softmax")])
    with pytest.raises(ValueError, match=r"Received layers: \['SimpleRNN', 'SimpleRNN', 'Dense'\]"):
        NumpyRNNClassifier.from_model(deep)
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'rmsprop'. Received: 'sgd'"):
        NumpyRNNClassifier.from_model(model, "sgd")


def test_demo_imdb_branch_with_stand_in_data(monkeypatch, capsys):
    """The IMDB code path (Embedding model, RMSprop, validation split, NumPy twin with an
    embedding) on small IMDB-shaped arrays, since the real file cannot be downloaded in CI."""
    import fastrnn.cli.demo as demo

    rng = np.random.default_rng(0)
    x = rng.integers(1, 10000, (40, 30)).astype(np.int32)
    y = rng.integers(0, 2, 40)
    monkeypatch.setattr(demo, "_load_imdb", lambda: ((x, y), (x[:20], y[:20])))
    assert main(["demo", "--dataset", "imdb", "--epochs", "1", "--batch-size", "8",
                 "--verbose", "0"]) == 0
    out = capsys.readouterr().out
    assert "SimpleRNN(32) on IMDB reviews (40 train, 20 test, 30 word ids each)" in out
    assert "(median of 1 epochs, 4 steps of up to 8 samples" in out  # 32 of 40 after the split
    assert "RMSprop update, batch of 8 x 30 time steps" in out
    losses = re.search(r"loss ([0-9.]+) fastrnn vs ([0-9.]+) NumPy", out)
    assert abs(float(losses.group(1)) - float(losses.group(2))) < 1e-5
