"""Command line: ``python -m fastrnn {demo,info,bench}`` (also the ``fastrnn`` console script).

- ``demo``: train a SimpleRNN on Japanese Vowels (or ``--dataset imdb``), print the test
  accuracy, the time per epoch and one training step timed against a NumPy reference.
- ``info``: print the build configuration (``fastrnn.show_config()``).
- ``bench``: the benchmark suite; every argument after ``bench`` goes to
  ``fastrnn._bench.main(argv)``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

__all__ = ["main", "build_parser"]

_BENCH_MISSING = (
    "fastrnn bench: the benchmark suite (fastrnn._bench) is not part of this installation."
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastrnn`` command (``demo`` and ``info`` subcommands)."""
    from .cli import demo, info

    parser = argparse.ArgumentParser(
        prog="fastrnn",
        description="fastrnn: Keras-compatible SimpleRNN with a fast C++ core for CPUs.",
    )
    sub = parser.add_subparsers(dest="command", metavar="{demo,info,bench}")
    for name, module, text in (
        ("demo", demo, "train a SimpleRNN classifier and time it against NumPy"),
        ("info", info, "print the build configuration (show_config)"),
    ):
        p = sub.add_parser(name, help=text,
                           description=(module.__doc__ or "").split("\n")[0].replace("``", ""))
        module.add_arguments(p)
        p.set_defaults(handler=module.run)
    sub.add_parser("bench", help="run the benchmark suite (arguments go to fastrnn._bench)",
                   add_help=False)
    return parser


def _run_bench(argv: list[str]) -> int:
    """Dispatch to ``fastrnn._bench.main(argv)``, imported only now."""
    try:
        bench = importlib.import_module("fastrnn._bench")
    except ModuleNotFoundError as exc:
        if exc.name not in ("fastrnn._bench",):
            raise
        print(_BENCH_MISSING, file=sys.stderr)
        return 1
    result = bench.main(argv)
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fastrnn`` command with ``argv`` (default ``sys.argv[1:]``); return the status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "bench":
        return _run_bench(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
