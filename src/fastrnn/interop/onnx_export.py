"""Export a fastrnn ``Sequential`` to an ONNX graph that ONNX Runtime runs with fastrnn's outputs.

Recurrent layers become the ONNX ``RNN`` operator, ``Embedding`` a ``Gather``, ``Dense`` a
``MatMul`` + ``Add`` + activation. Masks (``Embedding(mask_zero=True)``, ``Masking``) are computed
inside the graph from the input; before each recurrent layer the valid steps of every sample are
moved to the front (a stable ``TopK`` sort) and the ``RNN`` node gets their count as
``sequence_lens``, so pre-padding, post-padding and holes all give Keras's masked results. The
layout mapping and the list of unsupported settings are in ``docs/interop.md``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ._optional import require

__all__ = ["export_onnx", "DEFAULT_OPSET"]

#: opset written when none is asked for (14 is the oldest accepted: RNN-14, Squeeze-13 ...).
DEFAULT_OPSET = 17
_ONNX_ACT = {"tanh": "Tanh", "relu": "Relu", "sigmoid": "Sigmoid"}


class _Graph:
    """Nodes and initializers under construction, with unique tensor names."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list = []
        self.inits: list = []
        self._count = 0

    def name(self, base: str) -> str:
        self._count += 1
        return f"{base}_{self._count}"

    def const(self, value: Any, base: str = "const", dtype: Any = np.float32) -> str:
        name = self.name(base)
        arr = np.array(value, dtype=dtype, order="C")  # (ascontiguousarray makes 0-d arrays 1-d)
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, inputs: list[str], n_out: int = 1, **attrs: Any):
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, inputs, outs, **attrs))
        return outs[0] if n_out == 1 else outs


def _activation(g: _Graph, x: str, act: Any, where: str) -> str:
    from .. import activations

    name = getattr(activations.get(act), "name", None)
    if name == "linear":
        return x
    if name in _ONNX_ACT:
        return g.op(_ONNX_ACT[name], [x])
    if name == "softmax":
        return g.op("Softmax", [x], axis=-1)
    raise ValueError(f"export_onnx: {where}: activation {name!r} has no ONNX export.")


def _dense(g: _Graph, x: str, layer: Any) -> str:
    y = g.op("MatMul", [x, g.const(layer.kernel, f"{layer.name}_kernel")])
    if layer.use_bias:
        y = g.op("Add", [y, g.const(layer.bias, f"{layer.name}_bias")])
    return _activation(g, y, layer.activation, f"layer '{layer.name}' (Dense)")


def _flip_time(g: _Graph, x: str) -> str:
    """``x[:, ::-1]``."""
    return g.op("Slice", [x, g.const([-1], dtype=np.int64),
                          g.const([np.iinfo(np.int64).min], dtype=np.int64),
                          g.const([1], dtype=np.int64), g.const([-1], dtype=np.int64)])


class _Mask:
    """Tensors derived from a ``(batch, time)`` float keep-mask (1 = valid step)."""

    def __init__(self, g: _Graph, keep: str) -> None:
        self.g = g
        self.keep = keep
        self.ready = False

    def prepare(self) -> "_Mask":
        """Add the derived tensors to the graph (once, and only for masks a RNN uses)."""
        if self.ready:
            return self
        self.ready = True
        g, keep = self.g, self.keep
        one = g.const(1.0)
        self.cum = g.op("CumSum", [keep, g.const(1, dtype=np.int64)])      # valid steps <= t
        self.lens = g.op("Cast", [g.op("ReduceSum", [keep, g.const([1], dtype=np.int64)],
                                       keepdims=0)], to=g.onnx.TensorProto.INT32)
        steps = g.op("Cast", [g.op("Gather", [g.op("Shape", [keep]),
                                              g.const(1, dtype=np.int64)])],
                     to=g.onnx.TensorProto.FLOAT)
        t_range = g.op("Range", [g.const(0.0), steps, one])
        key = g.op("Add", [g.op("Mul", [g.op("Sub", [one, keep]), steps]), t_range])
        k = g.op("Unsqueeze", [g.op("Cast", [steps], to=g.onnx.TensorProto.INT64),
                               g.const([0], dtype=np.int64)])
        # valid steps first, each group in time order: the stable compaction order
        self.order = g.op("TopK", [key, k], n_out=2, axis=1, largest=0, sorted=1)[1]
        prev = g.op("Max", [g.op("Sub", [self.cum, one]), g.const(0.0)])
        self.prev = g.op("Cast", [prev], to=g.onnx.TensorProto.INT64)  # compacted index <= t
        self.seen = g.op("Greater", [self.cum, g.const(0.0)])          # a valid step <= t
        self.valid = g.op("Greater", [keep, g.const(0.0)])
        return self


def _gather_time(g: _Graph, x: str, index: str) -> str:
    """``out[n, t, :] = x[n, index[n, t], :]``."""
    idx = g.op("Expand", [g.op("Unsqueeze", [index, g.const([2], dtype=np.int64)]),
                          g.op("Shape", [x])])
    return g.op("GatherElements", [x, idx], axis=1)


def _rnn_weights(g: _Graph, subs: list, base: str) -> list[str]:
    W = np.stack([s.cell.kernel.T for s in subs])
    R = np.stack([s.cell.recurrent_kernel.T for s in subs])
    H = subs[0].units
    B = np.stack([np.concatenate([s.cell.bias if s.use_bias else np.zeros(H), np.zeros(H)])
                  for s in subs])
    return [g.const(W, f"{base}_W"), g.const(R, f"{base}_R"), g.const(B, f"{base}_B")]


def _rnn_activations(subs: list, where: str) -> dict:
    """RNN node attributes: one activation per direction; linear is ``Affine(1, 0)``."""
    acts: list[str] = []
    alphas: list[float] = []
    betas: list[float] = []
    for s in subs:
        if s.activation == "linear":
            acts.append("Affine")
            alphas.append(1.0)
            betas.append(0.0)
        elif s.activation in _ONNX_ACT:
            acts.append(_ONNX_ACT[s.activation])
        else:
            raise ValueError(
                f"export_onnx: {where}: the RNN activation {s.activation!r} has no ONNX "
                f"RNN counterpart (supported: {sorted(_ONNX_ACT)} and linear).")
    attrs: dict = {"activations": acts}
    if alphas:
        attrs.update(activation_alpha=alphas, activation_beta=betas)
    return attrs


def _check_recurrent(layer: Any, where: str) -> None:
    for attr in ("return_state", "stateful"):
        if getattr(layer, attr, False):
            raise ValueError(f"export_onnx: {where}: `{attr}=True` is not supported.")


def _merge(g: _Graph, y: str, mode: Any, axis: int, where: str) -> str:
    """Merge the direction axis ``axis`` of ``y`` (size 2) as Keras's ``merge_mode``."""
    if mode == "concat":
        shape = [0] * axis + [-1]
        return g.op("Reshape", [y, g.const(shape, dtype=np.int64)])
    if mode in ("sum", "ave"):
        s = g.op("ReduceSum", [y, g.const([axis], dtype=np.int64)], keepdims=0)
        return s if mode == "sum" else g.op("Mul", [s, g.const(0.5)])
    if mode == "mul":
        a = g.op("Gather", [y, g.const(0, dtype=np.int64)], axis=axis)
        b = g.op("Gather", [y, g.const(1, dtype=np.int64)], axis=axis)
        return g.op("Mul", [a, b])
    raise ValueError(f"export_onnx: {where}: merge_mode={mode!r} is not supported.")


def _recurrent(g: _Graph, x: str, layer: Any, mask: _Mask | None) -> str:
    """SimpleRNN or Bidirectional(SimpleRNN) on batch-major ``x``; returns batch-major output."""
    from .. import layers

    where = f"layer '{layer.name}' ({type(layer).__name__})"
    _check_recurrent(layer, where)
    bidi = isinstance(layer, layers.Bidirectional)
    if bidi:
        subs = [layer.forward_layer, layer.backward_layer]
        if not all(isinstance(s, layers.SimpleRNN) for s in subs):
            raise ValueError(f"export_onnx: {where}: only Bidirectional(SimpleRNN) exports.")
        if subs[0].go_backwards or not subs[1].go_backwards or subs[0].units != subs[1].units:
            raise ValueError(
                f"export_onnx: {where}: needs a forward and a go_backwards direction of the "
                "same units.")
        for s in subs:
            _check_recurrent(s, where)
    else:
        subs = [layer]
    acts = _rnn_activations(subs, where)
    if not bidi and layer.go_backwards:
        # Keras's go_backwards output is in processing order: a forward RNN on reversed time
        x = _flip_time(g, x)
        if mask is not None:
            mask = _Mask(g, _flip_time(g, mask.keep))
    if mask is not None:
        mask = mask.prepare()
        x = _gather_time(g, x, mask.order)
    inputs = [g.op("Transpose", [x], perm=[1, 0, 2])] + _rnn_weights(g, subs, layer.name)
    if mask is not None:
        inputs.append(mask.lens)
    y, y_h = g.op("RNN", inputs, n_out=2, hidden_size=subs[0].units,
                  direction="bidirectional" if bidi else "forward", **acts)
    if not layer.return_sequences:
        h = g.op("Transpose", [y_h], perm=[1, 0, 2])                     # (N, dirs, H)
        return _merge(g, h, layer.merge_mode, 1, where) if bidi else \
            g.op("Squeeze", [h, g.const([1], dtype=np.int64)])
    y = g.op("Transpose", [y], perm=[2, 0, 1, 3])                        # (N, T, dirs, H)
    y = _merge(g, y, layer.merge_mode, 2, where) if bidi else \
        g.op("Squeeze", [y, g.const([2], dtype=np.int64)])
    if mask is None:
        return y
    y = _gather_time(g, y, mask.prev)
    zero_masked = bidi or getattr(layer, "zero_output_for_mask", False)
    cond = mask.valid if zero_masked else mask.seen
    return g.op("Where", [g.op("Unsqueeze", [cond, g.const([2], dtype=np.int64)]), y,
                          g.const(0.0)])


def _layer(g: _Graph, x: str, layer: Any, mask: _Mask | None) -> tuple[str, _Mask | None]:
    """Graph for one layer: ``(output tensor, output mask)``."""
    from .. import layers

    where = f"layer '{layer.name}' ({type(layer).__name__})"
    if mask is not None and not getattr(layer, "supports_masking", False):
        mask = None  # as Sequential: a layer without masking support drops the mask
    if isinstance(layer, layers.Embedding):
        y = g.op("Gather", [g.const(layer.embeddings, f"{layer.name}_embeddings"), x])
        if layer.mask_zero:
            ne = g.op("Not", [g.op("Equal", [x, g.const(0, dtype=np.int64)])])
            return y, _Mask(g, g.op("Cast", [ne], to=g.onnx.TensorProto.FLOAT))
        return y, None
    if isinstance(layer, layers.Masking):
        ne = g.op("Cast", [g.op("Not", [g.op("Equal", [x, g.const(layer.mask_value)])])],
                  to=g.onnx.TensorProto.FLOAT)
        count = g.op("ReduceSum", [ne, g.const([-1], dtype=np.int64)], keepdims=0)
        keep = g.op("Cast", [g.op("Greater", [count, g.const(0.0)])], to=g.onnx.TensorProto.FLOAT)
        y = g.op("Mul", [x, g.op("Unsqueeze", [keep, g.const([2], dtype=np.int64)])])
        return y, _Mask(g, keep)
    if isinstance(layer, (layers.SimpleRNN, layers.Bidirectional)):
        y = _recurrent(g, x, layer, mask)
        return y, (mask if layer.return_sequences else None)
    if isinstance(layer, layers.Dense):
        return _dense(g, x, layer), mask
    if isinstance(layer, layers.Dropout):
        return x, mask
    if isinstance(layer, layers.Activation):
        return _activation(g, x, layer.activation, where), mask
    if isinstance(layer, layers.Flatten):
        if getattr(layer, "data_format", None) == "channels_first":
            raise ValueError(
                f"export_onnx: {where}: data_format='channels_first' is not supported.")
        return g.op("Flatten", [x], axis=1), None
    if isinstance(layer, layers.TimeDistributed):
        if not isinstance(layer.layer, (layers.Dense, layers.Activation, layers.Dropout)):
            raise ValueError(
                f"export_onnx: {where}: only TimeDistributed(Dense | Activation | Dropout) "
                f"exports. Received inner layer {type(layer.layer).__name__}.")
        return _layer(g, x, layer.layer, None)[0], mask
    raise ValueError(
        f"export_onnx: {where}: layer class {type(layer).__name__} has no ONNX export.")


def _dims(shape: tuple) -> list:
    names = ["batch", "time", "features"]
    return [names[i] if d is None and i < 3 else (f"dim_{i}" if d is None else int(d))
            for i, d in enumerate(shape)]


def export_onnx(model: Any, path: Any, *, opset: int = DEFAULT_OPSET) -> Any:
    """Write ``model`` (a built fastrnn ``Sequential``) as an ONNX file at ``path``.

    The graph has one input ``"input"`` (float32 ``(batch, time, features)``, or int64 token ids
    ``(batch, time)`` when the model starts with ``Embedding``) and one output ``"output"``;
    unknown dimensions are symbolic. Weights are stored as float32 (a float64 model is exported
    in float32). Returns the ``onnx.ModelProto`` (checked with ``onnx.checker``).
    """
    from .. import layers
    from ..models import Sequential

    if not isinstance(model, Sequential):
        raise TypeError(
            f"export_onnx expects a fastrnn.models.Sequential. Received: {type(model).__name__}")
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or opset < 14:
        raise ValueError(
            f"export_onnx: `opset` must be an integer >= 14. Received: opset={opset!r}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"export_onnx: `path` must be a str or os.PathLike. Received: {path!r}")
    if not model.built:
        raise ValueError(
            f"export_onnx: the fastrnn model '{model.name}' is not built, so it has no weights "
            "yet. Build it first (an Input(...) or model.build(input_shape)).")
    onnx = require("onnx", "fastrnn.interop.export_onnx")
    g = _Graph(onnx)
    first = model.layers[0]
    takes_ids = isinstance(first, layers.Embedding)
    in_type = onnx.TensorProto.INT64 if takes_ids else onnx.TensorProto.FLOAT
    x, mask = "input", None
    for layer in model.layers:
        x, mask = _layer(g, x, layer, mask)
    g.nodes.append(onnx.helper.make_node("Identity", [x], ["output"]))
    out_shape = model.output_shape
    if isinstance(out_shape, list):
        raise ValueError(
            "export_onnx: models with several outputs (return_state) are not supported.")
    graph = onnx.helper.make_graph(
        g.nodes, model.name,
        [onnx.helper.make_tensor_value_info("input", in_type, _dims(model.input_shape))],
        [onnx.helper.make_tensor_value_info("output", onnx.TensorProto.FLOAT, _dims(out_shape))],
        initializer=g.inits)
    proto = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid("", int(opset))],
        producer_name="fastrnn")
    # the oldest IR version that carries this opset, so older runtimes load the file
    proto.ir_version = onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, os.fspath(path))
    return proto
