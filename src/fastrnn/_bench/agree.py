"""Agreement checks: fastrnn and a peer must compute the same numbers before either is timed."""

from __future__ import annotations

import numpy as np

__all__ = ["Disagreement", "relative_error", "check_close", "compare_results"]

# float32 over hundreds of time steps: a few ulps per step add up; 1e-4 relative to the
# largest magnitude of the reference still catches any transposed weight or missing bias.
RTOL = 1e-4


class Disagreement(AssertionError):
    """fastrnn and a peer computed different results (the timing would be meaningless)."""


def relative_error(a, b) -> float:
    """``max|a - b| / max(max|b|, tiny)`` in float64; inf for mismatched shapes."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    scale = max(float(np.abs(b).max()), 1e-30)
    return float(np.abs(a - b).max() / scale)


def check_close(name: str, got, want, rtol: float = RTOL) -> float:
    """Raise :class:`Disagreement` naming ``name`` when the relative error exceeds ``rtol``."""
    err = relative_error(got, want)
    if not err <= rtol:
        got_shape = np.shape(got)
        want_shape = np.shape(want)
        raise Disagreement(
            f"{name}: relative error {err:.3g} > {rtol:g} "
            f"(shapes {got_shape} vs {want_shape})"
        )
    return err


def compare_results(label: str, got: dict, want: dict, rtol: float = RTOL) -> float:
    """Compare every key both result dicts have (``outputs``, ``final``, ``dx``, ``grads``,
    ``loss``); returns the largest relative error, raises :class:`Disagreement` on failure."""
    worst = 0.0
    for key in ("outputs", "final", "dx", "loss"):
        if key in got and key in want:
            worst = max(worst, check_close(f"{label}: {key}", got[key], want[key], rtol))
    if "grads" in got and "grads" in want:
        flat_got = _flatten(got["grads"])
        flat_want = _flatten(want["grads"])
        if len(flat_got) != len(flat_want):
            raise Disagreement(
                f"{label}: {len(flat_got)} gradients vs {len(flat_want)} expected"
            )
        for i, (g, w) in enumerate(zip(flat_got, flat_want)):
            worst = max(worst, check_close(f"{label}: gradient {i}", g, w, rtol))
    return worst


def _flatten(grads) -> list:
    out = []
    for g in grads:
        if isinstance(g, (tuple, list)):
            out.extend(g)
        else:
            out.append(g)
    return out
