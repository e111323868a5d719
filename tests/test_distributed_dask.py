"""fastrnn.distributed.dask: block predictions on a 2-worker LocalCluster (loopback only) equal
local ``predict`` exactly; a grid search under joblib's dask backend equals ``n_jobs=1``."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask.array as da  # noqa: E402

import fastrnn  # noqa: E402
from fastrnn import layers  # noqa: E402
from fastrnn.distributed import dask as fdask  # noqa: E402
from fastrnn.models import Sequential  # noqa: E402
from fastrnn.utils import set_random_seed  # noqa: E402

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MALLOC_TRIM_THRESHOLD_")


@pytest.fixture(scope="module")
def client():
    """Two single-slot worker processes (spawned) on 127.0.0.1. The nannies set
    OMP_NUM_THREADS=1 in THIS process's environment; it is restored afterwards."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, worker_dashboard_address=None)
    c = distributed.Client(cluster, set_as_default=False)
    c.wait_for_workers(2, timeout=60)
    try:
        yield c
    finally:
        c.close()
        cluster.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        assert os.environ.get("OMP_NUM_THREADS") == saved["OMP_NUM_THREADS"]


def _float_model(return_sequences: bool = False) -> Sequential:
    set_random_seed(7)
    return Sequential([layers.Input(shape=(6, 3)),
                       layers.SimpleRNN(5, return_sequences=return_sequences),
                       layers.Dense(2)])


def _x(n: int = 37) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 6, 3)).astype(np.float32)


def test_predict_equals_local_predict(client):
    model = _float_model()
    x = _x()
    # Block boundaries on multiples of batch_size: every row is computed in the same batch
    # as locally, so the results are bit-identical (Dense's NumPy matmul can round a row
    # differently in a batch of another size).
    dx = da.from_array(x, chunks=(12, 6, 3))
    out = fdask.predict(model, dx, client=client, batch_size=4)
    assert isinstance(out, da.Array)
    assert out.chunks == ((12, 12, 12, 1), (2,))
    got = out.compute(scheduler=client)
    local = model.predict(x, batch_size=4, verbose=0)
    np.testing.assert_array_equal(got, local)
    # One scattered copy of the model, held by both workers; one task per block.
    keys = [k for k in client.who_has() if str(k).startswith("Sequential-")]
    assert len(keys) == 1 and len(client.who_has()[keys[0]]) == 2
    assert sum(1 for k in out.__dask_graph__() if str(k[0] if isinstance(k, tuple) else k)
               .startswith("_predict_block")) == 4
    assert not np.shares_memory(got, x)
    # Blocks not on batch boundaries: equal to float rounding.
    odd = fdask.predict(model, da.from_array(x, chunks=(10, 6, 3)), client=client, batch_size=4)
    np.testing.assert_allclose(odd.compute(scheduler=client), local, rtol=1e-5, atol=1e-6)



def test_sequences_ids_and_default_client(client):
    model = _float_model(return_sequences=True)
    x = _x(12)
    with client.as_current():
        out = fdask.predict(model, da.from_array(x, chunks=(5, 6, 3)))
        assert out.shape == (12, 6, 2) and out.chunks[0] == (5, 5, 2)
        np.testing.assert_array_equal(out.compute(), model.predict(x, verbose=0))
    set_random_seed(3)
    ids_model = Sequential([layers.Input(shape=(9,), dtype="int32"),
                            layers.Embedding(20, 4), layers.SimpleRNN(3),
                            layers.Dense(1, activation="sigmoid")])
    ids = np.random.default_rng(1).integers(0, 20, size=(11, 9)).astype(np.int32)
    out = fdask.predict(ids_model, da.from_array(ids, chunks=(4, 9)), client=client)
    assert out.shape == (11, 1)
    np.testing.assert_array_equal(out.compute(scheduler=client), ids_model.predict(ids, verbose=0))


class _ThreadsSeen:
    """A stand-in model whose prediction is the engine thread count its task ran with."""

    def predict(self, x):
        return np.full((len(x), 1), fastrnn.get_num_threads(), dtype=np.float64)


def test_thread_budget_holds_for_the_task_only(client):
    before = client.run(fastrnn.get_num_threads)
    x = da.from_array(_x(8), chunks=(4, 6, 3))
    seen = fdask.predict(_ThreadsSeen(), x, client=client, n_threads=1).compute(scheduler=client)
    np.testing.assert_array_equal(seen, 1)
    # Default budget: the worker's cores // its single slot.
    seen = fdask.predict(_ThreadsSeen(), x, client=client).compute(scheduler=client)
    cores = set(client.run(lambda: len(os.sched_getaffinity(0))).values())
    assert set(np.unique(seen)) == cores
    assert client.run(fastrnn.get_num_threads) == before  # the workers' own setting is kept


def test_local_threaded_scheduler_keeps_the_callers_setting(monkeypatch):
    from fastrnn import _config

    monkeypatch.setattr(_config, "_num_threads", None)  # restored after the test
    fastrnn.set_num_threads(2)
    x = da.from_array(_x(8), chunks=(2, 6, 3))
    seen = fdask.predict(_ThreadsSeen(), x, client=None, n_threads=1).compute(scheduler="threads")
    np.testing.assert_array_equal(seen, 1)
    assert fastrnn.get_num_threads() == 2


def test_local_scheduler_fallback_without_client():
    model = _float_model()
    x = _x(9)
    out = fdask.predict(model, da.from_array(x, chunks=(4, 6, 3)), client=None, batch_size=4)
    np.testing.assert_array_equal(out.compute(scheduler="sync"),
                                  model.predict(x, batch_size=4, verbose=0))


def test_bad_input():
    model = _float_model()
    with pytest.raises(TypeError, match="dask.array.Array.*Received: numpy.ndarray"):
        fdask.predict(model, _x(4))
    with pytest.raises(ValueError, match=r"chunked along samples only.*Axis 1 \(time\)"):
        fdask.predict(model, da.from_array(_x(4), chunks=(2, 3, 3)))
    with pytest.raises(ValueError, match=r"x.shape"):
        fdask.predict(model, da.ones(5, chunks=2))
    unbuilt = Sequential([layers.SimpleRNN(2)])
    with pytest.raises(ValueError, match="never built"):
        fdask.predict(unbuilt, da.from_array(_x(4), chunks=(2, 6, 3)))
    with pytest.raises(ValueError, match="n_threads"):
        fdask.predict(model, da.from_array(_x(4), chunks=(2, 6, 3)), n_threads=0)
    with pytest.raises(TypeError, match="predict"):
        fdask.predict(object(), da.from_array(_x(4), chunks=(2, 6, 3)))


def _search_results(search, backend_client=None):
    import joblib

    x = np.random.default_rng(2).normal(size=(40, 5, 2)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > 0).astype(int)
    if backend_client is None:
        search.fit(x, y)
    else:
        with backend_client.as_current(), joblib.parallel_config(backend="dask"):
            search.fit(x, y)
    return {k: v for k, v in search.cv_results_.items() if "time" not in k}


def test_grid_search_under_dask_backend_equals_n_jobs_1(client):
    fsk = pytest.importorskip("fastrnn.sklearn")
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

    est = fsk.RNNClassifier(units=3, epochs=2, batch_size=8, random_state=0, n_threads=1)
    grid = {"units": [2, 4], "learning_rate": [0.01, 0.05]}
    serial = _search_results(GridSearchCV(est, grid, cv=2, n_jobs=1))
    parallel = _search_results(GridSearchCV(est, grid, cv=2, n_jobs=-1), client)
    assert serial.keys() == parallel.keys()
    for key in serial:
        np.testing.assert_array_equal(np.asarray(parallel[key]), np.asarray(serial[key]), key)
    rnd = dict(n_iter=3, cv=2, random_state=0)
    serial = _search_results(RandomizedSearchCV(est, grid, n_jobs=1, **rnd))
    parallel = _search_results(RandomizedSearchCV(est, grid, n_jobs=2, **rnd), client)
    for key in serial:
        np.testing.assert_array_equal(np.asarray(parallel[key]), np.asarray(serial[key]), key)


def test_estimator_predict_and_proba(client):
    fsk = pytest.importorskip("fastrnn.sklearn")
    from sklearn.exceptions import NotFittedError

    x = np.random.default_rng(4).normal(size=(30, 5, 2)).astype(np.float32)
    y = np.where(x[:, :, 0].sum(axis=1) > 0, "pos", "neg")
    est = fsk.RNNClassifier(units=3, epochs=1, batch_size=8, random_state=0, n_threads=1)
    dx = da.from_array(x, chunks=(8, 5, 2))
    with pytest.raises(NotFittedError):
        fdask.predict(est, dx, client=client)
    est.fit(x, y)
    labels = fdask.predict(est, dx, client=client)
    assert labels.dtype == est.classes_.dtype and labels.chunks == ((8, 8, 8, 6),)
    np.testing.assert_array_equal(labels.compute(scheduler=client), est.predict(x))
    proba = fdask.predict(est, dx, method="predict_proba", client=client)
    assert proba.chunks == ((8, 8, 8, 6), (2,))
    np.testing.assert_allclose(proba.compute(scheduler=client), est.predict_proba(x),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="method"):
        fdask.predict(est, dx, method="transform", client=client)
