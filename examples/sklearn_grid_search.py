"""Grid search over SimpleRNN units and dropout on Japanese Vowels with scikit-learn.

A ``Pipeline`` standardizes the zero-padded (n, 29, 12) sequences with ``SequenceScaler``
(padded steps ignored and kept at 0), then ``RNNClassifier(mask_value=0.0)`` masks them.
``GridSearchCV(n_jobs=2)`` runs two fits at once, each bounded to one C++ thread by
``n_threads`` so the cores are not oversubscribed.

    python examples/sklearn_grid_search.py            # full grid (a few minutes)
    python examples/sklearn_grid_search.py --quick    # tiny grid on a subset (seconds)
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from fastrnn.datasets import japanese_vowels
from fastrnn.sklearn import RNNClassifier, SequenceScaler


def build_search(n_jobs: int, epochs: int, grid: dict, cv: int) -> GridSearchCV:
    """The pipeline inside a GridSearchCV; threads per fit = cores // n_jobs."""
    threads = max(1, (os.cpu_count() or 1) // max(1, n_jobs))
    pipe = Pipeline([
        ("scale", SequenceScaler(mask_value=0.0)),
        ("rnn", RNNClassifier(mask_value=0.0, epochs=epochs, batch_size=32,
                              learning_rate=0.005, random_state=0, n_threads=threads)),
    ])
    folds = StratifiedKFold(n_splits=cv, shuffle=True, random_state=0)
    return GridSearchCV(pipe, grid, cv=folds, n_jobs=n_jobs)


def main(argv: list[str] | None = None) -> dict:
    """Run the search; print and return the best parameters and the test accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny grid on a data subset")
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args(argv)
    (x_train, y_train), (x_test, y_test) = japanese_vowels.load_data()
    if args.quick:
        keep = np.arange(len(y_train)) % 3 == 0  # 90 cases, 10 per speaker
        x_train, y_train = x_train[keep], y_train[keep]
        x_test, y_test = x_test[:90], y_test[:90]
        grid = {"rnn__units": [4, 8], "rnn__dropout": [0.0, 0.2]}
        epochs, cv = 3, 2
    else:
        grid = {"rnn__units": [16, 32, 64], "rnn__dropout": [0.0, 0.1, 0.3]}
        epochs, cv = 40, 3
    search = build_search(args.n_jobs, epochs, grid, cv)
    start = time.perf_counter()
    search.fit(x_train, y_train)
    elapsed = time.perf_counter() - start
    test_acc = search.score(x_test, y_test)
    print(f"best params: {search.best_params_}")
    print(f"cv accuracy: {search.best_score_:.3f}  test accuracy: {test_acc:.3f}  "
          f"({elapsed:.1f} s, n_jobs={args.n_jobs})")
    return {"best_params": search.best_params_, "test_accuracy": test_acc}


if __name__ == "__main__":
    main()
