"""Model / weights file format: round trips, atomic writes, corrupted and wrong-version files."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

from fastrnn import saving


class FakeModel:
    """Implements only what saving uses."""

    built = True

    def __init__(self, weights=None, config=None):
        rng = np.random.default_rng(0)
        self.w = weights if weights is not None else [
            rng.normal(size=(4, 3)).astype(np.float32), np.arange(3, dtype=np.float64)]
        self.config = config or {"name": "fake", "layers": [], "build_input_shape": [None, 4]}

    def get_config(self):
        return self.config

    def get_weights(self):
        return [w.copy() for w in self.w]

    def set_weights(self, ws):
        if len(ws) != len(self.w):
            raise ValueError("wrong count")
        for a, b in zip(self.w, ws):
            a[...] = b

    @classmethod
    def from_config(cls, config):
        m = cls(weights=[np.zeros((4, 3), np.float32), np.zeros(3)], config=config)
        m.built = False
        return m

    def build(self, shape):
        self.build_shape = shape
        self.built = True


def test_weights_round_trip(tmp_path):
    src, dst = FakeModel(), FakeModel(weights=[np.zeros((4, 3), np.float32), np.zeros(3)])
    for ext in (".weights.h5", ".weights.npz"):
        path = tmp_path / f"w{ext}"
        saving.save_weights(src, path)
        saving.load_weights(dst, path)
        for a, b in zip(src.w, dst.w):
            np.testing.assert_array_equal(a, b)
            assert a.dtype == b.dtype
        with np.load(path, allow_pickle=False) as npz:  # plain npz, no pickle needed
            assert int(npz["__format_version__"]) == saving.FORMAT_VERSION


def test_model_file_layout_and_load(tmp_path, monkeypatch):
    import fastrnn.models as models_mod

    monkeypatch.setattr(models_mod, "Sequential", FakeModel, raising=False)
    src = FakeModel()
    path = tmp_path / "m.keras"
    saving.save_model(src, path)
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ["config.json", "weights.npz"]
        header = json.loads(z.read("config.json"))
        assert header["format_version"] == saving.FORMAT_VERSION
        assert header["fastrnn_version"] and header["model_config"] == src.config
    model = saving.load_model(path)
    assert isinstance(model, FakeModel) and model.build_shape == (None, 4)
    for a, b in zip(src.w, model.w):
        np.testing.assert_array_equal(a, b)
    dst = FakeModel(weights=[np.zeros((4, 3), np.float32), np.zeros(3)])
    saving.load_weights(dst, path)  # weights can also come from a model file
    np.testing.assert_array_equal(dst.w[0], src.w[0])


def test_bad_extensions(tmp_path):
    with pytest.raises(ValueError, match="extension"):
        saving.save_model(FakeModel(), tmp_path / "m.pkl")
    with pytest.raises(ValueError, match="extension"):
        saving.save_weights(FakeModel(), tmp_path / "w.h5")
    with pytest.raises(FileExistsError):
        saving.save_weights(FakeModel(), tmp_path / "w.weights.h5")
        saving.save_weights(FakeModel(), tmp_path / "w.weights.h5", overwrite=False)


@pytest.mark.parametrize("kind", ["model", "weights"])
def test_crash_mid_write_keeps_old_file(tmp_path, monkeypatch, kind):
    path = tmp_path / ("m.keras" if kind == "model" else "w.weights.h5")
    save = saving.save_model if kind == "model" else saving.save_weights
    save(FakeModel(), path)
    before = path.read_bytes()

    new = FakeModel(weights=[np.ones((4, 3), np.float32), np.ones(3)])
    real_fsync = os.fsync

    def crash(fd):  # data partly written, then the process "dies"
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(saving.os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        save(new, path)
    monkeypatch.setattr(saving.os, "fsync", real_fsync)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left


def _corruptions(good: bytes):
    yield "truncated", good[: len(good) // 2]
    yield "empty", b""
    yield "not a zip", b"hello, this is not a zip file" * 10
    flipped = bytearray(good)
    mid = len(flipped) // 2
    flipped[mid:mid + 8] = bytes(b ^ 0xFF for b in flipped[mid:mid + 8])
    yield "flipped bytes", bytes(flipped)


@pytest.mark.parametrize("kind", ["model", "weights"])
def test_corrupted_files_raise_value_error_naming_file(tmp_path, kind, monkeypatch):
    import fastrnn.models as models_mod

    monkeypatch.setattr(models_mod, "Sequential", FakeModel, raising=False)
    path = tmp_path / ("m.keras" if kind == "model" else "w.weights.npz")
    (saving.save_model if kind == "model" else saving.save_weights)(FakeModel(), path)
    good = path.read_bytes()
    for label, data in _corruptions(good):
        path.write_bytes(data)
        with pytest.raises(ValueError, match=str(path).replace("\\", "\\\\")):
            if kind == "model":
                saving.load_model(path)
            else:
                saving.load_weights(FakeModel(), path)


def test_wrong_format_version(tmp_path, monkeypatch):
    import fastrnn.models as models_mod

    monkeypatch.setattr(models_mod, "Sequential", FakeModel, raising=False)
    path = tmp_path / "m.keras"
    buf = io.BytesIO()
    np.savez(buf, arr_0000=np.zeros(3))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps({"format_version": 99, "model_config": {}}))
        z.writestr("weights.npz", buf.getvalue())
    with pytest.raises(ValueError, match="format_version 99"):
        saving.load_model(path)
    wpath = tmp_path / "w.weights.npz"
    np.savez(wpath, arr_0000=np.zeros(3), __format_version__=np.array(2))
    with pytest.raises(ValueError, match="format_version 2"):
        saving.load_weights(FakeModel(), wpath)
    np.savez(wpath, arr_0000=np.zeros(3))  # no version at all
    with pytest.raises(ValueError, match="format_version"):
        saving.load_weights(FakeModel(), wpath)


def test_pickled_arrays_are_refused(tmp_path):
    wpath = tmp_path / "w.weights.npz"
    np.savez(wpath, arr_0000=np.array([{"a": 1}], dtype=object),
             __format_version__=np.array(saving.FORMAT_VERSION))
    with pytest.raises(ValueError, match="w.weights.npz"):
        saving.load_weights(FakeModel(), wpath)
    with pytest.raises(ValueError, match="object"):
        saving.save_weights(FakeModel(weights=[np.array([None], dtype=object)]), wpath)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="File not found"):
        saving.load_model(tmp_path / "nope.keras")
    with pytest.raises(ValueError, match="File not found"):
        saving.load_weights(FakeModel(), tmp_path / "nope.weights.h5")
