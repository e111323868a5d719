"""Plain NumPy float64 SimpleRNN written from the formulas: the executable specification.

Deliberately slow and obvious: one sample at a time, one step at a time. Keras semantics:
masked steps carry the state, output the previous output (zeros before the first valid step,
or zeros everywhere with zero_output_for_mask); go_backwards returns outputs in processing order.
"""

from __future__ import annotations

import numpy as np


def act_forward(z, name):
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    return z


def act_derivative_from_output(y, name):
    if name == "tanh":
        return 1.0 - y * y
    if name == "relu":
        return (y > 0).astype(np.float64)
    if name == "sigmoid":
        return y * (1.0 - y)
    return np.ones_like(y)


def _prepare(x, W, U, b, h0, mask, mx, mh):
    x = np.asarray(x, np.float64)
    B, T, F = x.shape
    H = W.shape[1]
    W = np.asarray(W, np.float64)
    U = np.asarray(U, np.float64)
    b = np.zeros(H) if b is None else np.asarray(b, np.float64)
    h0 = np.zeros((B, H)) if h0 is None else np.asarray(h0, np.float64)
    mask = np.ones((B, T), bool) if mask is None else np.asarray(mask, bool)
    mx = np.ones((B, F)) if mx is None else np.asarray(mx, np.float64)
    mh = np.ones((B, H)) if mh is None else np.asarray(mh, np.float64)
    return x, W, U, b, h0, mask, mx, mh


def forward(x, W, U, b=None, h0=None, mask=None, activation="tanh", go_backwards=False,
            zero_output_for_mask=False, mx=None, mh=None):
    """Return (outputs (B,T,H) in processing order, final state (B,H), states by input time)."""
    x, W, U, b, h0, mask, mx, mh = _prepare(x, W, U, b, h0, mask, mx, mh)
    B, T, _ = x.shape
    H = W.shape[1]
    outputs = np.zeros((B, T, H))
    states = np.zeros((B, T, H))
    final = np.zeros((B, H))
    for n in range(B):
        h = h0[n].copy()
        out_prev = np.zeros(H)
        for s in range(T):
            t = T - 1 - s if go_backwards else s
            if mask[n, t]:
                h = act_forward((x[n, t] * mx[n]) @ W + b + (h * mh[n]) @ U, activation)
                out = h
            else:
                out = np.zeros(H) if zero_output_for_mask else out_prev
            states[n, t] = h
            outputs[n, s] = out
            out_prev = out
        final[n] = h
    return outputs, final, states


def backward(x, W, U, b=None, h0=None, mask=None, activation="tanh", go_backwards=False,
             zero_output_for_mask=False, mx=None, mh=None, d_outputs=None, d_final=None):
    """Gradients (dx, dW, dU, db, dh0) of sum(d_outputs*outputs) + sum(d_final*final)."""
    outputs, final, states = forward(x, W, U, b, h0, mask, activation, go_backwards,
                                     zero_output_for_mask, mx, mh)
    x, W, U, b, h0, mask, mx, mh = _prepare(x, W, U, b, h0, mask, mx, mh)
    B, T, F = x.shape
    H = W.shape[1]
    d_outputs = np.zeros((B, T, H)) if d_outputs is None else np.asarray(d_outputs, np.float64)
    d_final = np.zeros((B, H)) if d_final is None else np.asarray(d_final, np.float64)
    dx = np.zeros_like(x)
    dW = np.zeros_like(W)
    dU = np.zeros_like(U)
    db = np.zeros(H)
    dh0 = np.zeros((B, H))
    for n in range(B):
        g_state = d_final[n].copy()  # dL/d(state after the current step)
        g_out_pending = np.zeros(H)  # output gradients of masked steps, owed to the last valid output
        for s in reversed(range(T)):
            t = T - 1 - s if go_backwards else s
            if s > 0:
                prev = states[n, T - s if go_backwards else s - 1]
            else:
                prev = h0[n]
            if mask[n, t]:
                g = g_state + d_outputs[n, s] + g_out_pending
                g_out_pending = np.zeros(H)
                delta = g * act_derivative_from_output(states[n, t], activation)
                dW += np.outer(x[n, t] * mx[n], delta)
                dU += np.outer(prev * mh[n], delta)
                db += delta
                dx[n, t] = (W @ delta) * mx[n]
                g_state = (U @ delta) * mh[n]
            else:
                if not zero_output_for_mask:
                    g_out_pending = g_out_pending + d_outputs[n, s]
                # state carried unchanged: its gradient passes straight through
        dh0[n] = g_state
    return dx, dW, dU, db, dh0
