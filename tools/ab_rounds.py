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

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ab_builds  # noqa: E402  (the same builds, workloads and lecture step)

ROUNDS = int(os.environ.get("ROUNDS", 14))
SAMPLES = int(os.environ.get("AB_SAMPLES", 11))
THREADS = int(os.environ.get("THREADS", 2))


def main(argv: list) -> int:
    if not argv:
        print(__doc__)
        return 2
    commit, words = argv[0], argv[1:]
    with ab_builds.old_and_new(commit) as (old, new):
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
                t_old, t_new = ab_builds.alternated_medians(f_old, f_new, SAMPLES)
                ratios[name].append(t_old / t_new)
                cells.append(f"{name} {ratios[name][-1]:.2f}")
            print(" | ".join(cells), flush=True)
        print(f"old/new over {ROUNDS} rounds of {SAMPLES} samples, {THREADS} threads:")
        for name, rs in ratios.items():
            print(f"  {name:36s} median {np.median(rs):.2f}  range {min(rs):.2f}-{max(rs):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
