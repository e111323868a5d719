"""fastrnn's side of each workload: the engine ops for kernel workloads, the real ``Sequential``
for the lecture model. Results use the same dictionaries as the peers for agreement checks."""

from __future__ import annotations

import numpy as np

from .. import ops

__all__ = ["network_forward", "network_train", "lecture_model", "lecture_step_details"]


def network_forward(x: np.ndarray, weights: list, bidirectional: bool, threads: int) -> dict:
    """Forward pass (``RNNData.weights`` layout); ``{"outputs", "final", "_results"}``."""
    results, finals, outputs = [], [], None
    for d, layers in enumerate(weights):
        h, dir_results = x, []
        for k, r, b in layers:
            res = ops.simple_rnn_forward(h, k, r, b, go_backwards=(d == 1), num_threads=threads)
            dir_results.append(res)
            h = res.outputs
        results.append(dir_results)
        finals.append(dir_results[-1].final_state)
        if d == 0:
            outputs = h
    final = finals[0] if len(finals) == 1 else np.concatenate(finals, axis=1)
    return {"outputs": outputs, "final": final, "_results": results}


def network_train(x: np.ndarray, weights: list, bidirectional: bool, d_final: np.ndarray,
                  threads: int) -> dict:
    """Forward + BPTT with loss gradient ``d_final``; ``{"final", "dx", "grads"}`` as the
    NumPy peer's :func:`~fastrnn._bench.numpy_peer.network_train`."""
    fwd = network_forward(x, weights, bidirectional, threads)
    H = weights[0][0][0].shape[1]
    dx_total, grads = None, []
    for d, dir_results in enumerate(fwd["_results"]):
        d_out, d_fin = None, np.ascontiguousarray(d_final[:, d * H:(d + 1) * H])
        dir_grads = []
        for res in reversed(dir_results):
            g = ops.simple_rnn_backward(res.cache, d_out, d_fin, num_threads=threads)
            dir_grads.append((g.dkernel, g.drecurrent_kernel, g.dbias))
            d_out, d_fin = g.dx, None
        grads.extend(reversed(dir_grads))
        dx_total = d_out if dx_total is None else dx_total + d_out
    return {"final": fwd["final"], "dx": dx_total, "grads": grads}


def lecture_model(weights: list):
    """The lecture model as a compiled ``fastrnn.models.Sequential`` holding copies of
    ``weights`` (Keras order); RMSprop and binary cross-entropy with Keras defaults."""
    from .. import layers
    from ..models import Sequential

    model = Sequential([
        layers.Embedding(weights[0].shape[0], weights[0].shape[1]),
        layers.SimpleRNN(weights[1].shape[1]),
        layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer="rmsprop", loss="binary_crossentropy")
    model.build((None, None))
    model.set_weights([np.array(w, copy=True) for w in weights])
    return model


def lecture_step_details(model, ids: np.ndarray, y: np.ndarray) -> tuple[float, list]:
    """One ``train_on_batch``; returns its loss and the gradients it applied (Keras order)."""
    loss = model.train_on_batch(ids, y)
    grads = [np.array(g, copy=True) for layer in model.layers for g in layer.grads]
    return float(np.asarray(loss).reshape(-1)[0]), grads
