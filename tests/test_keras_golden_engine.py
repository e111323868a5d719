"""Keras's own SimpleRNN test values (keras/src/layers/rnn/simple_rnn_test.py), computed by the
engine: constant kernel 0.01, recurrent kernel 0.02, bias 0.03, units 4."""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import ops


def _constant_weights(F, H, dtype=np.float32):
    return (np.full((F, H), 0.01, dtype), np.full((H, H), 0.02, dtype), np.full(H, 0.03, dtype))


@pytest.mark.parametrize(
    "go_backwards, expected", [(False, [0.405432, 0.73605347]), (True, [0.11144729, 0.5528889])]
)
def test_correctness(go_backwards, expected):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    out = ops.simple_rnn_forward(x, *_constant_weights(4, 4), go_backwards=go_backwards)
    np.testing.assert_allclose(out.final_state, np.repeat(np.array(expected)[:, None], 4, 1), rtol=1e-6)


@pytest.mark.parametrize(
    "go_backwards, expected", [(False, [0.33621645, 0.6262637]), (True, [0.07344437, 0.43043602])]
)
def test_initial_state(go_backwards, expected):
    x = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    h0 = np.arange(8, dtype=np.float32).reshape(2, 4)
    out = ops.simple_rnn_forward(x, *_constant_weights(3, 4), initial_state=h0, go_backwards=go_backwards)
    np.testing.assert_allclose(out.final_state[:, 0], expected, rtol=1e-6)


MASK = np.array([[1, 1, 0, 1], [1, 0, 0, 1]], bool)


@pytest.mark.parametrize(
    "go_backwards, expected", [(False, [0.32951632, 0.61799484]), (True, [0.07376196, 0.43645123])]
)
def test_mask(go_backwards, expected):
    x = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    out = ops.simple_rnn_forward(x, *_constant_weights(3, 4), mask=MASK, go_backwards=go_backwards)
    np.testing.assert_allclose(out.final_state[:, 0], expected, rtol=1e-6)


@pytest.mark.parametrize("zero_output", [False, True])
def test_mask_return_sequences(zero_output):
    x = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    out = ops.simple_rnn_forward(x, *_constant_weights(3, 2), mask=MASK, zero_output_for_mask=zero_output)
    row0 = [0.0599281, 0.15122814, 0.0 if zero_output else 0.15122814, 0.32394567]
    row1 = [0.3969304, 0.0 if zero_output else 0.3969304, 0.0 if zero_output else 0.3969304, 0.608085]
    np.testing.assert_allclose(out.outputs[:, :, 0], [row0, row1], rtol=1e-6, atol=1e-7)


def test_stateful_second_call():
    """Keras's stateful case: the second call starts from the first call's final state."""
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    w = _constant_weights(4, 4)
    first = ops.simple_rnn_forward(x, *w)
    second = ops.simple_rnn_forward(x, *w, initial_state=first.final_state)
    np.testing.assert_allclose(second.final_state[:, 0], [0.40559256, 0.7361247], rtol=1e-6)
