"""Japanese Vowels speaker-recognition data set (UCI; Kudo, Toyama & Shimbo 1999), shipped with
fastrnn.

Nine male speakers uttered the vowels /ae/; each utterance is a series of 12 LPC cepstrum
coefficients, 7 to 29 frames long. 270 training cases (30 per speaker) and 370 test cases.
The raw files label speakers 1..9; fastrnn returns **0..8** (raw label minus one), ready for
``sparse_categorical_crossentropy``. Licence: CC BY 4.0, see
``data/JAPANESE_VOWELS_LICENSE.md`` next to this module. The packed file is made by
``tools/convert_japanese_vowels.py`` (values stored as float32).
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple, Union

import numpy as np

__all__ = ["load_data", "load_lengths", "MAXLEN", "N_FEATURES", "N_CLASSES"]

MAXLEN = 29
N_FEATURES = 12
N_CLASSES = 9
_DATA_FILE = Path(__file__).resolve().parent / "data" / "japanese_vowels.npz"

Split = Tuple[Union[np.ndarray, List[np.ndarray]], ...]


def _load_raw() -> Dict[str, np.ndarray]:
    """Read the packed arrays (no pickles) from the file shipped with the package."""
    with np.load(_DATA_FILE, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _split(
    raw: Dict[str, np.ndarray], name: str
) -> Tuple[List[np.ndarray], np.ndarray, np.ndarray]:
    """Return (list of (len_i, 12) float32 arrays, labels int64, lengths int64) for one split."""
    lengths = raw[f"{name}_lengths"].astype(np.int64)
    bounds = np.cumsum(lengths)[:-1]
    seqs = np.split(raw[f"{name}_values"], bounds, axis=0)
    return seqs, raw[f"{name}_labels"].astype(np.int64), lengths


def _pad(seqs: List[np.ndarray], padding: str) -> np.ndarray:
    """Zero-pad ``(len_i, 12)`` arrays to ``(n, MAXLEN, 12)`` float32."""
    out = np.zeros((len(seqs), MAXLEN, N_FEATURES), dtype=np.float32)
    for i, s in enumerate(seqs):
        if padding == "post":
            out[i, : len(s)] = s
        else:
            out[i, MAXLEN - len(s):] = s
    return out


def load_data(
    padding: str = "post", ragged: bool = False, return_lengths: bool = False
) -> Tuple[Split, Split]:
    """Load the Japanese Vowels data set.

    Args:
        padding: ``"post"`` (default; frames first, zeros after) or ``"pre"`` (zeros first).
            Ignored when ``ragged=True``.
        ragged: return ``x`` as a list of ``(len_i, 12)`` float32 arrays instead of a padded array.
        return_lengths: also return the number of real frames of each case (int64), so that
            ``np.arange(29) < lengths[:, None]`` is the post-padding mask.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``, or with ``return_lengths=True``
        ``(x_train, y_train, len_train), (x_test, y_test, len_test)``. ``x`` is float32
        ``(n, 29, 12)`` (270 train, 370 test cases) zero-padded; ``y`` holds int64 labels 0..8
        (the raw files' 1..9 minus one).

    Raises:
        ValueError: ``padding`` is not ``"pre"`` or ``"post"``.
    """
    if padding not in ("pre", "post"):
        raise ValueError(f'`padding` must be "pre" or "post". Received: padding={padding!r}')
    raw = _load_raw()
    result = []
    for name in ("train", "test"):
        seqs, labels, lengths = _split(raw, name)
        x: Union[np.ndarray, List[np.ndarray]] = seqs if ragged else _pad(seqs, padding)
        result.append((x, labels, lengths) if return_lengths else (x, labels))
    return result[0], result[1]


def load_lengths() -> Tuple[np.ndarray, np.ndarray]:
    """Return ``(len_train, len_test)``: int64 frame counts (7..29) of every case, in
    ``load_data`` order."""
    raw = _load_raw()
    return raw["train_lengths"].astype(np.int64), raw["test_lengths"].astype(np.int64)
