"""The NumPy reference peer: a vectorized per-step SimpleRNN loop, its BPTT and the lecture model.

Forward: one big input-projection matmul over all time steps, then per step ``h @ U`` + tanh.
Backward: per step ``delta = dh * (1 - h**2)``, ``dh = delta @ U.T``; the weight gradients are
batched matmuls over all steps at the end. States are kept time-major ``(T, B, H)``; the outputs
are returned as a ``(B, T, H)`` view of them. NumPy cannot set flush-to-zero, so subnormal
gradients in long BPTT run at NumPy's (slow) subnormal speed.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

__all__ = [
    "RNNCache", "rnn_forward", "rnn_backward", "network_forward", "network_train",
    "LectureNumpy",
]


class RNNCache(NamedTuple):
    """What :func:`rnn_backward` needs: time-major input, states and weights."""

    xt: np.ndarray  # (T, B, F), in processing order
    hs: np.ndarray  # (T, B, H), in processing order
    h0: np.ndarray  # (B, H)
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    go_backwards: bool


def rnn_forward(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
                bias: Optional[np.ndarray], go_backwards: bool = False):
    """SimpleRNN(tanh) over ``x`` (B, T, F); returns ``(outputs (B,T,H), final (B,H), cache)``.

    Outputs are in processing order (reversed time when ``go_backwards``), as in Keras.
    """
    B, T, F = x.shape
    H = kernel.shape[1]
    xt = np.ascontiguousarray(x.transpose(1, 0, 2)[::-1] if go_backwards else x.transpose(1, 0, 2))
    hs = (xt.reshape(T * B, F) @ kernel).reshape(T, B, H)
    if bias is not None:
        hs += bias
    h = np.zeros((B, H), x.dtype)
    for t in range(T):
        a = hs[t]
        a += h @ recurrent_kernel
        np.tanh(a, out=a)
        h = a
    cache = RNNCache(xt, hs, np.zeros((B, H), x.dtype), kernel, recurrent_kernel, go_backwards)
    return hs.transpose(1, 0, 2), hs[-1], cache


def rnn_backward(cache: RNNCache, d_outputs: Optional[np.ndarray] = None,
                 d_final: Optional[np.ndarray] = None):
    """BPTT for :func:`rnn_forward`; returns ``(dx (B,T,F), dkernel, drecurrent_kernel, dbias)``.

    ``d_outputs`` (B, T, H) in processing order and/or ``d_final`` (B, H).
    """
    xt, hs, h0, kernel, rec = cache.xt, cache.hs, cache.h0, cache.kernel, cache.recurrent_kernel
    T, B, F = xt.shape
    H = kernel.shape[1]
    deltas = np.empty_like(hs)
    dh = np.zeros((B, H), hs.dtype) if d_final is None else d_final.astype(hs.dtype, copy=True)
    d_out_t = None if d_outputs is None else d_outputs.transpose(1, 0, 2)
    rec_t = np.ascontiguousarray(rec.T)
    for t in range(T - 1, -1, -1):
        if d_out_t is not None:
            dh += d_out_t[t]
        h = hs[t]
        da = deltas[t]
        np.multiply(h, h, out=da)
        np.subtract(1.0, da, out=da)
        da *= dh
        dh = da @ rec_t
    flat = deltas.reshape(T * B, H)
    dkernel = xt.reshape(T * B, F).T @ flat
    h_prev = np.concatenate([h0[None], hs[:-1]], axis=0).reshape(T * B, H)
    drec = h_prev.T @ flat
    dbias = flat.sum(axis=0)
    dxt = (flat @ kernel.T).reshape(T, B, F)
    if cache.go_backwards:
        dxt = dxt[::-1]
    return dxt.transpose(1, 0, 2), dkernel, drec, dbias


def network_forward(x: np.ndarray, weights: list, bidirectional: bool) -> dict:
    """Forward pass of a stacked or bidirectional network (layout of ``RNNData.weights``).

    Returns ``{"outputs": last layer's (B,T,H) outputs (forward direction), "final": (B,H)
    or concatenated (B,2H)}`` plus ``"_caches"`` for :func:`network_train`.
    """
    if bidirectional and len(weights[0]) != 1:
        raise ValueError(f"bidirectional networks have one layer. Received: {len(weights[0])}")
    caches, finals, outputs = [], [], None
    for d, layers in enumerate(weights):
        h, dir_caches = x, []
        for k, r, b in layers:
            out, final, cache = rnn_forward(h, k, r, b, go_backwards=(d == 1))
            dir_caches.append(cache)
            h = out
        caches.append(dir_caches)
        finals.append(final)
        if d == 0:
            outputs = h
    final = finals[0] if len(finals) == 1 else np.concatenate(finals, axis=1)
    return {"outputs": outputs, "final": final, "_caches": caches}


def network_train(x: np.ndarray, weights: list, bidirectional: bool,
                  d_final: np.ndarray) -> dict:
    """Forward + backward with the loss gradient ``d_final`` on the final output.

    Returns ``{"final", "dx", "grads"}``; ``grads`` lists ``(dkernel, drec, dbias)`` per
    direction then layer, in ``weights`` order.
    """
    fwd = network_forward(x, weights, bidirectional)
    H = weights[0][0][0].shape[1]
    dx_total, grads = None, []
    for d, dir_caches in enumerate(fwd["_caches"]):
        d_last = d_final[:, d * H:(d + 1) * H]
        dir_grads = []
        d_out, d_fin = None, d_last
        for cache in reversed(dir_caches):
            dx, dk, dr, db = rnn_backward(cache, d_outputs=d_out, d_final=d_fin)
            dir_grads.append((dk, dr, db))
            d_out, d_fin = dx, None  # dx is in input time order, the layer below's outputs
        grads.extend(reversed(dir_grads))
        dx_total = d_out if dx_total is None else dx_total + d_out
    return {"final": fwd["final"], "dx": dx_total, "grads": grads}


class LectureNumpy:
    """Embedding -> SimpleRNN -> Dense(1, sigmoid), binary cross-entropy, Keras RMSprop.

    ``weights`` in Keras order (embeddings, kernel, recurrent_kernel, bias, dense kernel, dense
    bias); copied, never modified in the caller. Keras semantics: probabilities clipped to
    [1e-7, 1 - 1e-7], loss averaged over the batch, ``v = rho*v + (1-rho)*g**2``,
    ``w -= lr*g/sqrt(v + eps)``.
    """

    def __init__(self, weights: list, learning_rate: float = 1e-3, rho: float = 0.9,
                 epsilon: float = 1e-7) -> None:
        self.weights = [np.array(w, dtype=np.float32, copy=True) for w in weights]
        self.velocity = [np.zeros_like(w) for w in self.weights]
        self.lr, self.rho, self.eps = learning_rate, rho, epsilon

    def gradients(self, ids: np.ndarray, y: np.ndarray) -> tuple[float, list]:
        """Loss and gradients for one batch, without updating."""
        emb, k, r, b, dk, db = self.weights
        x = emb[ids]  # (B, T, D)
        _, h, cache = rnn_forward(x, k, r, b)
        z = h @ dk + db
        p = 1.0 / (1.0 + np.exp(-z))
        lo, hi = np.float32(1e-7), np.float32(1 - 1e-7)
        pc = np.clip(p, lo, hi)
        B = ids.shape[0]
        loss = float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)))
        dp = (-(y / pc) + (1 - y) / (1 - pc)) / B * ((p >= lo) & (p <= hi))
        dz = (dp * p * (1 - p)).astype(np.float32)
        g_dk = h.T @ dz
        g_db = dz.sum(axis=0)
        dh = dz @ dk.T
        dx, g_k, g_r, g_b = rnn_backward(cache, d_final=dh)
        g_emb = np.zeros_like(emb)
        np.add.at(g_emb, ids.reshape(-1), dx.reshape(-1, emb.shape[1]))
        return loss, [g_emb, g_k, g_r, g_b, g_dk, g_db]

    def train_step(self, ids: np.ndarray, y: np.ndarray) -> tuple[float, list]:
        """One RMSprop step; returns the batch loss and the gradients used."""
        loss, grads = self.gradients(ids, y)
        for w, v, g in zip(self.weights, self.velocity, grads):
            v *= self.rho
            v += (1 - self.rho) * g * g
            w -= self.lr * g / np.sqrt(v + self.eps)
        return loss, grads
