"""Same seed, same data -> bit-identical weights after training: twice in one process, in a
fresh process, and for 1, 2 and 3 kernel threads (with dropout, recurrent dropout, masks,
shuffling, a bidirectional layer and an embedding)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import fastrnn

_TRAIN = """
import numpy as np
import fastrnn
from fastrnn import layers as L
from fastrnn.models import Sequential
from fastrnn.utils import set_random_seed


def train(seed, threads, kind):
    fastrnn.set_num_threads(threads)
    set_random_seed(seed)
    rng = np.random.default_rng(7)  # the data: fixed, independent of the seed under test
    if kind == "ids":
        x = rng.integers(1, 30, size=(40, 12))
        x[:, 9:] = 0  # padding, masked by mask_zero
        head = [L.Input((None,), dtype="int64"), L.Embedding(30, 6, mask_zero=True)]
    else:
        x = rng.normal(size=(40, 12, 3)).astype("float32")
        x[::3, 8:] = 0.0
        head = [L.Input((None, 3)), L.Masking(0.0)]
    y = rng.normal(size=(40, 2)).astype("float32")
    m = Sequential(head + [
        L.Bidirectional(L.SimpleRNN(40, return_sequences=True, dropout=0.2,
                                    recurrent_dropout=0.2)),
        L.SimpleRNN(300, dropout=0.1),  # wide: the unit-split kernel path for small batches
        L.Dropout(0.3), L.Dense(2)])
    m.compile(optimizer="adam", loss="mse")
    m.fit(x, y, batch_size=4, epochs=2, shuffle=True, verbose=0, validation_split=0.2)
    return m.get_weights()
"""


def _digest(weights) -> str:
    h = hashlib.sha256()
    for w in weights:
        h.update(str(w.dtype).encode() + str(w.shape).encode() + np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def _train(seed: int, threads: int, kind: str):
    scope: dict = {}
    exec(compile(_TRAIN, "<train>", "exec"), scope)
    return scope["train"](seed, threads, kind)


@pytest.fixture
def restore_threads(threads_on_small_problems):
    """Restore the thread count; the kernels use threads even on these small problems."""
    before = fastrnn.get_num_threads()
    yield
    fastrnn.set_num_threads(before)


@pytest.mark.parametrize("kind", ["floats", "ids"])
def test_same_seed_same_weights_across_runs_and_thread_counts(restore_threads, kind):
    digests = {threads: _digest(_train(123, threads, kind)) for threads in (1, 2, 3)}
    assert len(set(digests.values())) == 1, digests
    assert _digest(_train(123, 2, kind)) == digests[1]  # a second run in the same process
    assert _digest(_train(124, 1, kind)) != digests[1]  # and the seed does matter


def test_same_weights_in_a_fresh_process(restore_threads):
    script = _TRAIN + (
        "\nimport hashlib, json, sys\n"
        "h = hashlib.sha256()\n"
        "for w in train(123, 3, 'floats'):\n"
        "    h.update(str(w.dtype).encode() + str(w.shape).encode()"
        " + np.ascontiguousarray(w).tobytes())\n"
        "print(json.dumps(h.hexdigest()))\n")
    env = dict(os.environ, PYTHONHASHSEED="random", OMP_NUM_THREADS="2")
    script = script.replace("def train(", "from fastrnn import _core\n_core._set_min_work_per_thread(1.0)\n\ndef train(", 1)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == _digest(_train(123, 1, "floats"))
