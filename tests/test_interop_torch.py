"""fastrnn.interop.from_torch / to_torch against live ``torch.nn.RNN``.

torch -> fastrnn -> torch round trips give torch's outputs within 1e-5 (single, stacked,
bidirectional, relu, no bias, time-major); masked models compare torch's
``pack_padded_sequence`` with fastrnn's ``Masking`` on post-padded input.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import layers as L
from fastrnn.models import Sequential

import reference  # tests/reference.py: float64 NumPy SimpleRNN

torch = pytest.importorskip("torch", reason="torch is not installed")
from fastrnn.interop import from_torch, to_torch  # noqa: E402

TOL = 1e-5
N, T, F, H = 4, 6, 3, 5


def _rnn(**kw):
    torch.manual_seed(0)
    rnn = torch.nn.RNN(F, H, **kw).eval()
    with torch.no_grad():  # non-zero, distinct biases so folding them is tested
        for name, p in rnn.named_parameters():
            if name.startswith("bias"):
                p.uniform_(-0.5, 0.5)
    return rnn


def _torch_run(rnn, x):
    """torch's ``(output, h_n)`` for batch-major ``x``, output batch-major."""
    xt = torch.from_numpy(x if rnn.batch_first else np.ascontiguousarray(x.transpose(1, 0, 2)))
    with torch.no_grad():
        out, h_n = rnn(xt)
    out = out.numpy()
    return (out if rnn.batch_first else out.transpose(1, 0, 2)), h_n.numpy()


def _last_state(rnn, h_n):
    """The fastrnn output of ``return_sequences=False``: last layer's h_n, directions joined."""
    if rnn.bidirectional:
        return np.concatenate([h_n[-2], h_n[-1]], axis=-1)
    return h_n[-1]


CASES = {
    "single": dict(),
    "stacked": dict(num_layers=3, batch_first=True),
    "bidirectional": dict(bidirectional=True, batch_first=True),
    "stacked_bidirectional_relu": dict(num_layers=2, bidirectional=True, nonlinearity="relu"),
    "no_bias": dict(num_layers=2, bias=False, batch_first=True),
    "dropout": dict(num_layers=3, dropout=0.25, batch_first=True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip(case, rng):
    rnn = _rnn(**CASES[case])
    x = rng.normal(size=(N, T, F)).astype(np.float32)
    out, h_n = _torch_run(rnn, x)
    model = from_torch(rnn)
    np.testing.assert_allclose(model(x), out, rtol=0, atol=TOL)
    np.testing.assert_allclose(from_torch(rnn, return_sequences=False)(x), _last_state(rnn, h_n),
                               rtol=0, atol=TOL)
    back = to_torch(model, batch_first=rnn.batch_first).eval()
    assert (back.num_layers, back.bidirectional, back.nonlinearity, back.bias, back.dropout) == (
        rnn.num_layers, rnn.bidirectional, rnn.nonlinearity, rnn.bias, rnn.dropout)
    out2, h_n2 = _torch_run(back, x)
    np.testing.assert_allclose(out2, out, rtol=0, atol=TOL)
    np.testing.assert_allclose(h_n2, h_n, rtol=0, atol=TOL)
    params = dict(rnn.named_parameters())
    for name, p in back.named_parameters():
        if name.startswith("weight"):
            np.testing.assert_array_equal(p.detach().numpy(), params[name].detach().numpy())
        elif name.startswith("bias_ih"):
            folded = params[name] + params[name.replace("bias_ih", "bias_hh")]
            np.testing.assert_allclose(p.detach().numpy(), folded.detach().numpy(), atol=1e-7)
        else:
            assert not p.detach().numpy().any()  # bias_hh is zero after the round trip


def test_layout_mapping_against_float64_reference(rng):
    rnn = _rnn()
    x = rng.normal(size=(N, T, F)).astype(np.float32)
    p = {k: v.detach().numpy().astype(np.float64) for k, v in rnn.named_parameters()}
    outputs, _, _ = reference.forward(x, p["weight_ih_l0"].T, p["weight_hh_l0"].T,
                                      p["bias_ih_l0"] + p["bias_hh_l0"])
    model = from_torch(rnn)
    np.testing.assert_allclose(model(x), outputs, rtol=0, atol=TOL)
    kernel, recurrent, bias = model.get_weights()
    assert kernel.shape == (F, H) and recurrent.shape == (H, H) and bias.shape == (H,)


def test_structure_of_converted_model():
    model = from_torch(_rnn(num_layers=3, dropout=0.5, bidirectional=True))
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Bidirectional", "Dropout", "Bidirectional", "Dropout", "Bidirectional"]
    assert all(layer.rate == 0.5 for layer in model.layers if isinstance(layer, L.Dropout))
    assert [layer.return_sequences for layer in model.layers[::2]] == [True, True, True]
    assert model.input_shape == (None, None, F)
    assert from_torch(_rnn(num_layers=2), return_sequences=False).layers[-1].return_sequences \
        is False


def test_float64_module_gives_float64_model(rng):
    rnn = _rnn(num_layers=2).double()
    x = rng.normal(size=(N, T, F))
    model = from_torch(rnn)
    assert model.dtype == "float64"
    np.testing.assert_allclose(model(x), _torch_run(rnn, x)[0], rtol=0, atol=1e-12)
    assert to_torch(model).weight_ih_l0.dtype == torch.float64


@pytest.mark.parametrize("kw", [dict(), dict(num_layers=2, bidirectional=True)],
                         ids=["single", "stacked_bidirectional"])
def test_masked_matches_pack_padded_sequence(kw, rng):
    rnn = _rnn(batch_first=True, **kw)
    lengths = np.array([6, 3, 1, 4])
    x = rng.normal(size=(N, T, F)).astype(np.float32)
    for i, length in enumerate(lengths):
        x[i, length:] = 0.0  # post-padding
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        torch.from_numpy(x), torch.from_numpy(lengths), batch_first=True, enforce_sorted=False)
    with torch.no_grad():
        out_packed, h_n = rnn(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out_packed, batch_first=True,
                                                    total_length=T)
    out = out.numpy()
    model = from_torch(rnn, mask_value=0.0)
    assert isinstance(model.layers[0], L.Masking)
    y = model(x)
    valid = np.arange(T)[None, :] < lengths[:, None]
    np.testing.assert_allclose(y[valid], out[valid], rtol=0, atol=TOL)
    np.testing.assert_allclose(from_torch(rnn, mask_value=0.0, return_sequences=False)(x),
                               _last_state(rnn, h_n.numpy()), rtol=0, atol=TOL)
    # torch -> fastrnn -> torch: the leading Masking is dropped; pack again for the same result
    back = to_torch(model).eval()
    with torch.no_grad():
        out2, h_n2 = back(packed)
    np.testing.assert_allclose(h_n2.numpy(), h_n.numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(
        torch.nn.utils.rnn.pad_packed_sequence(out2, batch_first=True)[0].numpy(),
        torch.nn.utils.rnn.pad_packed_sequence(out_packed, batch_first=True)[0].numpy(),
        rtol=0, atol=TOL)


def test_to_torch_from_a_single_fastrnn_layer(rng):
    x = rng.normal(size=(N, T, F)).astype(np.float32)
    layer = L.Bidirectional(L.SimpleRNN(H, activation="relu", return_sequences=True))
    expected = layer(x)
    out, _ = _torch_run(to_torch(layer), x)
    np.testing.assert_allclose(out, expected, rtol=0, atol=TOL)


def _stack(*layers):
    return Sequential([L.Input((T, F))] + list(layers))


@pytest.mark.parametrize("make, words", [
    (lambda: _stack(L.SimpleRNN(H, activation="sigmoid")), ["sigmoid", "tanh and relu"]),
    (lambda: _stack(L.SimpleRNN(H, go_backwards=True)), ["go_backwards"]),
    (lambda: _stack(L.SimpleRNN(H, return_sequences=True), L.SimpleRNN(H + 1)), ["units"]),
    (lambda: _stack(L.SimpleRNN(H, return_sequences=True),
                    L.Bidirectional(L.SimpleRNN(H))), ["bidirectional"]),
    (lambda: _stack(L.Bidirectional(L.SimpleRNN(H), merge_mode="sum")), ["merge_mode"]),
    (lambda: _stack(L.SimpleRNN(H), L.Dense(1)), ["dense", "Dense"]),
    (lambda: _stack(L.SimpleRNN(H, return_sequences=True), L.Dropout(0.1),
                    L.SimpleRNN(H, return_sequences=True), L.Dropout(0.2), L.SimpleRNN(H)),
     ["dropout rate"]),
    (lambda: _stack(L.SimpleRNN(H), L.Dropout(0.1)), ["Dropout"]),
    (lambda: _stack(L.SimpleRNN(H, recurrent_dropout=0.1)), ["recurrent_dropout", "strict"]),
    (lambda: _stack(L.SimpleRNN(H, kernel_regularizer="l2")), ["kernel_regularizer"]),
])
def test_to_torch_names_what_torch_lacks(make, words):
    with pytest.raises(ValueError) as info:
        to_torch(make())
    for word in words:
        assert word in str(info.value)


def test_to_torch_non_strict_drops_training_only_settings(rng):
    model = _stack(L.SimpleRNN(H, dropout=0.3, recurrent_dropout=0.2, kernel_regularizer="l2"))
    with pytest.warns(UserWarning, match="dropped"):
        rnn = to_torch(model, strict=False)
    x = rng.normal(size=(N, T, F)).astype(np.float32)
    np.testing.assert_allclose(_torch_run(rnn, x)[1][-1], model(x), rtol=0, atol=TOL)


def test_bad_arguments():
    with pytest.raises(TypeError, match="torch.nn.RNN"):
        from_torch(torch.nn.LSTM(F, H))
    with pytest.raises(TypeError, match="Received: Dense"):
        to_torch(L.Dense(2))
    with pytest.raises(ValueError, match="not built"):
        to_torch(Sequential([L.SimpleRNN(H)]))
    with pytest.raises(ValueError, match="not built"):
        to_torch(L.SimpleRNN(H))
