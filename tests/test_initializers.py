"""Initializers: limits, moments, orthogonality, determinism, config round trips."""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import initializers
from fastrnn._random import make_generator
from fastrnn.utils import set_random_seed


def test_glorot_uniform_limit_and_moments():
    w = initializers.GlorotUniform(seed=1)((200, 300), dtype="float64")
    limit = np.sqrt(6.0 / 500)
    assert w.dtype == np.float64 and w.shape == (200, 300)
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    assert abs(w.mean()) < 0.01 * limit
    np.testing.assert_allclose(w.var(), limit**2 / 3, rtol=0.02)


def test_glorot_32x32_limit_matches_keras_doc():
    w = initializers.get("glorot_uniform")((32, 32))
    assert w.dtype == np.float32
    assert np.abs(w).max() <= 0.30619 and np.abs(w).max() > 0.28


@pytest.mark.parametrize("cls,var", [
    (initializers.HeUniform, 2.0 / 400), (initializers.LecunUniform, 1.0 / 400),
    (initializers.HeNormal, 2.0 / 400), (initializers.GlorotNormal, 2.0 / 700),
    (initializers.LecunNormal, 1.0 / 400),
])
def test_variance_scaling_presets(cls, var):
    w = cls(seed=0)((400, 300), dtype="float64")
    np.testing.assert_allclose(w.var(), var, rtol=0.03)
    if "Normal" in cls.__name__:  # truncated at 2 * stddev
        stddev = np.sqrt(var) / 0.87962566103423978
        assert np.abs(w).max() <= 2 * stddev


def test_random_uniform_and_normal_defaults():
    u = initializers.get("uniform")((100, 100))
    assert u.min() >= -0.05 and u.max() <= 0.05 and u.max() > 0.049
    n = initializers.RandomNormal(seed=2)((300, 300), dtype="float64")
    np.testing.assert_allclose(n.std(), 0.05, rtol=0.02)


@pytest.mark.parametrize("shape", [(32, 32), (10, 4), (4, 10), (3, 5, 6)])
def test_orthogonal(shape):
    w = initializers.Orthogonal(gain=2.0, seed=3)(shape, dtype="float64")
    assert w.shape == shape
    m = w.reshape(-1, shape[-1]) / 2.0
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_sign_fix_makes_diagonal_of_r_positive():
    # Recompute the draw: Q·sign(diag R) has R' = sign·R with a positive diagonal.
    q = initializers.Orthogonal(seed=5)((6, 6), dtype="float64")
    a = np.random.default_rng(5).standard_normal((6, 6))
    np.testing.assert_allclose(q.T @ a, np.triu(q.T @ a), atol=1e-12)
    assert np.all(np.diag(q.T @ a) > 0)


def test_orthogonal_rejects_rank_1():
    with pytest.raises(ValueError, match="rank"):
        initializers.Orthogonal()((5,))


def test_zeros_ones_constant():
    assert not initializers.get("zeros")((3,)).any()
    assert (initializers.Ones()((2, 2)) == 1).all()
    np.testing.assert_array_equal(initializers.Constant(0.5)((2, 3)), np.full((2, 3), 0.5, np.float32))


def test_seeded_initializer_repeats_and_rng_argument():
    init = initializers.GlorotUniform(seed=7)
    np.testing.assert_array_equal(init((4, 4)), init((4, 4)))
    a = init((4, 4), rng=make_generator(1))
    b = init((4, 4), rng=make_generator(1))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, init((4, 4)))


def test_global_seed_makes_unseeded_initializers_deterministic():
    set_random_seed(11)
    a = [initializers.get("orthogonal")((5, 5)), initializers.get("glorot_uniform")((5, 3))]
    set_random_seed(11)
    b = [initializers.get("orthogonal")((5, 5)), initializers.get("glorot_uniform")((5, 3))]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], initializers.get("orthogonal")((5, 5)))


@pytest.mark.parametrize("ident", ["glorot_uniform", "GlorotUniform", "orthogonal", "zeros",
                                   "he_normal", "random_normal", "uniform", "lecun_uniform"])
def test_serialize_round_trip(ident):
    init = initializers.get(ident)
    cfg = initializers.serialize(init)
    again = initializers.get(cfg)
    assert type(again) is type(init) and again.get_config() == init.get_config()


def test_config_values_round_trip():
    init = initializers.get({"class_name": "RandomUniform",
                             "config": {"minval": -1.0, "maxval": 2.0, "seed": 4}})
    assert init.get_config() == {"minval": -1.0, "maxval": 2.0, "seed": 4}
    assert initializers.get(initializers.Orthogonal(gain=3.0)).gain == 3.0


def test_get_callable_and_class():
    init = initializers.get(lambda shape, dtype=None: np.full(shape, 2.0))
    out = init((2, 2), dtype="float64")
    assert out.dtype == np.float64 and (out == 2).all()
    assert isinstance(initializers.get(initializers.Zeros), initializers.Zeros)
    assert initializers.get(None) is None


def test_bad_identifiers():
    with pytest.raises(ValueError, match="nope"):
        initializers.get("nope")
    with pytest.raises(ValueError):
        initializers.get(3)
    with pytest.raises(ValueError, match="Received"):
        initializers.Zeros()((-1, 2))
