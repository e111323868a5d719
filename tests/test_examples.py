"""Every script in ``examples/`` runs end to end on small settings (as CI runs them)."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str, env: dict | None = None,
                check: bool = True) -> subprocess.CompletedProcess:
    """Run ``examples/<name>`` with this interpreter; fail with its output if it fails."""
    res = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                         text=True, timeout=300, env=env)
    if check:
        assert res.returncode == 0, f"{name} failed:\n{res.stdout}\n{res.stderr}"
    return res


def load_example(name: str):
    """Import an example script as a module (its ``main`` does not run)."""
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), EXAMPLES / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def table_rows(text: str, names: list[str]) -> dict[str, list[float]]:
    """Numbers on the summary-table line of each name."""
    rows = {}
    for name in names:
        m = re.search(rf"^{re.escape(name)} +([0-9. ]+)$", text, re.M)
        assert m, f"no table row for {name!r} in:\n{text}"
        rows[name] = [float(v) for v in m.group(1).split()]
    return rows


# ------------------------------------------------------------------ time series classification
def test_time_series_classification_compares_three_models():
    out = run_example("time_series_classification.py", "--epochs", "2", "--units", "8").stdout
    rows = table_rows(out, ["simple", "deep", "bidirectional"])
    # parameters: SimpleRNN(8) on 12 features = 12*8 + 8*8 + 8 = 168, Dense(8->9) = 81
    assert rows["simple"][0] == 168 + 81
    assert rows["deep"][0] == 168 + (8 * 8 + 8 * 8 + 8) + 81
    assert rows["bidirectional"][0] == 2 * 168 + (16 * 9 + 9)
    assert all(0.0 <= r[1] <= 1.0 for r in rows.values())
    assert "train (270, 29, 12), test (370, 29, 12)" in out
    change = float(re.search(r"post- and pre-padded test data: (\S+)", out).group(1))
    assert change < 1e-5  # masking makes the padding side irrelevant


# ------------------------------------------------------------------ char rnn
def test_char_rnn_trains_and_generates_the_requested_characters(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("the cat sat on the mat. " * 30, encoding="utf-8")
    out = run_example("char_rnn.py", str(text), "--epochs", "1", "--units", "16",
                      "--seq-len", "12", "--stride", "6", "--length", "60",
                      "--temperature", "0.5", "1.0", "--seed-text", "the ").stdout
    assert "720 characters, vocabulary of 11" in out
    blocks = re.findall(r"--- temperature ([0-9.]+): generated (\d+) characters .*---\n(.*)\n",
                        out)
    assert [(t, n) for t, n, _ in blocks] == [("0.5", "60"), ("1.0", "60")]
    for _, _, generated in blocks:
        assert generated.startswith("the ") and len(generated) == 4 + 60
        assert set(generated) <= set("the cat sat on the mat. ")


def test_char_rnn_default_text_and_bad_seed():
    out = run_example("char_rnn.py", "--epochs", "1", "--units", "8", "--seq-len", "10",
                      "--stride", "20", "--length", "20", "--temperature", "0.8").stdout
    assert "generated 20 characters" in out
    res = run_example("char_rnn.py", "--seed-text", "Zebra~", check=False)
    assert res.returncode == 1 and "['Z', '~']" in res.stderr


def test_char_rnn_stateful_stepping_equals_full_sequence_prediction():
    """Generation feeds one character per call; that must equal running the whole prefix."""
    from fastrnn.utils import set_random_seed

    char_rnn = load_example("char_rnn.py")
    set_random_seed(0)
    full = char_rnn.build(9, 12, 8, stateful=False)
    step = char_rnn.build(9, 12, None, stateful=True)
    ids = np.random.default_rng(0).integers(0, 9, (1, 8))
    want = full.predict(ids, verbose=0)[0]
    step.set_weights(full.get_weights())
    step.reset_states()
    got = np.stack([step(ids[:, t:t + 1])[0, -1] for t in range(8)])
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_char_rnn_sampling_and_windows():
    char_rnn = load_example("char_rnn.py")
    x, y = char_rnn.make_windows(np.arange(10), seq_len=4, stride=3)
    np.testing.assert_array_equal(x, [[0, 1, 2, 3], [3, 4, 5, 6]])
    np.testing.assert_array_equal(y, [[1, 2, 3, 4], [4, 5, 6, 7]])
    rng = np.random.default_rng(0)
    probs = np.array([0.6, 0.3, 0.1])
    cold = np.bincount([char_rnn.sample(probs, 0.05, rng) for _ in range(200)], minlength=3)
    assert cold[0] == 200  # a temperature near 0 is argmax
    draws = np.bincount([char_rnn.sample(probs, 1.0, rng) for _ in range(4000)], minlength=3)
    np.testing.assert_allclose(draws / 4000, probs, atol=0.03)


# ------------------------------------------------------------------ forecasting
@pytest.mark.parametrize("extra", [[], ["--multivariate", "--window", "3"]])
def test_forecasting_reports_model_and_naive_errors(extra):
    out = run_example("forecasting.py", "--epochs", "2", "--units", "8", *extra).stdout
    rows = table_rows(out, ["SimpleRNN", "naive: repeat last value", "training mean"])
    for mse, mae in rows.values():
        assert mse >= 0 and mae >= 0 and mae <= np.sqrt(mse) + 1e-4  # MAE <= RMSE
    window = 3 if extra else 5
    shape = "(3, 12)" if extra else "(5, 1)"
    assert f"window {window}:" in out and f"input shape {shape}" in out
    assert re.search(r"SimpleRNN MSE is [0-9.]+% (lower|higher) than the naive", out)


def test_forecasting_naive_baseline_is_the_last_value():
    """The windows and the naive forecast, checked against a direct loop."""
    forecasting = load_example("forecasting.py")
    s = np.arange(8 * 12, dtype=np.float32).reshape(8, 12)
    x, y = forecasting.windows([s], 5, 2, multivariate=False)
    assert x.shape == (3, 5, 1) and y.shape == (3, 1)
    np.testing.assert_array_equal(x[1, :, 0], s[1:6, 2])
    np.testing.assert_array_equal(y[:, 0], s[5:8, 2])
    x, _ = forecasting.windows([s], 5, 2, multivariate=True)
    np.testing.assert_array_equal(x[0], s[:5])


# ------------------------------------------------------------------ IMDB lecture
def test_imdb_lecture_synthetic_runs_all_variants(tmp_path):
    plot = tmp_path / "curves.png"
    out = run_example("imdb_lecture.py", "--synthetic", "--samples", "160", "--maxlen", "24",
                      "--epochs", "1", "--plot", str(plot)).stdout
    assert "160 train sequences" in out and "input_train shape: (160, 24)" in out
    rows = table_rows(out, ["simple", "stacked", "bidirectional"])
    assert all(0.0 <= v <= 1.0 for r in rows.values() for v in r)
    assert out.count(" - val_acc: ") == 3  # Keras progress lines (no "Epoch 1/1" for 1 epoch)
    if importlib.util.find_spec("matplotlib"):
        assert plot.read_bytes()[:4] == b"\x89PNG"


def test_imdb_lecture_synthetic_data_is_imdb_shaped_and_learnable_in_principle():
    imdb_lecture = load_example("imdb_lecture.py")
    (x, y), (xt, yt) = imdb_lecture.synthetic_imdb(10000, n_train=300, n_test=10, seed=1)
    assert x.dtype == object and len(x) == 300 and len(xt) == 10
    assert all(s[0] == 1 and 4 <= min(s[1:]) and max(s) < 10000 for s in x)
    pos, neg = set(imdb_lecture.POSITIVE), set(imdb_lecture.NEGATIVE)
    rule = np.array([sum(w in pos for w in s) > sum(w in neg for w in s) for s in x])
    np.testing.assert_array_equal(rule, y == 1)
    assert 0.3 < y.mean() < 0.7


def test_imdb_lecture_without_the_file_suggests_synthetic(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, FASTRNN_DATA_HOME=str(tmp_path),
               FASTRNN_DATASETS_BASE_URL=f"http://127.0.0.1:{port}/")
    res = run_example("imdb_lecture.py", "--epochs", "1", env=env, check=False)
    assert res.returncode == 1
    assert "--synthetic" in res.stderr and "Traceback" not in res.stderr
