"""Shared fixtures: a seeded generator and per-dtype tolerances."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))  # tests/reference.py


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


TOLERANCE = {np.float32: dict(rtol=1e-5, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def threads_on_small_problems():
    """Let the kernels start threads even for tiny problems (to test the threaded paths)."""
    from fastrnn import _core

    saved = _core._min_work_per_thread()
    _core._set_min_work_per_thread(1.0)
    yield
    _core._set_min_work_per_thread(saved)
