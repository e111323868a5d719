"""Run under ``mpiexec -n N`` by tests/test_distributed_mpi.py (not a test itself).

    python train_data_parallel.py OUT_DIR N_SAMPLES BATCH_PER_RANK EPOCHS

Every rank builds the model with a DIFFERENT seed (100 + rank), so the broadcast of rank 0's
weights is exercised; the data are the same on every rank and each rank trains on its strided
shard. Writes OUT_DIR/rank{r}.npz (weights, history, sync flags) and asks rank r's
ModelCheckpoint to write OUT_DIR/ckpt_rank{r}.keras (only rank 0's may appear). Then a second
fit where only the LAST rank asks to stop after its first batch: all ranks must stop together.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

import fastrnn
from fastrnn import callbacks, layers, optimizers
from fastrnn.distributed.mpi import DataParallel
from fastrnn.models import Sequential
from fastrnn.utils import set_random_seed


def make_model(seed: int) -> Sequential:
    """The model the test's single-process reference also builds (with seed 100)."""
    set_random_seed(seed)
    model = Sequential([layers.Input(shape=(7, 3)), layers.SimpleRNN(6),
                        layers.Dense(1, activation="sigmoid")])
    model.compile(optimizers.SGD(0.1, momentum=0.9), "binary_crossentropy", metrics=["acc"])
    return model


def make_data(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 7, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(np.float32)
    return x, y


def main() -> None:
    out, n, batch, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    fastrnn.set_num_threads(1)  # explicit budget: ranks share the cores
    from mpi4py import MPI

    rank = MPI.COMM_WORLD.Get_rank()
    model = make_model(100 + rank)
    dp = DataParallel(model)
    x, y = make_data(n)
    xs, ys = dp.shard(x, y)
    ckpt = callbacks.ModelCheckpoint(os.path.join(out, f"ckpt_rank{rank}.keras"),
                                     monitor="loss")
    history = dp.fit(xs, ys, batch_size=batch, epochs=epochs, shuffle=False, verbose=2,
                     callbacks=[ckpt])
    in_sync = dp.weights_in_sync()
    weights = model.get_weights()
    steps_before = model.optimizer.iterations

    last = dp.size - 1
    stopper = callbacks.LambdaCallback(
        on_train_batch_end=lambda step, logs: setattr(model, "stop_training", rank == last))
    dp.fit(xs, ys, batch_size=batch, epochs=2, shuffle=True, verbose=0, callbacks=[stopper])
    np.savez(os.path.join(out, f"rank{rank}.npz"), *weights,
             history=json.dumps(history.history), in_sync=in_sync,
             in_sync_after_stop=dp.weights_in_sync(),
             stop_steps=model.optimizer.iterations - steps_before,
             timings=json.dumps(dp.timings), size=dp.size)


if __name__ == "__main__":
    main()
