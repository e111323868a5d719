"""PyTorch ``nn.RNN`` <-> a fastrnn stack of ``SimpleRNN`` / ``Bidirectional(SimpleRNN)`` layers.

Per layer and direction: ``kernel = weight_ih.T``, ``recurrent_kernel = weight_hh.T``,
``bias = bias_ih + bias_hh``; back: ``weight_ih = kernel.T``, ``weight_hh = recurrent_kernel.T``,
``bias_ih = bias``, ``bias_hh = 0`` (the same function: only the sum of the two biases matters).
fastrnn is always batch-major ``(batch, time, features)``; see ``docs/interop.md``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ._optional import require

__all__ = ["from_torch", "to_torch"]

_TORCH_ACTIVATIONS = ("tanh", "relu")


def _numpy(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy()


def from_torch(module: Any, *, return_sequences: bool = True,
               mask_value: float | None = None) -> Any:
    """A fastrnn ``Sequential`` computing what ``module`` (a ``torch.nn.RNN``) computes.

    Args:
        module: a ``torch.nn.RNN`` (tanh or relu, any ``num_layers``, ``bidirectional``, ``bias``
            on or off, ``batch_first`` either way).
        return_sequences: of the last layer. ``True`` (default) makes the model's output equal to
            torch's ``output`` in batch-major layout; ``False`` makes it the last layer's final
            state: ``h_n[-1]``, or ``cat(h_n[-2], h_n[-1])`` when bidirectional.
        mask_value: when given, a ``Masking(mask_value)`` layer comes first, so post-padded
            input gives what torch gives for a ``pack_padded_sequence`` of the same data.

    Returns:
        ``Sequential([Input((None, input_size)), (Masking,) SimpleRNN or
        Bidirectional(SimpleRNN), (Dropout(p),) ...])`` built, with torch's weights; a
        ``Dropout(p)`` sits between recurrent layers when ``module.dropout = p > 0`` (torch's
        inter-layer dropout, active in training only in both libraries). The input is always
        ``(batch, time, features)``: transpose torch's time-major input when
        ``batch_first=False``.
    """
    torch = require("torch", "fastrnn.interop.from_torch")
    from .. import layers
    from ..models import Sequential

    if not isinstance(module, torch.nn.RNN):
        raise TypeError(
            "from_torch expects a torch.nn.RNN (LSTM, GRU and other modules have no fastrnn "
            f"counterpart). Received: {type(module).__module__}.{type(module).__name__}"
        )
    if module.nonlinearity not in _TORCH_ACTIVATIONS:
        raise ValueError(
            f"from_torch: nonlinearity must be 'tanh' or 'relu'. Received: {module.nonlinearity!r}"
        )
    dtype = np.dtype(_numpy(module.weight_ih_l0).dtype).name
    if dtype not in ("float32", "float64"):
        raise ValueError(
            f"from_torch: the module's weights must be float32 or float64. Received: {dtype}"
        )
    directions = ("", "_reverse") if module.bidirectional else ("",)
    model = Sequential()
    model.add(layers.Input(shape=(None, module.input_size), dtype=dtype), rebuild=False)
    if mask_value is not None:
        model.add(layers.Masking(mask_value=float(mask_value), dtype=dtype), rebuild=False)
    weights: list[np.ndarray] = []
    for k in range(module.num_layers):
        last = k == module.num_layers - 1
        rnn = layers.SimpleRNN(
            module.hidden_size, activation=module.nonlinearity, use_bias=module.bias,
            return_sequences=bool(return_sequences) or not last, dtype=dtype)
        model.add(layers.Bidirectional(rnn, dtype=dtype) if module.bidirectional else rnn,
                  rebuild=False)
        if not last and module.dropout > 0:
            model.add(layers.Dropout(float(module.dropout), dtype=dtype), rebuild=False)
        for sfx in directions:
            w_ih = _numpy(getattr(module, f"weight_ih_l{k}{sfx}"))
            w_hh = _numpy(getattr(module, f"weight_hh_l{k}{sfx}"))
            weights += [w_ih.T, w_hh.T]
            if module.bias:
                b = (_numpy(getattr(module, f"bias_ih_l{k}{sfx}")).astype(np.float64)
                     + _numpy(getattr(module, f"bias_hh_l{k}{sfx}")))
                weights.append(b.astype(dtype))
    model.build()
    model.set_weights(weights)
    return model


def _rnn_layers(obj: Any) -> list:
    """The layers of a model or a single layer, as a list."""
    from .. import layers
    from ..models import Sequential

    if isinstance(obj, Sequential):
        if not obj.built:
            raise ValueError(
                f"to_torch: the fastrnn model '{obj.name}' is not built, so it has no weights "
                "yet. Build it first (an Input(...) or model.build(input_shape))."
            )
        return obj.layers
    if isinstance(obj, (layers.SimpleRNN, layers.Bidirectional)):
        if not obj.built:
            raise ValueError(f"to_torch: layer '{obj.name}' is not built, so it has no weights.")
        return [obj]
    raise TypeError(
        "to_torch expects a fastrnn SimpleRNN, Bidirectional(SimpleRNN) or a Sequential of "
        f"them. Received: {type(obj).__name__}"
    )


def _check_cell(rnn: Any, where: str, strict: bool) -> None:
    if rnn.activation not in _TORCH_ACTIVATIONS:
        raise ValueError(
            f"to_torch: {where}: torch.nn.RNN has only tanh and relu. "
            f"Received: activation={rnn.activation!r}"
        )
    for attr in ("stateful", "return_state"):
        if getattr(rnn, attr):
            raise ValueError(f"to_torch: {where}: `{attr}=True` has no torch.nn.RNN counterpart.")
    cell = rnn.cell
    training_only = [f"{a}={getattr(cell, a)}" for a in ("dropout", "recurrent_dropout")
                     if getattr(cell, a) > 0]
    training_only += [a for a in ("kernel_regularizer", "recurrent_regularizer",
                                  "bias_regularizer") if getattr(cell, a) is not None]
    if rnn.activity_regularizer is not None:
        training_only.append("activity_regularizer")
    if training_only:
        msg = (f"to_torch: {where}: {', '.join(training_only)} (training-only settings) have no "
               "torch.nn.RNN counterpart")
        if strict:
            raise ValueError(msg + "; pass strict=False to drop them.")
        warnings.warn(msg + "; dropped.", stacklevel=3)


def _plan(obj: Any, strict: bool) -> tuple[list, float, bool]:
    """``(recurrent layers, inter-layer dropout, bidirectional)`` after checking the stack."""
    from .. import layers

    items = list(_rnn_layers(obj))
    if items and isinstance(items[0], layers.Masking):
        items = items[1:]  # torch has no mask: use pack_padded_sequence (docs/interop.md)
    rnns: list = []
    gaps: list[float] = []
    for i, layer in enumerate(items):
        where = f"layer '{layer.name}' ({type(layer).__name__})"
        if isinstance(layer, layers.Dropout):
            if not rnns or i == len(items) - 1 or isinstance(items[i - 1], layers.Dropout):
                raise ValueError(
                    f"to_torch: {where}: torch.nn.RNN has dropout only between its recurrent "
                    "layers (one Dropout between each pair, the same rate everywhere)."
                )
            if layer.noise_shape is not None:
                raise ValueError(f"to_torch: {where}: `noise_shape` has no torch counterpart.")
            gaps[-1] = layer.rate
            continue
        if isinstance(layer, layers.Bidirectional):
            if not isinstance(layer.forward_layer, layers.SimpleRNN):
                raise ValueError(f"to_torch: {where}: only Bidirectional(SimpleRNN) converts.")
            if layer.merge_mode != "concat":
                raise ValueError(
                    f"to_torch: {where}: torch concatenates the two directions; only "
                    f"merge_mode='concat' converts. Received: merge_mode={layer.merge_mode!r}"
                )
            if layer.backward_layer.units != layer.forward_layer.units:
                raise ValueError(f"to_torch: {where}: both directions must have the same units.")
            for sub in (layer.forward_layer, layer.backward_layer):
                _check_cell(sub, where, strict)
        elif isinstance(layer, layers.SimpleRNN):
            if layer.go_backwards:
                raise ValueError(
                    f"to_torch: {where}: a lone go_backwards layer has no torch.nn.RNN "
                    "counterpart (torch reverses only inside bidirectional=True)."
                )
            _check_cell(layer, where, strict)
        else:
            raise ValueError(
                f"to_torch: {where}: torch.nn.RNN holds only recurrent layers (SimpleRNN or "
                "Bidirectional(SimpleRNN)), with Dropout between them and an optional leading "
                "Masking."
            )
        rnns.append(layer)
        gaps.append(0.0)
    if not rnns:
        raise ValueError("to_torch: the model has no SimpleRNN or Bidirectional layer.")
    bidi = isinstance(rnns[0], layers.Bidirectional)
    first = rnns[0].forward_layer if bidi else rnns[0]
    for layer in rnns:
        cell_layer = layer.forward_layer if bidi else layer
        where = f"layer '{layer.name}' ({type(layer).__name__})"
        if isinstance(layer, layers.Bidirectional) != bidi:
            raise ValueError(
                f"to_torch: {where}: torch.nn.RNN is bidirectional in every layer or in none.")
        for attr in ("units", "activation", "use_bias"):
            if getattr(cell_layer, attr) != getattr(first, attr):
                raise ValueError(
                    f"to_torch: {where}: torch.nn.RNN needs the same {attr} in every layer. "
                    f"Received: {getattr(cell_layer, attr)!r} and {getattr(first, attr)!r}")
    for layer in rnns[:-1]:
        if not layer.return_sequences:
            raise ValueError(
                f"to_torch: layer '{layer.name}' feeds another recurrent layer and must have "
                "return_sequences=True.")
    rates = set(gaps[:-1])
    if len(rates) > 1:
        raise ValueError(
            f"to_torch: torch.nn.RNN has one dropout rate between all its layers. "
            f"Received rates {gaps[:-1]}")
    return rnns, (rates.pop() if rates else 0.0), bidi


def to_torch(layer_or_model: Any, *, batch_first: bool = True, strict: bool = True) -> Any:
    """A ``torch.nn.RNN`` with the weights of a fastrnn recurrent layer or stack.

    Args:
        layer_or_model: a built ``SimpleRNN``, ``Bidirectional(SimpleRNN)`` or ``Sequential``
            of them (same units, activation tanh/relu and ``use_bias`` in every layer; optional
            ``Dropout`` between layers, one rate; an optional leading ``Masking``, which torch
            does not have: feed it a ``pack_padded_sequence`` instead).
        batch_first: the returned module's ``batch_first``.
        strict: raise (default) on training-only settings torch cannot express (cell
            ``dropout``, ``recurrent_dropout``, regularizers); with False they are dropped with
            a warning.

    Returns:
        ``torch.nn.RNN`` on the CPU, in the model's dtype; ``bias_hh`` is zero. Its ``output``
        equals the model's output when the last layer has ``return_sequences=True``; otherwise
        the model's output is ``h_n[-1]`` (``cat(h_n[-2], h_n[-1])`` when bidirectional).
    """
    rnns, dropout, bidi = _plan(layer_or_model, strict)
    torch = require("torch", "fastrnn.interop.to_torch")
    first = rnns[0].forward_layer if bidi else rnns[0]
    features = first.cell.kernel.shape[0]
    dtype = {"float32": torch.float32, "float64": torch.float64}[first.dtype]
    module = torch.nn.RNN(
        features, first.units, num_layers=len(rnns), nonlinearity=first.activation,
        bias=first.use_bias, batch_first=batch_first, dropout=dropout, bidirectional=bidi,
        dtype=dtype)
    with torch.no_grad():
        for k, layer in enumerate(rnns):
            subs = [(layer.forward_layer, ""), (layer.backward_layer, "_reverse")] if bidi \
                else [(layer, "")]
            for sub, sfx in subs:
                cell = sub.cell
                getattr(module, f"weight_ih_l{k}{sfx}").copy_(
                    torch.from_numpy(cell.kernel.T.copy()))
                getattr(module, f"weight_hh_l{k}{sfx}").copy_(
                    torch.from_numpy(cell.recurrent_kernel.T.copy()))
                if first.use_bias:
                    getattr(module, f"bias_ih_l{k}{sfx}").copy_(torch.from_numpy(cell.bias.copy()))
                    getattr(module, f"bias_hh_l{k}{sfx}").zero_()
    return module
