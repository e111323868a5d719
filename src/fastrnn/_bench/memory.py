"""Peak memory of one lecture-model training step against the bytes it must hold.

Method (two fresh child processes, so nothing else in the benchmark pollutes the numbers):

1. ``tracemalloc``: tracing starts before the model and data exist; NumPy reports every array
   buffer to tracemalloc (fastrnn's outputs are NumPy arrays), so after one warm-up step
   ``held`` = traced bytes between steps (weights, optimizer slots, inputs, caches kept by the
   layers) and ``peak`` = the traced peak during the next step. It cannot see the C++ kernels'
   internal scratch (``std::vector``).
2. RSS: without tracemalloc and with ``MALLOC_MMAP_THRESHOLD_=65536`` (every buffer over 64 KiB
   is mmapped and returned to the OS when freed, so RSS follows live buffers), the peak RSS
   (``VmHWM``, reset through ``/proc/self/clear_refs``) minus the RSS before the step is the
   step's transient memory *including* the C++ scratch. ``held`` (from 1) plus that increase
   is the second peak estimate. Where ``clear_refs`` cannot be written, the ``ru_maxrss``
   increase over the first step in a fresh process is used instead (it includes creating the
   optimizer slots, so it overestimates).

The bytes a step must hold: token ids and labels, the saved activations (embedding output
``B*T*D`` and RNN states ``B*T*H``), the weights, their gradients and RMSprop's one slot each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["must_hold_bytes", "measure_lecture_step_memory"]


def must_hold_bytes(B: int, T: int, vocab: int, D: int, H: int, id_bytes: int = 8,
                    float_bytes: int = 4) -> dict:
    """Byte counts a lecture training step cannot do without, by category, plus ``total``."""
    params = vocab * D + (D * H + H * H + H) + (H + 1)
    parts = {
        "inputs": B * T * id_bytes + B * float_bytes,
        "saved_states": (B * T * D + B * T * H) * float_bytes,
        "weights": params * float_bytes,
        "gradients": params * float_bytes,
        "optimizer_slots": params * float_bytes,  # RMSprop: one velocity per weight
    }
    parts["total"] = sum(parts.values())
    return parts


def _child(mode: str, B: int, T: int, threads: int) -> dict:
    import gc
    import resource
    import tracemalloc

    import fastrnn
    from . import fastrnn_impl
    from .workloads import Workload, make_lecture_data

    fastrnn_impl.lecture_model([w for w in _tiny_weights()])  # import every module used
    if mode == "tracemalloc":
        tracemalloc.start()  # after the imports: module objects are not the step's memory
    fastrnn.set_num_threads(threads)
    w = Workload("memory", "lecture-step", B, T, 32, 32)
    data = make_lecture_data(w)
    model = fastrnn_impl.lecture_model(data.weights)
    ids, y = data.ids, data.y
    del data
    if mode == "rss-first-step":
        gc.collect()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        model.train_on_batch(ids, y)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return {"rss_increase": after - before}
    model.train_on_batch(ids, y)  # warm-up: optimizer slots, thread pool, caches
    gc.collect()
    if mode == "tracemalloc":
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        model.train_on_batch(ids, y)
        peak = tracemalloc.get_traced_memory()[1]
        return {"held": held, "peak": peak}
    status = Path("/proc/self/status")

    def field(name: str) -> int:
        for line in status.read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(name)

    rss_before = field("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    model.train_on_batch(ids, y)
    return {"rss_increase": field("VmHWM") - rss_before}


def _tiny_weights() -> list:
    import numpy as np

    return [np.zeros((2, 2), np.float32), np.zeros((2, 2), np.float32),
            np.zeros((2, 2), np.float32), np.zeros(2, np.float32), np.zeros((2, 1), np.float32),
            np.zeros(1, np.float32)]


def _run_child(mode: str, B: int, T: int, threads: int, extra_env: dict) -> dict:
    src_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env.update(extra_env)
    env["PYTHONPATH"] = src_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.run(
        [sys.executable, "-m", "fastrnn._bench.memory", mode, str(B), str(T), str(threads)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"memory child ({mode}) failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_lecture_step_memory(B: int = 128, T: int = 500, threads: int = 2) -> dict:
    """Both measurements (module docstring) for a lecture training step of batch ``B``."""
    from .workloads import EMBED, VOCAB

    need = must_hold_bytes(B, T, VOCAB, EMBED, EMBED)
    tm = _run_child("tracemalloc", B, T, threads, {})
    out = {"B": B, "T": T, "threads": threads, "must_hold": need,
           "tracemalloc_held": tm["held"], "tracemalloc_peak": tm["peak"],
           "ratio_tracemalloc": tm["peak"] / need["total"]}
    try:
        rss = _run_child("rss", B, T, threads, {"MALLOC_MMAP_THRESHOLD_": "65536"})
        out["method_rss"] = "VmHWM reset via /proc/self/clear_refs, MALLOC_MMAP_THRESHOLD_=65536"
    except RuntimeError:
        rss = _run_child("rss-first-step", B, T, threads, {"MALLOC_MMAP_THRESHOLD_": "65536"})
        out["method_rss"] = "ru_maxrss increase over the first step of a fresh process"
    out["rss_step_increase"] = rss["rss_increase"]
    out["peak_rss_estimate"] = tm["held"] + rss["rss_increase"]
    out["ratio_rss"] = out["peak_rss_estimate"] / need["total"]
    return out


if __name__ == "__main__":
    mode, B, T, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    print(json.dumps(_child(mode, B, T, threads)))
