"""The lecture's IMDB sentiment model ("Deep Learning with Python", section 6.2), line for
line, with fastrnn imports instead of Keras ones; then the stacked and the bidirectional
variants, and a plot of the training curves.

    Embedding(10000, 32) -> SimpleRNN(32) -> Dense(1, sigmoid)
    rmsprop, binary cross-entropy, metrics=['acc'], epochs=10, batch_size=128,
    validation_split=0.2

The data is Keras's ``imdb.npz`` (downloaded on first use by ``fastrnn.datasets.imdb``, or put
by hand in ``~/.fastrnn/datasets``). Without it (offline, CI) use ``--synthetic``: random word
ids of the same shape and vocabulary, labelled by a rule a SimpleRNN can learn (which of two
sets of "sentiment" words appears more often), so the code runs end to end.

Run: ``python examples/imdb_lecture.py [--synthetic] [--epochs 10] [--samples 2000]
[--maxlen 500] [--variants simple,stacked,bidirectional] [--plot curves.png]``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from fastrnn.datasets import imdb
from fastrnn.layers import Bidirectional, Dense, Embedding, SimpleRNN
from fastrnn.models import Sequential
from fastrnn.preprocessing import sequence
from fastrnn.utils import set_random_seed

POSITIVE = range(20, 70)   # synthetic "sentiment" word ids
NEGATIVE = range(70, 120)


def synthetic_imdb(num_words: int = 10000, n_train: int = 25000, n_test: int = 25000,
                   seed: int = 113):
    """IMDB-shaped fake data: lists of word ids (start 1, ids 4.., below ``num_words``) and
    0/1 labels. A positive review holds one POSITIVE word id in ten (at least 4) and one
    NEGATIVE id, a negative review the reverse, scattered among Zipf-distributed filler ids."""
    rng = np.random.default_rng(seed)

    def split(n):
        reviews, labels = [], np.empty(n, dtype=np.int64)
        for i in range(n):
            length = int(rng.integers(30, 400))
            words = 120 + rng.zipf(1.3, size=length) % (num_words - 120)
            label = int(rng.integers(0, 2))
            strong, weak = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
            k = max(4, length // 10)
            pos = rng.choice(length, size=k + 1, replace=False)
            words[pos[:k]] = rng.choice(strong, size=k)
            words[pos[k:]] = rng.choice(weak, size=1)
            reviews.append([1] + words.tolist())
            labels[i] = label
        arr = np.empty(n, dtype=object)
        arr[:] = reviews
        return arr, labels

    return split(n_train), split(n_test)


def build_variant(name: str, max_features: int) -> Sequential:
    """The lecture's stacked and bidirectional variants (``simple`` is built in main)."""
    model = Sequential()
    model.add(Embedding(max_features, 32))
    if name == "stacked":
        model.add(SimpleRNN(32, return_sequences=True))
        model.add(SimpleRNN(32, return_sequences=True))
        model.add(SimpleRNN(32, return_sequences=True))
        model.add(SimpleRNN(32))  # This last layer only returns the last outputs.
    elif name == "bidirectional":
        model.add(Bidirectional(SimpleRNN(32)))
    else:
        raise ValueError(f"unknown variant {name!r}")
    model.add(Dense(1, activation='sigmoid'))
    return model


def plot(histories: dict, path: str) -> None:
    """The lecture's accuracy and loss plots, one colour per variant, saved to ``path``."""
    try:
        import matplotlib
    except ImportError:
        print("No plot: matplotlib is not installed (pip install matplotlib).")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    for (name, history), colour in zip(histories.items(), "bgr"):
        acc = history.history['acc']
        val_acc = history.history['val_acc']
        loss = history.history['loss']
        val_loss = history.history['val_loss']
        epochs = range(1, len(acc) + 1)
        ax_acc.plot(epochs, acc, colour + 'o', label=f'Training acc ({name})')
        ax_acc.plot(epochs, val_acc, colour, label=f'Validation acc ({name})')
        ax_loss.plot(epochs, loss, colour + 'o', label=f'Training loss ({name})')
        ax_loss.plot(epochs, val_loss, colour, label=f'Validation loss ({name})')
    ax_acc.set_title('Training and validation accuracy')
    ax_loss.set_title('Training and validation loss')
    ax_acc.legend(fontsize=8)
    ax_loss.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"Training curves saved to {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--synthetic", action="store_true",
                        help="use IMDB-shaped synthetic data (offline)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=None,
                        help="keep only the first N training and N test reviews")
    parser.add_argument("--maxlen", type=int, default=500)
    parser.add_argument("--variants", default="simple,stacked,bidirectional")
    parser.add_argument("--plot", default="imdb_lecture_curves.png", metavar="FILE.png")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    set_random_seed(args.seed)

    # ---------------- the lecture's code (keras -> fastrnn) ----------------
    max_features = 10000  # number of words to consider as features
    maxlen = args.maxlen  # cut texts after this number of words (lecture: 500)
    batch_size = 32

    print('Loading data...')
    if args.synthetic:
        n = args.samples or 25000
        (input_train, y_train), (input_test, y_test) = synthetic_imdb(
            max_features, n_train=n, n_test=n)
    else:
        try:
            (input_train, y_train), (input_test, y_test) = imdb.load_data(
                num_words=max_features)
        except OSError as exc:  # DownloadError: offline and no local copy
            print(f"imdb_lecture: {exc}\n(run with --synthetic to use synthetic data)",
                  file=sys.stderr)
            return 1
    if args.samples:
        input_train, y_train = input_train[:args.samples], y_train[:args.samples]
        input_test, y_test = input_test[:args.samples], y_test[:args.samples]
    print(len(input_train), 'train sequences')
    print(len(input_test), 'test sequences')

    print('Pad sequences (samples x time)')
    input_train = sequence.pad_sequences(input_train, maxlen=maxlen)
    input_test = sequence.pad_sequences(input_test, maxlen=maxlen)
    print('input_train shape:', input_train.shape)
    print('input_test shape:', input_test.shape)

    histories, results = {}, []
    for name in args.variants.split(","):
        print(f"\n=== {name} ===")
        if name == "simple":
            model = Sequential()
            model.add(Embedding(max_features, 32))
            model.add(SimpleRNN(32))
            model.add(Dense(1, activation='sigmoid'))
        else:
            model = build_variant(name, max_features)

        model.compile(optimizer='rmsprop', loss='binary_crossentropy', metrics=['acc'])
        history = model.fit(input_train, y_train,
                            epochs=args.epochs,
                            batch_size=128,
                            validation_split=0.2)
        model.summary()
        test_loss, test_acc = model.evaluate(input_test, y_test, batch_size=batch_size,
                                             verbose=0)
        histories[name] = history
        results.append((name, history.history['val_acc'][-1], test_acc))
    # ------------------------------------------------------------------------

    print(f"\n{'model':<15}{'val acc':>9}{'test acc':>10}")
    for name, val_acc, test_acc in results:
        print(f"{name:<15}{val_acc:>9.4f}{test_acc:>10.4f}")
    if not args.no_plot:
        plot(histories, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
