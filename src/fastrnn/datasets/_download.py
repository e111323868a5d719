"""Download-and-cache helper for data sets fetched at run time (``get_file``).

Files are cached in ``cache_dir`` if given, else ``$FASTRNN_DATA_HOME``, else
``~/.fastrnn/datasets``. A download goes to a temporary file in the cache directory, is
checked against ``file_hash`` and only then moved into place with ``os.replace``: a failed or
corrupt download never leaves a file under the final name.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional, Union

__all__ = ["DownloadError", "HashMismatchError", "data_home", "file_digest", "get_file"]

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


class DownloadError(OSError):
    """A data set file could not be downloaded (network or HTTP error, or bad content)."""


class HashMismatchError(DownloadError):
    """A downloaded file's hash differs from the expected one (the file was not kept)."""


def data_home(cache_dir: Union[str, os.PathLike, None] = None) -> Path:
    """Return the cache directory: ``cache_dir``, else ``$FASTRNN_DATA_HOME``, else
    ``~/.fastrnn/datasets`` (``~`` expanded; not created here)."""
    if cache_dir is None:
        cache_dir = os.environ.get("FASTRNN_DATA_HOME") or os.path.join("~", ".fastrnn", "datasets")
    return Path(os.path.expanduser(os.fspath(cache_dir)))


def _hasher(file_hash: str) -> "hashlib._Hash":
    """SHA-256 for a 64-hex-digit hash, MD5 for a 32-digit one (as Keras's ``get_file``)."""
    if len(file_hash) == 64:
        return hashlib.sha256()
    if len(file_hash) == 32:
        return hashlib.md5(usedforsecurity=False)  # integrity check only, as Keras
    raise ValueError(
        "`file_hash` must be a SHA-256 (64 hex digits) or MD5 (32 hex digits) digest. "
        f"Received: {file_hash!r}"
    )


def file_digest(path: Union[str, os.PathLike], file_hash: str) -> str:
    """Hex digest of ``path`` with the algorithm implied by the length of ``file_hash``."""
    h = _hasher(file_hash)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _manual_hint(origin: str, fpath: Path) -> str:
    return (f"Download {origin} by hand and save it as {fpath} "
            "(or set FASTRNN_DATA_HOME / pass cache_dir= to use another folder).")


def _download(origin: str, fpath: Path, file_hash: Optional[str]) -> None:
    """Fetch ``origin`` into a temp file next to ``fpath``, verify, then ``os.replace``."""
    h = _hasher(file_hash) if file_hash else None
    fpath.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{fpath.name}.", suffix=".part", dir=fpath.parent)
    try:
        try:
            with os.fdopen(fd, "wb") as out, \
                    urllib.request.urlopen(origin, timeout=_TIMEOUT_S) as resp:
                for chunk in iter(lambda: resp.read(_CHUNK), b""):
                    out.write(chunk)
                    if h is not None:
                        h.update(chunk)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise DownloadError(
                f"Could not download {origin} ({exc}). {_manual_hint(origin, fpath)}"
            ) from exc
        if h is not None and h.hexdigest() != file_hash.lower():
            raise HashMismatchError(
                f"The file downloaded from {origin} has hash {h.hexdigest()}, expected "
                f"{file_hash}; it was discarded. The server copy may be corrupt or changed. "
                + _manual_hint(origin, fpath)
            )
        os.replace(tmp_name, fpath)
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)


def get_file(
    fname: str,
    origin: str,
    file_hash: Optional[str] = None,
    cache_dir: Union[str, os.PathLike, None] = None,
) -> str:
    """Return the local path of ``fname``, downloading it from ``origin`` when needed.

    Args:
        fname: file name inside the cache directory (an absolute path is used as is).
        origin: URL to download from.
        file_hash: expected SHA-256 (64 hex digits) or MD5 (32) digest. A cached file with a
            different digest is downloaded again; a download with a different digest is
            deleted and raises ``HashMismatchError``. ``None`` skips verification.
        cache_dir: cache directory; default ``$FASTRNN_DATA_HOME`` or ``~/.fastrnn/datasets``.

    Returns:
        The path of the verified local file, as a string.

    Raises:
        DownloadError: (an ``OSError``) the download failed; the message names the URL and
            where to put the file by hand.
        HashMismatchError: the downloaded file does not match ``file_hash``.
    """
    if not isinstance(fname, str) or not fname:
        raise ValueError(f"`fname` must be a non-empty string. Received: {fname!r}")
    if file_hash is not None:
        _hasher(file_hash)  # validate the hash format before touching the network
    fpath = data_home(cache_dir) / os.path.expanduser(fname)
    if fpath.is_file():
        if file_hash is None or file_digest(fpath, file_hash) == file_hash.lower():
            return str(fpath)
        try:  # a stale or corrupt cached copy: fetch it again, as Keras does
            _download(origin, fpath, file_hash)
        except DownloadError as exc:
            raise type(exc)(f"{exc} The file already at {fpath} does not match hash "
                            f"{file_hash}.") from exc
        return str(fpath)
    _download(origin, fpath, file_hash)
    return str(fpath)
