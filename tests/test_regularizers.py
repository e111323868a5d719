"""Regularizers: penalties against float64 formulas, gradients against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import regularizers

W = np.random.default_rng(0).normal(size=(5, 4))


def test_defaults_follow_keras():
    assert regularizers.L1().l1 == 0.01 and regularizers.L2().l2 == 0.01
    assert regularizers.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.l1_l2 is regularizers.L1L2


@pytest.mark.parametrize("reg,expected", [
    (regularizers.L1(0.3), 0.3 * np.abs(W).sum()),
    (regularizers.L2(0.2), 0.2 * (W ** 2).sum()),
    (regularizers.L1L2(0.1, 0.05), 0.1 * np.abs(W).sum() + 0.05 * (W ** 2).sum()),
])
def test_penalty_and_gradient(reg, expected):
    w = W.copy()
    assert isinstance(reg(w), float)
    np.testing.assert_allclose(reg(w), expected, rtol=1e-12)
    eps = 1e-6
    num = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        wp, wm = w.copy(), w.copy()
        wp[idx] += eps
        wm[idx] -= eps
        num[idx] = (reg(wp) - reg(wm)) / (2 * eps)
    np.testing.assert_allclose(reg.gradient(w), num, rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(w, W)


def test_float32_gradient_dtype():
    g = regularizers.L2()(W.astype(np.float32)), regularizers.L2().gradient(W.astype(np.float32))
    assert g[1].dtype == np.float32


def test_get_serialize():
    for name in ["l1", "l2", "l1_l2", "L1", "L1L2"]:
        reg = regularizers.get(name)
        again = regularizers.get(regularizers.serialize(reg))
        assert type(again) is type(reg) and again.get_config() == reg.get_config()
    r = regularizers.L1L2(l1=0.5, l2=0.25)
    assert regularizers.get(r) is r
    assert regularizers.get(regularizers.serialize(r)).get_config() == {"l1": 0.5, "l2": 0.25}
    assert regularizers.get(None) is None
    assert isinstance(regularizers.get(regularizers.L2), regularizers.L2)


def test_bad_values():
    with pytest.raises(ValueError, match="l1"):
        regularizers.L1(-1.0)
    with pytest.raises(ValueError, match="l2"):
        regularizers.L2(float("nan"))
    with pytest.raises(ValueError, match="foo"):
        regularizers.get("foo")
