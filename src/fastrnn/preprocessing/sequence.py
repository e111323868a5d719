"""Sequence preprocessing: ``pad_sequences`` with the semantics of ``keras.utils.pad_sequences``."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

__all__ = ["pad_sequences"]

_SIDES = ("pre", "post")


def _is_string_dtype(dtype: Any) -> bool:
    """True when ``dtype`` is a NumPy unicode or bytes string type."""
    if dtype is object:
        return False
    try:
        return np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    except TypeError:
        return False


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: Optional[int] = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: Any = 0.0,
) -> np.ndarray:
    """Pad (and truncate) a list of sequences into one array, as ``keras.utils.pad_sequences``.

    Args:
        sequences: list (or other sized iterable) of sequences. Each sequence is a list/array
            of scalars, or of equal-shaped items (e.g. a ``(len_i, features)`` array for
            variable-length multivariate series). Empty sequences are allowed and come out as
            all padding.
        maxlen: length of the output time axis; ``None`` uses the longest sequence.
        dtype: output dtype (default ``"int32"``); use ``object`` or a NumPy string dtype
            for strings.
        padding: ``"pre"`` or ``"post"``: pad before or after each sequence.
        truncating: ``"pre"`` or ``"post"``: drop values at the start or end of sequences
            longer than ``maxlen``.
        value: padding value (cast to ``dtype``, as NumPy does).

    Returns:
        Array of shape ``(len(sequences), maxlen) + item_shape``, where ``item_shape`` is the
        shape of one time step taken from the first non-empty sequence.

    Raises:
        ValueError: ``sequences`` is not sized or holds a non-iterable; ``padding`` or
            ``truncating`` is not ``"pre"``/``"post"`` (``'Padding type "x" not
            understood'``, as Keras); a string ``value`` with a non-string ``dtype``;
            items of different shapes; a negative ``maxlen``.

    Differences from Keras (which fails in these corner cases): an empty ``sequences`` gives
    shape ``(0, maxlen or 0)``; ``maxlen=0`` gives an empty time axis; a bad ``padding`` or
    ``truncating`` is reported even when every sequence is empty. The input is never modified.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError(f"`sequences` must be iterable. Received: {type(sequences).__name__}")
    if truncating not in _SIDES:
        raise ValueError(f'Truncating type "{truncating}" not understood')
    if padding not in _SIDES:
        raise ValueError(f'Padding type "{padding}" not understood')
    if maxlen is not None:
        if isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)):
            raise ValueError(f"`maxlen` must be None or a non-negative int. Received: {maxlen!r}")
        if maxlen < 0:
            raise ValueError(f"`maxlen` must be None or a non-negative int. Received: {maxlen}")
        maxlen = int(maxlen)

    lengths = []
    item_shape: tuple = ()
    found_item_shape = False
    for seq in sequences:
        try:
            n = len(seq)
        except TypeError as exc:
            raise ValueError(
                f"`sequences` must be a list of iterables. Found non-iterable: {seq!s}"
            ) from exc
        lengths.append(n)
        if n and not found_item_shape:
            item_shape = np.asarray(seq).shape[1:]
            found_item_shape = True

    if maxlen is None:
        maxlen = max(lengths) if lengths else 0

    if isinstance(value, str) and dtype is not object and not _is_string_dtype(dtype):
        raise ValueError(
            f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
            "You should set `dtype=object` for variable length strings."
        )

    out = np.full((len(lengths), maxlen) + tuple(item_shape), value, dtype=dtype)
    if maxlen == 0:
        return out
    for i, seq in enumerate(sequences):
        if not lengths[i]:
            continue
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        kept = np.asarray(kept, dtype=dtype)
        if kept.shape[1:] != item_shape:
            raise ValueError(
                f"Shape of sample {kept.shape[1:]} of sequence at position {i} is different "
                f"from expected shape {item_shape}"
            )
        if padding == "pre":
            out[i, maxlen - len(kept):] = kept
        else:
            out[i, : len(kept)] = kept
    return out
