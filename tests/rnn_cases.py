"""Random SimpleRNN problems shared by the kernel, gradient and thread tests."""

from __future__ import annotations

import numpy as np


def make_problem(rng, B=3, T=5, F=4, H=6, *, bias=True, h0=False, mask=False, mx=False,
                 mh=False, scale=0.5):
    """Float64 arrays for one forward call; mask keeps at least one valid step per row."""
    p = dict(
        x=rng.normal(size=(B, T, F)),
        kernel=rng.normal(size=(F, H)) * scale,
        recurrent_kernel=rng.normal(size=(H, H)) * scale / np.sqrt(H),
        bias=rng.normal(size=H) * 0.1 if bias else None,
        initial_state=rng.normal(size=(B, H)) * 0.5 if h0 else None,
        mask=None, input_dropout_mask=None, recurrent_dropout_mask=None,
    )
    if mask:
        m = rng.random((B, T)) > 0.35
        m[:, 0] |= ~m.any(axis=1)
        p["mask"] = m
    if mx:
        p["input_dropout_mask"] = (rng.random((B, F)) > 0.3) / 0.7
    if mh:
        p["recurrent_dropout_mask"] = (rng.random((B, H)) > 0.3) / 0.7
    return p


def cast(p, dtype):
    """Copy of problem p with every float array in dtype (the mask stays bool)."""
    return {k: (v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype != bool else v)
            for k, v in p.items()}


def reference_kwargs(p):
    """Arguments of reference.forward/backward for problem p."""
    return dict(x=p["x"], W=p["kernel"], U=p["recurrent_kernel"], b=p["bias"],
                h0=p["initial_state"], mask=p["mask"], mx=p["input_dropout_mask"],
                mh=p["recurrent_dropout_mask"])


OPTION_CASES = [
    dict(),
    dict(h0=True),
    dict(mask=True),
    dict(mask=True, h0=True, go_backwards=True),
    dict(mask=True, zero_output_for_mask=True),
    dict(mask=True, go_backwards=True, zero_output_for_mask=True, h0=True),
    dict(mx=True, mh=True),
    dict(mx=True, mh=True, mask=True, h0=True, go_backwards=True),
    dict(bias=False),
    dict(go_backwards=True),
]


def split_case(case):
    """(problem options, forward call options) of one OPTION_CASES entry."""
    problem_keys = {"bias", "h0", "mask", "mx", "mh"}
    return ({k: v for k, v in case.items() if k in problem_keys},
            {k: v for k, v in case.items() if k not in problem_keys})
