"""``python -m fastrnn bench``: run the suite, print the tables, optionally write JSON/text."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from . import machine, report
from .runner import Settings, available_impls, run_ftz_worker, run_in_process
from .timing import Deadline, numpy_flush_state
from .workloads import default_workloads, full_epoch_workload, scaled

__all__ = ["main", "build_parser", "run"]

PEERS = ("numpy", "torch", "torch+ftz", "onnxruntime")


def _int_list(text: str) -> list:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers. Received: {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected thread counts >= 1. Received: {text!r}")
    return sorted(set(values))


def _peer_list(text: str) -> list:
    values = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in PEERS]
    if bad:
        raise argparse.ArgumentTypeError(f"peers must be among {', '.join(PEERS)}. "
                                         f"Received: {', '.join(bad)}")
    return values


def build_parser() -> argparse.ArgumentParser:
    """The command line of the suite."""
    p = argparse.ArgumentParser(
        prog="python -m fastrnn bench",
        description="Time fastrnn's SimpleRNN against NumPy, PyTorch and ONNX Runtime on the "
                    "same weights (agreement is checked first) and report medians, GFLOP/s, "
                    "the fraction of the machine's sgemm ceiling and the speed targets.")
    p.add_argument("--threads", type=_int_list, default=[1, 2],
                   help="thread counts, comma-separated (default 1,2)")
    p.add_argument("--peers", type=_peer_list, default=list(PEERS),
                   help="peers to compare with (default all installed: numpy,torch,torch+ftz,"
                        "onnxruntime); torch+ftz is PyTorch with flush-to-zero in a child process")
    p.add_argument("--workloads", default="",
                   help="only workloads whose name contains one of these comma-separated words")
    p.add_argument("--full-epoch", action="store_true",
                   help="add the lecture model's full epoch (20,000 x 500; minutes)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny shapes and one sample each: checks the suite, times nothing useful")
    p.add_argument("--budget", type=float, default=0.6,
                   help="seconds of timing per reading after a warm-up call (default 0.6)")
    p.add_argument("--readings", type=int, default=2,
                   help="timing rounds over all implementations of a workload; each keeps "
                        "its best reading (default 2; --smoke: 1)")
    p.add_argument("--deadline", type=float, default=None,
                   help="stop starting measurements after this many seconds (rest: skipped)")
    p.add_argument("--target-threads", type=int, default=2,
                   help="thread count the targets are judged at (default 2)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--json", metavar="FILE", help="write every figure as JSON to FILE")
    p.add_argument("--text", metavar="FILE", help="write the printed report to FILE as well")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return p


def _select(args) -> list:
    ws = default_workloads() + ([full_epoch_workload()] if args.full_epoch else [])
    if args.workloads:
        words = [w.strip() for w in args.workloads.split(",") if w.strip()]
        ws = [w for w in ws if any(word in w.name for word in words)]
    return [scaled(w, "smoke" if args.smoke else "full") for w in ws]


def run(args, log=print) -> dict:
    """Run the suite for parsed ``args``; returns the JSON document (also the text report
    under ``"report_text"``)."""
    progress = (lambda s: None) if args.quiet else (lambda s: log(s))
    deadline = Deadline(args.deadline)
    workloads = _select(args)
    impls, skipped_notes = available_impls(["fastrnn"] + list(args.peers))
    settings = Settings(threads=args.threads, impls=impls, budget_s=args.budget,
                        min_samples=1 if args.smoke else 3, max_samples=1 if args.smoke else 25,
                        scale="smoke" if args.smoke else "full", deadline_s=args.deadline,
                        readings=1 if args.smoke else max(1, args.readings))
    if args.smoke:
        settings.budget_s = 0.0
    info = machine.machine_info()
    progress(f"fastrnn bench: {len(workloads)} workloads x {', '.join(impls)} x threads "
             f"{args.threads} on {info['cpu']} ({info['cores_usable']} usable cores, "
             f"load {info.get('loadavg')})")
    for note in skipped_notes:
        progress("  " + note)

    probe_rounds = 1 if args.smoke else 9  # per-core speed probe, at the start and the end
    cores = [("start", machine.core_speeds(rounds=probe_rounds))]
    sgemm = {}
    for n in args.threads:
        sgemm[n] = machine.sgemm_ceiling(n, n=256 if args.smoke else 0,
                                         budget_s=0.05 if args.smoke else 0.6)
        progress(f"  sgemm ceiling, {n} threads: {sgemm[n]['gflops']:.1f} GFLOP/s "
                 f"({sgemm[n]['note']})")

    in_process = [i for i in impls if i != "torch+ftz"]
    share = args.deadline * 0.7 if (args.deadline and "torch+ftz" in impls) else args.deadline
    records = run_in_process(workloads, settings, in_process, log=progress,
                             deadline=Deadline(share))
    if "torch+ftz" in impls:
        progress("  torch+ftz: child process with torch.set_flush_denormal(True)")
        records += run_ftz_worker(workloads, settings, deadline, log=progress)
    order = {name: i for i, name in enumerate(["fastrnn", *PEERS])}
    wl_order = {w.name: i for i, w in enumerate(workloads)}
    records.sort(key=lambda r: (r["threads"], wl_order[r["workload"]], order[r["impl"]]))

    flush = {"numpy": numpy_flush_state()}
    try:
        flush["fastrnn"] = machine.fastrnn_flushes()
    except Exception as exc:
        flush["fastrnn_error"] = str(exc)
    for impl in report.TORCH_IMPLS:
        fr = {r["threads"]: r["flush_fraction"] for r in records
              if r["impl"] == impl and "flush_fraction" in r}
        if fr:
            flush[impl] = fr

    # The ceiling again at the end: on a shared machine one reading can catch a busy moment.
    for n in args.threads:
        again = machine.sgemm_ceiling(n, n=256 if args.smoke else 0,
                                      budget_s=0.05 if args.smoke else 0.6)
        sgemm[n]["readings_gflops"] = [sgemm[n]["gflops"], again["gflops"]]
        sgemm[n]["gflops"] = max(sgemm[n]["gflops"], again["gflops"])
    report.annotate(records, sgemm)
    cores.append(("end", machine.core_speeds(rounds=probe_rounds)))

    memory: dict = {}
    if not args.no_memory and not deadline.expired():
        from .memory import measure_lecture_step_memory

        lect = next((w for w in workloads if w.kind == "lecture-step"), None)
        B, T = (lect.B, lect.T) if lect else (128, 500)
        try:
            memory = measure_lecture_step_memory(B, T, threads=args.target_threads)
        except Exception as exc:
            memory = {"error": f"{type(exc).__name__}: {exc}"}

    n_target = args.target_threads if args.target_threads in args.threads else max(args.threads)
    tables = [report.thread_tables(records, sgemm, args.threads)]
    scaling_text, scaling = report.scaling_table(records, args.threads)
    if scaling_text:
        tables.append(scaling_text)
    tables.append(report.core_speed_text(cores))
    versus = report.versus_table(records, args.threads)
    if versus:
        tables.append(versus)
    tables.append(report.flush_text(flush))
    if memory:
        tables.append(report.memory_text(memory))
    target_text, targets = report.target_table(records, workloads, sgemm, n_target,
                                               memory if "error" not in memory else None)
    tables.append(target_text)
    notes = [
        f"Notes: medians of repeated calls after one warm-up call, the better of "
        f"{settings.readings} reading(s) per implementation (rounds over all implementations of "
        + ("a workload, other thread pools given 0.3 s to go idle before each); "
           if settings.scale == "full" else "a workload); ")
        + "'peer/fastrnn' > 1 means "
        "fastrnn is faster; GFLOP/s count a forward pass as 2*B*T*(F*H + H*H) and backward "
        "as twice that (dense/embedding flops of the lecture model are not counted); the sgemm "
        "ceiling is NumPy's float32 matmul at the same thread count, the better of two "
        "readings (start and end of this run); 'agree' is "
        "the max relative difference from fastrnn (fastrnn's own row: from the NumPy "
        "reference); 'train' workloads are forward + BPTT with the loss on the final state "
        "(the layer's part of a training step), dx included for every implementation.",
        f"Machine: {info['cpu']}, {info['cores_usable']} usable cores, load average "
        f"{info.get('loadavg')} at start. Timings on a shared machine are noisy (see IQR).",
    ] + skipped_notes
    load = info.get("loadavg") or [0.0]
    if load[0] > 0.5 * (info.get("cores_usable") or 1):
        notes.append(f"WARNING: load average {load[0]:.1f} on {info.get('cores_usable')} usable "
                     "cores at start: other work shares this machine, so these times (and "
                     "multi-thread ones most) are unreliable; compare only quiet runs.")
    if args.smoke:
        notes.insert(0, "SMOKE RUN: tiny shapes, one sample each; the times mean nothing.")
    if deadline.expired():
        notes.append(f"Deadline of {args.deadline:.0f} s reached: later measurements skipped.")
    text = "\n\n".join(tables + ["\n".join(notes)])
    return {
        "schema": "fastrnn-bench/1",
        "machine": info,
        "settings": {"threads": args.threads, "peers": impls, "budget_s": settings.budget_s,
                     "smoke": bool(args.smoke), "full_epoch": bool(args.full_epoch),
                     "target_threads": n_target, "deadline_s": args.deadline},
        "workloads": report.workload_summary(workloads),
        "sgemm": {str(k): v for k, v in sgemm.items()},
        "results": records,
        "scaling": scaling,
        "core_speeds": dict(cores),
        "flush": {k: ({str(n): f for n, f in v.items()} if isinstance(v, dict) and k.startswith("torch")
                      else v) for k, v in flush.items()},
        "memory": memory,
        "targets": targets,
        "elapsed_s": deadline.elapsed(),
        "report_text": text,
    }


def main(argv: Optional[list] = None) -> int:
    """Entry point for ``python -m fastrnn bench [options]``; returns the exit status (1 when
    an implementation disagrees with fastrnn or fastrnn itself fails)."""
    args = build_parser().parse_args(argv)
    doc = run(args, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(doc["report_text"])
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=1, default=str))
    if args.text:
        Path(args.text).write_text(doc["report_text"] + "\n")
    bad = [r for r in doc["results"] if r["status"].startswith("DISAGREES")
           or (r["impl"] == "fastrnn" and r["status"] != "ok" and "deadline" not in r["status"])]
    for r in bad:
        print(f"FAILED: {r['workload']} {r['impl']} {r['threads']} threads: {r['status']}",
              file=sys.stderr)
    return 1 if bad else 0
