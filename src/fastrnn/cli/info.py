"""``fastrnn info``: print the build configuration (``fastrnn.show_config()``)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``info`` takes no options."""


def run(args: argparse.Namespace) -> int:
    """Print ``show_config()``; return the exit status."""
    import fastrnn

    fastrnn.show_config()
    return 0
