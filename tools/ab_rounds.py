"""Interleaved A/B timing in rounds, each round after a probe of every core's speed.

On a VM whose cores run at different speeds on and off (one up to 1.9x slower than the other
for seconds at a time), one long A/B reading mixes both regimes in unknown proportions. This
builds COMMIT like tools/ab_builds.py, then repeats ROUNDS times: the per-core probe of the
benchmark (``fastrnn._bench.machine.core_speeds``), then AB_SAMPLES old/new calls of each
selected workload at THREADS threads, alternated; it prints each round's old/new ratios next to
the probe's slowest/fastest, then the median and range of every ratio over the rounds.

    python tools/ab_rounds.py COMMIT [WORD ...]   # WORD: workloads whose name has it

Environment: ROUNDS (default 14), AB_SAMPLES (per round, default 11), THREADS (default 2).
Needs the project venv (.venv) and a dev build of the working tree (tools/build_dev.sh).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ab_builds  # noqa: E402  (the same builds, workloads and lecture step)

ROUNDS = int(os.environ.get("ROUNDS", 14))
SAMPLES = int(os.environ.get("AB_SAMPLES", 11))
THREADS = int(os.environ.get("THREADS", 2))


def ratio(f_old, f_new, samples: int) -> float:
    """old/new ratio of the medians of ``samples`` alternated calls each."""
    t_old, t_new = [], []
    for _ in range(samples):
        for f, ts in ((f_old, t_old), (f_new, t_new)):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
    return float(np.median(t_old) / np.median(t_new))


def main(argv: list) -> int:
    if not argv:
        print(__doc__)
        return 2
    commit, words = argv[0], argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, str(ab_builds.build_old(commit, Path(tmp))))
        sys.path.insert(0, str(ab_builds.ROOT / "src"))
        try:
            old, new = (importlib.import_module(f"{p}.ops") for p in ("fastrnn_base", "fastrnn"))
            from fastrnn._bench.machine import core_speeds

            pairs = {}  # name -> (f_old, f_new)
            if not words or any(w in "lecture train_on_batch" for w in words):
                pairs["train_on_batch"] = tuple(ab_builds.lecture_step(p, THREADS)
                                                for p in ("fastrnn_base", "fastrnn"))
            for name, *shape in ab_builds.WORKLOADS:
                if words and not any(w in name for w in words):
                    continue
                olds = ab_builds.calls(old, name, *shape, THREADS)
                news = ab_builds.calls(new, name, *shape, THREADS)
                for part, f_old, f_new in zip(("fwd", "bwd"), olds, news):
                    if not ab_builds.same_bits(f_old(), f_new()):
                        print(f"note: {name} {part}: bits differ")
                    pairs[f"{name} {part}"] = (f_old, f_new)
            ratios = {name: [] for name in pairs}
            for r in range(ROUNDS):
                probe = core_speeds(rounds=5).get("slowest_over_fastest", float("nan"))
                cells = [f"round {r + 1:2d}  cores slowest/fastest {probe:4.2f}"]
                for name, (f_old, f_new) in pairs.items():
                    ratios[name].append(ratio(f_old, f_new, SAMPLES))
                    cells.append(f"{name} {ratios[name][-1]:.2f}")
                print(" | ".join(cells), flush=True)
            print(f"old/new over {ROUNDS} rounds of {SAMPLES} samples, {THREADS} threads:")
            for name, rs in ratios.items():
                print(f"  {name:36s} median {np.median(rs):.2f}  range {min(rs):.2f}-{max(rs):.2f}")
        finally:
            subprocess.run(["git", "-C", str(ab_builds.ROOT), "worktree", "remove", "--force",
                            str(Path(tmp) / "tree")], capture_output=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
