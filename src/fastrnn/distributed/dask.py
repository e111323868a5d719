"""Batch prediction over Dask arrays: ``predict(model_or_estimator, x)``.

The model (a built ``fastrnn.models.Sequential`` or a fitted ``fastrnn.sklearn`` estimator, or
anything with the same ``predict``) is pickled once and broadcast to every worker of the
current ``distributed.Client`` (``Client.scatter(..., broadcast=True)``); each block of ``x``
is predicted on the worker that holds it, with the engine's thread count set for that task's
thread only (``fastrnn.thread_limit``), never through ``OMP_NUM_THREADS`` or the process-wide
setting. Without a distributed client (Dask's local schedulers) the model is used in place.

Needs ``dask[distributed]`` (``pip install fastrnn[dask]``).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

try:
    import dask.array as da
except ImportError as exc:  # pragma: no cover - exercised only without dask
    raise ImportError(
        "fastrnn.distributed.dask needs Dask: pip install 'fastrnn[dask]' "
        "(or pip install 'dask[distributed]')"
    ) from exc

__all__ = ["predict", "task_threads"]


def task_threads(n_threads: int | None = None) -> int:
    """The fastrnn engine threads a task running now should use (nothing is changed).

    ``n_threads`` given: that. ``None``: inside a Dask worker, the worker's usable cores divided
    by its task slots (``nthreads``), at least 1, so that concurrent tasks share the cores;
    elsewhere the current setting (:func:`fastrnn.get_num_threads`). :func:`predict` applies
    it with :class:`fastrnn.thread_limit`, which holds for the task's Python thread only.
    """
    import fastrnn

    if n_threads is not None:
        return _check_threads(n_threads)
    slots = _worker_slots()
    if slots is None:
        return fastrnn.get_num_threads()
    return max(1, _usable_cores() // slots)


def _check_threads(n_threads: Any) -> int:
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) \
            or n_threads < 1:
        raise ValueError(f"`n_threads` must be an int >= 1 or None. Received: "
                         f"n_threads={n_threads!r}")
    return int(n_threads)


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _worker_slots() -> int | None:
    """Task slots of the Dask worker running this code, or None outside a worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    state = getattr(worker, "state", worker)
    return int(getattr(state, "nthreads", None) or getattr(worker, "nthreads", 1))


def _check_ready(model: Any) -> None:
    """ValueError (or sklearn's NotFittedError) for a model that cannot predict yet."""
    if not callable(getattr(model, "predict", None)):
        raise TypeError(
            "`model_or_estimator` must be a fastrnn model or estimator with a `predict` method. "
            f"Received: {type(model).__name__}"
        )
    if hasattr(model, "built") and hasattr(model, "layers"):
        if not model.built:
            raise ValueError(
                f"The model '{getattr(model, 'name', '?')}' was never built, so it has no "
                "weights to predict with. Fit it, call model.build(input_shape) or start it "
                "with fastrnn.layers.Input(...). Received: an unbuilt model"
            )
        return
    if hasattr(model, "get_params"):  # a scikit-learn estimator
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(model)


def _check_array(x: Any) -> None:
    if not isinstance(x, da.Array):
        raise TypeError(
            "`x` must be a dask.array.Array chunked along samples, e.g. "
            "dask.array.from_array(x, chunks=(1000, -1, -1)); for a NumPy array call "
            f"model.predict(x) instead. Received: {type(x).__module__}.{type(x).__name__}"
        )
    if x.ndim < 2:
        raise ValueError(
            "`x` must have shape (samples, time) or (samples, time, features). "
            f"Received: x.shape={x.shape}"
        )
    split = [axis for axis in range(1, x.ndim) if len(x.chunks[axis]) > 1]
    if split:
        names = {1: "time", 2: "features"}
        raise ValueError(
            "`x` must be chunked along samples only (axis 0): a sequence cannot be split "
            f"across blocks. Axis {split[0]} ({names.get(split[0], 'axis')}) has chunks "
            f"{x.chunks[split[0]]}. Rechunk first: x.rechunk({{{split[0]}: -1}}). "
            f"Received: x.chunks={x.chunks}"
        )
    if any(np.isnan(d) for d in x.shape[1:]):
        raise ValueError(f"`x` must have known time/feature sizes. Received: x.shape={x.shape}")


def _predict_block(block: np.ndarray, model: Any, method: str, kwargs: dict,
                   n_threads: int | None, out_tail: tuple, out_dtype: np.dtype) -> np.ndarray:
    """Run on a worker: predict one block of samples."""
    if block.shape[0] == 0:
        return np.empty((0,) + out_tail, dtype=out_dtype)
    import fastrnn

    with fastrnn.thread_limit(task_threads(n_threads)):
        out = np.asarray(getattr(model, method)(block, **kwargs))
    if out.shape[1:] != out_tail:
        raise ValueError(f"{method} returned shape {out.shape} for a block of shape "
                         f"{block.shape}; expected (n,)+{out_tail}")
    return out


def _client(client: Any) -> Any:
    if client is not None:
        return client
    try:
        from distributed import default_client

        return default_client()
    except (ImportError, ValueError):
        return None


def predict(model_or_estimator: Any, x: Any, *, method: str = "predict",
            batch_size: int | None = None, n_threads: int | None = None,
            client: Any = None) -> Any:
    """Lazy predictions for a Dask array ``x`` of shape (samples, time[, features]).

    Args:
        model_or_estimator: a built ``fastrnn.models.Sequential`` or a fitted fastrnn
            scikit-learn estimator (anything with ``predict`` that pickles).
        x: ``dask.array.Array`` chunked along samples only (one chunk over time/features).
        method: the method to call per block (``"predict"``, or ``"predict_proba"`` /
            ``"decision_function"`` for estimators that have them).
        batch_size: passed to ``Sequential.predict`` (ignored for estimators).
        n_threads: engine threads per task; None = worker cores // worker task slots.
        client: a ``distributed.Client``; None uses the default client if there is one
            (otherwise Dask's local scheduler runs the blocks with the model in place).

    Returns:
        A lazy ``dask.array.Array`` with the same sample chunks as ``x``. The model is
        pickled when this is called (a snapshot) and broadcast to every worker once.
    """
    _check_ready(model_or_estimator)
    _check_array(x)
    if not isinstance(method, str) or not callable(getattr(model_or_estimator, method, None)):
        raise ValueError(f"`method` must name a method of {type(model_or_estimator).__name__}. "
                         f"Received: method={method!r}")
    if n_threads is not None:
        n_threads = _check_threads(n_threads)
    is_model = hasattr(model_or_estimator, "layers") and hasattr(model_or_estimator, "built")
    kwargs = {"batch_size": batch_size, "verbose": 0} if is_model and method == "predict" else {}
    # One zero sample through the model gives the output's trailing shape and dtype.
    probe = np.zeros((1,) + tuple(int(d) for d in x.shape[1:]), dtype=x.dtype)
    sample = np.asarray(getattr(model_or_estimator, method)(probe, **kwargs))
    if sample.ndim == 0 or sample.shape[0] != 1:
        raise ValueError(f"{method} must return one row per sample. Received shape "
                         f"{sample.shape} for one sample")
    tail, dtype = sample.shape[1:], sample.dtype
    client = _client(client)
    shipped = model_or_estimator
    if client is not None:
        shipped = client.scatter(model_or_estimator, broadcast=True, hash=False)
    out_ndim = 1 + len(tail)
    extra = {}
    if out_ndim < x.ndim:
        extra["drop_axis"] = list(range(out_ndim, x.ndim))
    elif out_ndim > x.ndim:
        extra["new_axis"] = list(range(x.ndim, out_ndim))
    return da.map_blocks(
        _predict_block, x, shipped, method, kwargs, n_threads, tail, dtype,
        dtype=dtype, chunks=(x.chunks[0],) + tuple((d,) for d in tail),
        meta=np.empty((0,) * out_ndim, dtype=dtype), **extra,
    )
