"""Process-wide NumPy random generator used by initializers and dropout masks.

``set_global_seed(s)`` (called by ``fastrnn.utils.set_random_seed``) replaces the global
generator, so every generator made afterwards by ``make_generator(None)`` is a deterministic
child of it: layers created in the same order get the same weights.
"""

from __future__ import annotations

import threading

import numpy as np

_lock = threading.Lock()
_global: np.random.Generator = np.random.default_rng()


def _check_seed(seed: object, name: str = "seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative int. Received: {seed!r}")
    if int(seed) < 0:
        raise ValueError(f"{name} must be a non-negative int. Received: {seed!r}")
    return int(seed)


def global_generator() -> np.random.Generator:
    """Return the process-wide generator (replaced by ``set_global_seed``)."""
    return _global


def set_global_seed(seed: int) -> None:
    """Reseed the process-wide generator with ``seed`` (a non-negative int)."""
    global _global
    seed = _check_seed(seed)
    with _lock:
        _global = np.random.default_rng(seed)


def make_generator(seed: int | None = None) -> np.random.Generator:
    """A generator seeded with ``seed``, or a fresh child of the global one when ``None``."""
    if seed is not None:
        return np.random.default_rng(_check_seed(seed))
    with _lock:
        # spawn() derives an independent, reproducible stream from the parent's seed sequence.
        return _global.spawn(1)[0]
