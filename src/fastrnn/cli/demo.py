"""``fastrnn demo``: train a SimpleRNN classifier, report accuracy and speed against NumPy.

Default: Japanese Vowels (9 speakers, 270 training and 370 test utterances of 7-29 frames of
12 LPC cepstrum coefficients), features standardized with training statistics, zero padding
skipped by a ``Masking`` layer, ``SimpleRNN(64) -> Dense(9, softmax)`` trained with Adam.
``--dataset imdb`` trains the lecture's IMDB model instead (needs the downloaded ``imdb.npz``).
After training, one training step (forward, backward, update) on one batch is timed for the
fastrnn model and for the same model written in plain NumPy
(``fastrnn.cli.numpy_reference``), and the ratio is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

__all__ = ["add_arguments", "run", "DEFAULTS", "time_call", "load_japanese_vowels"]

#: Per-data-set defaults, chosen so the Japanese Vowels run reaches >= 0.95 test accuracy.
DEFAULTS: dict[str, dict[str, Any]] = {
    "japanese_vowels": {"units": 64, "epochs": 30, "batch_size": 16,
                        "optimizer": "adam", "learning_rate": 0.003},
    "imdb": {"units": 32, "epochs": 10, "batch_size": 128,
             "optimizer": "rmsprop", "learning_rate": 0.001},
}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1. Received: {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the ``demo`` options on ``parser``."""
    parser.add_argument("--dataset", choices=sorted(DEFAULTS), default="japanese_vowels",
                        help="data set (default: japanese_vowels, shipped with fastrnn; imdb "
                             "needs the Keras imdb.npz file, downloaded on first use)")
    parser.add_argument("--epochs", type=_positive_int, default=None,
                        help="training epochs (default: 30 for japanese_vowels, 10 for imdb)")
    parser.add_argument("--units", type=_positive_int, default=None,
                        help="SimpleRNN units (default: 64 for japanese_vowels, 32 for imdb)")
    parser.add_argument("--bidirectional", action="store_true",
                        help="wrap the SimpleRNN in Bidirectional (concatenated directions)")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help="threads of the C++ engine (default: all usable cores or "
                             "$OMP_NUM_THREADS)")
    parser.add_argument("--batch-size", type=_positive_int, default=None,
                        help="batch size (default: 16 for japanese_vowels, 128 for imdb)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="Keras verbosity of fit: 0 silent, 1 progress bar, 2 one line "
                             "per epoch (default: 1)")
    parser.add_argument("--plot", metavar="FILE.png", default=None,
                        help="save loss/accuracy curves to FILE.png (needs matplotlib)")


class _EpochTimer:
    """Callback recording the wall time of every epoch (seconds)."""

    def __init__(self) -> None:
        from ..callbacks import Callback

        class _Timer(Callback):
            def on_epoch_begin(inner, epoch, logs=None):
                inner.start = time.perf_counter()

            def on_epoch_end(inner, epoch, logs=None):
                self.times.append(time.perf_counter() - inner.start)

        self.times: list[float] = []
        self.callback = _Timer()


def time_call(fn: Callable[[], Any], budget_s: float = 1.0, min_repeats: int = 3,
              max_repeats: int = 50) -> float:
    """Median wall time of ``fn()`` in seconds, after one warm-up call.

    Calls repeat until ``max_repeats`` or until ``budget_s`` is spent (at least ``min_repeats``).
    """
    fn()
    times: list[float] = []
    spent = 0.0
    while len(times) < max_repeats and (len(times) < min_repeats or spent < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        spent += times[-1]
    return statistics.median(times)


def load_japanese_vowels() -> tuple:
    """Japanese Vowels, standardized with training statistics, padding kept at exactly zero.

    Returns ``(x_train, y_train), (x_test, y_test)``: float32 ``(n, 29, 12)`` and int64 labels.
    """
    from ..datasets import japanese_vowels

    (x_tr, y_tr, len_tr), (x_te, y_te, len_te) = japanese_vowels.load_data(return_lengths=True)
    steps = np.arange(x_tr.shape[1])
    m_tr, m_te = steps < len_tr[:, None], steps < len_te[:, None]
    mean, std = x_tr[m_tr].mean(axis=0), x_tr[m_tr].std(axis=0)
    x_tr = np.where(m_tr[..., None], (x_tr - mean) / std, 0.0).astype(np.float32)
    x_te = np.where(m_te[..., None], (x_te - mean) / std, 0.0).astype(np.float32)
    return (x_tr, y_tr), (x_te, y_te)


def _load_imdb() -> tuple:
    """The lecture's IMDB arrays: 10,000 words, reviews padded/truncated to 500 ids."""
    from ..datasets import imdb
    from ..preprocessing import pad_sequences

    (x_tr, y_tr), (x_te, y_te) = imdb.load_data(num_words=10000)
    return ((pad_sequences(x_tr, maxlen=500), y_tr), (pad_sequences(x_te, maxlen=500), y_te))


def _build_model(dataset: str, input_shape: tuple, units: int, bidirectional: bool) -> Any:
    from .. import layers
    from ..models import Sequential

    rnn = layers.SimpleRNN(units)
    if bidirectional:
        rnn = layers.Bidirectional(rnn)
    if dataset == "imdb":
        return Sequential([layers.Input(shape=input_shape, dtype="int32"),
                           layers.Embedding(10000, 32), rnn,
                           layers.Dense(1, activation="sigmoid")])
    return Sequential([layers.Input(shape=input_shape), layers.Masking(mask_value=0.0), rnn,
                       layers.Dense(9, activation="softmax")])


def _fmt_ms(seconds: float) -> str:
    ms = seconds * 1e3
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"


def run(args: argparse.Namespace) -> int:
    """Run the demo described by ``args`` (from ``add_arguments``); return the exit status."""
    import fastrnn
    from .. import optimizers
    from ..utils import set_random_seed
    from .numpy_reference import NumpyRNNClassifier
    from .plotting import MISSING_MATPLOTLIB, have_matplotlib, plot_history

    start = time.perf_counter()
    if args.plot and not have_matplotlib():
        print(f"fastrnn demo: {MISSING_MATPLOTLIB}", file=sys.stderr)
        return 1
    cfg = dict(DEFAULTS[args.dataset])
    for key in ("units", "epochs", "batch_size"):
        if getattr(args, key) is not None:
            cfg[key] = getattr(args, key)
    if args.threads is not None:
        fastrnn.set_num_threads(args.threads)
    set_random_seed(args.seed)

    if args.dataset == "imdb":
        from ..datasets._download import DownloadError

        print("Loading IMDB (num_words=10000, pad_sequences maxlen=500)...")
        try:
            (x_tr, y_tr), (x_te, y_te) = _load_imdb()
        except DownloadError as exc:
            print(f"fastrnn demo: the IMDB data set is not available: {exc}", file=sys.stderr)
            return 1
        what = (f"IMDB reviews ({len(x_tr)} train, {len(x_te)} test, {x_tr.shape[1]} word ids "
                "each); "
                "validation_split=0.2")
        loss, metric, val_label = "binary_crossentropy", "acc", "validation"
    else:
        (x_tr, y_tr), (x_te, y_te) = load_japanese_vowels()
        what = (f"Japanese Vowels ({len(x_tr)} train / {len(x_te)} test utterances, "
                "7-29 frames x 12 LPC coefficients, 9 speakers)")
        loss, metric, val_label = "sparse_categorical_crossentropy", "accuracy", "test"
    rnn_name = f"SimpleRNN({cfg['units']})"
    if args.bidirectional:
        rnn_name = f"Bidirectional({rnn_name})"
    print(f"fastrnn {fastrnn.__version__} demo: {rnn_name} on {what}")
    print(f"Engine: SIMD {fastrnn.simd_path()}, {fastrnn.get_num_threads()} thread(s); "
          f"seed {args.seed}")

    model = _build_model(args.dataset, x_tr.shape[1:], cfg["units"], args.bidirectional)
    opt_cls = optimizers.Adam if cfg["optimizer"] == "adam" else optimizers.RMSprop
    model.compile(optimizer=opt_cls(learning_rate=cfg["learning_rate"]), loss=loss,
                  metrics=[metric])
    if args.verbose:
        model.summary()
    timer = _EpochTimer()
    fit_kwargs: dict[str, Any] = {}
    if args.dataset == "imdb":
        fit_kwargs["validation_split"] = 0.2
    elif args.plot:  # curves on the test set, for monitoring only (nothing is selected on it)
        fit_kwargs["validation_data"] = (x_te, y_te)
    history = model.fit(x_tr, y_tr, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                        verbose=args.verbose, callbacks=[timer.callback], **fit_kwargs)
    _, test_acc = model.evaluate(x_te, y_te, batch_size=256, verbose=0)
    correct = int(round(test_acc * len(x_te)))
    print(f"Test accuracy: {test_acc:.4f} ({correct}/{len(x_te)})")
    epoch_s = statistics.median(timer.times)
    steps = timer.callback.params.get("steps")
    print(f"Time per epoch: {_fmt_ms(epoch_s)} (median of {len(timer.times)} epochs, "
          f"{steps} steps of up to {cfg['batch_size']} samples; "
          f"total training {sum(timer.times):.2f} s)")

    xb, yb = x_tr[: cfg["batch_size"]], y_tr[: cfg["batch_size"]]
    reference = NumpyRNNClassifier.from_model(model, cfg["optimizer"], cfg["learning_rate"])
    ref_loss = reference.train_step(xb, yb)  # same weights as `model` at this point
    fr_loss = float(np.ravel(model.train_on_batch(xb, yb))[0])
    t_fast = time_call(lambda: model.train_on_batch(xb, yb), budget_s=1.0)
    t_numpy = time_call(lambda: reference.train_step(xb, yb), budget_s=2.0)
    opt_name = "Adam" if cfg["optimizer"] == "adam" else "RMSprop"
    print(f"One training step (forward + backward + {opt_name} update, batch of {len(xb)} x "
          f"{x_tr.shape[1]} time steps), median time:")
    print(f"  fastrnn (C++ engine):           {_fmt_ms(t_fast)}")
    ratio = t_numpy / t_fast
    verdict = f"{ratio:.1f}x faster" if ratio >= 1 else f"{1 / ratio:.1f}x slower"
    print(f"  NumPy reference (same model):   {_fmt_ms(t_numpy)}   -> fastrnn is {verdict}")
    print(f"  (same step, same weights: loss {fr_loss:.6f} fastrnn vs {ref_loss:.6f} NumPy)")
    if args.plot:
        title = f"fastrnn {rnn_name} on {args.dataset.replace('_', ' ').title()}"
        plot_history(history.history, args.plot, title, val_label=val_label)
        print(f"Training curves saved to {args.plot}")
    print(f"Total wall time: {time.perf_counter() - start:.1f} s")
    return 0
