"""Activations: forward against NumPy float64 formulas, backward against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import activations

RNG = np.random.default_rng(0)


def _reference(name, x):
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return np.where(x > 0, x, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "linear":
        return x
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


NAMES = ["tanh", "relu", "sigmoid", "linear", "softmax"]


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_formula(name):
    x = RNG.normal(size=(3, 4, 5)) * 3
    x_copy = x.copy()
    np.testing.assert_allclose(activations.get(name)(x), _reference(name, x), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(x, x_copy)


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_central_differences(name):
    act = activations.get(name)
    x = RNG.normal(size=(4, 6))
    x[np.abs(x) < 1e-3] = 0.5  # keep relu away from its kink
    dy = RNG.normal(size=x.shape)
    y = act.forward(x)
    got = act.backward(y, dy)
    eps = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = ((act.forward(xp) - act.forward(xm)) * dy).sum() / (2 * eps)
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-8)


def test_float32_stays_float32_and_sigmoid_is_stable():
    x = np.array([-1000.0, -20.0, 0.0, 20.0, 1000.0], dtype=np.float32)
    for name in NAMES:
        out = activations.get(name)(x)
        assert out.dtype == np.float32 and np.isfinite(out).all()
    s = activations.sigmoid(x)
    assert s[0] == 0.0 and s[-1] == 1.0 and s[2] == 0.5


def test_get_and_serialize():
    assert activations.get(None) is activations.linear
    assert activations.get("tanh") is activations.tanh
    assert activations.serialize(activations.relu) == "relu"
    assert activations.serialize("sigmoid") == "sigmoid"
    assert activations.deserialize("softmax") is activations.softmax
    assert [n for n in NAMES if activations.get(n).is_core] == ["tanh", "relu", "sigmoid", "linear"]
    with pytest.raises(ValueError, match="swish"):
        activations.get("swish")
    with pytest.raises(ValueError, match="Received"):
        activations.get(3)


def test_plain_callable_forward_only():
    act = activations.get(lambda x: 2 * x)
    np.testing.assert_array_equal(act(np.ones(2)), [2.0, 2.0])
    with pytest.raises(NotImplementedError):
        act.backward(np.ones(2), np.ones(2))


def test_object_with_forward_backward_is_kept():
    class Square:
        def forward(self, x):
            return x * x

        def backward(self, y, dy):
            return 2 * np.sqrt(y) * dy

    sq = Square()
    assert activations.get(sq) is sq
