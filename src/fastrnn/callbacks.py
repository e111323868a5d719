"""Keras-style training callbacks: the hook protocol, History, a progress bar, EarlyStopping,
ModelCheckpoint, TerminateOnNaN and LambdaCallback.

Callbacks use the model only through ``get_weights()``, ``set_weights()``, ``save(path)``,
``save_weights(path)`` and the ``stop_training`` attribute (plus, optionally, ``metrics`` to
find a metric's direction). ``fit`` builds ``CallbackList(callbacks, add_history=True,
add_progbar=verbose != 0, model=model, verbose=..., epochs=..., steps=...)``.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings
from typing import Any, Callable, Iterable

import numpy as np

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger", "Progbar", "EarlyStopping",
           "ModelCheckpoint", "TerminateOnNaN", "LambdaCallback"]

_HOOKS = ("on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
          "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
          "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
          "on_predict_batch_begin", "on_predict_batch_end")


class Callback:
    """Base class: every hook does nothing; ``self.model`` and ``self.params`` are set by fit."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict = {}

    def set_model(self, model: Any) -> None:
        """Attach the model being trained."""
        self.model = model

    def set_params(self, params: dict) -> None:
        """Receive ``{"verbose", "epochs", "steps"}`` from fit."""
        self.params = params

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Keras 2 alias called by ``on_train_batch_begin``."""

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """Keras 2 alias called by ``on_train_batch_end``."""

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Before a training batch; calls ``on_batch_begin``."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """After a training batch (logs hold running means); calls ``on_batch_end``."""
        self.on_batch_end(batch, logs=logs)

    def on_train_begin(self, logs=None): """Start of fit."""
    def on_train_end(self, logs=None): """End of fit (also after early stopping)."""
    def on_epoch_begin(self, epoch, logs=None): """Start of an epoch (0-based)."""
    def on_epoch_end(self, epoch, logs=None): """End of an epoch; logs hold loss, metrics, val_*."""
    def on_test_begin(self, logs=None): """Start of evaluate / validation."""
    def on_test_end(self, logs=None): """End of evaluate / validation."""
    def on_test_batch_begin(self, batch, logs=None): """Before an evaluation batch."""
    def on_test_batch_end(self, batch, logs=None): """After an evaluation batch."""
    def on_predict_begin(self, logs=None): """Start of predict."""
    def on_predict_end(self, logs=None): """End of predict."""
    def on_predict_batch_begin(self, batch, logs=None): """Before a prediction batch."""
    def on_predict_batch_end(self, batch, logs=None): """After a prediction batch."""


class CallbackList(Callback):
    """Calls each hook on every callback in order; adds History / ProgbarLogger on request."""

    def __init__(self, callbacks: Iterable[Callback] | None = None, add_history: bool = False,
                 add_progbar: bool = False, model: Any = None, **params) -> None:
        super().__init__()
        self.callbacks = list(callbacks or [])
        for c in self.callbacks:
            if not isinstance(c, Callback):
                raise TypeError(f"callbacks must be Callback instances. Received: {c!r}")
        self.history = next((c for c in self.callbacks if isinstance(c, History)), None)
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in self.callbacks):
            self.callbacks.insert(0, ProgbarLogger())
        if add_history and self.history is None:
            self.history = History()
            self.callbacks.append(self.history)
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def append(self, callback: Callback) -> None:
        """Add a callback at the end."""
        self.callbacks.append(callback)

    def set_model(self, model: Any) -> None:
        super().set_model(model)
        for c in self.callbacks:
            c.set_model(model)

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        for c in self.callbacks:
            c.set_params(params)

    def __iter__(self):
        return iter(self.callbacks)


def _dispatch(hook: str) -> Callable:
    def call(self, *args, **kwargs):
        for c in self.callbacks:
            getattr(c, hook)(*args, **kwargs)
    call.__name__ = hook
    call.__doc__ = f"Call ``{hook}`` on every callback."
    return call


for _hook in _HOOKS:
    setattr(CallbackList, _hook, _dispatch(_hook))


class History(Callback):
    """Records per-epoch logs: ``history`` (key -> list), ``epoch`` (list), ``params``."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            try:
                self.model.history = self
            except AttributeError:  # a model without a settable ``history``
                pass


class Progbar:
    """Keras 3's progress bar: ``n/N ━━━━ ETA - name: value``; verbose 2 prints one line at the end.

    On a terminal the line is redrawn in place with colours; elsewhere (files, pipes, pytest) only
    the final line of each bar is printed.
    """

    def __init__(self, target: int | None, width: int = 20, verbose: int = 1,
                 interval: float = 0.05, unit_name: str = "step", stream=None) -> None:
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self.stream = stream
        out = stream or sys.stdout
        self._dynamic = hasattr(out, "isatty") and out.isatty()
        self._start = time.time()
        self._last_update = 0.0
        self._first_step_time: float | None = None
        self._prev_width = 0
        self._values: dict[str, Any] = {}

    def _time_per_unit(self, current: int, now: float) -> float:
        if not current:
            return 0.0
        if self._first_step_time is not None and current > 1:
            return (now - self._first_step_time) / (current - 1)
        if current == 1:
            self._first_step_time = now
        return (now - self._start) / current

    @staticmethod
    def _fmt_time(t: float, unit: str) -> str:
        if t >= 1 or t == 0:
            return f" {t:.0f}s/{unit}"
        if t >= 1e-3:
            return f" {t * 1e3:.0f}ms/{unit}"
        return f" {t * 1e6:.0f}us/{unit}"

    @staticmethod
    def _fmt_value(v: Any) -> str:
        try:
            v = float(v)
        except (TypeError, ValueError):
            return f" {v}"
        return f" {v:.4f}" if abs(v) > 1e-3 else f" {v:.4e}"

    def update(self, current: int, values: Iterable[tuple[str, Any]] | None = None,
               finalize: bool | None = None) -> None:
        """Show progress ``current`` (1-based) with ``values`` displayed as given."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for k, v in values or []:
            self._values[k] = v
        now = time.time()
        per_unit = self._time_per_unit(current, now)
        out = self.stream or sys.stdout
        metrics = "".join(f" - {k}:{self._fmt_value(v)}" for k, v in self._values.items())
        if self.verbose == 1:
            if not finalize and (not self._dynamic or now - self._last_update < self.interval):
                return
            if self.target:
                digits = int(math.log10(self.target)) + 1
                count = f"{current:{digits}d}/{self.target}"
                done = int(self.width * current / self.target)
                if self._dynamic:
                    bar = (f"\x1b[1m{count}\x1b[0m \x1b[32m{'━' * done}\x1b[0m"
                           f"\x1b[37m{'━' * (self.width - done)}\x1b[0m")
                else:
                    bar = f"{count} {'━' * done}{' ' * (self.width - done)}"
            else:
                bar = count = f"{current:7d}/Unknown"
            if self.target and not finalize:
                eta = per_unit * (self.target - current)
                eta_s = (f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
                         if eta > 3600 else f"{int(eta // 60)}:{int(eta % 60):02d}" if eta > 60
                         else f"{int(eta)}s")
            else:
                eta_s = f"{now - self._start:.0f}s"
            info = f" {eta_s}{self._fmt_time(per_unit, self.unit_name)}{metrics}"
            plain_width = len(count) + 1 + self.width + len(info)
            line = ("\r" if self._dynamic else "") + bar + info
            if self._dynamic and self._prev_width > plain_width:
                line += " " * (self._prev_width - plain_width)
            self._prev_width = plain_width
            out.write(line + ("\n" if finalize else ""))
            out.flush()
        elif self.verbose == 2 and finalize and self.target:
            digits = int(math.log10(self.target)) + 1
            out.write(f"{current:{digits}d}/{self.target} - {now - self._start:.0f}s -"
                      f"{self._fmt_time(per_unit, self.unit_name)}{metrics}\n")
            out.flush()
        self._last_update = now


class ProgbarLogger(Callback):
    """Prints ``Epoch i/N`` and a progress bar per epoch (verbose 1) or one line (verbose 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.verbose, self.epochs, self.target = 1, 1, None
        self.progbar: Progbar | None = None
        self.seen = 0
        self._in_fit = False

    def set_params(self, params: dict) -> None:
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _new_bar(self) -> None:
        self.seen = 0
        self.progbar = Progbar(self.target, verbose=self.verbose)

    def _update(self, batch: int, logs: dict | None) -> None:
        if self.progbar is None:
            self._new_bar()
        self.seen = batch + 1
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize(self, logs: dict | None) -> None:
        if self.progbar is None:
            self._new_bar()
        if self.target is None:
            self.target = self.progbar.target = self.seen
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)

    def on_train_begin(self, logs=None):
        self._in_fit = True

    def on_epoch_begin(self, epoch, logs=None):
        self._new_bar()
        if self.verbose and self.epochs > 1:
            sys.stdout.write(f"Epoch {epoch + 1}/{self.epochs}\n")

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)

    def on_test_begin(self, logs=None):
        if not self._in_fit:
            self._new_bar()

    def on_test_batch_end(self, batch, logs=None):
        if not self._in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._in_fit:
            self._finalize(logs)

    def on_predict_begin(self, logs=None):
        self._new_bar()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)

    def on_predict_end(self, logs=None):
        self._finalize(None)


_UP = {"acc", "accuracy", "binary_accuracy", "categorical_accuracy",
       "sparse_categorical_accuracy", "auc", "precision", "recall", "r2_score"}
_DOWN = {"loss", "mse", "mae", "mean_squared_error", "mean_absolute_error", "binary_crossentropy",
         "categorical_crossentropy", "sparse_categorical_crossentropy", "bce"}


class _MonitorCallback(Callback):
    """Shared monitor / mode / min_delta logic (Keras's MonitorCallback)."""

    def __init__(self, monitor: str = "val_loss", mode: str = "auto", baseline=None,
                 min_delta: float = 0.0) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                          stacklevel=3)
            mode = "auto"
        self.monitor, self.mode, self.best = monitor, mode, baseline
        self.min_delta = abs(min_delta)
        self.monitor_op: Callable | None = None

    def _set_monitor_op(self) -> None:
        if self.mode == "min":
            self.monitor_op = np.less
        elif self.mode == "max":
            self.monitor_op = np.greater
        else:
            name = self.monitor.removeprefix("val_")
            for m in getattr(self.model, "metrics", None) or []:
                direction = getattr(m, "_direction", None)
                if getattr(m, "name", None) == name and direction in ("up", "down"):
                    self.monitor_op = np.greater if direction == "up" else np.less
            if self.monitor_op is None and (name in _DOWN or name.endswith("loss")):
                self.monitor_op = np.less
            elif self.monitor_op is None and name.lower() in _UP:
                self.monitor_op = np.greater
            if self.monitor_op is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but fastrnn "
                    "isn't able to automatically determine whether that metric should be "
                    "maximized or minimized. Pass `mode='max'` or `mode='min'`."
                )
        if self.monitor_op is np.less:
            self.min_delta *= -1

    def _is_improvement(self, value, reference) -> bool:
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))


class EarlyStopping(_MonitorCallback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs (Keras 3 semantics)."""

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0,
                 verbose: int = 0, mode: str = "auto", baseline: float | None = None,
                 restore_best_weights: bool = False, start_from_epoch: int = 0) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        self.wait = self.stopped_epoch = self.best_epoch = 0
        self.best = None
        self.best_weights = None

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Early stopping conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs or {})}", stacklevel=2)
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


_WEIGHTS_EXT = (".weights.h5", ".weights.npz")
_MODEL_EXT = (".keras", ".h5")


class ModelCheckpoint(_MonitorCallback):
    """Save the model (``.keras``) or its weights (``.weights.h5``/``.weights.npz``) during fit.

    ``filepath`` may hold ``{epoch:02d}`` and log keys (``{val_loss:.2f}``). ``save_freq`` is
    ``"epoch"`` or a number of batches. A checkpoint whose weights contain NaN/Inf is never
    written: a warning is issued instead (a fastrnn addition).
    """

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq: str | int = "epoch",
                 initial_value_threshold: float | None = None) -> None:
        super().__init__(monitor, mode, baseline=initial_value_threshold)
        self.filepath = os.fspath(filepath)
        self.verbose, self.save_best_only = verbose, save_best_only
        self.save_weights_only, self.save_freq = save_weights_only, save_freq
        self._since_save, self._last_batch, self._epoch = 0, None, 0
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. "
                             "Expected save_freq are 'epoch' or integer values")
        if save_weights_only and not self.filepath.endswith(_WEIGHTS_EXT):
            raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, the "
                             "filepath provided must end in `.weights.h5` (or `.weights.npz`). "
                             f"Received: filepath={self.filepath}")
        if not save_weights_only and not self.filepath.endswith(_MODEL_EXT):
            raise ValueError("The filepath provided must end in `.keras` (Keras model format). "
                             f"Received: filepath={self.filepath}")

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        if self._last_batch is None or batch <= self._last_batch:
            self._since_save += batch + 1
        else:
            self._since_save += batch - self._last_batch
        self._last_batch = batch
        if self._since_save >= self.save_freq:
            self._since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _file_path(self, epoch: int, batch: int | None, logs: dict) -> str:
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". '
                           f"Reason: {e}") from None

    def _should_save(self, epoch: int, logs: dict, filepath: str) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                      f"{current:.5f}, saving model to {filepath}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}")
        return False

    def _save(self, epoch: int, batch: int | None, logs: dict | None) -> None:
        logs = logs or {}
        filepath = self._file_path(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise IOError("Please specify a non-directory filepath for ModelCheckpoint. "
                          f"Filepath used is an existing directory: {filepath}")
        weights = self.model.get_weights()
        if not all(np.isfinite(w).all() for w in weights):
            warnings.warn(f"ModelCheckpoint: the weights contain NaN or Inf at epoch {epoch + 1}; "
                          f"not writing {filepath}.", RuntimeWarning, stacklevel=3)
            return
        if not self._should_save(epoch, logs, filepath):
            return
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath)
        else:
            self.model.save(filepath)


class TerminateOnNaN(Callback):
    """Stop training when a batch loss is NaN or Inf (``raise_error=True`` raises instead)."""

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and (np.isnan(loss) or np.isinf(loss)):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. "
                                   f"Loss value: {loss}. Terminating training immediately.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """Build a callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``.

    Any other ``on_*`` hook may be passed as a keyword argument.
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None,
                 on_train_end=None, on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs) -> None:
        super().__init__()
        hooks = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end,
                     on_train_begin=on_train_begin, on_train_end=on_train_end,
                     on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for name, fn in hooks.items():
            if fn is None:
                continue
            if name not in _HOOKS + ("on_batch_begin", "on_batch_end"):
                raise ValueError(f"LambdaCallback: unknown hook {name!r}. Expected one of {_HOOKS}")
            setattr(self, name, fn)
