"""Interleaved A/B timing of the SimpleRNN kernels: an older commit against the working tree.

On a shared machine whose speed drifts by tens of percent within minutes, two separate runs
cannot be compared. This builds COMMIT in a git worktree (tools/build_dev.sh), loads it as a
second package (``fastrnn_base``) in the same process as the working tree's build, alternates
the calls (old, new, old, new, ...) and prints the ratio of the medians, after checking whether
both give the same bits.

    python tools/ab_builds.py COMMIT [WORD ...]     # WORD: only workloads whose name has it

The workloads: the engine's forward and backward calls for the issue's shapes (the token-id
ones, uniform ids and ids padded with 0 as in real text, with return_sequences=False where the
build has it, as the lecture model's layer calls it),
and a whole ``train_on_batch`` of the lecture model (its bits compare the loss and the updated
weights).

AB_SAMPLES (environment, default 21) sets the calls per build and measurement.

Needs the project venv (.venv) and a dev build of the working tree (tools/build_dev.sh).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = int(__import__("os").environ.get("AB_SAMPLES", 21))

# (name, B, T, F, H, token_ids): with token_ids ("uniform" ids, or "padded": each sample's
# ids pre-padded with 0 to T from a length in [50, T), as pad_sequences makes real text), F is
# the row count of a (F, H) table of projected rows
WORKLOADS = [
    ("lecture 128x500 (token ids)", 128, 500, 10000, 32, "uniform"),
    ("lecture 128x500 (padded ids)", 128, 500, 10000, 32, "padded"),
    ("128x500x32->32", 128, 500, 32, 32, False),
    ("128x100x128->128", 128, 100, 128, 128, False),
    ("64x100x512->512", 64, 100, 512, 512, False),
    ("1x1000x32->32", 1, 1000, 32, 32, False),
]


@contextlib.contextmanager
def old_and_new(commit: str):
    """Builds ``commit`` in a git worktree and yields the ``ops`` modules of that build
    (imported as ``fastrnn_base``) and of the working tree; removes the worktree after."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), commit],
                       check=True, capture_output=True)
        try:
            (tree / ".venv").symlink_to(ROOT / ".venv")
            subprocess.run(["bash", "tools/build_dev.sh"], cwd=tree, check=True,
                           capture_output=True)
            packages = Path(tmp) / "packages"
            shutil.copytree(tree / "src" / "fastrnn", packages / "fastrnn_base")
            sys.path.insert(0, str(packages))
            sys.path.insert(0, str(ROOT / "src"))
            yield tuple(importlib.import_module(f"{p}.ops") for p in ("fastrnn_base", "fastrnn"))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           capture_output=True)


def calls(ops, name, B, T, F, H, token_ids, threads):
    """(forward, backward) closures of one workload on ``ops`` (same seeded data each time)."""
    rng = np.random.default_rng(0)
    rec = (rng.standard_normal((H, H)) * 0.1).astype(np.float32)
    bias = np.zeros(H, np.float32)
    if token_ids:
        table = (rng.standard_normal((F, H)) * 0.1).astype(np.float32)
        ids = rng.integers(0, F, (B, T))
        if token_ids == "padded":
            lengths = rng.integers(50, T, B)
            ids[np.arange(T)[None, :] < (T - lengths)[:, None]] = 0
        args, kwargs = (table, None, rec, bias), {"token_ids": ids}
    else:
        x = rng.standard_normal((B, T, F)).astype(np.float32)
        kernel = (rng.standard_normal((F, H)) * 0.1).astype(np.float32)
        args, kwargs = (x, kernel, rec, bias), {}
    d_final = rng.standard_normal((B, H)).astype(np.float32)
    if token_ids and "return_sequences" in inspect.signature(ops.simple_rnn_forward).parameters:
        kwargs["return_sequences"] = False  # what the lecture model's layer asks for
    forward = lambda: ops.simple_rnn_forward(*args, num_threads=threads, **kwargs)  # noqa: E731
    cache = forward().cache
    backward = lambda: ops.simple_rnn_backward(cache, None, d_final, num_threads=threads)  # noqa: E731
    return forward, backward


def lecture_step(package: str, threads: int):
    """``train_on_batch`` of the lecture model (Embedding(10000, 32) -> SimpleRNN(32) ->
    Dense(1, sigmoid), RMSprop) of ``package``, on the same seeded batch and weights each time;
    returns a closure giving the loss and the weights after its step."""
    fastrnn = importlib.import_module(package)
    layers = importlib.import_module(f"{package}.layers")
    models = importlib.import_module(f"{package}.models")
    fastrnn.set_num_threads(threads)
    model = models.Sequential([layers.Embedding(10000, 32), layers.SimpleRNN(32),
                               layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy")
    model.build((None, 500))
    rng = np.random.default_rng(0)
    model.set_weights([(rng.standard_normal(w.shape) * 0.1).astype(np.float32)
                       for w in model.get_weights()])
    ids = rng.integers(0, 10000, (128, 500))
    y = rng.integers(0, 2, 128).astype(np.float32)

    def step():
        fastrnn.set_num_threads(threads)
        return [model.train_on_batch(ids, y), *model.get_weights()]
    return step


def same_bits(a, b) -> bool:
    arrays = lambda r: [v for v in r if isinstance(v, np.ndarray)]  # noqa: E731
    return all(np.array_equal(u, v) for u, v in zip(arrays(a), arrays(b)))


def alternated_medians(f_old, f_new, samples: int) -> tuple:
    """Median seconds of ``f_old`` and of ``f_new`` over ``samples`` calls each, alternated."""
    t_old, t_new = [], []
    for _ in range(samples):
        for f, ts in ((f_old, t_old), (f_new, t_new)):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    return float(np.median(t_old)), float(np.median(t_new))


def report(name: str, threads: int, part: str, f_old, f_new, bits: str) -> None:
    """Alternate old and new calls SAMPLES times each; print the medians and their ratio."""
    mo, mn = (t * 1e3 for t in alternated_medians(f_old, f_new, SAMPLES))
    print(f"{name:28s} {threads} thr {part:8s}: old {mo:8.3f} ms  new {mn:8.3f} ms  "
          f"old/new {mo / mn:5.2f}  ({bits})", flush=True)


def main(argv: list) -> int:
    if not argv:
        print(__doc__)
        return 2
    commit, words = argv[0], argv[1:]
    with old_and_new(commit) as (old, new):
        if not words or any(w in "lecture train_on_batch" for w in words):
            for threads in (1, 2):
                f_old, f_new = (lecture_step(p, threads) for p in ("fastrnn_base", "fastrnn"))
                bits = "same bits" if same_bits(f_old(), f_new()) else "bits differ"
                report("lecture train_on_batch", threads, "step", f_old, f_new, bits)
        for name, *shape in WORKLOADS:
            if words and not any(w in name for w in words):
                continue
            for threads in (1, 2):
                pairs = zip(calls(old, name, *shape, threads), calls(new, name, *shape, threads))
                for part, (f_old, f_new) in zip(("forward", "backward"), pairs):
                    bits = "same bits" if same_bits(f_old(), f_new()) else "bits differ"
                    report(name, threads, part, f_old, f_new, bits)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
