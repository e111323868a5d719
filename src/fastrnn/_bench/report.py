"""Tables and the JSON document of a benchmark run."""

from __future__ import annotations

from typing import Optional

from .workloads import Target, Workload

__all__ = ["annotate", "thread_tables", "scaling_table", "target_table", "versus_table", "memory_text",
           "flush_text", "TORCH_IMPLS"]

TORCH_IMPLS = ("torch", "torch+ftz")
SCALING_TARGET = 1.8  # fastrnn 1 -> 2 threads on the B=128 workloads


def _ok(rec: dict) -> bool:
    return rec.get("status") == "ok" and rec.get("median_s")


def annotate(records: list, sgemm: dict) -> None:
    """Add ``gflops``, ``frac_sgemm`` and ``ratio_vs_fastrnn`` (peer time / fastrnn time: > 1
    means fastrnn is faster) to every successful record, in place."""
    fast = {(r["workload"], r["threads"]): r["median_s"] for r in records
            if r["impl"] == "fastrnn" and _ok(r)}
    for r in records:
        if not _ok(r):
            continue
        r["gflops"] = r["flops"] / r["median_s"] / 1e9
        ceiling = sgemm.get(r["threads"], {}).get("gflops")
        r["frac_sgemm"] = r["gflops"] / ceiling if ceiling else None
        f = fast.get((r["workload"], r["threads"]))
        r["ratio_vs_fastrnn"] = r["median_s"] / f if f else None


def _fmt_ms(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    return f"{ms:.4f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def _table(header: list, rows: list) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)] if rows else \
        [len(h) for h in header]
    line = lambda cells: " | ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    out = [line(header), "-+-".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def thread_tables(records: list, sgemm: dict, threads: list) -> str:
    """One table per thread count: median, GFLOP/s, fraction of sgemm, peer/fastrnn ratio."""
    parts = []
    for n in threads:
        ceiling = sgemm.get(n, {}).get("gflops")
        title = f"== {n} thread{'s' if n > 1 else ''}" + (
            f" (sgemm ceiling {ceiling:.1f} GFLOP/s) ==" if ceiling else " ==")
        rows = []
        for r in records:
            if r["threads"] != n:
                continue
            if _ok(r):
                frac = r.get("frac_sgemm")
                ratio = r.get("ratio_vs_fastrnn")
                rows.append([r["workload"], r["impl"], _fmt_ms(r["median_s"]),
                             f"{r['gflops']:.2f}", f"{frac:.1%}" if frac is not None else "-",
                             f"{ratio:.2f}" if ratio is not None else "-",
                             f"{r['agree_rel_err']:.0e}", f"{(r.get('spread') or 0):.0%}"])
            else:
                rows.append([r["workload"], r["impl"], "-", "-", "-", "-", "-", r["status"][:60]])
        parts.append(title + "\n" + _table(
            ["workload", "impl", "median ms", "GFLOP/s", "of sgemm", "peer/fastrnn",
             "agree", "IQR"], rows))
    return "\n\n".join(parts)


def _scaling_times(records: list, name: str, threads: list) -> tuple[dict, str]:
    """fastrnn's seconds per call for each thread count of workload ``name``: the medians of
    the interleaved samples when every thread count has them, else the per-setting medians."""
    by = {r["threads"]: r for r in records
          if r["workload"] == name and r["impl"] == "fastrnn" and _ok(r)}
    if all(by.get(n, {}).get("interleaved_median_s") for n in threads):
        return {n: by[n]["interleaved_median_s"] for n in threads}, "interleaved"
    return {n: r["median_s"] for n, r in by.items()}, "separate"


def scaling_table(records: list, threads: list) -> tuple[str, list]:
    """fastrnn's speedup over 1 thread for each workload and thread count, from the readings
    taken in alternation (1, 2, 1, 2, ...) where the run has them."""
    if 1 not in threads or len(threads) < 2:
        return "", []
    names = list(dict.fromkeys(r["workload"] for r in records if r["impl"] == "fastrnn"))
    others = [n for n in threads if n != 1]
    rows, data = [], []
    for name in names:
        times, how = _scaling_times(records, name, threads)
        base = times.get(1)
        cells = [name, _fmt_ms(base) if base else "-"]
        entry = {"workload": name, "speedup": {}, "readings": how}
        for n in others:
            if base and times.get(n):
                s = base / times[n]
                entry["speedup"][n] = s
                cells.append(f"{s:.2f}x")
            else:
                cells.append("-")
        rec = next(r for r in records if r["workload"] == name)
        b128 = rec["shape"].startswith("(128,")
        s2 = entry["speedup"].get(2)
        entry["target_1to2"] = SCALING_TARGET if b128 else None
        entry["met"] = (s2 >= SCALING_TARGET) if (b128 and s2 is not None) else None
        cells += [f">= {SCALING_TARGET}x (1->2)" if b128 else "",
                  "" if entry["met"] is None else ("yes" if entry["met"] else "NO"), how]
        rows.append(cells)
        data.append(entry)
    header = (["workload", "1 thread ms"] + [f"{n} threads" for n in others]
              + ["target", "met?", "readings"])
    return ("== fastrnn thread scaling (speedup over 1 thread; 'interleaved': medians of "
            "samples taken 1, 2, 1, 2, ... threads in alternation) ==\n"
            + _table(header, rows), data)


def core_speed_text(readings: list) -> str:
    """The per-core probe (machine.core_speeds) at the start and end of the run."""
    lines = ["== single-thread speed of each core (the same 1-thread forward pinned to each core "
             "in turn; threads splitting work evenly wait for the slowest) =="]
    for when, r in readings:
        if "error" in r:
            lines.append(f"{when}: not measured ({r['error']})")
            continue
        cores = ", ".join(f"cpu{c} {t:.2f} ms" for c, t in r["ms"].items())
        lines.append(f"{when}: {cores}; slowest / fastest {r['slowest_over_fastest']:.2f}")
    return "\n".join(lines)


def versus_table(records: list, threads: list, peer: str = "torch") -> str:
    """Per workload and thread count: ``peer time / fastrnn time`` (fastrnn's ms in brackets);
    ``peer="torch"`` takes the faster of torch and torch+ftz."""
    names = list(dict.fromkeys(r["workload"] for r in records))
    rows = []
    for name in names:
        cells, any_peer = [name], False
        for n in threads:
            fast = next((r for r in records if r["workload"] == name and r["threads"] == n
                         and r["impl"] == "fastrnn" and _ok(r)), None)
            peer_s, _ = _peer_time(records, name, n, peer)
            if fast and peer_s:
                any_peer = True
                cells.append(f"{peer_s / fast['median_s']:.2f}x ({_fmt_ms(fast['median_s'])})")
            else:
                cells.append("-")
        if any_peer:
            rows.append(cells)
    if not rows:
        return ""
    label = "faster of torch / torch+ftz" if peer == "torch" else peer
    return (f"== {peer}/fastrnn time ratio by thread count ({label}; fastrnn ms in brackets) ==\n"
            + _table(["workload"] + [f"{n} thr" for n in threads], rows))


def _peer_time(records: list, name: str, n: int, peer: str) -> tuple[Optional[float], str]:
    impls = TORCH_IMPLS if peer == "torch" else (peer,)
    found = [(r["median_s"], r["impl"]) for r in records
             if r["workload"] == name and r["threads"] == n and r["impl"] in impls and _ok(r)]
    if not found:
        return None, peer
    return min(found)


def target_table(records: list, workloads: list, sgemm: dict, n: int,
                 memory: Optional[dict] = None) -> tuple[str, list]:
    """The final "workload | fastrnn | peer | ratio | target | met?" table at ``n`` threads.

    PyTorch targets compare with the faster of ``torch`` and ``torch+ftz``.
    """
    rows, data = [], []
    for w in workloads:
        t: Target
        for t in w.targets:
            fast = next((r for r in records if r["workload"] == w.name and r["threads"] == n
                         and r["impl"] == "fastrnn" and _ok(r)), None)
            entry = {"workload": w.name, "threads": n, "target": t.describe(), "met": None,
                     "fastrnn_s": fast["median_s"] if fast else None, "peer": t.peer,
                     "peer_s": None, "ratio": None}
            if fast is None:
                cells = [w.name, "-", t.peer, "-", t.describe(), "n/a"]
            elif t.peer == "latency":
                ms = fast["median_s"] * 1e3
                entry["met"] = ms <= t.value
                cells = [w.name, f"{ms:.4f} ms", "-", "-", t.describe()]
            elif t.peer == "sgemm":
                frac = fast.get("frac_sgemm")
                entry["ratio"] = frac
                entry["met"] = None if frac is None else frac >= t.value
                cells = [w.name, f"{fast['gflops']:.1f} GFLOP/s",
                         f"sgemm {sgemm.get(n, {}).get('gflops', 0):.1f}",
                         "-" if frac is None else f"{frac:.1%}", t.describe()]
            else:
                peer_s, impl = _peer_time(records, w.name, n, t.peer)
                entry.update(peer=impl, peer_s=peer_s)
                if peer_s is None:
                    cells = [w.name, f"{_fmt_ms(fast['median_s'])} ms", f"{t.peer}: not run",
                             "-", t.describe()]
                else:
                    ratio = peer_s / fast["median_s"]
                    entry.update(ratio=ratio, met=ratio >= t.value)
                    cells = [w.name, f"{_fmt_ms(fast['median_s'])} ms",
                             f"{impl} {_fmt_ms(peer_s)} ms", f"{ratio:.2f}x", t.describe()]
            if len(cells) == 5:
                cells.append("n/a" if entry["met"] is None else "yes" if entry["met"] else "NO")
            rows.append(cells)
            data.append(entry)
    if memory and "ratio_tracemalloc" in memory:
        worst = max(memory["ratio_tracemalloc"], memory.get("ratio_rss", 0.0))
        met = worst <= 1.5
        rows.append(["lecture step peak memory", f"{_mib(memory['tracemalloc_peak'])} / "
                     f"{_mib(memory.get('peak_rss_estimate', 0))}",
                     f"needs {_mib(memory['must_hold']['total'])}", f"{worst:.2f}x",
                     "<= 1.5x", "yes" if met else "NO"])
        data.append({"workload": "lecture step peak memory", "ratio": worst,
                     "target": "<= 1.5x must-hold bytes", "met": met})
    text = f"== targets at {n} threads (torch = faster of torch / torch+ftz) ==\n" + _table(
        ["workload", "fastrnn", "peer", "ratio", "target", "met?"], rows)
    return text, data


def _mib(nbytes: float) -> str:
    return f"{nbytes / 2**20:.1f} MiB"


def memory_text(mem: dict) -> str:
    """The memory section: what a step must hold and the two peak measurements."""
    if "error" in mem:
        return f"== lecture step memory ==\nnot measured: {mem['error']}"
    need = mem["must_hold"]
    lines = [f"== lecture step memory (B={mem['B']}, T={mem['T']}, {mem['threads']} threads) ==",
             "must hold: " + ", ".join(f"{k} {_mib(v)}" for k, v in need.items() if k != "total")
             + f" = {_mib(need['total'])}",
             f"tracemalloc (NumPy buffers, C++ scratch not visible): held between steps "
             f"{_mib(mem['tracemalloc_held'])}, peak {_mib(mem['tracemalloc_peak'])} "
             f"= {mem['ratio_tracemalloc']:.2f}x must-hold",
             f"RSS ({mem['method_rss']}): step increase {_mib(mem['rss_step_increase'])}, "
             f"held + increase {_mib(mem['peak_rss_estimate'])} = {mem['ratio_rss']:.2f}x "
             "must-hold (includes C++ scratch)"]
    return "\n".join(lines)


def flush_text(flush: dict) -> str:
    """How each implementation treats subnormal numbers in this run."""
    lines = ["== subnormals (flush-to-zero / denormals-are-zero) =="]
    fr = flush.get("fastrnn")
    lines.append(f"fastrnn: kernel threads flush: {'yes' if fr else 'NO' if fr is False else '?'}"
                 " (probed: a subnormal input reads as zero)")
    lines.append("numpy: cannot flush (no switch); main thread state during the run: "
                 f"{flush.get('numpy', '?')}")
    for impl in TORCH_IMPLS:
        if impl in flush:
            frac = ", ".join(f"{n} thr: {v:.0%}" for n, v in sorted(flush[impl].items()))
            lines.append(f"{impl}: share of intra-op threads flushing ({frac})"
                         + ("  <- set_flush_denormal(True) before torch made threads"
                            if impl == "torch+ftz" else "  <- set_flush_denormal(False)"))
    return "\n".join(lines)


def workload_summary(workloads: list) -> list:
    """JSON-ready descriptions of the workloads of a run."""
    out = []
    w: Workload
    for w in workloads:
        out.append({"name": w.name, "kind": w.kind, "B": w.B, "T": w.T, "F": w.F, "H": w.H,
                    "layers": w.layers, "bidirectional": w.bidirectional, "samples": w.samples,
                    "flops": w.flops, "targets": [t.describe() for t in w.targets]})
    return out
