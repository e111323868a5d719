"""Embedding -> SimpleRNN: the RNN projects the vocabulary itself (and the Embedding skips its
gather); training must match the plain path, which reads the gathered vectors."""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import layers as L
from fastrnn.layers.simple_rnn import SimpleRNN
from fastrnn.models import Sequential


def _train(rng_seed: int, fused: bool, monkeypatch, mask_zero: bool, bidirectional: bool):
    if not fused:
        monkeypatch.setattr(SimpleRNN, "projects_embedding", lambda self, emb, ids: False)
    rng = np.random.default_rng(rng_seed)
    ids = rng.integers(0 if mask_zero else 1, 30, size=(64, 12))
    y = (ids.sum(axis=1) % 2).astype(np.float32)
    rnn = L.SimpleRNN(8, seed=1)
    m = Sequential([L.Input((12,), dtype="int32"),
                    L.Embedding(30, 6, mask_zero=mask_zero, embeddings_initializer="uniform"),
                    L.Bidirectional(rnn) if bidirectional else rnn,
                    L.Dense(1, activation="sigmoid")])
    m.set_weights([np.random.default_rng(7).normal(scale=0.3, size=w.shape).astype(w.dtype)
                   for w in m.get_weights()])
    m.compile("rmsprop", "binary_crossentropy")
    m.fit(ids, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    monkeypatch.undo()
    return m.get_weights(), m.predict(ids, verbose=0)


@pytest.mark.parametrize("mask_zero", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fused_training_matches_the_plain_path(monkeypatch, mask_zero, bidirectional):
    fused_w, fused_p = _train(0, True, monkeypatch, mask_zero, bidirectional)
    plain_w, plain_p = _train(0, False, monkeypatch, mask_zero, bidirectional)
    for a, b in zip(fused_w, plain_w):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fused_p, plain_p, rtol=1e-4, atol=1e-6)


def test_fused_path_is_taken_and_skips_the_gather(monkeypatch):
    from fastrnn import ops

    gathers, rnn_calls = [], []
    real_gather, real_rnn = ops.embedding_forward, ops.simple_rnn_forward

    def spy_gather(ids, table, **kw):
        gathers.append(table.shape)
        return real_gather(ids, table, **kw)

    def spy_rnn(x, kernel, *args, token_ids=None, **kw):
        rnn_calls.append((x.shape, kernel is None, None if token_ids is None else token_ids.shape))
        return real_rnn(x, kernel, *args, token_ids=token_ids, **kw)

    monkeypatch.setattr(ops, "embedding_forward", spy_gather)
    monkeypatch.setattr(ops, "simple_rnn_forward", spy_rnn)
    ids = np.random.default_rng(0).integers(1, 20, size=(32, 10))
    m = Sequential([L.Embedding(20, 4), L.SimpleRNN(5), L.Dense(1)])
    m.compile("sgd", "mse")
    m.train_on_batch(ids, np.zeros((32, 1), np.float32))
    # no gather at all: the engine reads the projected table (V, units) through the ids
    assert gathers == []
    assert rnn_calls == [((20, 5), True, (32, 10))]


def test_out_of_range_ids_still_name_the_embedding():
    m = Sequential([L.Embedding(20, 4, name="emb"), L.SimpleRNN(5), L.Dense(1)])
    m.compile("sgd", "mse")
    ids = np.full((32, 10), 3)
    ids[0, 0] = 25
    with pytest.raises(ValueError, match="emb"):
        m.train_on_batch(ids, np.zeros((32, 1), np.float32))
