"""Fit the float32 tanh of the engine: tanh(x) ~ x P(x^2) / Q(x^2), P and Q of degree 4, Q(0) = 1,
on x in [0, 9] (tanh(9) rounds to 1 in float32; the kernel clamps x to [-9, 9] and the result to
[-1, 1]).

Method: linearized least squares (minimize x P(u) - tanh(x) Q(u), reweighted by the previous Q:
Sanathanan-Koerner), then Lawson's reweighting toward the minimax fit; float64 throughout. Prints
the coefficients (rounded to float32, as src/cpp/isa_kernels.cpp holds them) and the error of a
float32 evaluation. Run: python tools/fit_tanh.py
"""

import numpy as np

LIMIT = 9.0
DEG_P = DEG_Q = 4


def fit(x: np.ndarray, f: np.ndarray, iterations: int = 60) -> tuple[np.ndarray, np.ndarray]:
    u = x * x
    weights = np.ones_like(x)
    q_prev = np.ones_like(x)
    best = (np.inf, None, None)
    for it in range(iterations):
        a = np.hstack([x[:, None] * u[:, None] ** np.arange(DEG_P + 1),
                       -f[:, None] * u[:, None] ** np.arange(1, DEG_Q + 1)])
        scale = (weights / q_prev)[:, None]
        sol, *_ = np.linalg.lstsq(a * scale, f * scale[:, 0], rcond=None)
        p, q = sol[:DEG_P + 1], np.concatenate([[1.0], sol[DEG_P + 1:]])
        q_prev = np.polyval(q[::-1], u)
        err = x * np.polyval(p[::-1], u) / q_prev - f
        if np.abs(err).max() < best[0]:
            best = (np.abs(err).max(), p, q)
        if it >= 5:  # Lawson: weight the points where the error is largest
            weights = weights * np.sqrt(np.abs(err) + 1e-30)
            weights /= weights.max()
    return best[1], best[2]


def evaluate_float32(x: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The kernel's formula in float32 (Horner; the kernel may fuse multiply-adds)."""
    xc = np.clip(x.astype(np.float32), np.float32(-LIMIT), np.float32(LIMIT))
    u = xc * xc
    num = np.full_like(u, p[-1])
    for c in p[-2::-1]:
        num = num * u + c
    den = np.full_like(u, q[-1])
    for c in q[-2::-1]:
        den = den * u + c
    return np.clip(xc * num / den, np.float32(-1), np.float32(1))


def main() -> None:
    x = np.unique(np.concatenate([np.linspace(0, LIMIT, 200001), np.geomspace(1e-6, 1, 20001)]))
    p, q = fit(x, np.tanh(x))
    p32, q32 = p.astype(np.float32), q.astype(np.float32)
    z = np.linspace(-12, 12, 2000001)
    err = np.abs(evaluate_float32(z, p32, q32).astype(np.float64) - np.tanh(z))
    print(f"float32 evaluation: max abs error {err.max():.2e} on [-12, 12]")
    print("P (u^4 .. u^0):", ", ".join(repr(float(c)) for c in p32[::-1]))
    print("Q (u^4 .. u^0):", ", ".join(repr(float(c)) for c in q32[::-1]))


if __name__ == "__main__":
    main()
