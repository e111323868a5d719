"""fastrnn's model and weight files.

* Model file (``.keras``; ``.h5`` accepted too): a zip archive holding ``config.json``
  (``{"format_version", "fastrnn_version", "class_name", "model_config", "compile_config"}``) and
  ``weights.npz`` (the ``get_weights()`` list as ``arr_0000``, ``arr_0001``, ...).
* Weights file (``.weights.h5`` or ``.weights.npz``): one ``.npz`` holding the same arrays plus
  ``__format_version__`` and ``__fastrnn_version__``.

The extensions mirror Keras so Keras code runs unchanged, but the content is this zip/npz format,
NOT Keras's HDF5: Keras cannot read these files and fastrnn cannot read Keras's. Arrays are loaded
with ``allow_pickle=False``. Every write goes to a temporary file in the target directory that is
then ``os.replace``d onto the target, so a crash mid-write leaves any previous file intact.
A truncated, corrupted, non-zip or wrong-version file raises ``ValueError`` naming the file.

The model is used only through ``get_config()``, ``get_weights()``, ``set_weights()``, ``built``,
``build(shape)`` and, when present, ``get_compile_config()`` / ``compile_from_config(cfg)``.
``load_model`` rebuilds with ``fastrnn.models.Sequential.from_config`` and builds the model from
the config's ``build_input_shape`` when ``from_config`` left it unbuilt.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from typing import Any, Callable

import numpy as np

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "FORMAT_VERSION"]

FORMAT_VERSION = 1
_MODEL_EXT = (".keras", ".h5")
_WEIGHTS_EXT = (".weights.h5", ".weights.npz")


def _version() -> str:
    from . import __version__
    return __version__


def _atomic_write(filepath: str, write: Callable[[Any], None]) -> None:
    """Call ``write(fileobj)`` on a temp file next to ``filepath``, then ``os.replace`` it."""
    directory = os.path.dirname(os.path.abspath(filepath))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(filepath) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _arrays_to_npz(weights: list, extra: dict[str, np.ndarray] | None = None) -> bytes:
    arrays: dict[str, np.ndarray] = {}
    for i, w in enumerate(weights):
        a = np.asarray(w)
        if a.dtype.hasobject:
            raise ValueError(f"Weight {i} has dtype object and cannot be saved without pickle.")
        arrays[f"arr_{i:04d}"] = a
    arrays.update(extra or {})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npz_to_arrays(data: bytes | Any, filepath: str) -> tuple[list[np.ndarray], dict]:
    """Weights in order, plus the ``__...__`` metadata entries."""
    with np.load(data, allow_pickle=False) as npz:
        names = list(npz.files)
        meta = {k: npz[k] for k in names if k.startswith("__")}
        keys = sorted(k for k in names if k.startswith("arr_"))
        if keys != [f"arr_{i:04d}" for i in range(len(keys))]:
            raise ValueError(f"{filepath}: weight entries are not arr_0000..arr_{len(keys) - 1:04d}")
        return [npz[k] for k in keys], meta


def _check_ext(filepath: str, allowed: tuple[str, ...], what: str) -> str:
    filepath = os.fspath(filepath)
    if not str(filepath).endswith(allowed):
        raise ValueError(f"Invalid filepath extension for {what}: expected one of {allowed}. "
                         f"Received: filepath={filepath}")
    return str(filepath)


def _check_version(version: Any, filepath: str) -> None:
    if isinstance(version, np.ndarray):
        version = version.item() if version.shape == () else None
    if isinstance(version, bool) or not isinstance(version, int) or version != FORMAT_VERSION:
        raise ValueError(f"{filepath}: unsupported fastrnn format_version {version!r}; this "
                         f"fastrnn ({_version()}) reads format_version {FORMAT_VERSION}.")


def _prepare_target(filepath: str, overwrite: bool) -> None:
    if os.path.isdir(filepath):
        raise ValueError(f"filepath is an existing directory. Received: filepath={filepath}")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{filepath} exists and overwrite=False.")
    directory = os.path.dirname(os.path.abspath(filepath))
    if not os.path.isdir(directory):
        raise ValueError(f"Directory {directory} does not exist. Received: filepath={filepath}")


def save_model(model: Any, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Write ``model`` (config, weights, compile config if any) to one zip file, atomically."""
    filepath = _check_ext(filepath, _MODEL_EXT, "saving a model")
    _prepare_target(filepath, overwrite)
    compile_config = None
    if hasattr(model, "get_compile_config"):
        compile_config = model.get_compile_config()
    header = {"format_version": FORMAT_VERSION, "fastrnn_version": _version(),
              "class_name": type(model).__name__, "model_config": model.get_config(),
              "compile_config": compile_config}
    config_bytes = json.dumps(header, indent=1).encode("utf-8")
    weights_bytes = _arrays_to_npz(model.get_weights())

    def write(f):
        with zipfile.ZipFile(f, "w") as z:
            z.writestr("config.json", config_bytes, compress_type=zipfile.ZIP_DEFLATED)
            z.writestr("weights.npz", weights_bytes, compress_type=zipfile.ZIP_STORED)

    _atomic_write(filepath, write)


def _read_model_file(filepath: str) -> tuple[dict, list[np.ndarray]]:
    if not os.path.isfile(filepath):
        raise ValueError(f"File not found: filepath={filepath}. Please ensure the file is an "
                         "accessible fastrnn `.keras` zip file.")
    try:
        with zipfile.ZipFile(filepath) as z:
            header = json.loads(z.read("config.json").decode("utf-8"))
            _check_version(header.get("format_version") if isinstance(header, dict) else None,
                           filepath)
            weights, _ = _npz_to_arrays(io.BytesIO(z.read("weights.npz")), filepath)
    except ValueError as e:
        if str(e).startswith(filepath):
            raise
        raise ValueError(f"{filepath} is not a valid fastrnn model file: {e}") from e
    except (zipfile.BadZipFile, KeyError, EOFError, OSError, UnicodeDecodeError) as e:
        raise ValueError(f"{filepath} is not a valid fastrnn model file "
                         f"(corrupted, truncated or not a zip archive): {e}") from e
    except Exception as e:  # zlib.error and friends from a damaged archive
        raise ValueError(f"{filepath} is not a valid fastrnn model file: {e!r}") from e
    if not isinstance(header.get("model_config"), dict):
        raise ValueError(f"{filepath}: config.json has no model_config dict.")
    return header, weights


def load_model(filepath: str | os.PathLike, custom_objects: dict | None = None,
               compile: bool = True, safe_mode: bool = True) -> Any:
    """Rebuild a model saved by ``save_model`` (``fastrnn.models.Sequential``)."""
    filepath = os.fspath(filepath)
    header, weights = _read_model_file(str(filepath))
    from .models import Sequential  # imported lazily: models imports saving

    config = header["model_config"]
    model = Sequential.from_config(config)
    if not getattr(model, "built", True) and config.get("build_input_shape") is not None:
        model.build(tuple(config["build_input_shape"]))
    model.set_weights(weights)
    cc = header.get("compile_config")
    if compile and cc and hasattr(model, "compile_from_config"):
        model.compile_from_config(cc)
    return model


def save_weights(model: Any, filepath: str | os.PathLike, overwrite: bool = True) -> None:
    """Write ``model.get_weights()`` to a ``.weights.h5``/``.weights.npz`` file, atomically."""
    filepath = _check_ext(filepath, _WEIGHTS_EXT, "saving weights")
    _prepare_target(filepath, overwrite)
    data = _arrays_to_npz(model.get_weights(), {
        "__format_version__": np.array(FORMAT_VERSION, dtype=np.int64),
        "__fastrnn_version__": np.array(_version()),
    })
    _atomic_write(filepath, lambda f: f.write(data))


def load_weights(model: Any, filepath: str | os.PathLike) -> None:
    """Load a weights file written by ``save_weights`` into ``model`` (``set_weights``)."""
    filepath = str(os.fspath(filepath))
    if not filepath.endswith(_WEIGHTS_EXT) and filepath.endswith(_MODEL_EXT):
        header, weights = _read_model_file(filepath)  # Keras also loads weights from .keras
        model.set_weights(weights)
        return
    _check_ext(filepath, _WEIGHTS_EXT, "loading weights")
    if not os.path.isfile(filepath):
        raise ValueError(f"File not found: filepath={filepath}")
    try:
        weights, meta = _npz_to_arrays(filepath, filepath)
    except ValueError as e:
        if str(e).startswith(filepath):
            raise
        raise ValueError(f"{filepath} is not a valid fastrnn weights file: {e}") from e
    except Exception as e:  # BadZipFile, EOFError, zlib.error, OSError ...
        raise ValueError(f"{filepath} is not a valid fastrnn weights file "
                         f"(corrupted, truncated or not an npz archive): {e!r}") from e
    _check_version(meta.get("__format_version__"), filepath)
    model.set_weights(weights)
