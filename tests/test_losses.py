"""Losses: values vs NumPy float64 formulas, gradients vs central differences, masks, weights."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fastrnn import losses

RNG = np.random.default_rng(0)
EPS = 1e-7


def _ref_values(kind, yt, yp, from_logits=False):
    """Independent float64 per-sample values."""
    yt = np.asarray(yt, np.float64)
    yp = np.asarray(yp, np.float64)
    if kind == "bce":
        p = 1 / (1 + np.exp(-yp)) if from_logits else np.clip(yp, EPS, 1 - EPS)
        return np.mean(-(yt * np.log(p) + (1 - yt) * np.log(1 - p)), axis=-1)
    if kind == "cce":
        if from_logits:
            p = np.exp(yp) / np.exp(yp).sum(-1, keepdims=True)
        else:
            p = np.clip(yp / yp.sum(-1, keepdims=True), EPS, 1 - EPS)
        return -np.sum(yt * np.log(p), axis=-1)
    if kind == "mse":
        return np.mean((yt - yp) ** 2, axis=-1)
    return np.mean(np.abs(yt - yp), axis=-1)


def _numgrad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (f(xp) - f(xm)) / (2 * eps)
    return g


def _probs(shape):
    return RNG.uniform(0.05, 0.95, size=shape)


CASES = [
    ("bce", losses.BinaryCrossentropy(), lambda s: RNG.integers(0, 2, s).astype(float), _probs),
    ("bce", losses.BinaryCrossentropy(from_logits=True),
     lambda s: RNG.integers(0, 2, s).astype(float), lambda s: RNG.normal(size=s) * 3),
    ("cce", losses.CategoricalCrossentropy(),
     lambda s: np.eye(s[-1])[RNG.integers(0, s[-1], s[:-1])], _probs),
    ("cce", losses.CategoricalCrossentropy(from_logits=True),
     lambda s: np.eye(s[-1])[RNG.integers(0, s[-1], s[:-1])], lambda s: RNG.normal(size=s)),
    ("mse", losses.MeanSquaredError(), lambda s: RNG.normal(size=s), lambda s: RNG.normal(size=s)),
    ("mae", losses.MeanAbsoluteError(), lambda s: RNG.normal(size=s), lambda s: RNG.normal(size=s)),
]


@pytest.mark.parametrize("kind,loss,make_t,make_p", CASES)
@pytest.mark.parametrize("shape", [(5, 1), (4, 3), (2, 3, 4)])
def test_value_and_gradient(kind, loss, make_t, make_p, shape):
    if kind == "cce" and shape[-1] == 1:
        pytest.skip("categorical needs > 1 class")
    yt, yp = make_t(shape), make_p(shape)
    yp_copy = yp.copy()
    expected = _ref_values(kind, yt, yp, getattr(loss, "from_logits", False)).mean()
    np.testing.assert_allclose(loss(yt, yp), expected, rtol=1e-10)
    value, grad = loss.value_and_grad(yt, yp)
    np.testing.assert_allclose(value, expected, rtol=1e-10)
    assert grad.shape == yp.shape and grad.dtype == np.float64
    np.testing.assert_allclose(grad, _numgrad(lambda p: loss(yt, p), yp), rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(yp, yp_copy)


@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_matches_categorical(from_logits):
    ids = RNG.integers(0, 4, size=(3, 5))
    yp = _probs((3, 5, 4)) if not from_logits else RNG.normal(size=(3, 5, 4))
    sparse = losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    cat = losses.CategoricalCrossentropy(from_logits=from_logits)
    v1, g1 = sparse.value_and_grad(ids, yp)
    v2, g2 = cat.value_and_grad(np.eye(4)[ids], yp)
    np.testing.assert_allclose(v1, v2, rtol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-12)
    np.testing.assert_allclose(sparse(ids[..., None], yp), v1, rtol=1e-12)
    with pytest.raises(ValueError, match="\\[0, 4\\)"):
        sparse(ids + 4, yp)


def test_clipping_and_its_gradient():
    loss = losses.BinaryCrossentropy()
    yt = np.array([[1.0], [0.0], [1.0]])
    yp = np.array([[1.0], [1.0], [0.0]])
    expected = -np.log(np.array([1 - EPS, EPS, EPS])).mean()
    np.testing.assert_allclose(loss(yt, yp), expected, rtol=1e-9)
    _, g = loss.value_and_grad(yt, yp)
    np.testing.assert_array_equal(g, 0.0)  # outside the clip range autodiff gives zero
    # float32 clips at float32(1 - 1e-7) like Keras.
    v32 = loss(yt, yp.astype(np.float32))
    hi = np.float32(1) - np.float32(EPS)
    lo = np.float32(EPS)
    exp32 = -(np.log(hi) + np.log(np.float32(1) - hi) + np.log(lo)) / 3  # float32 arithmetic
    np.testing.assert_allclose(v32, exp32, rtol=1e-6)


def test_label_rank_alignment_and_dtype():
    loss = losses.get("binary_crossentropy")
    yt = np.array([1, 0, 1])
    yp = np.array([[0.9], [0.2], [0.6]], dtype=np.float32)
    val, g = loss.value_and_grad(yt, yp)
    np.testing.assert_allclose(val, _ref_values("bce", yt[:, None], yp).mean(), rtol=1e-6)
    assert g.dtype == np.float32 and g.shape == (3, 1)
    with pytest.raises(ValueError, match="Received"):
        loss(np.zeros((3, 2)), yp)


def test_sample_weight_and_mask():
    loss = losses.MeanSquaredError()
    yt, yp = RNG.normal(size=(3, 4, 2)), RNG.normal(size=(3, 4, 2))
    per = _ref_values("mse", yt, yp)  # (3, 4)
    sw = np.array([1.0, 2.0, 0.5])
    np.testing.assert_allclose(loss(yt, yp, sample_weight=sw), (per * sw[:, None]).mean(), rtol=1e-12)
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 0, 0, 1]], bool)
    np.testing.assert_allclose(loss(yt, yp, mask=mask), per[mask].mean(), rtol=1e-12)
    v, g = loss.value_and_grad(yt, yp, sample_weight=sw, mask=mask)
    np.testing.assert_allclose(v, (per * sw[:, None])[mask].sum() / mask.sum(), rtol=1e-12)
    num = _numgrad(lambda p: loss(yt, p, sample_weight=sw, mask=mask), yp)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9)
    assert not g[~mask].any()
    assert loss(yt, yp, mask=np.zeros((3, 4), bool)) == 0.0
    with pytest.raises(ValueError, match="sample_weight"):
        loss(yt, yp, sample_weight=np.ones(5))


def test_reductions():
    yt, yp = RNG.normal(size=(4, 2)), RNG.normal(size=(4, 2))
    per = _ref_values("mse", yt, yp)
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="sum")(yt, yp), per.sum())
    np.testing.assert_allclose(losses.MeanSquaredError(reduction="none")(yt, yp), per)
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="max")


@pytest.mark.parametrize("name,cls", [
    ("binary_crossentropy", losses.BinaryCrossentropy), ("bce", losses.BinaryCrossentropy),
    ("BinaryCrossentropy", losses.BinaryCrossentropy), ("mse", losses.MeanSquaredError),
    ("MAE", losses.MeanAbsoluteError), ("mean_squared_error", losses.MeanSquaredError),
    ("categorical_crossentropy", losses.CategoricalCrossentropy),
    ("sparse_categorical_crossentropy", losses.SparseCategoricalCrossentropy),
])
def test_get_names(name, cls):
    assert type(losses.get(name)) is cls


def test_get_other_identifiers():
    assert type(losses.get("ce", (8,), (8, 1))) is losses.BinaryCrossentropy
    assert type(losses.get("crossentropy", (8,), (8, 3))) is losses.SparseCategoricalCrossentropy
    assert type(losses.get("CE", (8, 3), (8, 3))) is losses.CategoricalCrossentropy
    assert type(losses.get(losses.binary_crossentropy)) is losses.BinaryCrossentropy
    bce = losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    again = losses.get(losses.serialize(bce))
    assert again.get_config() == bce.get_config()
    assert losses.get(bce) is bce and losses.get(None) is None
    with pytest.raises(ValueError, match="kld"):
        losses.get("kld")
    custom = losses.get(lambda t, p: np.mean((t - p) ** 2, axis=-1))
    assert custom(np.zeros((2, 1)), np.ones((2, 1))) == 1.0
    with pytest.raises(NotImplementedError):
        custom.value_and_grad(np.zeros((2, 1)), np.ones((2, 1)))


# --- optional live parity with Keras (torch backend) ----------------------------------------

@pytest.mark.parametrize("name,from_logits", [
    ("BinaryCrossentropy", False), ("BinaryCrossentropy", True),
    ("CategoricalCrossentropy", False), ("CategoricalCrossentropy", True),
    ("SparseCategoricalCrossentropy", False), ("MeanSquaredError", None),
    ("MeanAbsoluteError", None),
])
def test_keras_parity_value_and_gradient(name, from_logits):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    if keras.backend.backend() != "torch":
        pytest.skip("needs the torch backend for gradients")
    kwargs = {} if from_logits is None else {"from_logits": from_logits}
    shape = (6, 1) if name == "BinaryCrossentropy" else (6, 3)
    if from_logits:
        yp = RNG.normal(size=shape) * 3
    else:
        yp = RNG.uniform(0.0, 1.0, size=shape)
        yp[0, 0] = 1.0  # exercise the clip
    if name == "SparseCategoricalCrossentropy":
        yt = RNG.integers(0, 3, size=(6,))
    elif name == "CategoricalCrossentropy":
        yt = np.eye(3)[RNG.integers(0, 3, size=6)]
    else:
        yt = RNG.integers(0, 2, size=shape).astype(float)
    yp = yp.astype(np.float32)
    sw = RNG.uniform(0.5, 2.0, size=(6,)).astype(np.float32)
    t = torch.tensor(yp, requires_grad=True)
    k = getattr(keras.losses, name)(**kwargs)(torch.tensor(yt), t, sample_weight=torch.tensor(sw))
    k.backward()
    ours, g = getattr(losses, name)(**kwargs).value_and_grad(yt, yp, sample_weight=sw)
    np.testing.assert_allclose(ours, float(k.detach()), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_bce_value_and_grad_shares_work_with_the_same_bits(dtype, label_smoothing):
    """value_and_grad computes the values and the slope in one pass (p, 1 - p, 1 - yt shared):
    the same bits as the loss value and the separate gradient formula, clipped ends included."""
    loss = losses.BinaryCrossentropy(label_smoothing=label_smoothing)
    yt = RNG.integers(0, 2, size=(6, 3)).astype(dtype)
    yp = _probs((6, 3)).astype(dtype)
    yp[0, 0], yp[1, 1] = 0.0, 1.0  # outside the clip range: zero gradient
    sw = np.array([1.0, 2.0, 0.5, 0.0, 1.5, 1.0])
    mask = np.ones((6,), bool)
    mask[4] = False
    value, grad = loss.value_and_grad(yt, yp, sample_weight=sw, mask=mask)
    assert value == loss(yt, yp, sample_weight=sw, mask=mask)
    _, dv = loss._reduce(loss._values(yt, yp), losses._weights((6,), sw, mask))
    np.testing.assert_array_equal(grad, loss._grad(yt, yp, dv.astype(dtype)))
    assert grad.dtype == dtype and grad[0, 0] == 0 and grad[1, 1] == 0 and not grad[4].any()
