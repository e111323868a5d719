"""Character-level language model with SimpleRNN, then text generation with temperature.

Training: the text is cut into windows of ``--seq-len`` characters; the model reads a window
and predicts, at every position, the next character:

    Embedding(vocab, 32) -> SimpleRNN(units, return_sequences=True)
        -> TimeDistributed(Dense(vocab, activation="softmax"))

with ``sparse_categorical_crossentropy`` on the shifted window.

Generation: the trained weights are copied into the same stack built for one character at a
time (``batch_size=1``, one time step) with ``stateful=True``, so the SimpleRNN keeps its state
between calls. The seed string is fed character by character, then each sampled character is
fed back: every new character costs one recurrent step, not a pass over the whole text so far.
Sampling divides the log-probabilities by ``--temperature`` (low: safer, more repetitive;
high: more surprising) before drawing from the softmax.

Run: ``python examples/char_rnn.py [text.txt] [--epochs 30] [--length 400]``; without a
file it uses ``examples/data/lighthouse.txt`` (public domain, written for this example).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from fastrnn import layers, optimizers
from fastrnn.models import Sequential
from fastrnn.utils import set_random_seed

DEFAULT_TEXT = Path(__file__).resolve().parent / "data" / "lighthouse.txt"


def make_windows(ids: np.ndarray, seq_len: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``ids[i : i+seq_len]`` and targets shifted by one, every ``stride`` characters."""
    starts = np.arange(0, len(ids) - seq_len, stride)
    x = np.stack([ids[s:s + seq_len] for s in starts])
    y = np.stack([ids[s + 1:s + seq_len + 1] for s in starts])
    return x, y


def build(vocab: int, units: int, seq_len: int | None, stateful: bool) -> Sequential:
    """The training model (``seq_len`` steps) or the one-step stateful generator."""
    if stateful:
        first = layers.Input(shape=(1,), batch_size=1, dtype="int32")
    else:
        first = layers.Input(shape=(seq_len,), dtype="int32")
    return Sequential([
        first,
        layers.Embedding(vocab, 32),
        layers.SimpleRNN(units, return_sequences=True, stateful=stateful),
        layers.TimeDistributed(layers.Dense(vocab, activation="softmax")),
    ])


def sample(probs: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Draw an index from ``probs`` sharpened (T < 1) or flattened (T > 1) by temperature."""
    logits = np.log(np.maximum(probs.astype(np.float64), 1e-12)) / temperature
    p = np.exp(logits - logits.max())
    return int(rng.choice(len(p), p=p / p.sum()))


def generate(model: Sequential, seed_text: str, length: int, temperature: float,
             char_to_id: dict, id_to_char: list, rng: np.random.Generator) -> str:
    """Feed ``seed_text`` one character at a time, then sample ``length`` new characters."""
    model.reset_states()
    probs = None
    for ch in seed_text:
        probs = model(np.array([[char_to_id[ch]]]))[0, -1]
    out = []
    for _ in range(length):
        nxt = sample(probs, temperature, rng)
        out.append(id_to_char[nxt])
        probs = model(np.array([[nxt]]))[0, -1]  # one recurrent step from the kept state
    return "".join(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("text", nargs="?", default=str(DEFAULT_TEXT),
                        help="UTF-8 text file to learn (default: examples/data/lighthouse.txt)")
    parser.add_argument("--seq-len", type=int, default=40)
    parser.add_argument("--stride", type=int, default=3)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=400, help="characters to generate")
    parser.add_argument("--temperature", type=float, nargs="+", default=[0.3, 0.7])
    parser.add_argument("--seed-text", default="The keeper")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    text = Path(args.text).read_text(encoding="utf-8")
    chars = sorted(set(text))
    char_to_id = {c: i for i, c in enumerate(chars)}
    missing = sorted(set(args.seed_text) - set(chars))
    if missing:
        sys.exit(f"char_rnn: --seed-text uses characters absent from the text: {missing}")
    ids = np.array([char_to_id[c] for c in text], dtype=np.int32)
    x, y = make_windows(ids, args.seq_len, args.stride)
    print(f"{len(text)} characters, vocabulary of {len(chars)}; {len(x)} windows of "
          f"{args.seq_len}")

    set_random_seed(args.seed)
    model = build(len(chars), args.units, args.seq_len, stateful=False)
    model.compile(optimizer=optimizers.Adam(learning_rate=0.005),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=2)

    generator = build(len(chars), args.units, None, stateful=True)
    generator.set_weights(model.get_weights())
    rng = np.random.default_rng(args.seed)
    for temperature in args.temperature:
        t0 = time.perf_counter()
        new = generate(generator, args.seed_text, args.length, temperature, char_to_id, chars,
                       rng)
        ms = (time.perf_counter() - t0) * 1e3 / (len(args.seed_text) + args.length)
        print(f"\n--- temperature {temperature}: generated {len(new)} characters "
              f"({ms:.2f} ms per character) ---")
        print(args.seed_text + new)


if __name__ == "__main__":
    main()
