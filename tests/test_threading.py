"""Python threads: concurrent predict on one model, concurrent fits, fit beside predict, and a
check (not a timing) that the GIL is released while the kernels run. The speed-up of two
threads is shown by ``test_benchmark_two_threads_in_parallel`` (pytest-benchmark), which
reports numbers and asserts nothing about time.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fastrnn import layers as L
from fastrnn import ops
from fastrnn.models import Sequential
from fastrnn.utils import set_random_seed

from thread_runner import run_threads


def _model(seed: int, units: int = 8, features: int = 3) -> Sequential:
    set_random_seed(seed)
    m = Sequential([L.Input((None, features)), L.SimpleRNN(units, return_sequences=True),
                    L.SimpleRNN(units), L.Dense(2)])
    m.compile(optimizer="adam", loss="mse")
    return m


def _data(seed: int, n: int = 48, t: int = 12, f: int = 3):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, t, f)).astype("float32"), rng.normal(size=(n, 2)).astype("float32")


def test_eight_threads_predict_on_one_model_match_serial():
    m = _model(0)
    inputs = [_data(100 + i)[0] for i in range(8)]
    serial = [m.predict(x, verbose=0) for x in inputs]
    for _ in range(3):  # several rounds: races are intermittent
        got: list = [None] * 8

        def job(i):
            return lambda: got.__setitem__(i, m.predict(inputs[i], verbose=0))

        run_threads([job(i) for i in range(8)])
        for i in range(8):
            assert got[i].tobytes() == serial[i].tobytes(), f"thread {i} differs from serial"


def test_two_models_fit_in_two_threads_like_serial():
    data = [_data(1), _data(2)]
    serial = []
    for i in range(2):
        m = _model(10 + i)
        m.fit(*data[i], epochs=2, batch_size=8, shuffle=False, verbose=0)
        serial.append(m.get_weights())
    models = [_model(10 + i) for i in range(2)]  # same seeds, built before the threads start
    run_threads([lambda i=i: models[i].fit(*data[i], epochs=2, batch_size=8, shuffle=False,
                                            verbose=0) for i in range(2)])
    for i in range(2):
        for a, b in zip(models[i].get_weights(), serial[i]):
            assert a.tobytes() == b.tobytes(), f"model {i} trained differently in a thread"


def test_fit_in_one_thread_while_another_predicts():
    x, y = _data(3)
    trained, other = _model(20), _model(21)
    expected_pred = other.predict(x, verbose=0)
    reference = _model(20)
    reference.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    preds: list = []

    def predict_many():
        for _ in range(20):
            preds.append(other.predict(x, verbose=0))

    run_threads([lambda: trained.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0),
                  predict_many])
    assert all(p.tobytes() == expected_pred.tobytes() for p in preds)
    for a, b in zip(trained.get_weights(), reference.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_ops_in_many_threads_with_different_thread_counts_match_serial(threads_on_small_problems):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(16, 30, 4))
    k, r = rng.normal(size=(4, 24)) * 0.5, rng.normal(size=(24, 24)) * 0.2
    ref = ops.simple_rnn_forward(x, k, r, num_threads=1)
    ref_g = ops.simple_rnn_backward(ref.cache, np.ones_like(ref.outputs), num_threads=1)
    results: list = [None] * 6

    def job(i):
        def run():
            f = ops.simple_rnn_forward(x, k, r, num_threads=1 + i % 3)
            g = ops.simple_rnn_backward(f.cache, np.ones_like(f.outputs), num_threads=1 + i % 3)
            results[i] = (f.outputs, g.dkernel)
        return run

    run_threads([job(i) for i in range(6)])
    for out, dk in results:
        assert out.tobytes() == ref.outputs.tobytes() and dk.tobytes() == ref_g.dkernel.tobytes()


def test_gil_is_released_while_the_kernel_runs():
    """A pure-Python thread keeps counting while the main thread is inside one long kernel
    call, about as fast as while the main thread sleeps (which releases the GIL). Were the
    GIL held, it could count only during the switch intervals at the call's edges."""
    import sys
    import time

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4000, 16)).astype("float32")
    k = (rng.normal(size=(16, 64)) * 0.2).astype("float32")
    r = (rng.normal(size=(64, 64)) * 0.1).astype("float32")
    ops.simple_rnn_forward(x[:, :10], k, r, num_threads=1)  # warm-up
    counter = [0]
    stop = threading.Event()
    started = threading.Event()

    def count():
        started.set()
        while not stop.is_set():
            counter[0] += 1

    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)  # keeps the edges short
    th = threading.Thread(target=count)
    th.start()
    started.wait()
    ratios = []
    try:
        for _ in range(3):
            before, t0 = counter[0], time.perf_counter()
            ops.simple_rnn_forward(x, k, r, num_threads=1)
            in_call, duration = counter[0] - before, time.perf_counter() - t0
            before = counter[0]
            time.sleep(duration)  # the GIL is free: the counting rate we should see
            asleep = counter[0] - before
            ratios.append(in_call / max(asleep, 1))
    finally:
        stop.set()
        th.join()
        sys.setswitchinterval(old_interval)
    assert max(ratios) > 0.3, ratios


@pytest.mark.benchmark(group="gil")
def test_benchmark_two_threads_in_parallel(benchmark):
    """Two Python threads, each running its own forward pass with num_threads=1: compare
    ``extra_info`` serial vs parallel seconds (no assertion on time)."""
    import time

    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 400, 16)).astype("float32")
    k = (rng.normal(size=(16, 64)) * 0.2).astype("float32")
    r = (rng.normal(size=(64, 64)) * 0.1).astype("float32")

    def one():
        ops.simple_rnn_forward(x, k, r, num_threads=1)

    def two_threads():
        run_threads([one, one])

    t0 = time.perf_counter()
    one()
    one()
    benchmark.extra_info["serial_two_calls_s"] = time.perf_counter() - t0
    benchmark.pedantic(two_threads, rounds=3, iterations=1)
    if benchmark.stats is not None:  # None under --benchmark-disable
        benchmark.extra_info["parallel_two_calls_s"] = benchmark.stats.stats.min
