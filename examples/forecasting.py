"""One-step-ahead forecasting of a real series with a many-to-one SimpleRNN, compared with the
naive "repeat the last value" forecast.

The series: no public-domain time series could be obtained offline for this example, so it
uses a real signal shipped with fastrnn instead, the Japanese Vowels recordings
(``fastrnn.datasets.japanese_vowels``, UCI, CC BY 4.0). Each utterance is a short series of
frames (7-29) of 12 LPC cepstrum coefficients; the task is to predict the next frame's value
of one coefficient (``--coefficient``, default 0) from the previous ``--window`` frames.
With ``--multivariate`` the model sees all 12 coefficients of the window (still predicting one).

Windows come from the 270 training utterances for training and from the 370 test utterances
for evaluation, so no utterance is in both. Values are standardized with training statistics.

    SimpleRNN(units) -> Dense(1)        loss: mean squared error, optimizer: Adam

Run: ``python examples/forecasting.py [--epochs 20] [--window 5] [--multivariate]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from fastrnn import layers, optimizers
from fastrnn.datasets import japanese_vowels
from fastrnn.models import Sequential
from fastrnn.utils import set_random_seed


def windows(series: list[np.ndarray], window: int, coefficient: int,
            multivariate: bool) -> tuple[np.ndarray, np.ndarray]:
    """All (window frames -> next value of ``coefficient``) pairs inside each utterance."""
    xs, ys = [], []
    for s in series:  # s: (frames, 12)
        for start in range(len(s) - window):
            past = s[start:start + window]
            xs.append(past if multivariate else past[:, coefficient:coefficient + 1])
            ys.append(s[start + window, coefficient])
    return np.asarray(xs, dtype=np.float32), np.asarray(ys, dtype=np.float32)[:, None]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--window", type=int, default=5, help="past frames seen (max 6)")
    parser.add_argument("--coefficient", type=int, default=0, help="LPC coefficient 0..11")
    parser.add_argument("--multivariate", action="store_true",
                        help="use all 12 coefficients of the window as input")
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not 1 <= args.window <= 6:
        parser.error(f"--window must be in 1..6 (the shortest utterance has 7 frames). "
                     f"Received: {args.window}")
    if not 0 <= args.coefficient < japanese_vowels.N_FEATURES:
        parser.error(f"--coefficient must be in 0..11. Received: {args.coefficient}")

    (train, _), (test, _) = japanese_vowels.load_data(ragged=True)
    frames = np.concatenate(train)
    mean, std = frames.mean(axis=0), frames.std(axis=0)
    train = [(s - mean) / std for s in train]
    test = [(s - mean) / std for s in test]
    x_train, y_train = windows(train, args.window, args.coefficient, args.multivariate)
    x_test, y_test = windows(test, args.window, args.coefficient, args.multivariate)
    print(f"coefficient {args.coefficient}, window {args.window}: {len(x_train)} training and "
          f"{len(x_test)} test windows, input shape {x_train.shape[1:]}")

    set_random_seed(args.seed)
    model = Sequential([
        layers.Input(shape=x_train.shape[1:]),
        layers.SimpleRNN(args.units),
        layers.Dense(1),
    ])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.003), loss="mse", metrics=["mae"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
              validation_split=0.1, verbose=2)

    pred = model.predict(x_test, verbose=0)
    naive = x_test[:, -1, args.coefficient if args.multivariate else 0][:, None]
    mean_only = np.zeros_like(y_test)  # the training mean, after standardization
    print(f"\n{'forecast (test windows)':<28}{'MSE':>8}{'MAE':>8}")
    for name, p in (("SimpleRNN", pred), ("naive: repeat last value", naive),
                    ("training mean", mean_only)):
        err = p - y_test
        print(f"{name:<28}{np.mean(err ** 2):>8.4f}{np.mean(np.abs(err)):>8.4f}")
    gain = 1 - np.mean((pred - y_test) ** 2) / np.mean((naive - y_test) ** 2)
    print(f"SimpleRNN MSE is {100 * gain:.1f}% lower than the naive forecast's"
          if gain >= 0 else
          f"SimpleRNN MSE is {-100 * gain:.1f}% higher than the naive forecast's")


if __name__ == "__main__":
    main()
