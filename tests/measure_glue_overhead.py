"""Measure the Python glue around the C++ kernels for one epoch of the lecture model.

    python tests/measure_glue_overhead.py [n_samples] [batch_size] [repeats]

Lecture model: Embedding(10000, 32) -> SimpleRNN(32) -> Dense(1, sigmoid), RMSprop,
binary_crossentropy, metrics=['acc'], IMDB-shaped synthetic ids (length 500). Every
``fastrnn._core`` call is timed while ``fit`` runs one epoch; the report gives the epoch time,
the time inside the kernels, their ratio (target <= 1.25), and the time of the optimizer
update (NumPy, over all 322,113 weights per batch) for reference. Not a test: run by hand.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict

import numpy as np

import fastrnn
from fastrnn import _core, layers
from fastrnn.models import Sequential


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 128
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    rng = np.random.default_rng(0)
    x = rng.integers(1, 10000, size=(n, 500))
    y = rng.integers(0, 2, size=n).astype(np.float32)
    model = Sequential([layers.Embedding(10000, 32), layers.SimpleRNN(32),
                        layers.Dense(1, activation="sigmoid")])
    model.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    model.fit(x[:batch], y[:batch], batch_size=batch, verbose=0)  # build + warm up

    spent: dict[str, float] = defaultdict(float)

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t
        return wrapper

    names = ["simple_rnn_forward", "simple_rnn_backward", "embedding_forward",
             "embedding_backward"]
    originals = {name: getattr(_core, name) for name in names}
    opt_apply = model.optimizer.apply
    for name in names:
        setattr(_core, name, timed(name, originals[name]))
    model.optimizer.apply = timed("optimizer.apply", opt_apply)
    results = []
    try:
        for _ in range(repeats):
            spent.clear()
            t = time.perf_counter()
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
            total = time.perf_counter() - t
            kernels = sum(spent[name] for name in names)
            results.append((total, kernels, spent["optimizer.apply"], dict(spent)))
    finally:
        for name in names:
            setattr(_core, name, originals[name])
        model.optimizer.apply = opt_apply
    total, kernels, opt_time, detail = min(results, key=lambda r: r[0] / r[1])
    print(f"fastrnn {fastrnn.__version__}, threads={fastrnn.get_num_threads()}, "
          f"simd={fastrnn.simd_path()}, n={n}, batch={batch}, steps={-(-n // batch)}")
    for name in names:
        print(f"  {name:22s} {detail[name] * 1e3:9.1f} ms")
    print(f"  epoch {total * 1e3:.1f} ms, kernels {kernels * 1e3:.1f} ms, "
          f"ratio epoch/kernels = {total / kernels:.3f}")
    rest = total - kernels - opt_time
    print(f"  optimizer.apply {opt_time * 1e3:.1f} ms ({opt_time / total:.1%} of the epoch); "
          f"rest of the glue {rest * 1e3:.1f} ms ({rest / total:.1%})")


if __name__ == "__main__":
    main()
