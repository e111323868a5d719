"""Keras optimizers (SGD, RMSprop, Adam, Adagrad) updating NumPy weight arrays in place.

Update formulas, defaults and argument checks follow Keras 3.15 (``keras/src/optimizers``):
gradients are clipped (``clipnorm`` per variable, ``global_clipnorm`` jointly, ``clipvalue``
elementwise; at most one), decoupled ``weight_decay`` applies ``w -= w * wd * lr`` before the step,
then each variable is updated with whole-array NumPy operations (``out=`` into per-variable
scratch buffers, so a step allocates almost nothing); Adam and plain RMSprop on contiguous arrays
run as one fused C++ pass with the same roundings (same bits, except that subnormals are flushed
to zero there, as in every engine kernel). ``variables`` lists
``[iteration, learning_rate, *slots]`` as arrays, so ``sum(v.size)`` equals Keras's
"Optimizer params" count. ``lr=`` is rejected as in Keras 3 ("Argument(s) not recognized").
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ._config import get_num_threads
from .ops import _engine

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "Adagrad", "get", "serialize", "deserialize"]


def _nonneg(value: Any, name: str, allow_none: bool = True) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not math.isfinite(value) or value < 0:
        raise ValueError(f"Argument `{name}` must be a non-negative float. Received: {name}={value!r}")
    return float(value)


def _fusable(w: np.ndarray, *others: np.ndarray) -> bool:
    """Whether a fused C++ step can update ``w``: float32/float64, C-contiguous and writable,
    with every other array of the same dtype and contiguous."""
    if w.dtype not in (np.float32, np.float64) or not (w.flags.c_contiguous and w.flags.writeable):
        return False
    for a in others:  # a loop, not all(generator): 6 variables a step, 3 frames each
        if not (isinstance(a, np.ndarray) and a.dtype == w.dtype and a.flags.c_contiguous):
            return False
    return True


class Optimizer:
    """Base class: clipping, weight decay, slots, iterations, config. Subclasses define
    ``_slot_names`` and ``_update(i, g, w, lr)`` for one variable (``g`` already clipped)."""

    _slot_names: tuple[str, ...] = ()

    def __init__(self, learning_rate: float | Callable = 0.001, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, use_ema: bool = False,
                 ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
                 loss_scale_factor: float | None = None,
                 gradient_accumulation_steps: int | None = None, name: str | None = None,
                 **kwargs) -> None:
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.",
                          stacklevel=2)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        n_clip = sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm))
        if n_clip > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        if use_ema or gradient_accumulation_steps:
            raise ValueError("fastrnn optimizers do not support `use_ema` or "
                             "`gradient_accumulation_steps`. Received: "
                             f"use_ema={use_ema}, gradient_accumulation_steps="
                             f"{gradient_accumulation_steps}")
        self.name = name or type(self).__name__.lower()
        self.learning_rate = learning_rate
        self.weight_decay = _nonneg(weight_decay, "weight_decay")
        self.clipnorm = _nonneg(clipnorm, "clipnorm")
        self.clipvalue = _nonneg(clipvalue, "clipvalue")
        self.global_clipnorm = _nonneg(global_clipnorm, "global_clipnorm")
        self.loss_scale_factor = loss_scale_factor
        self.use_ema, self.ema_momentum = False, ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.gradient_accumulation_steps = None
        self.iterations = 0
        self.built = False
        self._slots: list[dict[str, np.ndarray]] = []
        self._scratch: list[np.ndarray] = []
        self._index: dict[int, int] = {}

    # --- learning rate ----------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """Current learning rate (a callable schedule is evaluated at ``iterations``)."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else float(lr)

    @learning_rate.setter
    def learning_rate(self, value: float | Callable) -> None:
        if not callable(value):
            value = _nonneg(value, "learning_rate", allow_none=False)
        self._learning_rate = value

    # --- state ------------------------------------------------------------------------------
    def build(self, variables: Sequence[np.ndarray]) -> None:
        """Create the slot arrays (zeros, or Adagrad's initial value) for ``variables``."""
        if self.built:
            return
        for i, v in enumerate(variables):
            if not isinstance(v, np.ndarray) or v.dtype.kind != "f":
                raise TypeError(f"Optimizer variables must be float NumPy arrays. "
                                f"Received at index {i}: {type(v).__name__} "
                                f"{getattr(v, 'dtype', '')}")
        self._variables = list(variables)
        self._index = {id(v): i for i, v in enumerate(self._variables)}
        self._slots = [{s: self._init_slot(s, v) for s in self._slot_names} for v in variables]
        self._scratch = [np.empty_like(v) for v in variables]
        self.built = True

    def __setstate__(self, state: dict) -> None:
        """Unpickling: the variables are new arrays, so rebuild the lookup by identity."""
        self.__dict__.update(state)
        if self.built:
            self._index = {id(v): i for i, v in enumerate(self._variables)}

    def _init_slot(self, slot: str, v: np.ndarray) -> np.ndarray:
        return np.zeros_like(v)

    @property
    def variables(self) -> list[np.ndarray]:
        """``[iteration, learning_rate, *slots]`` as arrays (Keras's optimizer.variables)."""
        head = [np.array(self.iterations, dtype=np.int64),
                np.array(self.learning_rate, dtype=np.float32)]
        return head + [s[name] for s in self._slots for name in self._slot_names]

    # --- gradient processing ----------------------------------------------------------------
    def _clip(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        if self.clipnorm:
            out = []
            for g in grads:
                norm = math.sqrt(float(np.vdot(g, g)))
                out.append(g * (self.clipnorm / max(norm, self.clipnorm)) if norm > self.clipnorm else g)
            return out
        if self.global_clipnorm:
            norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
            if not math.isfinite(norm):
                return [np.full_like(g, np.nan) for g in grads]  # as Keras: NaN scale
            scale = self.global_clipnorm * min(1.0 / norm if norm else math.inf,
                                               1.0 / self.global_clipnorm)
            return grads if scale == 1.0 else [g * scale for g in grads]
        if self.clipvalue:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def apply(self, grads: Sequence[np.ndarray], variables: Sequence[np.ndarray] | None = None) -> None:
        """One step: update ``variables`` (float arrays) IN PLACE from ``grads``; ``grads`` are
        not modified. Builds the optimizer on the first call."""
        grads = list(grads)
        if variables is None:
            if not self.built:
                raise ValueError("apply(grads) without variables needs a built optimizer. "
                                 "Call optimizer.build(variables) first.")
            variables = self._variables
        variables = list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"Expected one gradient per variable. Received {len(grads)} "
                             f"gradients for {len(variables)} variables.")
        if not self.built:
            self.build(variables)
        idx = []
        for k, (g, v) in enumerate(zip(grads, variables)):
            i = self._index.get(id(v))
            if i is None:
                raise ValueError(f"Unknown variable at position {k} (shape {np.shape(v)}): the "
                                 "optimizer was built on a different list of arrays.")
            if (g.shape if isinstance(g, np.ndarray) else np.shape(g)) != v.shape:
                raise ValueError(f"Gradient {k} has shape {np.shape(g)}, expected the variable's "
                                 f"shape {v.shape}.")
            idx.append(i)
        grads = [np.asarray(g, dtype=v.dtype) for g, v in zip(grads, variables)]
        if self.loss_scale_factor is not None:
            grads = [g / self.loss_scale_factor for g in grads]
        grads = self._clip(grads)
        lr = self.learning_rate
        if self.weight_decay:
            for v in variables:
                v -= v * (self.weight_decay * lr)
        for i, g, v in zip(idx, grads, variables):
            self._update(i, g, v, lr)
        self.iterations += 1

    def apply_gradients(self, grads_and_vars: Iterable[tuple[np.ndarray, np.ndarray]]) -> int:
        """Keras alias: ``apply_gradients(zip(grads, variables))``; returns ``iterations``."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self.iterations

    def _update(self, i: int, g: np.ndarray, w: np.ndarray, lr: float) -> None:
        raise NotImplementedError

    # --- config -----------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Constructor arguments with Keras's keys."""
        lr = self._learning_rate
        return {
            "name": self.name,
            "learning_rate": lr if callable(lr) else float(lr),
            "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
            "use_ema": False, "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor, "gradient_accumulation_steps": None,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        """Rebuild (without state) from ``get_config()``."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} learning_rate={self.learning_rate:g}>"


class SGD(Optimizer):
    """``w -= lr*g``; momentum: ``m = mu*m - lr*g; w += m`` (nesterov ``w += mu*m - lr*g``)."""

    def __init__(self, learning_rate: float | Callable = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, **kwargs) -> None:
        if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"`momentum` must be a float between [0, 1]. Received: momentum={momentum!r}")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self._slot_names = ("momentum",) if self.momentum != 0 else ()
        super().__init__(learning_rate=learning_rate, **kwargs)

    def _update(self, i, g, w, lr):
        tmp = self._scratch[i]
        np.multiply(g, lr, out=tmp)
        if not self.momentum:
            w -= tmp
            return
        m = self._slots[i]["momentum"]
        m *= self.momentum
        m -= tmp
        if self.nesterov:
            w += m * self.momentum - tmp
        else:
            w += m

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """``v = rho*v + (1-rho)*g**2; w -= lr*g / sqrt(v + eps)`` (eps INSIDE the sqrt).

    ``centered`` subtracts ``mg**2`` (``mg = rho*mg + (1-rho)*g``) inside the sqrt; ``momentum``
    accumulates ``m = mu*m + increment`` and applies ``w -= m``.
    """

    def __init__(self, learning_rate: float | Callable = 0.001, rho: float = 0.9,
                 momentum: float = 0.0, epsilon: float = 1e-7, centered: bool = False,
                 **kwargs) -> None:
        self.rho, self.momentum = float(rho), float(momentum)
        self.epsilon, self.centered = float(epsilon), bool(centered)
        self._slot_names = ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + \
            (("average_gradient",) if self.centered else ())
        super().__init__(learning_rate=learning_rate, **kwargs)

    def _update(self, i, g, w, lr):
        s, tmp = self._slots[i], self._scratch[i]
        v = s["velocity"]
        if not self.centered and self.momentum == 0 and _fusable(w, g, v):
            # One pass in C++ on the kernels' threads; same roundings (subnormals flushed).
            _engine().rmsprop_update(w, v, g, lr, self.rho, self.epsilon, get_num_threads())
            return
        v *= self.rho
        np.square(g, out=tmp)
        tmp *= 1.0 - self.rho
        v += tmp
        if self.centered:
            mg = s["average_gradient"]
            mg *= self.rho
            mg += (1.0 - self.rho) * g
            np.square(mg, out=tmp)
            np.subtract(v, tmp, out=tmp)
            tmp += self.epsilon
        else:
            np.add(v, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g * np.asarray(lr, w.dtype), tmp, out=tmp)  # the increment
        if self.momentum > 0:
            m = s["momentum"]
            m *= self.momentum
            m += tmp
            w -= m
        else:
            w -= tmp

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adam(Optimizer):
    """``m += (1-b1)(g-m); v += (1-b2)(g**2-v); w -= a*m/(sqrt(v)+eps)``,
    ``a = lr*sqrt(1-b2**t)/(1-b1**t)``; ``amsgrad`` uses ``max`` of past ``v``."""

    def __init__(self, learning_rate: float | Callable = 0.001, beta_1: float = 0.9,
                 beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 **kwargs) -> None:
        self.beta_1, self.beta_2 = float(beta_1), float(beta_2)
        self.epsilon, self.amsgrad = float(epsilon), bool(amsgrad)
        self._slot_names = ("momentum", "velocity") + (("velocity_hat",) if self.amsgrad else ())
        super().__init__(learning_rate=learning_rate, **kwargs)

    def _update(self, i, g, w, lr):
        s, tmp = self._slots[i], self._scratch[i]
        t = self.iterations + 1
        alpha = lr * math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        m, v = s["momentum"], s["velocity"]
        v_hat = s["velocity_hat"] if self.amsgrad else None
        if _fusable(w, g, m, v, *((v_hat,) if self.amsgrad else ())):
            # One pass in C++ on the kernels' threads; same roundings (subnormals flushed).
            _engine().adam_update(w, m, v, v_hat, g, alpha, self.beta_1, self.beta_2,
                                  self.epsilon, get_num_threads())
            return
        np.subtract(g, m, out=tmp)
        tmp *= 1.0 - self.beta_1
        m += tmp
        np.square(g, out=tmp)
        tmp -= v
        tmp *= 1.0 - self.beta_2
        v += tmp
        if self.amsgrad:
            np.maximum(s["velocity_hat"], v, out=s["velocity_hat"])
            v = s["velocity_hat"]
        np.sqrt(v, out=tmp)
        tmp += self.epsilon
        np.divide(m * np.asarray(alpha, w.dtype), tmp, out=tmp)
        w -= tmp

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class Adagrad(Optimizer):
    """``acc += g**2; w -= lr*g / sqrt(acc + eps)``; ``acc`` starts at initial_accumulator_value."""

    _slot_names = ("accumulator",)

    def __init__(self, learning_rate: float | Callable = 0.001,
                 initial_accumulator_value: float = 0.1, epsilon: float = 1e-7, **kwargs) -> None:
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)
        super().__init__(learning_rate=learning_rate, **kwargs)

    def _init_slot(self, slot, v):
        return np.full_like(v, self.initial_accumulator_value)

    def _update(self, i, g, w, lr):
        acc, tmp = self._slots[i]["accumulator"], self._scratch[i]
        np.square(g, out=tmp)
        acc += tmp
        np.add(acc, self.epsilon, out=tmp)
        np.sqrt(tmp, out=tmp)
        np.divide(g * np.asarray(lr, w.dtype), tmp, out=tmp)
        w -= tmp

    def get_config(self) -> dict:
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_CLASSES: dict[str, type[Optimizer]] = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam,
                                        "adagrad": Adagrad}


def serialize(optimizer: Optimizer) -> dict:
    """Keras-style ``{"module", "class_name", "config", "registered_name"}``."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"serialize expects an Optimizer. Received: {optimizer!r}")
    return {"module": "keras.optimizers", "class_name": type(optimizer).__name__,
            "config": optimizer.get_config(), "registered_name": None}


def deserialize(config: dict) -> Optimizer:
    """Build an optimizer from ``{"class_name": ..., "config": {...}}`` (names case-insensitive)."""
    name = config.get("class_name") if isinstance(config, dict) else None
    cls = _CLASSES.get(name.lower()) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"Could not interpret optimizer identifier: {config!r}. "
                         f"Known: {sorted(_CLASSES)}")
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier: Any) -> Optimizer | None:
    """Resolve ``"rmsprop"``/``"adam"``/``"sgd"``/``"adagrad"`` (any case), a dict or an instance."""
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
