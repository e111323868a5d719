"""Bad input to the engine: a clear TypeError/ValueError naming the argument, never a crash."""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import ops


@pytest.fixture
def good(rng):
    return dict(x=rng.normal(size=(2, 3, 4)), kernel=rng.normal(size=(4, 5)),
                recurrent_kernel=rng.normal(size=(5, 5)), bias=np.zeros(5))


def _call(good, **changes):
    args = dict(good)
    kw = {k: changes.pop(k) for k in list(changes) if k not in args}
    args.update(changes)
    return ops.simple_rnn_forward(args["x"], args["kernel"], args["recurrent_kernel"], args["bias"], **kw)


@pytest.mark.parametrize(
    "changes, error, words",
    [
        (dict(x=np.zeros((2, 4))), ValueError, ["x", "3-D", "(2, 4)"]),
        (dict(x=np.zeros((2, 3, 7))), ValueError, ["x", "(2, 3, 7)"]),
        (dict(x=np.zeros((0, 3, 4))), ValueError, ["x", "at least one"]),
        (dict(x=np.zeros((2, 0, 4))), ValueError, ["x", "at least one"]),
        (dict(kernel=np.zeros(4)), ValueError, ["kernel", "2-D"]),
        (dict(recurrent_kernel=np.zeros((5, 4))), ValueError, ["recurrent_kernel", "(5, 5)", "(5, 4)"]),
        (dict(bias=np.zeros(4)), ValueError, ["bias", "(5,)", "(4,)"]),
        (dict(initial_state=np.zeros((3, 5))), ValueError, ["initial_state", "(3, 5)"]),
        (dict(mask=np.ones((2, 4), bool)), ValueError, ["mask", "(2, 4)"]),
        (dict(mask=np.full((2, 3), 0.5)), TypeError, ["mask", "float64"]),
        (dict(mask=np.full((2, 3), 2)), ValueError, ["mask", "0/1"]),
        (dict(input_dropout_mask=np.ones((2, 5))), ValueError, ["input_dropout_mask"]),
        (dict(recurrent_dropout_mask=np.ones((2, 4))), ValueError, ["recurrent_dropout_mask"]),
        (dict(activation="softmax"), ValueError, ["activation", "softmax"]),
        (dict(activation=3), ValueError, ["activation"]),
        (dict(x=np.zeros((2, 3, 4), np.float32)), TypeError, ["x", "float32", "kernel"]),
        (dict(x=np.zeros((2, 3, 4), np.int64)), TypeError, ["x", "int64"]),
        (dict(x=np.zeros((2, 3, 4), np.complex128)), TypeError, ["x", "complex128"]),
        (dict(x=np.zeros((2, 3, 4), np.float16)), TypeError, ["x", "float16"]),
        (dict(x=np.zeros((2, 3, 4), object)), TypeError, ["x", "object"]),
        (dict(kernel=np.zeros((4, 5), np.int32)), TypeError, ["kernel", "int32"]),
        (dict(kernel=[[1.0] * 5] * 4), TypeError, ["kernel"]),
        (dict(kernel=np.zeros((4, 0))), ValueError, ["kernel", "unit"]),
        (dict(num_threads=0), ValueError, ["num_threads"]),
    ],
)
def test_bad_arguments_raise_clear_errors(good, changes, error, words):
    with pytest.raises(error) as info:
        _call(good, **changes)
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)


@pytest.mark.parametrize("name", ["kernel", "recurrent_kernel", "bias"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_weights_are_rejected(good, name, bad):
    arr = good[name].copy()
    arr.flat[0] = bad
    with pytest.raises(ValueError, match=f"{name} contains NaN or Inf"):
        _call(good, **{name: arr})


def test_backward_checks_gradient_shapes(good):
    fwd = _call(good)
    with pytest.raises(ValueError, match="d_outputs"):
        ops.simple_rnn_backward(fwd.cache, np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="d_final_state"):
        ops.simple_rnn_backward(fwd.cache, None, np.zeros((5,)))
    with pytest.raises(TypeError, match="d_outputs"):
        ops.simple_rnn_backward(fwd.cache, np.zeros((2, 3, 5), np.float32))
    with pytest.raises(TypeError, match="cache"):
        ops.simple_rnn_backward({"x": 1})


def test_zero_stride_broadcast_input_works(good):
    x = np.broadcast_to(np.arange(4.0), (2, 3, 4))
    fwd = _call(good, x=x)
    assert fwd.outputs.shape == (2, 3, 5)
    np.testing.assert_array_equal(fwd.outputs[0], fwd.outputs[1])


@pytest.mark.parametrize(
    "ids, error, words",
    [
        (np.array([[0, 10]]), ValueError, ["ids", "[0, 10)", "10"]),
        (np.array([[-1, 2]]), ValueError, ["ids", "-1"]),
        (np.array([[0.5, 2]]), ValueError, ["ids", "whole"]),
        (np.array([[np.nan, 2]]), ValueError, ["ids"]),
        (np.array([1, 2]), ValueError, ["ids", "2-D"]),
        (np.array([["a"]]), TypeError, ["ids"]),
        (np.array([[True]]), TypeError, ["ids", "bool"]),
    ],
)
def test_embedding_rejects_bad_ids(ids, error, words):
    emb = np.zeros((10, 3), np.float32)
    with pytest.raises(error) as info:
        ops.embedding_forward(ids, emb)
    for word in words:
        assert word in str(info.value)


def test_embedding_round_trip(rng):
    emb = rng.normal(size=(7, 3)).astype(np.float32)
    ids = np.array([[1, 2, 6], [0, 0, 5]], np.int32)
    np.testing.assert_array_equal(ops.embedding_forward(ids, emb), emb[ids])
    np.testing.assert_array_equal(ops.embedding_forward(ids.astype(float), emb), emb[ids])
