"""``Sequential.summary()``: the table Keras 3.15 prints (keras/src/utils/summary_utils.py).

Keras renders a ``rich`` table (HEAVY_HEAD box, a rule between rows) of ``line_length`` =
``min(88, terminal columns - 4)`` characters, columns at 45% / 80% / 100% of the line, each
fixed-width column padded by one space on both sides and, when the widths (plus padding)
exceed the room left by the borders, reduced evenly as rich's ``ratio_reduce`` does. This module
reproduces that layout without depending on rich.
"""

from __future__ import annotations

import re
import shutil
from typing import Any, Callable

import numpy as np

__all__ = ["print_summary", "format_shape", "readable_memory_size"]


def readable_memory_size(nbytes: float) -> str:
    """Bytes in 1024-based units with two decimals: ``"1.23 MB"``, ``"0.00 B"``."""
    units = ["B", "KB", "MB", "GB", "TB", "PB"]
    for unit in units:
        if nbytes / 1024 < 1:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} {units[-1]}"


def format_shape(shape: Any) -> str:
    """``(None, 500, 32)``; a list of shapes as ``[(None, 32), (None, 32)]`` (Keras's form)."""
    if isinstance(shape, list):
        if len(shape) == 1:
            return format_shape(shape[0])
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _count(arrays: list) -> int:
    return int(sum(int(np.prod(np.shape(a), dtype=np.int64)) for a in arrays))


def _nbytes(arrays: list) -> int:
    # Keras's integer variables (the optimizer's iteration counter) are int32: 4 bytes.
    unique = [np.asarray(a) for a in {id(a): a for a in arrays}.values()]
    return int(sum(a.size * (4 if a.dtype.kind in "iu" else a.itemsize)
                   for a in unique))


def _ratio_reduce(total: int, widths: list[int]) -> list[int]:
    """rich's ``ratio_reduce(total, [1]*n, widths, widths)``: remove ``total`` evenly."""
    ratio_left = len(widths)
    remaining = total
    out = []
    for w in widths:
        cut = min(w, round(remaining / ratio_left)) if ratio_left else 0
        out.append(w - cut)
        remaining -= cut
        ratio_left -= 1
    return out


def _column_widths(line_length: int, positions: list[float]) -> list[int]:
    """Inner widths (padding included) of the columns, as rich lays them out."""
    widths, current = [], 0
    for pos in positions:
        width = int(pos * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width
    console_width = shutil.get_terminal_size((80, 24)).columns
    room = min(line_length, console_width) - (len(widths) + 1)
    padded = [w + 2 for w in widths]
    padded = [min(w, room) for w in padded]
    if sum(padded) > room:
        padded = _ratio_reduce(sum(padded) - room, padded)
    return padded


_WORD = re.compile(r"\s*\S+\s*")


def _wrap(text: str, width: int, justify: str) -> list[str]:
    """rich's word wrap with ``overflow="ellipsis"``: break between words, put a word longer
    than the line on its own line and cut it to ``width - 1`` characters + "…"; every line is
    padded to ``width`` (right-justified cells are stripped first)."""
    breaks, offset = [], 0
    for match in _WORD.finditer(text):
        start, word = match.start(), match.group(0)
        length = len(word.rstrip())
        if width - offset >= length:
            offset += len(word)
        elif length > width or (offset and start):
            if start:
                breaks.append(start)
            offset = len(word)
    bounds = [0, *breaks, len(text)]
    lines = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        line = text[a:b]
        if len(line) > width:  # drop trailing blanks beyond the width
            excess = len(line) - width
            trailing = len(line) - len(line.rstrip())
            line = line[:len(line) - min(trailing, excess)]
        if justify == "right":
            line = line.rstrip()
        if len(line) > width:
            line = line[:width - 1] + "…"
        lines.append(line.rjust(width) if justify == "right" else line.ljust(width))
    return lines or [" " * width]


def _render_table(header: list[str], rows: list[list[str]], widths: list[int],
                  justify: list[str]) -> list[str]:
    def line(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * w for w in widths) + right

    def cells(values: list[str], vbar: str, bottom: bool = False) -> list[str]:
        # rich aligns header cells to the bottom of the row, body cells to the top
        wrapped = [_wrap(v, w - 2, j) for v, w, j in zip(values, widths, justify)]
        height = max(len(c) for c in wrapped)
        blank = [[" " * (w - 2)] * (height - len(c)) for c, w in zip(wrapped, widths)]
        wrapped = [(b + c) if bottom else (c + b) for c, b in zip(wrapped, blank)]
        return [vbar + vbar.join(" " + c[i] + " " for c in wrapped) + vbar for i in range(height)]

    out = [line("┏", "━", "┳", "┓")]
    out += cells(header, "┃", bottom=True)
    out.append(line("┡", "━", "╇", "┩"))
    for i, row in enumerate(rows):
        if i:
            out.append(line("├", "─", "┼", "┤"))
        out += cells(row, "│")
    out.append(line("└", "─", "┴", "┘"))
    return out


def _layer_row(layer: Any, output_shape: Any) -> list[str]:
    name = f"{layer.name} ({type(layer).__name__})"
    shape = "?" if output_shape is None else format_shape(output_shape)
    if not getattr(layer, "built", False):
        params = "0 (unbuilt)"
    else:
        params = f"{layer.count_params():,}"
    return [name, shape, params]


def summary_lines(model: Any, line_length: int | None = None,
                  positions: list[float] | None = None) -> list[str]:
    """The summary of ``model`` as a list of lines (no trailing newline)."""
    default_length = min(88, shutil.get_terminal_size((80, 24)).columns - 4)
    line_length = line_length or default_length
    positions = positions or [0.45, 0.80, 1.0]
    if len(positions) != 3:
        raise ValueError(f"`positions` must have 3 entries (fractions of the line). "
                         f"Received: positions={positions!r}")
    widths = _column_widths(line_length, list(positions))
    shapes = model._layer_output_shapes()
    rows = [_layer_row(layer, shape) for layer, shape in zip(model.layers, shapes)]
    table = _render_table(["Layer (type)", "Output Shape", "Param #"], rows, widths,
                          ["left", "left", "right"])
    trainable = model.trainable_weights
    non_trainable = model.non_trainable_weights
    opt = getattr(model, "optimizer", None)
    opt_vars = list(getattr(opt, "variables", []) or []) if (
        opt is not None and getattr(opt, "built", False)) else None
    counts = [_count(trainable), _count(non_trainable), _count(opt_vars or [])]
    sizes = [_nbytes(trainable), _nbytes(non_trainable), _nbytes(opt_vars or [])]
    lines = [f'Model: "{model.name}"', *table]
    lines.append(f" Total params: {sum(counts):,} ({readable_memory_size(sum(sizes))})")
    lines.append(f" Trainable params: {counts[0]:,} ({readable_memory_size(sizes[0])})")
    lines.append(f" Non-trainable params: {counts[1]:,} ({readable_memory_size(sizes[1])})")
    if opt_vars is not None:
        lines.append(f" Optimizer params: {counts[2]:,} ({readable_memory_size(sizes[2])})")
    return lines


def print_summary(model: Any, line_length: int | None = None, positions: list | None = None,
                  print_fn: Callable[..., Any] | None = None, **kwargs: Any) -> None:
    """Print the summary (or pass the whole text, newline-terminated, to ``print_fn`` once,
    as Keras 3 does). ``expand_nested``/``show_trainable``/``layer_range`` are accepted and
    ignored only at their defaults."""
    for key, default in (("expand_nested", False), ("show_trainable", False),
                         ("layer_range", None)):
        if kwargs.get(key, default) not in (default,):
            raise NotImplementedError(f"summary({key}=...) is not supported by fastrnn yet")
    unknown = set(kwargs) - {"expand_nested", "show_trainable", "layer_range"}
    if unknown:
        raise TypeError(f"summary() got unexpected keyword arguments: {sorted(unknown)}")
    text = "\n".join(summary_lines(model, line_length, positions)) + "\n"
    if print_fn is None:
        print(text, end="")
    else:
        print_fn(text)
