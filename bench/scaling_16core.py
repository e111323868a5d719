#!/usr/bin/env python3
"""fastrnn at 1, 2, 4, 8 and 16 threads against PyTorch, in one go, for a lent 16-core machine.

    python bench/scaling_16core.py OUTDIR [--threads 1,2,4,8,16] [--deadline 180] [--numpy]

Installs nothing and reaches no network. Every measurement first checks that the two
implementations agree on the same weights. Peers: PyTorch without flush-to-zero (this process)
and with it (a child process), NumPy only with ``--numpy``. Measurements stop being started after
``--deadline`` seconds (default 180; those left are reported as skipped), then the lecture-step
memory check runs (~5 s), so the whole script finishes well under 5 minutes. Writes
``OUTDIR/scaling_16core.json`` (every figure, for comparison across commits) and
``OUTDIR/scaling_16core.txt`` (the printed tables), and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def _import_bench():
    try:
        import fastrnn._bench as bench
    except ImportError:  # run from a source checkout without the package on the path
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        import fastrnn._bench as bench
    return bench


def main(argv=None) -> int:
    """Parse arguments, run the comparison, write JSON and text into the output directory."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("outdir", help="directory for scaling_16core.json and scaling_16core.txt")
    p.add_argument("--threads", default="1,2,4,8,16")
    p.add_argument("--deadline", type=float, default=180.0,
                   help="seconds after which no new measurement starts (default 180)")
    p.add_argument("--budget", type=float, default=0.3,
                   help="timing seconds per measurement (default 0.3)")
    p.add_argument("--numpy", action="store_true", help="also time the NumPy reference loop")
    args = p.parse_args(argv)
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    bench = _import_bench()
    from fastrnn._bench import cli

    peers = "torch,torch+ftz" + (",numpy" if args.numpy else "")
    bench_args = cli.build_parser().parse_args([
        "--threads", args.threads, "--peers", peers, "--budget", str(args.budget),
        "--deadline", str(args.deadline), "--target-threads", "2",
    ])
    t0 = time.perf_counter()
    doc = cli.run(bench_args, log=lambda s: print(s, file=sys.stderr, flush=True))
    doc["script"] = {"name": "bench/scaling_16core.py", "argv": sys.argv[1:],
                     "wall_s": time.perf_counter() - t0}
    (out / "scaling_16core.json").write_text(json.dumps(doc, indent=1, default=str))
    (out / "scaling_16core.txt").write_text(doc["report_text"] + "\n")
    print(doc["report_text"])
    print(f"\nwrote {out / 'scaling_16core.json'} and {out / 'scaling_16core.txt'} "
          f"in {doc['script']['wall_s']:.0f} s", file=sys.stderr)
    del bench
    bad = [r for r in doc["results"] if r["status"].startswith("DISAGREES")]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
