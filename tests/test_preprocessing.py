"""Tests for fastrnn.preprocessing.pad_sequences against hand-made arrays and, when installed,
``keras.utils.pad_sequences``."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fastrnn.preprocessing import pad_sequences

SEQS = [[1], [2, 3], [4, 5, 6]]


def test_defaults_pre_pad_pre_truncate():
    out = pad_sequences(SEQS)
    np.testing.assert_array_equal(out, [[0, 0, 1], [0, 2, 3], [4, 5, 6]])
    assert out.dtype == np.int32


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(value=-1), [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]),
        (dict(padding="post"), [[1, 0, 0], [2, 3, 0], [4, 5, 6]]),
        (dict(maxlen=2), [[0, 1], [2, 3], [5, 6]]),
        (dict(maxlen=2, truncating="post"), [[0, 1], [2, 3], [4, 5]]),
        (dict(maxlen=2, truncating="post", padding="post"), [[1, 0], [2, 3], [4, 5]]),
        (dict(maxlen=4), [[0, 0, 0, 1], [0, 0, 2, 3], [0, 4, 5, 6]]),
    ],
)
def test_hand_made(kwargs, expected):
    np.testing.assert_array_equal(pad_sequences(SEQS, **kwargs), expected)


def test_float_dtype_and_value_cast():
    out = pad_sequences([[1.5, 2.25], [3.0]], dtype="float32", value=0.5)
    np.testing.assert_array_equal(out, np.array([[1.5, 2.25], [0.5, 3.0]], np.float32))
    assert out.dtype == np.float32
    # int dtype truncates floats like numpy's unsafe cast
    np.testing.assert_array_equal(pad_sequences([[1.7, 2.2]], value=0.9), [[1, 2]])


def test_empty_sequences():
    out = pad_sequences([[], [1, 2], []], padding="post")
    np.testing.assert_array_equal(out, [[0, 0], [1, 2], [0, 0]])
    np.testing.assert_array_equal(pad_sequences([[], []], maxlen=3), np.zeros((2, 3)))
    assert pad_sequences([]).shape == (0, 0)
    assert pad_sequences([[1, 2]], maxlen=0).shape == (1, 0)


def test_multivariate_2d_arrays():
    a = np.arange(6, dtype=np.float64).reshape(3, 2)
    b = np.array([[10.0, 11.0]])
    out = pad_sequences([a, b, np.zeros((0, 2))], dtype="float32", padding="post")
    expected = np.zeros((3, 3, 2), np.float32)
    expected[0] = a
    expected[1, 0] = [10, 11]
    np.testing.assert_array_equal(out, expected)
    out = pad_sequences([a, b], maxlen=2, dtype="float64")  # pre-truncate, pre-pad
    np.testing.assert_array_equal(out, [[[2, 3], [4, 5]], [[0, 0], [10, 11]]])


def test_does_not_modify_input():
    a = np.arange(4.0).reshape(2, 2)
    seqs = [a, [[7.0, 8.0]]]
    pad_sequences(seqs, maxlen=1, dtype="float64", value=-9)
    np.testing.assert_array_equal(a, np.arange(4.0).reshape(2, 2))
    assert seqs[1] == [[7.0, 8.0]]


def test_strings():
    out = pad_sequences([["a", "b"], ["c"]], dtype=object, value="<pad>")
    assert out.tolist() == [["a", "b"], ["<pad>", "c"]]
    out = pad_sequences([["ab"], ["c", "d"]], dtype="<U3", value="x", padding="post")
    assert out.dtype == np.dtype("<U3")
    assert out.tolist() == [["ab", "x"], ["c", "d"]]
    with pytest.raises(ValueError, match="not compatible with `value`'s type"):
        pad_sequences([["a"]], value="x")


@pytest.mark.parametrize("arg", ["padding", "truncating"])
def test_bad_side(arg):
    name = arg.capitalize()
    with pytest.raises(ValueError, match=f'{name} type "middle" not understood'):
        pad_sequences(SEQS, maxlen=2, **{arg: "middle"})


def test_bad_inputs():
    with pytest.raises(ValueError, match="must be iterable"):
        pad_sequences(5)
    with pytest.raises(ValueError, match="Found non-iterable: 3"):
        pad_sequences([[1], 3])
    with pytest.raises(ValueError, match="different from expected shape"):
        pad_sequences([np.zeros((2, 3)), np.zeros((2, 4))], dtype="float32")
    with pytest.raises(ValueError, match="maxlen"):
        pad_sequences(SEQS, maxlen=-1)


def _random_case(rng):
    n = int(rng.integers(1, 8))
    multivariate = bool(rng.integers(0, 2))
    seqs = []
    for _ in range(n):
        length = int(rng.integers(0, 7))
        if multivariate:
            seqs.append(rng.normal(size=(length, 3)) * 10)
        else:
            seqs.append(list(rng.integers(-50, 50, size=length)))
    if all(len(s) == 0 for s in seqs):
        seqs[0] = np.ones((2, 3)) if multivariate else [1, 2]
    kwargs = dict(
        padding=str(rng.choice(["pre", "post"])),
        truncating=str(rng.choice(["pre", "post"])),
        dtype=str(rng.choice(["int32", "float32", "float64", "int64"])),
        value=float(rng.choice([0.0, -1.0, 2.5])),
    )
    if rng.integers(0, 2):
        kwargs["maxlen"] = int(rng.integers(1, 8))
    return seqs, kwargs


def test_matches_keras_on_random_inputs():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    for _ in range(200):
        seqs, kwargs = _random_case(rng)
        expected = keras.utils.pad_sequences(seqs, **kwargs)
        got = pad_sequences(seqs, **kwargs)
        assert got.dtype == expected.dtype, kwargs
        np.testing.assert_array_equal(got, expected, err_msg=str(kwargs))
