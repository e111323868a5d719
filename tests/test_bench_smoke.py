"""The benchmark suite's own correctness: its NumPy reference against formulas and finite
differences, the peers against the reference, FLOP and memory accounting against hand counts,
the target table against hand-made records, and one tiny end-to-end run of the command line.
Nothing here asserts a time."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fastrnn._bench import agree, numpy_peer, report
from fastrnn._bench.memory import must_hold_bytes
from fastrnn._bench.timing import measure, numpy_flush_state
from fastrnn._bench.workloads import (Target, Workload, default_workloads, make_lecture_data,
                                      make_rnn_data, scaled)


def _loop_forward(x, k, r, b, go_backwards=False):
    """Float64, one sample and one step at a time: the textbook recurrence."""
    B, T, _ = x.shape
    H = k.shape[1]
    out = np.zeros((B, T, H))
    for i in range(B):
        h = np.zeros(H)
        steps = range(T - 1, -1, -1) if go_backwards else range(T)
        for j, t in enumerate(steps):
            h = np.tanh(x[i, t] @ k + h @ r + b)
            out[i, j] = h
    return out


@pytest.mark.parametrize("go_backwards", [False, True])
def test_numpy_peer_forward_matches_textbook_loop(go_backwards):
    rng = np.random.default_rng(1)
    x, k = rng.standard_normal((3, 5, 4)), rng.standard_normal((4, 2)) * 0.5
    r, b = rng.standard_normal((2, 2)) * 0.5, rng.standard_normal(2)
    out, final, _ = numpy_peer.rnn_forward(x, k, r, b, go_backwards=go_backwards)
    want = _loop_forward(x, k, r, b, go_backwards)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(final, want[:, -1], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bidirectional,layers", [(False, 1), (False, 2), (True, 1)])
def test_numpy_peer_gradients_match_finite_differences(bidirectional, layers):
    w = Workload("fd", "train", 2, 4, 3, 2, layers=layers, bidirectional=bidirectional)
    data = make_rnn_data(w, seed=3)
    x = data.x.astype(np.float64)
    weights = [[tuple(p.astype(np.float64) for p in layer) for layer in d] for d in data.weights]
    g = data.d_final.astype(np.float64)

    def loss(x_, weights_):
        return float((numpy_peer.network_forward(x_, weights_, bidirectional)["final"] * g).sum())

    res = numpy_peer.network_train(x, weights, bidirectional, g)
    eps = 1e-6
    num_dx = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num_dx[idx] = (loss(xp, weights) - loss(xm, weights)) / (2 * eps)
    np.testing.assert_allclose(res["dx"], num_dx, rtol=1e-6, atol=1e-8)
    flat = [(d, l, p) for d in range(len(weights)) for l in range(layers) for p in range(3)]
    for (d, l, p), grad in zip(flat, [q for t in res["grads"] for q in t]):
        num = np.zeros_like(grad)
        for idx in np.ndindex(grad.shape):
            vals = []
            for sign in (1, -1):
                ws = [[list(layer) for layer in dd] for dd in weights]
                arr = ws[d][l][p].copy()
                arr[idx] += sign * eps
                ws[d][l][p] = arr
                vals.append(loss(x, [[tuple(layer) for layer in dd] for dd in ws]))
            num[idx] = (vals[0] - vals[1]) / (2 * eps)
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8, err_msg=f"{d}/{l}/{p}")


def test_numpy_lecture_gradients_match_finite_differences():
    w = Workload("lec", "lecture-step", 4, 6, 32, 32)
    data = make_lecture_data(w, seed=2)
    model = numpy_peer.LectureNumpy(data.weights)
    loss0, grads = model.gradients(data.ids, data.y)
    rng = np.random.default_rng(0)
    eps = 1e-2  # float32 model: a large step, a loose tolerance
    for i, (wt, g) in enumerate(zip(model.weights, grads)):
        if i == 0:  # embeddings: rows that the batch uses
            cands = [(int(data.ids[0, 0]), j) for j in range(3)]
        else:
            cands = [tuple(rng.integers(0, s) for s in wt.shape) for _ in range(3)]
        for idx in cands:
            old = wt[idx]
            wt[idx] = old + eps
            lp, _ = model.gradients(data.ids, data.y)
            wt[idx] = old - eps
            lm, _ = model.gradients(data.ids, data.y)
            wt[idx] = old
            num = (lp - lm) / (2 * eps)
            assert abs(num - g[idx]) <= 2e-3 + 2e-2 * abs(num), (i, idx, num, g[idx])


def test_flops_formulas_match_hand_counts():
    base = Workload("a", "inference", 128, 500, 32, 32)
    assert base.forward_flops == 2 * 128 * 500 * (32 * 32 + 32 * 32) == 262_144_000
    assert base.flops == 262_144_000
    train = Workload("b", "train", 64, 100, 512, 512)
    assert train.flops == 3 * 2 * 64 * 100 * (512 * 512 * 2)
    stacked = Workload("c", "train", 2, 3, 5, 7, layers=2)
    assert stacked.forward_flops == 2 * 2 * 3 * (5 * 7 + 49) + 2 * 2 * 3 * (49 + 49)
    bidi = Workload("d", "inference", 2, 3, 5, 7, bidirectional=True)
    assert bidi.flops == 2 * (2 * 2 * 3 * (35 + 49))
    epoch = Workload("e", "lecture-epoch", 128, 500, 32, 32, samples=20000)
    assert epoch.flops == 157 * 3 * 262_144_000


def test_must_hold_bytes_by_hand():
    need = must_hold_bytes(128, 500, 10000, 32, 32)
    params = 10000 * 32 + 32 * 32 * 2 + 32 + 33
    assert params == 322_113
    assert need["inputs"] == 128 * 500 * 8 + 128 * 4
    assert need["saved_states"] == 2 * 128 * 500 * 32 * 4
    assert need["weights"] == need["gradients"] == need["optimizer_slots"] == params * 4
    assert need["total"] == 20_761_868


def test_workloads_cover_issue_shapes_and_smoke_marks_names():
    names = [w.name for w in default_workloads()]
    for shape in ("128x500x32->32", "128x100x128->128", "64x100x512->512", "1x1000x32->32"):
        assert f"inference {shape}" in names and f"train {shape}" in names
    small = [scaled(w, "smoke") for w in default_workloads()]
    assert all(w.name.endswith("[smoke]") and w.B <= 8 and w.T <= 24 for w in small)
    assert scaled(small[0], "smoke") == small[0]
    with pytest.raises(ValueError, match="Received: 'huge'"):
        scaled(default_workloads()[0], "huge")


def test_agreement_catches_a_transposed_kernel():
    w = Workload("t", "inference", 3, 7, 4, 4)
    d = make_rnn_data(w)
    good = numpy_peer.network_forward(d.x, d.weights, False)
    k, r, b = d.weights[0][0]
    bad = numpy_peer.network_forward(d.x, [[(k.T.copy(), r, b)]], False)
    assert agree.compare_results("same", good, good) == 0.0
    with pytest.raises(agree.Disagreement, match="outputs"):
        agree.compare_results("transposed", bad, good)
    with pytest.raises(agree.Disagreement, match="2 gradients vs 1"):
        agree.compare_results("count", {"grads": [k, r]}, {"grads": [k]})


def test_fastrnn_matches_numpy_peer_on_every_smoke_workload():
    from fastrnn._bench import cases

    for w in default_workloads():
        w = scaled(w, "smoke")
        data = cases.WorkloadData(w)
        got = cases.build_case("fastrnn", w, data, 1).result()
        want = cases.build_case("numpy", w, data, 1).result()
        assert agree.compare_results(w.name, got, want) < 1e-4


def test_torch_peer_matches_numpy_peer():
    torch = pytest.importorskip("torch")
    from fastrnn._bench import cases

    torch.set_num_threads(1)  # tiny shapes: threads only add waiting on a busy machine
    for w in default_workloads():
        w = scaled(w, "smoke")
        data = cases.WorkloadData(w)
        got = cases.build_case("torch", w, data, 1).result()
        want = cases.build_case("numpy", w, data, 1).result()
        assert agree.compare_results(w.name, got, want) < 1e-4


def test_onnx_peer_matches_numpy_peer():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from fastrnn._bench import onnx_peer

    for layers, bidi in [(1, False), (2, False), (1, True)]:
        w = Workload("o", "inference", 3, 9, 5, 4, layers=layers, bidirectional=bidi)
        d = make_rnn_data(w)
        net = onnx_peer.OnnxNetwork(d.weights, bidi, w.F, 1)
        got = net.forward(net.time_major(d.x))
        want = numpy_peer.network_forward(d.x, d.weights, bidi)
        assert agree.compare_results("onnx", got, want) < 1e-5


def test_flush_probes():
    assert numpy_flush_state() == {"ftz": False, "daz": False}
    torch = pytest.importorskip("torch")
    from fastrnn._bench import machine

    torch.set_flush_denormal(True)
    try:
        assert numpy_flush_state() == {"ftz": True, "daz": True}
    finally:
        torch.set_flush_denormal(False)
    assert numpy_flush_state() == {"ftz": False, "daz": False}
    assert machine.fastrnn_flushes()  # the engine promises FTZ/DAZ on its kernel threads


def test_measure_repeats_short_calls_and_counts_samples():
    calls = []
    t = measure(lambda: calls.append(1), budget_s=0.0, min_samples=4, max_samples=4,
                min_sample_s=1e-3)
    assert len(t.samples) == 4 and t.calls_per_sample > 1
    assert len(calls) == 1 + 1 + 4 * t.calls_per_sample  # warm-up, probe, samples
    assert t.median == sorted(t.samples)[1] / 2 + sorted(t.samples)[2] / 2


def _rec(name, impl, n, s, **kw):
    shape = "(128, 5, 3)->4" if name == "inf" else "(1, 5, 3)->4"
    r = {"workload": name, "kind": "inference", "shape": shape, "impl": impl,
         "threads": n, "flops": 1e9, "median_s": s, "status": "ok", "agree_rel_err": 0.0}
    r.update(kw)
    return r


def test_target_table_ratios_and_verdicts():
    w_inf = Workload("inf", "inference", 128, 5, 3, 4,
                     targets=(Target("torch", 5.0), Target("numpy", 2.5)))
    w_lat = Workload("lat", "inference", 1, 5, 3, 4, targets=(Target("latency", 0.07),))
    w_sg = Workload("sg", "train", 64, 5, 3, 4, targets=(Target("sgemm", 0.6),))
    recs = [_rec("inf", "fastrnn", 2, 0.010), _rec("inf", "numpy", 2, 0.020),
            _rec("inf", "torch", 2, 0.080), _rec("inf", "torch+ftz", 2, 0.060),
            _rec("lat", "fastrnn", 2, 0.00005), _rec("sg", "fastrnn", 2, 0.01),
            _rec("inf", "fastrnn", 1, 0.019), _rec("inf", "fastrnn", 2, 0.010)][:-1]
    sgemm = {2: {"gflops": 200.0}}
    report.annotate(recs, sgemm)
    assert recs[2]["ratio_vs_fastrnn"] == pytest.approx(8.0)
    assert recs[5]["frac_sgemm"] == pytest.approx(0.5)  # 100 GFLOP/s of 200
    text, rows = report.target_table(recs, [w_inf, w_lat, w_sg], sgemm, 2,
                                     memory={"ratio_tracemalloc": 1.2, "ratio_rss": 1.6,
                                             "tracemalloc_peak": 1, "peak_rss_estimate": 1,
                                             "must_hold": {"total": 1}})
    assert "workload | fastrnn | peer | ratio | target | met?" in " ".join(text.split())
    by = {(r["workload"], r["target"]): r for r in rows}
    torch_row = by[("inf", ">= 5x torch")]
    assert torch_row["peer"] == "torch+ftz" and torch_row["ratio"] == pytest.approx(6.0)
    assert torch_row["met"] is True
    assert by[("inf", ">= 2.5x numpy")]["met"] is False  # 2.0x
    assert by[("lat", "<= 0.07 ms")]["met"] is True
    assert by[("sg", ">= 60% of sgemm")]["met"] is False
    assert by[("lecture step peak memory", "<= 1.5x must-hold bytes")]["met"] is False
    scaling_text, scaling = report.scaling_table(recs, [1, 2])
    assert scaling[0]["speedup"][2] == pytest.approx(1.9) and scaling[0]["met"] is True


def test_core_speed_probe_times_every_usable_core_and_restores_affinity():
    import os

    from fastrnn._bench import machine

    if not hasattr(os, "sched_setaffinity"):
        assert "error" in machine.core_speeds(rounds=1)
        return
    before = os.sched_getaffinity(0)
    r = machine.core_speeds(rounds=2, shape=(4, 10, 8))
    assert os.sched_getaffinity(0) == before
    assert set(r["ms"]) == {str(c) for c in before}
    assert all(t > 0 for t in r["ms"].values())
    assert r["slowest_over_fastest"] == pytest.approx(max(r["ms"].values()) / min(r["ms"].values()))
    text = report.core_speed_text([("start", r), ("end", {"error": "test"})])
    assert all(f"cpu{c} " in text for c in before) and "end: not measured (test)" in text


def test_command_line_smoke_run(tmp_path, capsys):
    from fastrnn._bench import main

    out = tmp_path / "bench.json"
    rc = main(["--smoke", "--threads", "1", "--peers", "numpy", "--no-memory", "-q",
               "--json", str(out), "--text", str(tmp_path / "bench.txt")])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["schema"] == "fastrnn-bench/1" and doc["settings"]["smoke"] is True
    assert {r["impl"] for r in doc["results"]} == {"fastrnn", "numpy"}
    assert all(r["status"] == "ok" and r["agree_rel_err"] < 1e-4 for r in doc["results"])
    assert len(doc["results"]) == 2 * len(default_workloads())
    printed = capsys.readouterr().out
    assert "workload | fastrnn | peer | ratio | target | met?" in " ".join(printed.split())
    assert "SMOKE RUN" in (tmp_path / "bench.txt").read_text()
    assert set(doc["core_speeds"]) == {"start", "end"}


def test_each_implementation_keeps_its_best_reading():
    from fastrnn._bench.runner import Settings, run_in_process
    from fastrnn._bench.workloads import scaled

    w = scaled(default_workloads()[0], "smoke")
    settings = Settings(threads=[1], budget_s=0.0, min_samples=2, max_samples=2, scale="smoke",
                        readings=3)
    records = run_in_process([w], settings, ["fastrnn", "numpy"])
    assert [r["impl"] for r in records] == ["fastrnn", "numpy"]
    for r in records:
        assert r["status"] == "ok" and len(r["reading_medians_s"]) == 3
        assert r["median_s"] == min(r["reading_medians_s"])


def test_command_line_rejects_bad_arguments(capsys):
    from fastrnn._bench import main

    with pytest.raises(SystemExit):
        main(["--threads", "0"])
    assert "Received: '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--peers", "tensorflow"])
    assert "Received: tensorflow" in capsys.readouterr().err


def test_memory_measurement_runs_in_fresh_processes():
    from fastrnn._bench.memory import measure_lecture_step_memory

    mem = measure_lecture_step_memory(B=4, T=10, threads=1)
    need = mem["must_hold"]["total"]
    # the weights, gradients and slots alone are 3 x 1.29 MB: the peak cannot be below them
    assert mem["tracemalloc_peak"] >= 3 * 322_113 * 4
    assert mem["tracemalloc_peak"] >= mem["tracemalloc_held"] > 0
    assert mem["ratio_tracemalloc"] == pytest.approx(mem["tracemalloc_peak"] / need)
    assert mem["rss_step_increase"] >= 0


def test_scaling_prefers_the_interleaved_readings():
    """With interleaved samples at every thread count the speed-up is the ratio of their
    medians; with any missing, of the per-setting medians."""
    w = Workload("inf", "inference", 128, 5, 3, 4)
    one, two = _rec("inf", "fastrnn", 1, 0.020), _rec("inf", "fastrnn", 2, 0.016)
    for r in (one, two):
        r["shape"] = w.shape
    one["interleaved_median_s"] = 0.019
    two["interleaved_median_s"] = 0.010
    _, scaling = report.scaling_table([one, two], [1, 2])
    assert scaling[0]["speedup"][2] == pytest.approx(1.9)
    assert scaling[0]["readings"] == "interleaved" and scaling[0]["met"] is True
    del two["interleaved_median_s"]
    _, scaling = report.scaling_table([one, two], [1, 2])
    assert scaling[0]["speedup"][2] == pytest.approx(1.25)
    assert scaling[0]["readings"] == "separate" and scaling[0]["met"] is False


def test_run_in_process_takes_interleaved_scaling_readings():
    from fastrnn._bench.runner import Settings, run_in_process

    w = Workload("inf", "inference", 4, 6, 3, 5)
    settings = Settings(threads=[1, 2], impls=["fastrnn"], budget_s=0.0, readings=2,
                        min_samples=1, max_samples=1, scale="smoke")
    records = run_in_process([w], settings, ["fastrnn"])
    assert {r["threads"] for r in records} == {1, 2}
    for r in records:
        assert len(r["interleaved_samples_s"]) >= 1 and r["interleaved_median_s"] > 0
