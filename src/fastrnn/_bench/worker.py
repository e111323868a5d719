"""Child process for PyTorch with flush-to-zero: ``python -m fastrnn._bench.worker JSON``.

Sets ``torch.set_flush_denormal(True)`` before torch starts any thread (threads inherit the
creating thread's MXCSR, so all intra-op workers flush), runs the ``torch+ftz`` measurements
and prints their records as one JSON line on stdout; progress goes to stderr.
"""

from __future__ import annotations

import json
import sys


def main(argv: list) -> int:
    """Entry point; ``argv[0]`` is the JSON payload written by ``run_ftz_worker``."""
    import torch

    if not torch.set_flush_denormal(True):
        print(json.dumps([]))
        print("  torch+ftz: this CPU cannot flush denormals", file=sys.stderr)
        return 0
    from .runner import Settings, run_in_process
    from .workloads import default_workloads, full_epoch_workload, scaled

    payload = json.loads(argv[0])
    by_name = {w.name: w for w in default_workloads() + [full_epoch_workload()]}
    workloads = [scaled(by_name[name], payload["scale"]) for name in payload["workloads"]]
    settings = Settings(threads=payload["threads"], impls=["torch+ftz"],
                        budget_s=payload["budget_s"], min_samples=payload["min_samples"],
                        max_samples=payload["max_samples"], scale=payload["scale"],
                        seed=payload["seed"], deadline_s=payload["deadline_s"],
                        readings=payload.get("readings", 1))
    records = run_in_process(workloads, settings, ["torch+ftz"],
                             log=lambda s: print(s, file=sys.stderr, flush=True))
    print(json.dumps(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
