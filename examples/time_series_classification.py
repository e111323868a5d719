"""Speaker recognition on Japanese Vowels: variable-length series, masking, deep and
bidirectional SimpleRNNs compared.

Each utterance is 7 to 29 frames of 12 LPC cepstrum coefficients; the data set pads them with
zeros to 29 frames. A ``Masking(0.0)`` layer marks the padded frames so every SimpleRNN skips
them (its state is carried through unchanged), which makes the result independent of the
padding. Three models are trained on the same standardized data and compared on the 370 test
utterances:

- ``simple``:        Masking -> SimpleRNN(units) -> Dense(9, softmax)
- ``deep``:          Masking -> SimpleRNN(units, return_sequences=True) -> SimpleRNN(units)
                     -> Dense(9, softmax)
- ``bidirectional``: Masking -> Bidirectional(SimpleRNN(units)) -> Dense(9, softmax)

Run: ``python examples/time_series_classification.py [--epochs 30] [--units 32]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fastrnn import layers, optimizers
from fastrnn.datasets import japanese_vowels
from fastrnn.models import Sequential
from fastrnn.utils import set_random_seed


def load_standardized(padding: str = "post"):
    """Padded data standardized with training-frame statistics; padding stays exactly zero."""
    (x_train, y_train, len_train), (x_test, y_test, len_test) = japanese_vowels.load_data(
        padding=padding, return_lengths=True)
    frames = np.arange(japanese_vowels.MAXLEN)
    if padding == "pre":
        frames = frames[::-1]
    real_train = frames < len_train[:, None]  # (n, 29) True on real frames
    real_test = frames < len_test[:, None]
    mean = x_train[real_train].mean(axis=0)
    std = x_train[real_train].std(axis=0)
    x_train = np.where(real_train[..., None], (x_train - mean) / std, 0.0).astype(np.float32)
    x_test = np.where(real_test[..., None], (x_test - mean) / std, 0.0).astype(np.float32)
    return (x_train, y_train, len_train), (x_test, y_test, len_test)


def build(variant: str, units: int) -> Sequential:
    """One of the three compared models."""
    model = Sequential(name=variant)
    model.add(layers.Input(shape=(japanese_vowels.MAXLEN, japanese_vowels.N_FEATURES)))
    model.add(layers.Masking(mask_value=0.0))
    if variant == "simple":
        model.add(layers.SimpleRNN(units))
    elif variant == "deep":
        model.add(layers.SimpleRNN(units, return_sequences=True))
        model.add(layers.SimpleRNN(units))
    elif variant == "bidirectional":
        model.add(layers.Bidirectional(layers.SimpleRNN(units)))
    else:
        raise ValueError(f"unknown variant {variant!r}")
    model.add(layers.Dense(japanese_vowels.N_CLASSES, activation="softmax"))
    model.compile(optimizer=optimizers.Adam(learning_rate=0.003),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--units", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="simple,deep,bidirectional",
                        help="comma-separated subset of simple,deep,bidirectional")
    args = parser.parse_args(argv)

    (x_train, y_train, len_train), (x_test, y_test, len_test) = load_standardized()
    print(f"train {x_train.shape}, test {x_test.shape}; lengths {len_train.min()}-"
          f"{len_train.max()} frames (mean {len_train.mean():.1f}), padded to "
          f"{x_train.shape[1]}")

    results, models = [], []
    for variant in args.variants.split(","):
        set_random_seed(args.seed)
        model = build(variant.strip(), args.units)
        t0 = time.perf_counter()
        model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
        seconds = time.perf_counter() - t0
        loss, acc = model.evaluate(x_test, y_test, verbose=0)
        results.append((variant, model.count_params(), acc, loss, seconds))
        models.append(model)
        print(f"{variant}: test accuracy {acc:.4f}")

    print()
    print(f"{'model':<15}{'params':>8}{'test acc':>10}{'test loss':>11}{'train s':>9}")
    for variant, params, acc, loss, seconds in results:
        print(f"{variant:<15}{params:>8}{acc:>10.4f}{loss:>11.4f}{seconds:>9.2f}")

    # Masking makes the padding irrelevant: the same utterances padded at the front instead
    # of the back give the same predictions (masked steps leave the state unchanged).
    _, (x_test_pre, _, _) = load_standardized(padding="pre")
    diff = max(float(np.abs(m.predict(x_test, verbose=0) - m.predict(x_test_pre, verbose=0)).max())
               for m in models)
    print(f"\nlargest prediction change between post- and pre-padded test data: {diff:.2e}")


if __name__ == "__main__":
    main()
