"""Tests for fastrnn.datasets: the shipped Japanese Vowels file and the IMDB downloader.

Japanese Vowels values below were copied by hand from the raw UCI/UEA ``.ts`` files. IMDB tests
build a tiny file in Keras's ``imdb.npz`` format, serve it from a local HTTP server and compare
with outputs worked out by hand (plus ``keras.datasets.imdb`` itself when keras is installed).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import pickle
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from fastrnn import datasets
from fastrnn.datasets import _download, imdb, japanese_vowels

# ---------------------------------------------------------------------------- Japanese Vowels


def test_japanese_vowels_shapes_and_labels():
    (x, y), (xt, yt) = japanese_vowels.load_data()
    assert x.shape == (270, 29, 12) and xt.shape == (370, 29, 12)
    assert x.dtype == np.float32 and xt.dtype == np.float32
    assert np.array_equal(np.bincount(y), [30] * 9)
    assert np.array_equal(np.bincount(yt, minlength=9), [31, 35, 88, 44, 29, 24, 40, 50, 29])
    assert y[0] == 0 and y[-1] == 8 and yt[0] == 0 and yt[-1] == 8
    len_train, len_test = japanese_vowels.load_lengths()
    assert len_train.min() == 7 and len_train.max() == 26
    assert len_test.min() == 7 and len_test.max() == 29
    assert len_train.sum() == 4274 and len_test.sum() == 5687


def test_japanese_vowels_values_copied_from_raw_file():
    (x, _), (xt, _) = japanese_vowels.load_data()
    len_train, len_test = japanese_vowels.load_lengths()
    assert len_train[0] == 20 and len_train[269] == 9
    assert len_test[0] == 19 and len_test[7] == 29 and len_test[369] == 11
    raw = [  # (array, case, frame, dim, value in the .ts file)
        (x, 0, 0, 0, 1.860936), (x, 0, 1, 0, 1.891651), (x, 0, 0, 1, -0.207383),
        (x, 0, 0, 2, 0.261557), (x, 0, 19, 11, -0.175986),
        (x, 269, 0, 0, 1.240598), (x, 269, 8, 0, 0.966744),
        (xt, 0, 0, 4, -0.074776), (xt, 0, 1, 4, -0.007617),
        (xt, 7, 28, 0, 1.249188), (xt, 369, 10, 11, 0.224688),
    ]
    for arr, case, frame, dim, value in raw:
        assert arr[case, frame, dim] == np.float32(value), (case, frame, dim)
    # post-padding: zeros after the last real frame
    assert not x[0, 20:].any() and x[0, 19].all()


def test_japanese_vowels_pre_padding_ragged_and_lengths():
    (xp, yp, lp), (xtp, _, ltp) = japanese_vowels.load_data(padding="pre", return_lengths=True)
    (xr, yr), (xtr, _) = japanese_vowels.load_data(ragged=True)
    (x, y), _ = japanese_vowels.load_data()
    assert isinstance(xr, list) and len(xr) == 270 and len(xtr) == 370
    assert np.array_equal(yp, y) and np.array_equal(yr, y)
    for i in (0, 5, 269):
        n = lp[i]
        assert xr[i].shape == (n, 12) and xr[i].dtype == np.float32
        assert np.array_equal(xr[i], x[i, :n]) and np.array_equal(xr[i], xp[i, 29 - n:])
        assert not xp[i, : 29 - n].any()
    assert [len(s) for s in xtr] == list(ltp)
    mask = np.arange(29) < lp[:, None]
    assert np.array_equal(mask, np.abs(x).sum(-1) > 0)
    with pytest.raises(ValueError, match="padding"):
        japanese_vowels.load_data(padding="middle")


def test_datasets_package_exposes_submodules():
    assert datasets.japanese_vowels is japanese_vowels and datasets.imdb is imdb


def test_shipped_file_has_no_pickles_and_is_small():
    path = Path(japanese_vowels.__file__).parent / "data" / "japanese_vowels.npz"
    assert path.stat().st_size < 600_000
    with np.load(path, allow_pickle=False) as f:
        assert all(f[k].dtype != object for k in f.files)
    assert (path.parent / "JAPANESE_VOWELS_LICENSE.md").is_file()


# ---------------------------------------------------------------------------- IMDB fixtures

RAW_TRAIN = {10: [1, 2, 3], 11: [4, 1, 5, 9, 2], 12: [6], 13: [2, 7, 1, 8]}  # label -> ranks
RAW_TEST = {20: [3, 3], 21: [10, 1, 2, 5, 4, 6], 22: [7]}
WORD_INDEX = {"the": 1, "and": 2, "a": 3, "film": 4}


def _object_array(lists):
    arr = np.empty(len(lists), dtype=object)
    for i, s in enumerate(lists):
        arr[i] = list(s)
    return arr


def _write_imdb_npz(path: Path) -> str:
    np.savez(path, x_train=_object_array(RAW_TRAIN.values()), y_train=np.array(list(RAW_TRAIN)),
             x_test=_object_array(RAW_TEST.values()), y_test=np.array(list(RAW_TEST)))
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Server:
    """Static file server on 127.0.0.1 that counts requests."""

    def __init__(self, root: Path):
        self.requests = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Serve fixture files; point imdb at the server and at a fresh cache dir."""
    root = tmp_path / "www"
    root.mkdir()
    sha = _write_imdb_npz(root / "imdb.npz")
    (root / "imdb_word_index.json").write_text(json.dumps(WORD_INDEX))
    md5 = hashlib.md5((root / "imdb_word_index.json").read_bytes()).hexdigest()
    server = _Server(root)
    cache = tmp_path / "cache"
    monkeypatch.setattr(imdb, "BASE_URL", server.url)
    monkeypatch.setattr(imdb, "NPZ_SHA256", sha)
    monkeypatch.setattr(imdb, "WORD_INDEX_MD5", md5)
    monkeypatch.setenv("FASTRNN_DATA_HOME", str(cache))
    yield server, cache, root
    server.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _shuffled(seed=113):
    rng = np.random.RandomState(seed)
    p_train, p_test = np.arange(4), np.arange(3)
    rng.shuffle(p_train)
    rng.shuffle(p_test)
    return np.array(list(RAW_TRAIN))[p_train], np.array(list(RAW_TEST))[p_test]


def _check(result, expected, labels=None):
    """``expected``: label -> list; the order must follow the seeded shuffle of the labels."""
    (x, y), (xt, yt) = result
    ref_train, ref_test = labels or _shuffled()
    assert list(y) == list(ref_train) and list(yt) == list(ref_test)
    assert x.dtype == object and x.ndim == 1 and xt.ndim == 1
    assert [list(s) for s in x] == [expected[k] for k in y]
    assert [list(s) for s in xt] == [expected[k] for k in yt]


# Outputs worked out by hand from RAW_TRAIN / RAW_TEST (see the arguments of each case).
CASES = [
    # defaults: +3, start 1, num_words = max id (13), so 13 itself becomes oov 2 (Keras quirk)
    (dict(), {10: [1, 4, 5, 6], 11: [1, 7, 4, 8, 12, 5], 12: [1, 9], 13: [1, 5, 10, 4, 11],
              20: [1, 6, 6], 21: [1, 2, 4, 5, 8, 7, 9], 22: [1, 10]}),
    (dict(num_words=8), {10: [1, 4, 5, 6], 11: [1, 7, 4, 2, 2, 5], 12: [1, 2],
                         13: [1, 5, 2, 4, 2], 20: [1, 6, 6], 21: [1, 2, 4, 5, 2, 7, 2],
                         22: [1, 2]}),
    (dict(num_words=9, skip_top=5), {10: [2, 2, 5, 6], 11: [2, 7, 2, 8, 2, 5], 12: [2, 2],
                                     13: [2, 5, 2, 2, 2], 20: [2, 6, 6],
                                     21: [2, 2, 2, 5, 8, 7, 2], 22: [2, 2]}),
    (dict(start_char=None, index_from=0, oov_char=None, num_words=6),
     {10: [1, 2, 3], 11: [4, 1, 5, 2], 12: [], 13: [2, 1], 20: [3, 3], 21: [1, 2, 5, 4],
      22: []}),
    (dict(start_char=None, index_from=2, oov_char=None),
     {10: [3, 4, 5], 11: [6, 3, 7, 11, 4], 12: [8], 13: [4, 9, 3, 10], 20: [5, 5],
      21: [3, 4, 7, 6, 8], 22: [9]}),
    (dict(start_char=7, oov_char=0, num_words=7, seed=5),
     {10: [0, 4, 5, 6], 11: [0, 0, 4, 0, 0, 5], 12: [0, 0], 13: [0, 5, 0, 4, 0],
      20: [0, 6, 6], 21: [0, 0, 4, 5, 0, 0, 0], 22: [0, 0]}),
]


@pytest.mark.parametrize("kwargs, expected", CASES)
def test_imdb_semantics(served, kwargs, expected):
    _check(imdb.load_data(**kwargs), expected, _shuffled(kwargs.get("seed", 113)))


def test_imdb_maxlen_keeps_strictly_shorter(served):
    (x, y), (xt, yt) = imdb.load_data(maxlen=4)
    # with start_char, lengths are 4, 6, 2, 5 (train) and 3, 7, 2 (test); num_words = 10
    assert list(y) == [12] and [list(s) for s in x] == [[1, 9]]
    ref_test = [k for k in _shuffled()[1] if k != 21]
    assert list(yt) == ref_test
    assert [list(s) for s in xt] == [{20: [1, 6, 6], 22: [1, 2]}[k] for k in yt]
    with pytest.raises(ValueError, match="no sequence was kept"):
        imdb.load_data(maxlen=2)


def test_imdb_download_then_cache(served):
    server, cache, _ = served
    imdb.load_data()
    assert server.requests == ["/imdb.npz"]
    assert sorted(p.name for p in cache.iterdir()) == ["imdb.npz"]
    imdb.load_data(num_words=5)
    assert server.requests == ["/imdb.npz"]  # second call served from the cache
    assert imdb.get_word_index() == WORD_INDEX
    imdb.get_word_index()
    assert server.requests == ["/imdb.npz", "/imdb_word_index.json"]


def test_imdb_cache_dir_argument_and_base_url_env(served, tmp_path, monkeypatch):
    server, cache, _ = served
    monkeypatch.setattr(imdb, "BASE_URL", None)
    monkeypatch.setenv("FASTRNN_DATASETS_BASE_URL", server.url.rstrip("/"))
    other = tmp_path / "other"
    imdb.load_data(cache_dir=other)
    assert (other / "imdb.npz").is_file() and not cache.exists()
    assert server.requests == ["/imdb.npz"]


def test_imdb_stale_cache_is_refetched(served):
    server, cache, _ = served
    cache.mkdir()
    (cache / "imdb.npz").write_bytes(b"corrupt")
    imdb.load_data()
    assert server.requests == ["/imdb.npz"]
    assert hashlib.sha256((cache / "imdb.npz").read_bytes()).hexdigest() == imdb.NPZ_SHA256


def test_imdb_hash_mismatch_keeps_nothing(served, monkeypatch):
    server, cache, _ = served
    monkeypatch.setattr(imdb, "NPZ_SHA256", "0" * 64)
    with pytest.raises(_download.HashMismatchError, match="expected 0000") as info:
        imdb.load_data()
    assert isinstance(info.value, OSError)
    assert list(cache.iterdir()) == []  # neither the final file nor a temp file


def test_imdb_offline_error_names_url_and_destination(served, monkeypatch):
    _, cache, _ = served
    url = f"http://127.0.0.1:{_free_port()}/"
    monkeypatch.setattr(imdb, "BASE_URL", url)
    with pytest.raises(_download.DownloadError) as info:
        imdb.load_data()
    msg = str(info.value)
    assert url + "imdb.npz" in msg and str(cache / "imdb.npz") in msg
    assert list(cache.iterdir()) == []


def test_imdb_http_404(served, monkeypatch):
    server, cache, _ = served
    monkeypatch.setattr(imdb, "BASE_URL", server.url + "missing/")
    with pytest.raises(_download.DownloadError, match="missing/imdb.npz"):
        imdb.load_data()
    assert list(cache.iterdir()) == []


def test_imdb_rejects_unknown_kwargs(served):
    with pytest.raises(TypeError, match="nb_words"):
        imdb.load_data(nb_words=10)


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_restricted_unpickler_refuses_other_globals(tmp_path):
    bad = np.empty(1, dtype=object)
    bad[0] = _Evil()
    np.savez(tmp_path / "bad.npz", x=bad)
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        imdb.load_npz_restricted(tmp_path / "bad.npz")
    np.savez(tmp_path / "ok.npz", a=np.arange(3.0), b=_object_array([[1], [2, 3]]))
    out = imdb.load_npz_restricted(tmp_path / "ok.npz")
    assert np.array_equal(out["a"], np.arange(3.0)) and out["b"][1] == [2, 3]


def test_get_file_validates_arguments(tmp_path):
    with pytest.raises(ValueError, match="file_hash"):
        _download.get_file("f", "http://127.0.0.1:1/f", file_hash="abc", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="fname"):
        _download.get_file("", "http://127.0.0.1:1/f", cache_dir=tmp_path)


def test_data_home_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("FASTRNN_DATA_HOME", raising=False)
    assert _download.data_home() == Path(os.path.expanduser("~/.fastrnn/datasets"))
    monkeypatch.setenv("FASTRNN_DATA_HOME", str(tmp_path / "env"))
    assert _download.data_home() == tmp_path / "env"
    assert _download.data_home(tmp_path / "arg") == tmp_path / "arg"


@pytest.mark.parametrize("kwargs, _", CASES + [(dict(maxlen=4), None)])
def test_imdb_matches_keras(served, tmp_path, monkeypatch, kwargs, _):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    pytest.importorskip("keras")
    from keras.src.datasets import imdb as keras_imdb

    _, _, root = served
    monkeypatch.setattr(keras_imdb, "get_file", lambda **kw: str(root / "imdb.npz"))
    (kx, ky), (kxt, kyt) = keras_imdb.load_data(**kwargs)
    (x, y), (xt, yt) = imdb.load_data(**kwargs)
    assert list(y) == list(ky) and list(yt) == list(kyt)
    assert [list(s) for s in x] == [list(s) for s in kx]
    assert [list(s) for s in xt] == [list(s) for s in kxt]
