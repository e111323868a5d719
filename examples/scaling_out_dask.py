"""Scaling out with Dask: batch prediction over a chunked array, and a grid search on a cluster.

    python examples/scaling_out_dask.py                      # a LocalCluster with 2 workers
    python examples/scaling_out_dask.py tcp://host:8786      # any running scheduler
    python examples/scaling_out_dask.py --samples 4000       # more data for the timing

Part 1 predicts with the lecture model (Embedding(10000, 32) -> SimpleRNN(32) -> Dense(1,
sigmoid), sequences of 500 ids) over a dask array chunked along samples, checks the result
against local ``predict`` and prints both throughputs. Part 2 runs ``GridSearchCV`` over a
``fastrnn.sklearn.RNNClassifier`` under ``joblib.parallel_config(backend="dask")`` and checks
that ``cv_results_`` equal a serial run. Needs ``pip install 'fastrnn[dask,sklearn]'``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np


def lecture_model():
    from fastrnn import layers
    from fastrnn.models import Sequential

    model = Sequential([layers.Input(shape=(500,), dtype="int32"), layers.Embedding(10000, 32),
                        layers.SimpleRNN(32), layers.Dense(1, activation="sigmoid")])
    model.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    return model


def part1_predict(client, n_samples: int, chunk: int, n_threads: int | None) -> None:
    import dask.array as da

    import fastrnn

    from fastrnn.distributed import dask as fdask

    model = lecture_model()
    x = np.random.default_rng(0).integers(1, 10000, size=(n_samples, 500)).astype(np.int32)
    t = time.perf_counter()
    local = model.predict(x, batch_size=128, verbose=0)
    t_local = time.perf_counter() - t

    dx = da.from_array(x, chunks=(chunk, 500))
    dx = client.persist(dx)  # the data live on the workers, as they would on a real cluster
    client.wait_for_workers(1)
    workers = len(client.scheduler_info()["workers"])
    # One engine thread per worker task here (2 workers x 1 slot on a 2-core machine); the
    # default (None) is the worker's cores // its slots.
    out = fdask.predict(model, dx, batch_size=128, client=client, n_threads=n_threads)
    for run in ("cold", "warm"):  # cold: workers import fastrnn and unpickle the model
        t = time.perf_counter()
        got = out.compute()
        t_dask = time.perf_counter() - t
        assert np.allclose(got, local, rtol=1e-5, atol=1e-6)
        print(f"predict {n_samples} x 500 ids: local {n_samples / t_local:7.0f} samples/s "
              f"({t_local:.2f} s, {fastrnn.get_num_threads()} threads); dask ({run}) on "
              f"{workers} workers x {n_threads or 'auto'} threads {n_samples / t_dask:7.0f} "
              f"samples/s ({t_dask:.2f} s)")


def part2_search(client) -> None:
    import joblib
    from sklearn.model_selection import GridSearchCV

    from fastrnn.sklearn import RNNClassifier

    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 20, 3)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(int)
    # n_threads is the engine budget per fit: one fit per worker slot, one thread each.
    est = RNNClassifier(units=8, epochs=3, batch_size=16, random_state=0, n_threads=1)
    grid = {"units": [4, 8], "learning_rate": [0.003, 0.01]}
    serial = GridSearchCV(est, grid, cv=3, n_jobs=1).fit(x, y)
    with joblib.parallel_config(backend="dask"):
        parallel = GridSearchCV(est, grid, cv=3, n_jobs=-1).fit(x, y)
    same = all(np.array_equal(np.asarray(serial.cv_results_[k]),
                              np.asarray(parallel.cv_results_[k]))
               for k in serial.cv_results_ if "time" not in k)
    print(f"grid search: best {parallel.best_params_} score {parallel.best_score_:.3f}; "
          f"cv_results_ identical to n_jobs=1: {same}")


def main() -> None:
    from distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scheduler", nargs="?", help="tcp://host:port of a running scheduler")
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--chunk", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None,
                        help="engine threads per worker task (default: cores // slots)")
    parser.add_argument("--skip-search", action="store_true")
    args = parser.parse_args()
    if args.scheduler:
        cluster, client = None, Client(args.scheduler)
    else:
        # LocalCluster's nannies set OMP_NUM_THREADS=1 in THIS process (and fastrnn reads it as
        # the default thread count): put the caller's value back once the workers are up.
        saved = os.environ.get("OMP_NUM_THREADS")
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                               dashboard_address=None)
        client = Client(cluster)
        client.wait_for_workers(2)
        if saved is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = saved
    try:
        part1_predict(client, args.samples, args.chunk, args.threads)
        if not args.skip_search:
            part2_search(client)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":  # Dask spawns worker processes: keep the guard
    main()
