"""Bit-identical results for any thread count; every SIMD path agrees with the generic one."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import fastrnn
from rnn_cases import make_problem
from fastrnn import ops

# (5, 6, 129, 131): per-step products through OpenBLAS when it is linked; (70, 3, 260, 264):
# weight gradients in whole row blocks (2 per matrix, a partial last one) from one list;
# (3, 4, 8, 300): few samples, many units; (1, 30, 4, 48), (9, 14, 5, 96): rows of 3 and 6
# 512-bit vectors, the narrowest the AVX-512 path keeps (panels of two vectors)
SHAPES = [(13, 37, 5, 24), (2, 9, 3, 300), (1, 20, 4, 16), (64, 12, 8, 64), (5, 6, 129, 131),
          (70, 3, 260, 264), (3, 4, 8, 300), (1, 30, 4, 48), (9, 14, 5, 96)]


def _everything(p, dtype, threads, **options):
    q = {k: (v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype != bool else v) for k, v in p.items()}
    fwd = ops.simple_rnn_forward(
        q["x"], q["kernel"], q["recurrent_kernel"], q["bias"], initial_state=q["initial_state"],
        mask=q["mask"], input_dropout_mask=q["input_dropout_mask"],
        recurrent_dropout_mask=q["recurrent_dropout_mask"], num_threads=threads, **options)
    d = np.linspace(-1, 1, fwd.outputs.size).reshape(fwd.outputs.shape).astype(dtype)
    grads = ops.simple_rnn_backward(fwd.cache, d, fwd.final_state, num_threads=threads)
    return [fwd.outputs, fwd.final_state, *grads]


@pytest.fixture
def restore_simd_path():
    saved = fastrnn.simd_path()
    yield
    fastrnn.set_simd_path(saved)


@pytest.mark.parametrize("path", fastrnn.available_simd_paths())
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("recurrent_dropout", [True, False])  # False: states read in place
def test_bit_identical_for_1_2_3_threads(rng, dtype, shape, path, recurrent_dropout,
                                        restore_simd_path, threads_on_small_problems):
    fastrnn.set_simd_path(path)
    p = make_problem(rng, *shape, h0=True, mask=True, mx=True, mh=recurrent_dropout)
    for options in (dict(), dict(go_backwards=True)):
        base = _everything(p, dtype, 1, **options)
        for threads in (2, 3):
            other = _everything(p, dtype, threads, **options)
            for a, b in zip(base, other):
                np.testing.assert_array_equal(a, b, err_msg=f"{threads} threads, {options}")


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_simd_path_agrees_with_generic(rng, dtype, shape, restore_simd_path,
                                             threads_on_small_problems):
    p = make_problem(rng, *shape, h0=True, mask=True, mx=True, mh=True)
    fastrnn.set_simd_path("generic")
    expected = _everything(p, dtype, 2)
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    for path in fastrnn.available_simd_paths():
        fastrnn.set_simd_path(path)
        for got, want in zip(_everything(p, dtype, 2), expected):
            scale = max(1.0, float(np.abs(want).max()))
            np.testing.assert_allclose(got, want, rtol=tol["rtol"], atol=tol["atol"] * scale, err_msg=path)


@pytest.mark.skipif("avx512" not in fastrnn.available_simd_paths(), reason="no AVX-512 here")
@pytest.mark.parametrize("shape", [(1, 40, 3, 32), (8, 30, 5, 24), (4, 20, 3, 100), (1, 25, 3, 8)],
                         ids=str)
def test_avx512_path_runs_narrow_layers_on_avx2_kernels(rng, dtype, shape, restore_simd_path):
    # On the AVX-512 path, layers whose width is not a whole number of 512-bit vectors, lone
    # samples narrower than three of them and batches of 7 to 23 samples take the AVX2
    # kernels (faster there): the same bits as the AVX2 path. A lone sample's chained sums
    # differ between the two kernel sets, so (1, 40, 3, 32) would fail if the AVX-512 kernels
    # ran.
    p = make_problem(rng, *shape, h0=True, mask=False, mx=False, mh=False)
    fastrnn.set_simd_path("avx2")
    expected = _everything(p, dtype, 2)
    fastrnn.set_simd_path("avx512")
    for got, want in zip(_everything(p, dtype, 2), expected):
        np.testing.assert_array_equal(got, want)


def test_embedding_backward_is_bit_identical_across_threads(rng, threads_on_small_problems):
    ids = rng.integers(0, 50, size=(300, 40))
    d = rng.normal(size=(300, 40, 7)).astype(np.float32)
    base = ops.embedding_backward(ids, d, 50, num_threads=1)
    for t in (2, 3):
        np.testing.assert_array_equal(ops.embedding_backward(ids, d, 50, num_threads=t), base)
    expected = np.zeros((50, 7))
    np.add.at(expected, ids.ravel(), d.reshape(-1, 7).astype(np.float64))
    np.testing.assert_allclose(base, expected, rtol=1e-5, atol=1e-5)


def test_unknown_simd_path_is_rejected():
    with pytest.raises(ValueError, match="avx9000"):
        fastrnn.set_simd_path("avx9000")


def _run_python(code, **env):
    full_env = dict(os.environ, **env)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


@pytest.mark.parametrize("path", fastrnn.available_simd_paths())
def test_fastrnn_simd_environment_variable_forces_a_path(path):
    assert _run_python("import fastrnn; print(fastrnn.simd_path())", FASTRNN_SIMD=path) == path


def test_omp_num_threads_is_honoured():
    code = "import fastrnn; print(fastrnn.get_num_threads())"
    assert _run_python(code, OMP_NUM_THREADS="3") == "3"


def test_omp_num_threads_changed_at_run_time_is_read_again(monkeypatch):
    from fastrnn import _config

    monkeypatch.setattr(_config, "_num_threads", None)  # no explicit setting
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert fastrnn.get_num_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert fastrnn.get_num_threads() == 2  # the cached default follows the variable
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert fastrnn.get_num_threads() == min(len(os.sched_getaffinity(0)), 4 * os.cpu_count())


def test_set_num_threads_round_trip():
    saved = fastrnn.get_num_threads()
    try:
        fastrnn.set_num_threads(5)
        assert fastrnn.get_num_threads() == 5
        with pytest.raises(ValueError):
            fastrnn.set_num_threads(0)
        with pytest.raises(TypeError):
            fastrnn.set_num_threads("2")
    finally:
        fastrnn.set_num_threads(saved)


def test_show_config_names_everything(capsys):
    fastrnn.show_config()
    out = capsys.readouterr().out
    for word in ("fastrnn", "SIMD path", "OpenMP", "threads", "compiler", fastrnn.simd_path()):
        assert word in out


def test_thread_limit_is_per_python_thread():
    import threading

    seen = {}
    saved = fastrnn.get_num_threads()

    def worker(n):
        with fastrnn.thread_limit(n):
            seen[n] = fastrnn.get_num_threads()

    with fastrnn.thread_limit(1):
        threads = [threading.Thread(target=worker, args=(n,)) for n in (2, 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert fastrnn.get_num_threads() == 1
    assert seen == {2: 2, 3: 3}
    assert fastrnn.get_num_threads() == saved


@pytest.mark.parametrize("bad", [0, -1, "2", 2.5, float("nan"), None, True])
def test_bad_thread_counts_are_rejected_with_the_name(bad):
    with pytest.raises((TypeError, ValueError), match="n"):
        fastrnn.thread_limit(bad)
    if bad is not None:
        with pytest.raises(ValueError, match="num_threads"):
            ops.simple_rnn_forward(np.ones((1, 1, 1)), np.ones((1, 1)), np.ones((1, 1)),
                                   num_threads=bad)


def test_huge_thread_counts_are_capped():
    out = ops.simple_rnn_forward(np.ones((1, 2, 1)), np.ones((1, 1)), np.ones((1, 1)),
                                 num_threads=10**9)
    assert out.outputs.shape == (1, 2, 1)
