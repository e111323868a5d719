"""fastrnn.interop.export_onnx: ONNX Runtime's outputs match fastrnn within 1e-5.

Covers the lecture model, stacked and bidirectional models, masks from ``Embedding(mask_zero)``
and ``Masking`` with pre-, post- and in-between padding, go_backwards, and the graph's operators.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import layers as L
from fastrnn.models import Sequential

onnx = pytest.importorskip("onnx", reason="onnx is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
from fastrnn.interop import export_onnx  # noqa: E402

import reference  # noqa: E402  tests/reference.py: float64 NumPy SimpleRNN

TOL = 1e-5


def _run(model, x, tmp_path, **kw):
    path = tmp_path / "model.onnx"
    proto = export_onnx(model, path, **kw)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["output"], {"input": x})[0], proto


def _ids(rng, n=6, t=9, vocab=50, padding="post"):
    ids = rng.integers(1, vocab, (n, t)).astype(np.int64)
    lengths = [9, 4, 1, 6, 0, 3][:n]  # includes an all-padding row
    for i, length in enumerate(lengths):
        if padding == "post":
            ids[i, length:] = 0
        elif padding == "pre":
            ids[i, :t - length] = 0
        else:  # holes
            ids[i, rng.random(t) < 0.35] = 0
    return ids


def _ops(proto):
    return [node.op_type for node in proto.graph.node]


def test_lecture_model(tmp_path, rng):
    model = Sequential([L.Input((40,), dtype="int32"), L.Embedding(10000, 32), L.SimpleRNN(32),
                        L.Dense(1, activation="sigmoid")])
    x = rng.integers(0, 10000, (8, 40)).astype(np.int64)
    y, proto = _run(model, x, tmp_path)
    assert y.shape == (8, 1)
    np.testing.assert_allclose(y, model(x), rtol=0, atol=TOL)
    ops = _ops(proto)
    assert ops.count("RNN") == 1 and ops.count("Gather") == 1
    assert {"MatMul", "Add", "Sigmoid"} <= set(ops)
    assert proto.opset_import[0].version >= 14


def test_stacked_model_with_variable_batch_and_time(tmp_path, rng):
    model = Sequential([L.Input((None, 3)), L.SimpleRNN(6, return_sequences=True),
                        L.SimpleRNN(5, return_sequences=True, activation="relu"),
                        L.SimpleRNN(4, activation="sigmoid", go_backwards=True), L.Dense(2)])
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in [(5, 7, 3), (2, 12, 3)]:
        x = rng.normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(session.run(None, {"input": x})[0], model(x), rtol=0, atol=TOL)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_model(merge_mode, tmp_path, rng):
    model = Sequential([
        L.Input((8, 3)), L.Bidirectional(L.SimpleRNN(5, return_sequences=True)),
        L.Bidirectional(L.SimpleRNN(4, return_sequences=True), merge_mode=merge_mode),
        L.Bidirectional(L.SimpleRNN(3, activation="relu"), merge_mode=merge_mode),
        L.Dense(2, activation="softmax")])
    x = rng.normal(size=(5, 8, 3)).astype(np.float32)
    y, proto = _run(model, x, tmp_path)
    np.testing.assert_allclose(y, model(x), rtol=0, atol=TOL)
    rnns = [n for n in proto.graph.node if n.op_type == "RNN"]
    assert len(rnns) == 3
    assert all(a.s == b"bidirectional" for n in rnns for a in n.attribute if a.name == "direction")


@pytest.mark.parametrize("padding", ["post", "pre", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_embedding_models(padding, go_backwards, tmp_path, rng):
    model = Sequential([
        L.Input((9,), dtype="int32"), L.Embedding(50, 6, mask_zero=True),
        L.SimpleRNN(5, return_sequences=True, go_backwards=go_backwards),
        L.Bidirectional(L.SimpleRNN(4, return_sequences=True)),
        L.TimeDistributed(L.Dense(3, activation="tanh")), L.Dropout(0.5),
        L.SimpleRNN(3, return_sequences=True), L.SimpleRNN(2, go_backwards=go_backwards)])
    x = _ids(rng, padding=padding)
    y, proto = _run(model, x, tmp_path)
    np.testing.assert_allclose(y, model(x), rtol=0, atol=TOL)
    rnns = [n for n in proto.graph.node if n.op_type == "RNN"]
    assert all(len(n.input) == 5 for n in rnns)  # every RNN node gets sequence_lens


def test_masked_go_backwards_sequence_against_float64_reference(tmp_path, rng):
    model = Sequential([L.Input((9,), dtype="int32"), L.Embedding(50, 4, mask_zero=True),
                        L.SimpleRNN(3, return_sequences=True, go_backwards=True)])
    x = _ids(rng, padding="holes")
    y, _ = _run(model, x, tmp_path)
    emb = model.layers[0].get_weights()[0]
    W, U, b = model.layers[1].get_weights()
    expected, _, _ = reference.forward(emb[x], W, U, b, mask=x != 0, go_backwards=True)
    np.testing.assert_allclose(y, expected, rtol=0, atol=TOL)


def test_masking_layer_model(tmp_path, rng):
    model = Sequential([L.Input((7, 3)), L.Masking(0.0),
                        L.Bidirectional(L.SimpleRNN(4, return_sequences=True)),
                        L.SimpleRNN(3, return_sequences=True), L.TimeDistributed(L.Dense(2)),
                        L.Flatten(), L.Activation("relu"), L.Dense(1)])
    x = rng.normal(size=(5, 7, 3)).astype(np.float32)
    x[0, 4:] = 0.0
    x[1, :3] = 0.0
    x[2, 2] = 0.0
    x[3, 5, 0] = 0.0  # one zero feature does not mask the step
    with pytest.warns(UserWarning, match="destroy the mask"):  # fastrnn's Flatten, as Keras
        expected = model(x)
    y, _ = _run(model, x, tmp_path)
    np.testing.assert_allclose(y, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("opset", [14, 17, 20])
def test_opsets(opset, tmp_path, rng):
    model = Sequential([L.Input((6,), dtype="int32"), L.Embedding(20, 4, mask_zero=True),
                        L.Bidirectional(L.SimpleRNN(3)), L.Dense(1)])
    x = _ids(rng, t=6, vocab=20)
    y, proto = _run(model, x, tmp_path, opset=opset)
    assert proto.opset_import[0].version == opset
    np.testing.assert_allclose(y, model(x), rtol=0, atol=TOL)


def test_linear_rnn_activation_is_affine(tmp_path, rng):
    model = Sequential([L.Input((5, 2)), L.Bidirectional(
        L.SimpleRNN(3, activation="linear", return_sequences=True),
        backward_layer=L.SimpleRNN(3, go_backwards=True, return_sequences=True))])
    x = rng.normal(size=(4, 5, 2)).astype(np.float32)
    y, proto = _run(model, x, tmp_path)
    np.testing.assert_allclose(y, model(x), rtol=0, atol=TOL)
    rnn = next(n for n in proto.graph.node if n.op_type == "RNN")
    acts = next(a for a in rnn.attribute if a.name == "activations").strings
    assert list(acts) == [b"Affine", b"Tanh"]


def test_float64_model_exports_as_float32(tmp_path, rng):
    model = Sequential([L.Input((5, 2), dtype="float64"), L.SimpleRNN(3, dtype="float64")])
    x = rng.normal(size=(3, 5, 2))
    y, _ = _run(model, x.astype(np.float32), tmp_path)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, model(x), rtol=0, atol=TOL)


@pytest.mark.parametrize("make, words", [
    (lambda: Sequential([L.Input((5, 2)), L.SimpleRNN(3, return_state=True)]), ["return_state"]),
    (lambda: Sequential([L.Input((5, 2)),
                         L.Bidirectional(L.SimpleRNN(3), merge_mode=None)]), ["merge_mode"]),
    (lambda: Sequential([L.Input((5, 2)), L.Dense(3, activation="linear"),
                         L.Activation(lambda z: z * 2)]), ["activation"]),
])
def test_unsupported_settings_are_named(make, words, tmp_path):
    with pytest.raises(ValueError) as info:
        export_onnx(make(), tmp_path / "m.onnx")
    for word in words:
        assert word in str(info.value)
    assert not (tmp_path / "m.onnx").exists()


def test_bad_arguments(tmp_path):
    built = Sequential([L.Input((5, 2)), L.SimpleRNN(3)])
    with pytest.raises(TypeError, match="Sequential"):
        export_onnx(L.SimpleRNN(3), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="not built"):
        export_onnx(Sequential([L.SimpleRNN(3)]), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="opset"):
        export_onnx(built, tmp_path / "m.onnx", opset=13)
    with pytest.raises(TypeError, match="path"):
        export_onnx(built, 3)
