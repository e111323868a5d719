"""Central finite differences in float64 for every input and weight of the engine."""

from __future__ import annotations

import numpy as np
import pytest

from rnn_cases import OPTION_CASES, make_problem, split_case
from fastrnn import ops

DIFFERENTIABLE = ["x", "kernel", "recurrent_kernel", "bias", "initial_state"]
GRAD_NAME = dict(x="dx", kernel="dkernel", recurrent_kernel="drecurrent_kernel", bias="dbias",
                 initial_state="dinitial_state")


def _loss(p, options, d_out, d_fin):
    fwd = ops.simple_rnn_forward(
        p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], initial_state=p["initial_state"],
        mask=p["mask"], input_dropout_mask=p["input_dropout_mask"],
        recurrent_dropout_mask=p["recurrent_dropout_mask"], **options)
    return float(np.sum(fwd.outputs * d_out) + np.sum(fwd.final_state * d_fin)), fwd


def _numeric(p, name, options, d_out, d_fin, eps=1e-6):
    base = p[name]
    grad = np.zeros_like(base)
    for i in np.ndindex(base.shape):
        saved = base[i]
        base[i] = saved + eps
        plus, _ = _loss(p, options, d_out, d_fin)
        base[i] = saved - eps
        minus, _ = _loss(p, options, d_out, d_fin)
        base[i] = saved
        grad[i] = (plus - minus) / (2 * eps)
    return grad


@pytest.mark.parametrize("case", OPTION_CASES, ids=lambda c: "-".join(c) or "plain")
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid", "linear"])
def test_gradients_match_finite_differences(case, activation):
    rng = np.random.default_rng(7)
    problem_opts, options = split_case(case)
    problem_opts.setdefault("h0", True)  # a non-zero initial state everywhere
    p = make_problem(rng, B=2, T=4, F=3, H=4, **problem_opts)
    if activation == "relu":  # keep pre-activations away from the kink
        p["bias"] = None if p["bias"] is None else p["bias"] + 0.3
    options = dict(options, activation=activation)
    d_out = rng.normal(size=(2, 4, 4))
    d_fin = rng.normal(size=(2, 4))
    _, fwd = _loss(p, options, d_out, d_fin)
    grads = ops.simple_rnn_backward(fwd.cache, d_out, d_fin)._asdict()
    for name in DIFFERENTIABLE:
        if p[name] is None:
            continue
        numeric = _numeric(p, name, options, d_out, d_fin)
        np.testing.assert_allclose(grads[GRAD_NAME[name]], numeric, rtol=1e-6, atol=1e-7,
                                   err_msg=f"{name} ({case}, {activation})")


def test_dropout_mask_gradients_follow_the_product_rule():
    """The masks are inputs too: d loss / d m_x equals finite differences of the mask."""
    rng = np.random.default_rng(3)
    p = make_problem(rng, B=2, T=3, F=3, H=4, mx=True, mh=True, h0=True)
    d_out = rng.normal(size=(2, 3, 4))
    d_fin = np.zeros((2, 4))
    _, fwd = _loss(p, {}, d_out, d_fin)
    g = ops.simple_rnn_backward(fwd.cache, d_out, d_fin)
    # x * m_x enters only through the product, so dL/dm_x[b, f] = sum_t dL/d(x~)[b,t,f] * x[b,t,f]
    # and dL/d(x~) = dx / m_x where m_x != 0.
    numeric = _numeric(p, "input_dropout_mask", {}, d_out, d_fin)
    mx = p["input_dropout_mask"]
    keep = mx != 0
    dxt = np.where(keep[:, None, :], g.dx / np.where(keep, mx, 1)[:, None, :], 0)
    analytic = np.sum(dxt * p["x"], axis=1)
    np.testing.assert_allclose(analytic[keep], numeric[keep], rtol=1e-6, atol=1e-8)
