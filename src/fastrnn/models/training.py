"""compile / fit / evaluate / predict for ``Sequential`` (Keras 3.15 trainer semantics).

One training batch is: every layer's ``forward(training=True)`` (masks propagated), the loss
value and gradient, the regularization penalties, every layer's ``backward`` in reverse, one
``optimizer.apply`` over all trainable weights, then the metric updates. The per-batch Python
work is a fixed handful of calls; the data are sliced (or gathered once per batch when
shuffling), never copied as a whole per epoch.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import _random
from .data import (
    EpochBatches,
    as_array,
    batch_indices,
    check_cardinality,
    class_weight_to_sample_weights,
    resolve_batch_size,
    resolve_verbose,
    split_validation,
    take,
    unpack_validation_data,
)

__all__ = ["TrainingMixin"]

_ACC_NAMES = ("acc", "accuracy")


def _is_due(epoch: int, validation_freq: Any) -> bool:
    if isinstance(validation_freq, int):
        return (epoch + 1) % validation_freq == 0
    return (epoch + 1) in validation_freq


def _check_validation_freq(validation_freq: Any) -> None:
    if isinstance(validation_freq, bool):
        raise TypeError(
            f"`validation_freq` must be an int or a list of ints. Received: {validation_freq!r}")
    if isinstance(validation_freq, int):
        if validation_freq < 1:
            raise ValueError(
                f"`validation_freq` must be >= 1. Received: validation_freq={validation_freq}")
        return
    if not isinstance(validation_freq, (list, tuple, set)):
        raise TypeError(
            f"`validation_freq` must be an int or a list of ints. Received: {validation_freq!r}"
        )


class _LossTracker:
    """Mean of the batch losses weighted by the batch size (Keras's ``loss`` tracker)."""

    __slots__ = ("total", "count")

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def reset_state(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, value: float, n: int) -> None:
        self.total += value * n
        self.count += n

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


class TrainingMixin:
    """The training API of ``Sequential`` (needs ``_forward``, ``_layers``, ``_ensure_built``,
    ``_prepare_x``, ``trainable_weights``)."""

    # ------------------------------------------------------------------ compile
    def _init_training_state(self) -> None:
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._loss_obj = None
        self._loss_weight = 1.0
        self._metric_specs: list = []
        self._weighted_metric_specs: list = []
        self._metrics: list | None = None
        self._weighted_metrics: list | None = None
        self._loss_tracker = _LossTracker()
        self._shuffle_rng: np.random.Generator | None = None

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, weighted_metrics: Any = None, run_eagerly: bool = False,
                steps_per_execution: int = 1, jit_compile: Any = "auto",
                auto_scale_loss: bool = True) -> None:
        """Configure training: optimizer, loss and metrics (names resolved as Keras does).

        Unknown optimizer, loss or metric names raise ValueError naming them; ``"acc"`` /
        ``"accuracy"`` and ``"crossentropy"`` are resolved from the shapes at the first batch.
        """
        from .. import losses, optimizers
        from .. import metrics as metrics_mod

        del run_eagerly, jit_compile, auto_scale_loss  # accepted for Keras compatibility
        if steps_per_execution != 1:
            raise NotImplementedError("steps_per_execution other than 1 is not supported")
        if optimizer is None:
            raise ValueError("`optimizer` must be a name or an optimizer instance. Received: None")
        opt = optimizers.get(optimizer)
        if opt is None:
            raise ValueError(f"Unknown optimizer: {optimizer!r}")
        loss_obj = None
        by_shape = isinstance(loss, str) and loss.lower() in ("crossentropy", "ce")
        if loss is not None and not by_shape:
            if isinstance(loss, (list, tuple, dict)):
                if len(loss) != 1:
                    raise ValueError(
                        "fastrnn models have one output, so `loss` must be a single loss (or a "
                        f"list/dict with one entry). Received: loss={loss!r}"
                    )
                loss = list(loss.values())[0] if isinstance(loss, dict) else loss[0]
            loss_obj = losses.get(loss)
        self._loss_weight = _single_loss_weight(loss_weights)
        specs = _metric_list(metrics, "metrics")
        wspecs = _metric_list(weighted_metrics, "weighted_metrics")
        for spec in specs + wspecs:  # validate names now (accuracy waits for the shapes)
            if isinstance(spec, str) and spec.lower() in _ACC_NAMES:
                continue
            if isinstance(spec, str) or isinstance(spec, dict):
                metrics_mod.get(spec, loss=loss)
        self.optimizer = opt
        self.loss = loss
        self._loss_obj = loss_obj
        self._metric_specs = specs
        self._weighted_metric_specs = wspecs
        self._metrics = None
        self._weighted_metrics = None
        self._loss_tracker.reset_state()
        self.compiled = True
        self.stop_training = False

    def get_compile_config(self) -> dict | None:
        """The compile arguments as JSON-able data (None before ``compile``)."""
        from .compile_config import get_compile_config

        return get_compile_config(self)

    def compile_from_config(self, config: dict) -> None:
        """Compile from :meth:`get_compile_config` output (used by ``load_model``)."""
        from .compile_config import compile_from_config

        compile_from_config(self, config)

    def _assert_compiled(self, method: str) -> None:
        if not self.compiled:
            raise RuntimeError(
                f"You must call `compile()` before using the model (in `{method}`)."
            )
        if self.loss is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")

    def _resolve_loss_and_metrics(self, y: np.ndarray, y_pred: Any) -> None:
        """Resolve ``"crossentropy"`` and ``"acc"`` against the first batch's shapes."""
        from .. import losses
        from .. import metrics as metrics_mod

        pred_shape = np.shape(y_pred[0] if isinstance(y_pred, list) else y_pred)
        if self._loss_obj is None:
            self._loss_obj = losses.get(self.loss, y_true_shape=y.shape, y_pred_shape=pred_shape)
        if self._metrics is None:
            kw = dict(loss=self.loss, y_pred_shape=pred_shape, y_true_shape=y.shape)
            self._metrics = [metrics_mod.get(s, **kw) for s in self._metric_specs]
            names = {m.name for m in self._metrics}
            weighted = []
            for s in self._weighted_metric_specs:
                m = metrics_mod.get(s, **kw)
                if m.name in names:
                    m.name = "weighted_" + m.name
                weighted.append(m)
            self._weighted_metrics = weighted

    @property
    def metrics_names(self) -> list[str]:
        """``["loss", *compiled metric names]``."""
        names = ["loss"]
        if self._metrics is not None:
            names += [m.name for m in self._metrics + self._weighted_metrics]
        else:
            names += [_spec_name(s) for s in self._metric_specs + self._weighted_metric_specs]
        return names

    @property
    def metrics(self) -> list:
        """The compiled metric objects (resolved after the first batch)."""
        return list(self._metrics or []) + list(self._weighted_metrics or [])

    def reset_metrics(self) -> None:
        """Reset the loss tracker and every compiled metric."""
        self._loss_tracker.reset_state()
        for m in self.metrics:
            m.reset_state()

    def _logs(self) -> dict:
        logs = {"loss": float(self._loss_tracker.result())}
        for m in self.metrics:
            logs[m.name] = float(m.result())
        return dict(sorted(logs.items()))

    # ------------------------------------------------------------------ one batch
    def _update_metrics(self, y: np.ndarray, y_pred: Any, sw: Any, mask: Any) -> None:
        for m in self._metrics:
            m.update_state(y, y_pred, mask=mask)
        for m in self._weighted_metrics:
            m.update_state(y, y_pred, sample_weight=sw, mask=mask)

    def _stop_on_nan_loss(self, logs: dict, epoch: int, step: int) -> None:
        """A NaN/Inf loss leaves non-finite weights that every later batch would reject: warn
        and stop (TerminateOnNaN, when given, has already stopped training)."""
        loss = logs.get("loss")
        if loss is None or np.isfinite(loss):
            return
        warnings.warn(
            f"Epoch {epoch + 1}, batch {step}: the loss is {loss}; the weights are no longer "
            "finite, so training stops. Use clipnorm/clipvalue, a lower learning rate, or "
            "callbacks=[TerminateOnNaN()].",
            RuntimeWarning,
            stacklevel=3,
        )
        self.stop_training = True

    def _regularization(self) -> float:
        return float(sum(layer.regularization_loss() for layer in self._layers))

    def _train_batch(self, x: np.ndarray, y: np.ndarray, sw: Any, weights: list) -> None:
        y_pred, mask = self._forward(x, training=True)
        if isinstance(mask, (list, tuple)):  # return_state: the output's mask comes first
            mask = mask[0]
        if self._metrics is None or self._loss_obj is None:
            self._resolve_loss_and_metrics(y, y_pred)
        value, grad = self._loss_obj.value_and_grad(y, y_pred, sw, mask)
        if self._loss_weight != 1.0:
            value, grad = value * self._loss_weight, grad * self._loss_weight
        total = float(value) + self._regularization()
        if weights:
            d = grad
            layers = self._layers
            for i in range(len(layers) - 1, -1, -1):
                d = layers[i].backward(d)
                if d is None:
                    if any(layer.trainable_weights for layer in layers[:i]):
                        raise RuntimeError(
                            f"Layer '{layers[i].name}' returned no input gradient, but layers "
                            "before it have trainable weights."
                        )
                    break
            grads = [g for layer in layers for g in layer.grads]
            self.optimizer.apply(grads, weights)
        self._loss_tracker.update(total, x.shape[0])
        self._update_metrics(y, y_pred, sw, mask)

    def _test_batch(self, x: np.ndarray, y: np.ndarray, sw: Any) -> None:
        y_pred, mask = self._forward(x, training=False)
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if self._metrics is None or self._loss_obj is None:
            self._resolve_loss_and_metrics(y, y_pred)
        value = float(self._loss_obj(y, y_pred, sw, mask)) * self._loss_weight
        self._loss_tracker.update(value + self._regularization(), x.shape[0])
        self._update_metrics(y, y_pred, sw, mask)

    # ------------------------------------------------------------------ data
    def _prepare_xy(self, x: Any, y: Any, sample_weight: Any, class_weight: Any,
                    prefix: str = "") -> tuple:
        if y is None:
            raise ValueError(
                f"`{prefix}y` (the targets) is required when `{prefix}x` is an array. "
                "Received: y=None"
            )
        x = self._prepare_x(x, prefix + "x")
        y = as_array(y, prefix + "y")
        sw = as_array(sample_weight, prefix + "sample_weight", allow_none=True)
        if class_weight is not None:
            if sw is not None:
                raise ValueError(
                    "Arguments `sample_weight` and `class_weight` cannot be specified at the "
                    f"same time. Received: sample_weight of shape {sw.shape}, "
                    f"class_weight={class_weight}"
                )
            sw = class_weight_to_sample_weights(y, class_weight)
        check_cardinality(**{prefix + "x": x, prefix + "y": y, prefix + "sample_weight": sw})
        return x, y, sw

    def _callback_list(self, callbacks: Any, verbose: int, epochs: int, steps: int | None) -> Any:
        from .. import callbacks as cb_mod

        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            if isinstance(callbacks, cb_mod.CallbackList):
                return callbacks
            callbacks = [callbacks]
        return cb_mod.CallbackList(
            list(callbacks or []), add_history=True, add_progbar=verbose != 0, model=self,
            verbose=verbose, epochs=epochs, steps=steps,
        )

    # ------------------------------------------------------------------ fit
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: Any = None, validation_split: float = 0.0,
            validation_data: Any = None, shuffle: Any = True, class_weight: dict | None = None,
            sample_weight: Any = None, initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: Any = 1):
        """Train for ``epochs`` epochs (Keras ``Model.fit`` on arrays); returns the History.

        ``validation_split`` takes the last fraction before shuffling; the training part is
        reshuffled every epoch and the last partial batch is kept.
        """
        self._assert_compiled("fit")
        batch_size = resolve_batch_size(batch_size)
        verbose = resolve_verbose(verbose)
        for name, val in (("epochs", epochs), ("initial_epoch", initial_epoch)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 0:
                raise ValueError(f"`{name}` must be a non-negative int. Received: {name}={val!r}")
        _check_validation_freq(validation_freq)
        x, y, sw = self._prepare_xy(x, y, sample_weight, class_weight)
        val = None
        if validation_data is not None:
            vx, vy, vsw = unpack_validation_data(validation_data)
            val = self._prepare_xy(vx, vy, vsw, None, prefix="val_")
        elif validation_split:
            (x, y, sw), val = split_validation([x, y, sw], validation_split)
        self._ensure_built(x[:batch_size])
        if val is not None:
            self._check_input(val[0])
        n = x.shape[0]
        steps = math.ceil(n / batch_size)
        if steps_per_epoch is not None:
            steps = resolve_batch_size(steps_per_epoch, "steps_per_epoch")
        if self._shuffle_rng is None:
            self._shuffle_rng = _random.make_generator(None)
        cbs = self._callback_list(callbacks, verbose, epochs, steps)
        self.history = cbs.history
        weights = self.trainable_weights
        if not weights:
            warnings.warn("The model does not have any trainable weights.", stacklevel=2)
        batches = EpochBatches(n, batch_size, shuffle, self._shuffle_rng, steps_per_epoch)
        self.stop_training = False
        cbs.on_train_begin()
        training_logs = None
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            for step, sel in batches.epoch():
                cbs.on_train_batch_begin(step)
                self._train_batch(take(x, sel), take(y, sel), take(sw, sel), weights)
                batch_logs = self._logs()
                cbs.on_train_batch_end(step, batch_logs)
                if not self.stop_training:
                    self._stop_on_nan_loss(batch_logs, epoch, step)
                if self.stop_training:
                    break
            epoch_logs = self._logs()
            if val is not None and _is_due(epoch, validation_freq):
                val_logs = self._evaluate_arrays(
                    *val, validation_batch_size or batch_size, cbs, validation_steps)
                epoch_logs.update({"val_" + k: v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            training_logs = epoch_logs
            if self.stop_training:
                break
        cbs.on_train_end(logs=training_logs)
        return self.history

    # ------------------------------------------------------------------ evaluate / predict
    def _evaluate_arrays(self, x: np.ndarray, y: np.ndarray, sw: Any, batch_size: int,
                         cbs: Any, steps: int | None = None) -> dict:
        self.reset_metrics()
        cbs.on_test_begin()
        for step, sel in enumerate(batch_indices(x.shape[0], batch_size, False, None, steps)):
            cbs.on_test_batch_begin(step)
            self._test_batch(take(x, sel), take(y, sel), take(sw, sel))
            cbs.on_test_batch_end(step, self._logs())
        logs = self._logs()
        cbs.on_test_end(logs)
        return logs

    def _flatten_logs(self, logs: dict) -> Any:
        order = [n for n in self.metrics_names if n in logs]
        order += [k for k in sorted(logs) if k not in order]
        values = [logs[k] for k in order]
        return values[0] if len(values) == 1 else values

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: Any = "auto", sample_weight: Any = None, steps: int | None = None,
                 callbacks: Any = None, return_dict: bool = False, **kwargs: Any):
        """Loss (and metrics) on ``(x, y)``: a float, ``[loss, *metrics]``, or a dict."""
        if kwargs:
            raise TypeError(f"evaluate() got unexpected keyword arguments: {sorted(kwargs)}")
        self._assert_compiled("evaluate")
        batch_size = resolve_batch_size(batch_size)
        verbose = resolve_verbose(verbose)
        x, y, sw = self._prepare_xy(x, y, sample_weight, None)
        self._ensure_built(x[:batch_size])
        n_steps = math.ceil(x.shape[0] / batch_size) if steps is None else steps
        cbs = self._callback_list(callbacks, verbose, 1, n_steps)
        logs = self._evaluate_arrays(x, y, sw, batch_size, cbs, steps)
        return logs if return_dict else self._flatten_logs(logs)

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto",
                steps: int | None = None, callbacks: Any = None) -> Any:
        """Model outputs for ``x`` as NumPy (batches of ``batch_size``, default 32)."""
        batch_size = resolve_batch_size(batch_size)
        verbose = resolve_verbose(verbose)
        x = self._prepare_x(x)
        if x.shape[0] == 0:
            raise ValueError(
                f"Expected at least one sample to predict. Received: x.shape={x.shape}")
        self._ensure_built(x[:batch_size])
        n_steps = math.ceil(x.shape[0] / batch_size) if steps is None else steps
        cbs = self._callback_list(callbacks, verbose, 1, n_steps)
        cbs.on_predict_begin()
        outputs = []
        for step, sel in enumerate(batch_indices(x.shape[0], batch_size, False, None, steps)):
            cbs.on_predict_batch_begin(step)
            out = self._forward(x[sel], training=False)[0]
            outputs.append(out)
            cbs.on_predict_batch_end(step, {"outputs": out})
        cbs.on_predict_end()
        if isinstance(outputs[0], (list, tuple)):
            return [np.concatenate([o[i] for o in outputs]) for i in range(len(outputs[0]))]
        return outputs[0] if len(outputs) == 1 else np.concatenate(outputs)

    def predict_on_batch(self, x: Any) -> Any:
        """Outputs for one batch ``x`` (no batching, no callbacks)."""
        x = self._prepare_x(x)
        self._ensure_built(x)
        return self._forward(x, training=False)[0]

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: dict | None = None, return_dict: bool = False):
        """One optimizer step on ``(x, y)``; returns the loss (and metrics) of that batch."""
        self._assert_compiled("train_on_batch")
        x, y, sw = self._prepare_xy(x, y, sample_weight, class_weight)
        self._ensure_built(x)
        self.reset_metrics()
        self._train_batch(x, y, sw, self.trainable_weights)
        logs = self._logs()
        return logs if return_dict else self._flatten_logs(logs)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False):
        """Loss (and metrics) of one batch, without training."""
        self._assert_compiled("test_on_batch")
        x, y, sw = self._prepare_xy(x, y, sample_weight, None)
        self._ensure_built(x)
        self.reset_metrics()
        self._test_batch(x, y, sw)
        logs = self._logs()
        return logs if return_dict else self._flatten_logs(logs)


def _single_loss_weight(loss_weights: Any) -> float:
    if loss_weights is None:
        return 1.0
    if isinstance(loss_weights, dict):
        loss_weights = list(loss_weights.values())
    if isinstance(loss_weights, (list, tuple)):
        if len(loss_weights) != 1:
            raise ValueError(
                "fastrnn models have one output, so `loss_weights` must be one number. "
                f"Received: loss_weights={loss_weights!r}"
            )
        loss_weights = loss_weights[0]
    if isinstance(loss_weights, bool) or not isinstance(loss_weights, (int, float, np.number)):
        raise TypeError(f"`loss_weights` must be a number. Received: {loss_weights!r}")
    return float(loss_weights)


def _metric_list(metrics: Any, arg: str) -> list:
    if metrics is None:
        return []
    if isinstance(metrics, dict):
        if len(metrics) != 1:
            raise ValueError(
                f"fastrnn models have one output, so `{arg}` must be a list. Received: {metrics!r}"
            )
        metrics = list(metrics.values())[0]
    if not isinstance(metrics, (list, tuple)):
        raise ValueError(
            f"Expected `{arg}` argument to be a list, tuple, or dict (e.g. ['acc']). "
            f"Received instead: {arg}={metrics!r} of type {type(metrics)}"
        )
    return list(metrics)


def _spec_name(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    return getattr(spec, "name", None) or getattr(spec, "__name__", type(spec).__name__)
