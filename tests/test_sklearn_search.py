"""GridSearchCV over a SequenceScaler + RNNClassifier pipeline on Japanese Vowels: parallel
(n_jobs=2) and serial searches agree, and the grid-search example runs."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402

from fastrnn.datasets import japanese_vowels  # noqa: E402
from fastrnn.sklearn import RNNClassifier, SequenceScaler  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sklearn_grid_search.py"


def _data() -> tuple[np.ndarray, np.ndarray]:
    """72 training cases (8 per speaker), padded (72, 29, 12)."""
    (x, y), _ = japanese_vowels.load_data()
    keep = np.arange(len(y)) % 30 < 8
    return x[keep], y[keep]


def _search(n_jobs: int) -> GridSearchCV:
    pipe = Pipeline([
        ("scale", SequenceScaler(mask_value=0.0)),
        ("rnn", RNNClassifier(mask_value=0.0, epochs=3, batch_size=16, learning_rate=0.01,
                              random_state=0, n_threads=1)),
    ])
    grid = {"rnn__units": [4, 8], "rnn__dropout": [0.0, 0.3]}
    return GridSearchCV(pipe, grid, cv=StratifiedKFold(2, shuffle=True, random_state=0),
                        n_jobs=n_jobs)


def test_parallel_search_matches_serial():
    x, y = _data()
    serial = _search(1).fit(x, y)
    parallel = _search(2).fit(x, y)
    assert parallel.best_params_ == serial.best_params_
    # Seeded fits with one C++ thread each: every fold score is identical, not just the winner.
    np.testing.assert_array_equal(parallel.cv_results_["mean_test_score"],
                                  serial.cv_results_["mean_test_score"])
    assert len(np.unique(serial.cv_results_["mean_test_score"])) > 1  # the grid matters
    assert serial.predict(x[:5]).shape == (5,)


def test_example_runs_quick(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), "--quick"])
    runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "best params: {'rnn__dropout':" in out and "test accuracy:" in out
