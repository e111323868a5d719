"""A plain-NumPy twin of a small fastrnn classifier, used by the demo as the timing baseline.

It trains the same model as fastrnn does: an optional ``Embedding`` or ``Masking`` input, one
``SimpleRNN`` (tanh) or ``Bidirectional(SimpleRNN)`` returning its last state, and a ``Dense``
head with ``softmax`` (sparse categorical cross-entropy) or ``sigmoid`` (binary
cross-entropy), updated by Keras's ``Adam`` or ``RMSprop`` rule. The recurrence is a Python
loop over time steps with one vectorized matmul per step (``h @ recurrent_kernel``); the input
projection of all steps is one matmul. This is how an RNN is usually written in NumPy, and it
is the baseline the demo compares fastrnn's C++ engine with. It is not used for training.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["NumpyRNNClassifier"]


class _RNNWeights:
    """``kernel (F, H)``, ``recurrent_kernel (H, H)``, ``bias (H,)`` of one direction."""

    def __init__(self, layer: Any, reverse: bool) -> None:
        if layer.activation != "tanh" or not layer.use_bias:
            raise ValueError(
                "NumpyRNNClassifier supports SimpleRNN(activation='tanh', use_bias=True). "
                f"Received: activation={layer.activation!r}, use_bias={layer.use_bias}"
            )
        self.kernel = np.array(layer.kernel, copy=True)
        self.recurrent_kernel = np.array(layer.recurrent_kernel, copy=True)
        self.bias = np.array(layer.bias, copy=True)
        self.reverse = reverse or bool(layer.go_backwards)


def _rnn_forward(x: np.ndarray, mask: np.ndarray | None, w: _RNNWeights) -> tuple:
    """Run one direction; return the last state and what the backward pass needs."""
    B, T, _ = x.shape
    H = w.bias.shape[0]
    xp = x @ w.kernel + w.bias  # (B, T, H): every step's input projection at once
    order = range(T - 1, -1, -1) if w.reverse else range(T)
    h = np.zeros((B, H), dtype=x.dtype)
    h_prev = np.empty((T, B, H), dtype=x.dtype)
    h_new = np.empty((T, B, H), dtype=x.dtype)
    for t in order:
        h_prev[t] = h
        h_new[t] = np.tanh(xp[:, t] + h @ w.recurrent_kernel)
        h = h_new[t] if mask is None else np.where(mask[:, t, None], h_new[t], h)
    return h, (x, mask, h_prev, h_new, order)


def _rnn_backward(dh: np.ndarray, cache: tuple, w: _RNNWeights) -> tuple:
    """BPTT for one direction: gradients of kernel, recurrent kernel, bias and the input."""
    x, mask, h_prev, h_new, order = cache
    B, T, F = x.shape
    dxp = np.zeros((B, T, w.bias.shape[0]), dtype=x.dtype)
    d_rec = np.zeros_like(w.recurrent_kernel)
    for t in reversed(order):
        da = dh * (1.0 - h_new[t] * h_new[t])
        if mask is not None:
            da = np.where(mask[:, t, None], da, 0.0).astype(x.dtype)
        dxp[:, t] = da
        d_rec += h_prev[t].T @ da
        carried = da @ w.recurrent_kernel.T
        dh = carried if mask is None else np.where(mask[:, t, None], carried, dh)
    d_kernel = x.reshape(B * T, F).T @ dxp.reshape(B * T, -1)
    return d_kernel, d_rec, dxp.sum(axis=(0, 1)), dxp @ w.kernel.T


class NumpyRNNClassifier:
    """NumPy copy of a fastrnn ``Sequential`` classifier that can run training steps.

    Build it with ``NumpyRNNClassifier.from_model(model, optimizer, learning_rate)``; the
    weights are copied, so the fastrnn model is left untouched. ``train_step(x, y)`` runs one
    forward pass, backward pass and optimizer update on a batch and returns the loss.
    """

    def __init__(self, embeddings: np.ndarray | None, mask_value: float | None,
                 directions: list[_RNNWeights], dense_kernel: np.ndarray, dense_bias: np.ndarray,
                 head: str, optimizer: str = "adam", learning_rate: float = 0.001) -> None:
        if head not in ("softmax", "sigmoid"):
            raise ValueError(f"head must be 'softmax' or 'sigmoid'. Received: {head!r}")
        if optimizer not in ("adam", "rmsprop"):
            raise ValueError(f"optimizer must be 'adam' or 'rmsprop'. Received: {optimizer!r}")
        self.embeddings = embeddings
        self.mask_value = mask_value
        self.directions = directions
        self.dense_kernel = dense_kernel
        self.dense_bias = dense_bias
        self.head = head
        self.optimizer = optimizer
        self.learning_rate = float(learning_rate)
        self._slots: list[list[np.ndarray]] | None = None
        self.iterations = 0

    @classmethod
    def from_model(cls, model: Any, optimizer: str = "adam",
                   learning_rate: float = 0.001) -> "NumpyRNNClassifier":
        """Copy the weights of ``[Embedding | Masking] -> SimpleRNN | Bidirectional -> Dense``."""
        from ..layers import Bidirectional, Dense, Embedding, InputLayer, Masking, SimpleRNN

        layers = [layer for layer in model.layers if not isinstance(layer, InputLayer)]
        kinds = [type(layer).__name__ for layer in layers]
        embeddings, mask_value = None, None
        if layers and isinstance(layers[0], Embedding):
            if layers[0].mask_zero:
                mask_value = 0
            embeddings = np.array(layers[0].embeddings, copy=True)
            layers = layers[1:]
        elif layers and isinstance(layers[0], Masking):
            mask_value = float(layers[0].mask_value)
            layers = layers[1:]
        ok = (len(layers) == 2 and isinstance(layers[1], Dense)
              and isinstance(layers[0], (SimpleRNN, Bidirectional)))
        if ok and isinstance(layers[0], Bidirectional):
            ok = (layers[0].merge_mode == "concat"
                  and isinstance(layers[0].forward_layer, SimpleRNN))
        if not ok or layers[0].return_sequences or layers[0].return_state:
            raise ValueError(
                "NumpyRNNClassifier supports [Embedding | Masking] -> SimpleRNN | "
                "Bidirectional(SimpleRNN, merge_mode='concat') -> Dense, returning the last "
                f"output. Received layers: {kinds}"
            )
        rnn, dense = layers
        if isinstance(rnn, Bidirectional):
            directions = [_RNNWeights(rnn.forward_layer, False),
                          _RNNWeights(rnn.backward_layer, False)]
        else:
            directions = [_RNNWeights(rnn, False)]
        head = dense.get_config()["activation"]
        return cls(embeddings, mask_value, directions, np.array(dense.kernel, copy=True),
                   np.array(dense.bias, copy=True), head, optimizer, learning_rate)

    def params(self) -> list[np.ndarray]:
        """Every trainable array, in fastrnn's model order."""
        out = [] if self.embeddings is None else [self.embeddings]
        for w in self.directions:
            out += [w.kernel, w.recurrent_kernel, w.bias]
        return out + [self.dense_kernel, self.dense_bias]

    def _inputs(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        if self.embeddings is not None:
            ids = np.asarray(x, dtype=np.int64)
            mask = None if self.mask_value is None else ids != 0
            return self.embeddings[ids], mask
        x = np.asarray(x, dtype=self.dense_kernel.dtype)
        mask = None if self.mask_value is None else np.any(x != self.mask_value, axis=-1)
        return x, mask

    def loss_and_grads(self, x: Any, y: Any) -> tuple[float, list[np.ndarray]]:
        """Mean loss on the batch and the gradients of ``params()``, in the same order."""
        inp, mask = self._inputs(x)
        states, caches = [], []
        for w in self.directions:
            h, cache = _rnn_forward(inp, mask, w)
            states.append(h)
            caches.append(cache)
        h = np.concatenate(states, axis=-1) if len(states) > 1 else states[0]
        z = h @ self.dense_kernel + self.dense_bias
        B = z.shape[0]
        eps = 1e-7
        if self.head == "softmax":
            z = z - z.max(axis=-1, keepdims=True)
            p = np.exp(z)
            p /= p.sum(axis=-1, keepdims=True)
            labels = np.asarray(y, dtype=np.int64).reshape(B)
            loss = -np.mean(np.log(np.clip(p[np.arange(B), labels], eps, 1 - eps)))
            dz = p.copy()
            dz[np.arange(B), labels] -= 1.0
        else:
            p = 1.0 / (1.0 + np.exp(-z))
            t = np.asarray(y, dtype=p.dtype).reshape(B, 1)
            pc = np.clip(p, eps, 1 - eps)
            loss = -np.mean(t * np.log(pc) + (1 - t) * np.log(1 - pc))
            dz = p - t
        dz = (dz / B).astype(z.dtype)
        d_dense_k, d_dense_b = h.T @ dz, dz.sum(axis=0)
        dh = dz @ self.dense_kernel.T
        grads: list[np.ndarray] = []
        d_inp = None
        H = self.directions[0].bias.shape[0]
        for i, (w, cache) in enumerate(zip(self.directions, caches)):
            dk, dr, db, dx = _rnn_backward(dh[:, i * H:(i + 1) * H], cache, w)
            grads += [dk, dr, db]
            d_inp = dx if d_inp is None else d_inp + dx
        if self.embeddings is not None:
            d_emb = np.zeros_like(self.embeddings)
            np.add.at(d_emb, np.asarray(x, dtype=np.int64).reshape(-1),
                      d_inp.reshape(-1, d_inp.shape[-1]))
            grads = [d_emb] + grads
        return float(loss), grads + [d_dense_k, d_dense_b]

    def _apply(self, grads: list[np.ndarray]) -> None:
        params = self.params()
        if self._slots is None:
            self._slots = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
        self.iterations += 1
        lr, eps = self.learning_rate, 1e-7
        if self.optimizer == "adam":
            b1, b2, t = 0.9, 0.999, self.iterations
            alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            for p, g, (m, v) in zip(params, grads, self._slots):
                m += (1 - b1) * (g - m)
                v += (1 - b2) * (g * g - v)
                p -= (alpha * m / (np.sqrt(v) + eps)).astype(p.dtype)
        else:
            rho = 0.9
            for p, g, (v, _) in zip(params, grads, self._slots):
                v *= rho
                v += (1 - rho) * g * g
                p -= (lr * g / np.sqrt(v + eps)).astype(p.dtype)

    def train_step(self, x: Any, y: Any) -> float:
        """One training step (forward, backward, update) on a batch; returns the loss."""
        loss, grads = self.loss_and_grads(x, y)
        self._apply(grads)
        return loss
