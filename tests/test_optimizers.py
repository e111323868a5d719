"""Optimizers: several steps against hand-written float64 formulas and (optionally) Keras."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from fastrnn import _core, optimizers

RNG = np.random.default_rng(0)
SHAPES = [(4, 3), (3,)]


def _grads(steps):
    return [[RNG.normal(size=s) for s in SHAPES] for _ in range(steps)]


def _reference(kind, cfg, w0, grads_seq):
    """Independent float64 implementation of Keras's update rules."""
    w = [x.astype(np.float64).copy() for x in w0]
    st = [dict(m=np.zeros_like(x), v=np.zeros_like(x), mg=np.zeros_like(x), vh=np.zeros_like(x),
               acc=np.full_like(x, cfg.get("initial_accumulator_value", 0.1))) for x in w]
    lr = cfg.get("learning_rate", {"sgd": 0.01}.get(kind, 0.001))
    for t, grads in enumerate(grads_seq, start=1):
        grads = [g.astype(np.float64) for g in grads]
        if cfg.get("clipnorm"):
            c = cfg["clipnorm"]
            grads = [g * c / max(np.linalg.norm(g), c) for g in grads]
        if cfg.get("global_clipnorm"):
            c = cfg["global_clipnorm"]
            n = np.sqrt(sum((g ** 2).sum() for g in grads))
            grads = [g * c / max(n, c) for g in grads]
        if cfg.get("clipvalue"):
            grads = [np.clip(g, -cfg["clipvalue"], cfg["clipvalue"]) for g in grads]
        for x, g, s in zip(w, grads, st):
            if cfg.get("weight_decay"):
                x -= x * cfg["weight_decay"] * lr
            if kind == "sgd":
                mu = cfg.get("momentum", 0.0)
                if mu:
                    s["m"] = mu * s["m"] - lr * g
                    x += mu * s["m"] - lr * g if cfg.get("nesterov") else s["m"]
                else:
                    x -= lr * g
            elif kind == "rmsprop":
                rho, eps, mu = cfg.get("rho", 0.9), cfg.get("epsilon", 1e-7), cfg.get("momentum", 0.0)
                s["v"] = rho * s["v"] + (1 - rho) * g * g
                den = s["v"] + eps
                if cfg.get("centered"):
                    s["mg"] = rho * s["mg"] + (1 - rho) * g
                    den = s["v"] - s["mg"] ** 2 + eps
                inc = lr * g / np.sqrt(den)
                if mu:
                    s["m"] = mu * s["m"] + inc
                    x -= s["m"]
                else:
                    x -= inc
            elif kind == "adam":
                b1, b2, eps = cfg.get("beta_1", 0.9), cfg.get("beta_2", 0.999), cfg.get("epsilon", 1e-7)
                s["m"] = s["m"] + (1 - b1) * (g - s["m"])
                s["v"] = s["v"] + (1 - b2) * (g * g - s["v"])
                v = s["v"]
                if cfg.get("amsgrad"):
                    s["vh"] = np.maximum(s["vh"], s["v"])
                    v = s["vh"]
                alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                x -= alpha * s["m"] / (np.sqrt(v) + eps)
            else:  # adagrad
                s["acc"] += g * g
                x -= lr * g / np.sqrt(s["acc"] + cfg.get("epsilon", 1e-7))
    return w


CONFIGS = [
    ("sgd", {}), ("sgd", {"momentum": 0.9}), ("sgd", {"momentum": 0.8, "nesterov": True}),
    ("rmsprop", {}), ("rmsprop", {"momentum": 0.5, "centered": True, "learning_rate": 0.01}),
    ("rmsprop", {"clipnorm": 0.5}), ("adam", {}), ("adam", {"amsgrad": True, "global_clipnorm": 1.0}),
    ("adam", {"weight_decay": 0.1, "learning_rate": 0.01}), ("adagrad", {}),
    ("adagrad", {"clipvalue": 0.3, "initial_accumulator_value": 0.5}),
]


@pytest.mark.parametrize("kind,cfg", CONFIGS)
def test_steps_match_formulas(kind, cfg):
    w0 = [RNG.normal(size=s) for s in SHAPES]
    grads_seq = _grads(5)
    w = [x.copy() for x in w0]
    opt = optimizers.get({"class_name": kind, "config": cfg})
    for grads in grads_seq:
        before = [g.copy() for g in grads]
        opt.apply(grads, w)
        for g, b in zip(grads, before):
            np.testing.assert_array_equal(g, b)  # gradients are not modified
    assert opt.iterations == 5
    for got, exp in zip(w, _reference(kind, cfg, w0, grads_seq)):
        np.testing.assert_allclose(got, exp, rtol=1e-10, atol=1e-12)


def test_updates_in_place_float32_and_apply_gradients():
    w = [np.ones((3, 2), np.float32), np.zeros(2, np.float32)]
    ids = [id(x) for x in w]
    opt = optimizers.RMSprop()
    assert opt.apply_gradients(zip([np.ones((3, 2)), np.ones(2)], w)) == 1
    assert [id(x) for x in w] == ids and w[0].dtype == np.float32
    np.testing.assert_allclose(w[0], 1 - 0.001 / np.sqrt(0.1 + 1e-7), rtol=1e-6)
    opt.apply([np.ones((3, 2)), np.ones(2)])  # built: variables may be omitted


def test_variables_count_matches_keras_optimizer_params():
    w = [np.zeros((10000, 32), np.float32), np.zeros((32, 32), np.float32), np.zeros(32, np.float32)]
    opt = optimizers.get("rmsprop")
    opt.build(w)
    assert sum(v.size for v in opt.variables) == 10000 * 32 + 32 * 32 + 32 + 2
    adam = optimizers.Adam()
    adam.build(w)
    assert sum(v.size for v in adam.variables) == 2 * (10000 * 32 + 32 * 32 + 32) + 2


def test_defaults_and_config_round_trip():
    assert optimizers.SGD().learning_rate == 0.01
    r = optimizers.RMSprop()
    assert (r.learning_rate, r.rho, r.momentum, r.epsilon, r.centered) == (0.001, 0.9, 0.0, 1e-7, False)
    a = optimizers.Adam()
    assert (a.learning_rate, a.beta_1, a.beta_2, a.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    ag = optimizers.Adagrad()
    assert (ag.learning_rate, ag.initial_accumulator_value) == (0.001, 0.1)
    for name in ["rmsprop", "Adam", "SGD", "adagrad"]:
        opt = optimizers.get(name)
        again = optimizers.get(optimizers.serialize(opt))
        assert type(again) is type(opt) and again.get_config() == opt.get_config()
    opt = optimizers.RMSprop(learning_rate=1e-4, clipnorm=1.0)
    assert optimizers.RMSprop.from_config(opt.get_config()).get_config()["clipnorm"] == 1.0
    opt.learning_rate = 0.5
    assert opt.learning_rate == 0.5 and opt.get_config()["learning_rate"] == 0.5


def test_errors_like_keras():
    with pytest.raises(ValueError, match="Argument\\(s\\) not recognized: \\{'lr': 0.001\\}"):
        optimizers.RMSprop(lr=0.001)
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.warns(UserWarning, match="decay"):
        optimizers.SGD(decay=0.1)
    with pytest.raises(ValueError, match="nadam"):
        optimizers.get("nadam")
    opt = optimizers.SGD()
    w = [np.zeros(3)]
    with pytest.raises(ValueError, match="shape"):
        opt.apply([np.zeros(4)], w)
    opt.apply([np.zeros(3)], w)
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply([np.zeros(3)], [np.zeros(3)])
    with pytest.raises(TypeError, match="float NumPy"):
        optimizers.SGD().build([np.zeros(3, dtype=np.int64)])


def test_global_clipnorm_nan_propagates():
    w = [np.zeros(2)]
    optimizers.SGD(global_clipnorm=1.0).apply([np.array([np.nan, 1.0])], w)
    assert np.isnan(w[0]).all()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # keras/torch internals
@pytest.mark.parametrize("kind,cfg", CONFIGS)
def test_matches_keras_optimizers(kind, cfg):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    w0 = [RNG.normal(size=s).astype(np.float32) for s in SHAPES]
    grads_seq = [[g.astype(np.float32) for g in gs] for gs in _grads(4)]
    kvars = [keras.Variable(x.copy()) for x in w0]
    kopt = {"sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
            "adam": keras.optimizers.Adam, "adagrad": keras.optimizers.Adagrad}[kind](**cfg)
    ours = [x.copy() for x in w0]
    opt = optimizers.get({"class_name": kind, "config": cfg})
    for grads in grads_seq:
        kopt.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in grads], kvars))
        opt.apply(grads, ours)
    for got, kv in zip(ours, kvars):
        np.testing.assert_allclose(got, keras.ops.convert_to_numpy(kv.value), rtol=1e-6, atol=1e-6)
    assert sum(v.size for v in opt.variables) == sum(int(np.prod(v.shape)) for v in kopt.variables)


def _rmsprop_numpy_roundings(w, v, g, lr, rho, eps):
    """The RMSprop step with NumPy's roundings for w's dtype (each operation rounded once, the
    Python floats cast to that dtype): what the fused C++ step must reproduce bit for bit."""
    t = w.dtype.type
    v[...] = v * t(rho) + (g * g) * t(1.0 - rho)
    w -= (g * t(lr)) / np.sqrt(v + t(eps))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_rmsprop_gives_the_bits_of_the_numpy_formula(dtype):
    rng = np.random.default_rng(3)
    shapes = [(1000, 32), (32, 32), (32,), (3, 5, 7), (1,)]
    w = [rng.normal(size=s).astype(dtype) for s in shapes]
    w_ref = [x.copy() for x in w]
    v_ref = [np.zeros_like(x) for x in w]
    opt = optimizers.RMSprop(learning_rate=0.01, rho=0.8, epsilon=1e-6)
    for step in range(4):
        grads = [(rng.normal(size=s) * 10.0 ** (step - 2)).astype(dtype) for s in shapes]
        opt.apply(grads, w)
        for x, v, g in zip(w_ref, v_ref, grads):
            _rmsprop_numpy_roundings(x, v, g, 0.01, 0.8, 1e-6)
    for got, exp in zip(w, w_ref):
        np.testing.assert_array_equal(got, exp)
    for got, exp in zip(opt.variables[2:], v_ref):
        np.testing.assert_array_equal(got, exp)


def _adam_numpy_roundings(w, m, v, v_hat, g, alpha, b1, b2, eps):
    """Adam with NumPy's roundings for w's dtype (see _rmsprop_numpy_roundings)."""
    t = w.dtype.type
    m[...] = m + (g - m) * t(1.0 - b1)
    v[...] = v + (g * g - v) * t(1.0 - b2)
    if v_hat is not None:
        v_hat[...] = np.maximum(v_hat, v)
        v = v_hat
    w -= (m * t(alpha)) / (np.sqrt(v) + t(eps))


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_adam_gives_the_bits_of_the_numpy_formula(dtype, amsgrad):
    rng = np.random.default_rng(5)
    shapes = [(1000, 32), (32, 32), (32,), (3, 5, 7), (1,)]
    w = [rng.normal(size=s).astype(dtype) for s in shapes]
    w_ref = [x.copy() for x in w]
    slots = [[np.zeros_like(x) for x in w] for _ in range(3)]
    opt = optimizers.Adam(learning_rate=0.01, beta_1=0.8, beta_2=0.95, epsilon=1e-6,
                          amsgrad=amsgrad)
    for step in range(1, 6):
        grads = [(rng.normal(size=s) * 10.0 ** (2 - step)).astype(dtype) for s in shapes]
        opt.apply(grads, w)
        alpha = 0.01 * math.sqrt(1.0 - 0.95 ** step) / (1.0 - 0.8 ** step)
        for x, m, v, vh, g in zip(w_ref, *slots, grads):
            _adam_numpy_roundings(x, m, v, vh if amsgrad else None, g, alpha, 0.8, 0.95, 1e-6)
    for got, exp in zip(w, w_ref):
        np.testing.assert_array_equal(got, exp)


def test_fused_adam_rejects_bad_arrays_and_modifies_nothing():
    w, m, v, g = (np.ones(6, np.float32), np.zeros(6, np.float32), np.zeros(6, np.float32),
                  np.ones(6, np.float32))
    cases = [
        ((w, m, v, None, g.astype(np.float64)), TypeError, "grad must have dtype float32"),
        ((w, m, v, np.zeros(5, np.float32), g), ValueError, "velocity_hat must have 6 elements"),
        ((w, m, m, None, g), ValueError, "must be different arrays"),
        ((w, m, v, w, g), ValueError, "must be different arrays"),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            _core.adam_update(*args, 0.001, 0.9, 0.999, 1e-7, 1)
    np.testing.assert_array_equal(w, 1)
    np.testing.assert_array_equal(m, 0)
    np.testing.assert_array_equal(v, 0)


def test_fused_rmsprop_is_thread_independent_and_equals_the_strided_fallback():
    rng = np.random.default_rng(4)
    g = rng.normal(size=(4000, 32)).astype(np.float32)
    results = []
    for threads in (1, 2, 3):
        w, v = np.ones((4000, 32), np.float32), np.full((4000, 32), 0.5, np.float32)
        _core.rmsprop_update(w, v, g, 0.001, 0.9, 1e-7, threads)
        results.append((w, v))
    for w, v in results[1:]:
        np.testing.assert_array_equal(w, results[0][0])
        np.testing.assert_array_equal(v, results[0][1])
    # A strided gradient cannot go to the fused step: the NumPy path gives the same bits.
    wide = np.zeros((4000, 64), np.float32)
    wide[:, ::2] = g
    w = np.ones((4000, 32), np.float32)
    opt = optimizers.RMSprop()
    opt.build([w])
    opt._slots[0]["velocity"][...] = 0.5
    opt.apply([wide[:, ::2]], [w])
    np.testing.assert_array_equal(w, results[0][0])


def test_fused_rmsprop_rejects_bad_arrays_and_modifies_nothing():
    w, v, g = np.ones(6, np.float32), np.zeros(6, np.float32), np.ones(6, np.float32)
    cases = [
        ((w, v, g.astype(np.float64)), TypeError, "grad must have dtype float32"),
        ((w, v.astype(np.float64), g), TypeError, "velocity must have dtype float32"),
        ((w, v, np.ones(5, np.float32)), ValueError, "grad must have 6 elements"),
        ((w, np.zeros(7, np.float32), g), ValueError, "velocity must have 6 elements"),
        ((w, v, np.ones(12, np.float32)[::2]), ValueError, "grad must be C-contiguous"),
        ((w, w, g), ValueError, "weights and velocity must be different arrays"),
    ]
    for args, error, message in cases:
        with pytest.raises(error, match=message):
            _core.rmsprop_update(*args, 0.001, 0.9, 1e-7, 1)
    frozen = np.ones(6, np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="weights must be writable"):
        _core.rmsprop_update(frozen, v, g, 0.001, 0.9, 1e-7, 1)
    with pytest.raises(ValueError, match="num_threads must be >= 1"):
        _core.rmsprop_update(w, v, g, 0.001, 0.9, 1e-7, 0)
    np.testing.assert_array_equal(w, 1)
    np.testing.assert_array_equal(v, 0)


def test_fused_steps_flush_subnormals_like_every_engine_kernel():
    """The documented exception to "same bits as NumPy": a subnormal intermediate is zero."""
    g = np.full(8, 1e-20, np.float32)  # g*g = 1e-40 is subnormal in float32
    numpy_v = np.zeros(8, np.float32) * np.float32(0.9) + (g * g) * np.float32(0.1)
    assert numpy_v[0] != 0  # NumPy keeps the subnormal
    w, v = np.ones(8, np.float32), np.zeros(8, np.float32)
    _core.rmsprop_update(w, v, g, 0.001, 0.9, 1e-7, 1)
    np.testing.assert_array_equal(v, 0)
    w, m, v = np.ones(8, np.float32), np.zeros(8, np.float32), np.zeros(8, np.float32)
    _core.adam_update(w, m, v, None, g, 0.001, 0.9, 0.999, 1e-7, 1)
    np.testing.assert_array_equal(v, 0)
    assert m[0] != 0  # 1e-21: normal, kept
