"""IMDB movie-review sentiment data set, with the file format and semantics of
``keras.datasets.imdb``.

The files are the public ones Keras uses (``imdb.npz``, ``imdb_word_index.json`` from
``https://storage.googleapis.com/tensorflow/tf-keras-datasets/``), downloaded on first use into
``~/.fastrnn/datasets`` (or ``$FASTRNN_DATA_HOME``, or ``cache_dir=``). Set
``FASTRNN_DATASETS_BASE_URL`` or the module attribute ``BASE_URL`` to fetch them from a mirror.

Pickle policy: Keras's ``imdb.npz`` stores ragged reviews as object arrays, which NumPy can only
save as pickles. fastrnn never calls ``np.load(allow_pickle=True)``: ``imdb.npz`` is opened only
after its SHA-256 equals ``NPZ_SHA256`` (the digest Keras pins), and even then object members
are read with a restricted unpickler that accepts only the three globals needed to rebuild a
NumPy array (``numpy.ndarray``, ``numpy.dtype``, ``multiarray._reconstruct``). Numeric members
are read with pickling disabled. A file whose hash does not match is never unpickled.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ._download import get_file

__all__ = ["load_data", "get_word_index", "BASE_URL", "NPZ_SHA256", "WORD_INDEX_MD5"]

DEFAULT_BASE_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
#: Mirror to download from; ``None`` means ``$FASTRNN_DATASETS_BASE_URL`` or ``DEFAULT_BASE_URL``.
BASE_URL: Optional[str] = None
#: SHA-256 of ``imdb.npz`` (the ``file_hash`` pinned by ``keras.datasets.imdb``).
NPZ_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
#: MD5 of ``imdb_word_index.json`` (Keras pins only an MD5 for this file).
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"

PathLike = Union[str, "os.PathLike[str]", None]


def _origin(name: str) -> str:
    """URL of ``name`` under the configured base URL."""
    base = BASE_URL or os.environ.get("FASTRNN_DATASETS_BASE_URL") or DEFAULT_BASE_URL
    return base.rstrip("/") + "/" + name


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild NumPy arrays and builtin containers, and nothing else."""

    _ALLOWED = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): np.empty(0).__reduce__()[0],
        ("numpy._core.multiarray", "_reconstruct"): np.empty(0).__reduce__()[0],
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"Refusing to load global {module}.{name} from a data set file; only NumPy "
                "array reconstruction is allowed."
            ) from None


def _read_member(buf: io.BytesIO) -> np.ndarray:
    """Read one ``.npy`` stream; object arrays go through ``_ArrayOnlyUnpickler``."""
    version = np.lib.format.read_magic(buf)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(buf)
    else:  # 2.0 and 3.0 share the header layout (3.0 only allows utf-8 text)
        shape, _, dtype = np.lib.format.read_array_header_2_0(buf)
    if not dtype.hasobject:
        buf.seek(0)
        return np.lib.format.read_array(buf, allow_pickle=False)
    arr = _ArrayOnlyUnpickler(buf).load()
    if not isinstance(arr, np.ndarray) or arr.shape != tuple(shape):
        raise ValueError(f"Object member does not hold an array of shape {shape}.")
    return arr


def load_npz_restricted(path: PathLike) -> Dict[str, np.ndarray]:
    """Load every array of an ``.npz`` file without arbitrary unpickling (see module docs)."""
    out: Dict[str, np.ndarray] = {}
    with zipfile.ZipFile(os.fspath(path)) as zf:
        for member in zf.namelist():
            if member.endswith(".npy"):
                out[member[:-4]] = _read_member(io.BytesIO(zf.read(member)))
    return out


def _to_object_array(seqs: Sequence[List[int]]) -> np.ndarray:
    """1-D object array holding one list per review (even when all lengths are equal)."""
    arr = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        arr[i] = s
    return arr


def load_data(
    path: str = "imdb.npz",
    num_words: Optional[int] = None,
    skip_top: int = 0,
    maxlen: Optional[int] = None,
    seed: int = 113,
    start_char: Optional[int] = 1,
    oov_char: Optional[int] = 2,
    index_from: int = 3,
    *,
    cache_dir: PathLike = None,
    **kwargs: Any,
) -> Tuple[Tuple[np.ndarray, np.ndarray], Tuple[np.ndarray, np.ndarray]]:
    """Load IMDB reviews as word-index lists (25,000 train, 25,000 test), like Keras.

    Words are indexed by frequency (1 = most frequent). Processing, in Keras's order: both
    splits are shuffled with ``np.random.RandomState(seed)`` (train first, then test, from the
    same generator); each index gets ``+ index_from`` and ``start_char`` (if not None) is
    prepended; with ``maxlen``, only sequences **shorter than** ``maxlen`` (counting
    ``start_char``) are kept; finally every index outside ``[skip_top, num_words)`` becomes
    ``oov_char`` (or is dropped when ``oov_char`` is None). ``num_words=None`` keeps all words.
    Note that, as in Keras, ``skip_top`` compares the shifted indices, so it can also replace
    ``start_char``.

    Args:
        path: file name in the cache directory (or an absolute path); it must hold Keras's
            ``imdb.npz`` (its SHA-256 is checked; a mismatching file is downloaded again).
        num_words, skip_top, maxlen, seed, start_char, oov_char, index_from: as in Keras.
        cache_dir: cache directory (default ``$FASTRNN_DATA_HOME`` or ``~/.fastrnn/datasets``).

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: ``x`` are 1-D object arrays of lists of ints,
        ``y`` integer arrays of 0/1 labels.

    Raises:
        TypeError: unknown keyword arguments (Keras 3 silently ignores them).
        ValueError: ``maxlen`` filtering left a split empty.
        fastrnn.datasets._download.DownloadError: the file could not be downloaded.
    """
    if kwargs:
        raise TypeError(f"load_data() got unexpected keyword arguments: {sorted(kwargs)}")
    fpath = get_file(path, _origin("imdb.npz"), file_hash=NPZ_SHA256, cache_dir=cache_dir)
    data = load_npz_restricted(fpath)
    x_train, y_train = data["x_train"], data["y_train"]
    x_test, y_test = data["x_test"], data["y_test"]

    rng = np.random.RandomState(seed)
    order = np.arange(len(x_train))
    rng.shuffle(order)
    x_train, y_train = x_train[order], y_train[order]
    order = np.arange(len(x_test))
    rng.shuffle(order)
    x_test, y_test = x_test[order], y_test[order]

    head = [] if start_char is None else [start_char]
    offset = index_from or 0
    train = [head + [w + offset for w in seq] for seq in x_train]
    test = [head + [w + offset for w in seq] for seq in x_test]

    if maxlen:
        keep = [i for i, s in enumerate(train) if len(s) < maxlen]
        train, y_train = [train[i] for i in keep], y_train[keep]
        keep = [i for i, s in enumerate(test) if len(s) < maxlen]
        test, y_test = [test[i] for i in keep], y_test[keep]
        if not train or not test:
            raise ValueError(
                f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was "
                "kept. Increase maxlen."
            )

    seqs = train + test
    if not num_words:
        num_words = max((max(s) for s in seqs if s), default=0)
    if oov_char is not None:
        seqs = [[w if skip_top <= w < num_words else oov_char for w in s] for s in seqs]
    else:
        seqs = [[w for w in s if skip_top <= w < num_words] for s in seqs]
    n = len(train)
    return (_to_object_array(seqs[:n]), y_train), (_to_object_array(seqs[n:]), y_test)


def get_word_index(
    path: str = "imdb_word_index.json", *, cache_dir: PathLike = None
) -> Dict[str, int]:
    """Return Keras's IMDB word index: ``{word: rank}`` with rank 1 the most frequent word.

    Add ``index_from`` (default 3) to a rank to get the id used by ``load_data``. The file is
    downloaded and MD5-checked like ``load_data``'s (see ``get_file``).
    """
    fpath = get_file(path, _origin("imdb_word_index.json"), file_hash=WORD_INDEX_MD5,
                     cache_dir=cache_dir)
    with open(fpath, encoding="utf-8") as fh:
        return json.load(fh)
