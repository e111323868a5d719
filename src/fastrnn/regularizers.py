"""Weight regularizers with Keras's names and defaults: L1, L2, L1L2 (alias ``l1_l2``).

``reg(w)`` returns the penalty as a Python float (added to the loss) and ``reg.gradient(w)``
its derivative, which layers add to the weight's gradient. Defaults follow Keras 3:
``L1(l1=0.01)``, ``L2(l2=0.01)``, ``L1L2(l1=0.0, l2=0.0)``. The L1 gradient at 0 is 0 (sign).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize",
           "deserialize"]


def _penalty(value: Any, name: str) -> float:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or math.isnan(value) or math.isinf(value) or value < 0):
        raise ValueError(
            f"Invalid value for argument {name}: expected a non-negative float. "
            f"Received: {name}={value!r}"
        )
    return float(value)


class Regularizer:
    """Base class: ``__call__(w) -> float`` and ``gradient(w) -> ndarray``."""

    def __call__(self, w) -> float:
        return 0.0

    def gradient(self, w) -> np.ndarray:
        """d penalty / d w, same shape and dtype as ``w``."""
        return np.zeros_like(np.asarray(w))

    def get_config(self) -> dict:
        """Constructor arguments."""
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Regularizer":
        """Rebuild from ``get_config()``."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)`` (Keras defaults 0.0 and 0.0)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _penalty(0.0 if l1 is None else l1, "l1")
        self.l2 = _penalty(0.0 if l2 is None else l2, "l2")

    def __call__(self, w) -> float:
        w = np.asarray(w, dtype=np.float64)
        total = 0.0
        if self.l1:
            total += self.l1 * float(np.abs(w).sum())
        if self.l2:
            total += self.l2 * float(np.vdot(w, w))
        return total

    def gradient(self, w) -> np.ndarray:
        w = np.asarray(w)
        out = np.zeros_like(w)
        if self.l1:
            out += self.l1 * np.sign(w)
        if self.l2:
            out += (2.0 * self.l2) * w
        return out

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)`` (Keras default ``l1=0.01``)."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=0.01 if l1 is None else l1, l2=0.0)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w**2)`` (Keras default ``l2=0.01``)."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l1=0.0, l2=0.01 if l2 is None else l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2
_BY_NAME: dict[str, type[Regularizer]] = {
    "L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1_l2": L1L2,
}


def serialize(regularizer: Regularizer) -> dict:
    """Keras-style ``{"module", "class_name", "config", "registered_name"}``."""
    if not isinstance(regularizer, Regularizer):
        raise TypeError(f"serialize expects a Regularizer. Received: {regularizer!r}")
    return {"module": "keras.regularizers", "class_name": type(regularizer).__name__,
            "config": regularizer.get_config(), "registered_name": None}


def deserialize(config: dict | str) -> Regularizer:
    """Inverse of ``serialize``; also accepts a name (``"l1"``, ``"l2"``, ``"l1_l2"``, class names)."""
    name = config if isinstance(config, str) else (config or {}).get("class_name")
    cls = _BY_NAME.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"Could not interpret regularizer identifier: {config!r}")
    return cls() if isinstance(config, str) else cls.from_config(dict(config.get("config") or {}))


def get(identifier: Any) -> Regularizer | None:
    """Resolve ``None``, a name, a config dict, an instance or a Regularizer class."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        return deserialize(identifier)
    if isinstance(identifier, type) and issubclass(identifier, Regularizer):
        return identifier()
    if isinstance(identifier, Regularizer) or (callable(identifier) and hasattr(identifier, "gradient")):
        return identifier
    raise ValueError(
        f"Could not interpret regularizer identifier (expected a name, dict or Regularizer "
        f"with a gradient method). Received: {identifier!r}"
    )
