"""``Bidirectional``: a forward and a backward copy of a recurrent layer, outputs merged."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer

__all__ = ["Bidirectional"]

_MERGE_MODES = ("sum", "mul", "ave", "concat", None)


def _removeprefix(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Run a recurrent layer over time forwards and backwards and merge the two outputs.

    Both directions are re-created from ``layer.get_config()`` (named ``forward_<name>`` and
    ``backward_<name>``, the latter with ``go_backwards=True``); ``layer``'s own weights are not
    reused. With ``return_sequences`` the backward output is flipped back along time so position
    ``t`` holds ``[fwd_t, bwd_t]``, and masked positions are 0 (``zero_output_for_mask`` is
    forced to ``return_sequences`` on both directions). ``merge_mode`` is ``"concat"``,
    ``"sum"``, ``"mul"``, ``"ave"`` or ``None`` (a list ``[fwd, bwd]``). With ``return_state``
    the outputs are ``[merged, *fwd_states, *bwd_states]``. ``initial_state`` is split in
    halves, forward first. Weights: forward layer's, then backward layer's.
    """

    supports_masking = True

    def __init__(
        self,
        layer: Layer,
        merge_mode: str | None = "concat",
        weights: Any = None,
        backward_layer: Layer | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(layer, Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(
                "Please initialize `Bidirectional` layer with a recurrent fastrnn layer "
                f"instance (e.g. SimpleRNN). Received: {layer!r}"
            )
        if backward_layer is not None and (
            not isinstance(backward_layer, Layer) or not hasattr(backward_layer, "go_backwards")
        ):
            raise ValueError(
                "`backward_layer` need to be a recurrent fastrnn layer instance. "
                f"Received: {backward_layer!r}"
            )
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"Invalid merge mode. Received: {merge_mode}. Merge mode should be one of "
                '{"sum", "mul", "ave", "concat", None}'
            )
        if "dtype" not in kwargs:
            kwargs["dtype"] = layer.dtype
        super().__init__(**kwargs)
        if self._build_shape is None:
            self._build_shape = layer._build_shape
        config = layer.get_config()
        config.pop("batch_input_shape", None)
        fcfg = dict(config, name=f"forward_{_removeprefix(layer.name, 'forward_')}")
        self.forward_layer = type(layer).from_config(fcfg)
        if backward_layer is None:
            bcfg = dict(config, go_backwards=True,
                        name=f"backward_{_removeprefix(layer.name, 'backward_')}")
            self.backward_layer = type(layer).from_config(bcfg)
        else:
            self.backward_layer = backward_layer
        self._verify_layer_config()
        for sub in (self.forward_layer, self.backward_layer):
            if hasattr(sub, "zero_output_for_mask"):
                sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self._initial_weights = list(weights) if weights else None
        self.stateful = layer.stateful
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self._sublayers = [self.forward_layer, self.backward_layer]
        self._cache: dict | None = None
        self.initial_state_grads: list | None = None

    def _verify_layer_config(self) -> None:
        f, b = self.forward_layer, self.backward_layer
        if f.go_backwards == b.go_backwards:
            raise ValueError(
                "Forward layer and backward layer should have different `go_backwards` value. "
                f"Received: forward_layer.go_backwards {f.go_backwards}, "
                f"backward_layer.go_backwards={b.go_backwards}"
            )
        for a in ("stateful", "return_sequences", "return_state"):
            if getattr(f, a) != getattr(b, a):
                raise ValueError(
                    "Forward layer and backward layer are expected to have the same value for "
                    f'attribute "{a}", got "{getattr(f, a)}" for forward layer and '
                    f'"{getattr(b, a)}" for backward layer'
                )

    def build(self, input_shape: tuple) -> None:
        """Build both directions for ``(batch, timesteps, features)`` inputs."""
        input_shape = tuple(input_shape)
        for sub in self._sublayers:
            if not sub.built:
                sub.build(input_shape)
            sub._set_path_prefix(self.name)
        super().build(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _n_states(self) -> int:
        return 1 if self.return_state else 0

    def _forward(self, inputs, mask=None, training=False, initial_state=None):
        x = inputs if isinstance(inputs, np.ndarray) else np.asarray(inputs)
        if x.ndim != 3:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"ndim=3, found ndim={x.ndim}. Full shape received: {x.shape}"
            )
        self._maybe_build((x.shape[0] if self.stateful else None,) + x.shape[1:])
        fs = bs = None
        if initial_state is not None:
            if not isinstance(initial_state, (list, tuple)) or len(initial_state) % 2:
                raise ValueError(
                    f"Layer {self.name!r}: initial_state must be a list with the forward states "
                    "then the backward states (an even number of arrays). Received: "
                    f"{type(initial_state).__name__}"
                    + (f" of length {len(initial_state)}"
                       if isinstance(initial_state, (list, tuple)) else "")
                )
            half = len(initial_state) // 2
            fs, bs = list(initial_state[:half]), list(initial_state[half:])
        yf = self.forward_layer.forward(x, mask=mask, training=training, initial_state=fs)
        yb = self.backward_layer.forward(x, mask=mask, training=training, initial_state=bs)
        f_states: list = []
        b_states: list = []
        if self.return_state:
            yf, f_states = yf[0], list(yf[1:])
            yb, b_states = yb[0], list(yb[1:])
        if self.return_sequences:
            yb = np.ascontiguousarray(yb[:, ::-1])
        if self.merge_mode == "concat":
            out: Any = np.concatenate([yf, yb], axis=-1)
        elif self.merge_mode == "sum":
            out = yf + yb
        elif self.merge_mode == "ave":
            out = (yf + yb) / 2
        elif self.merge_mode == "mul":
            out = yf * yb
        else:
            out = [yf, yb]
        self._cache = ({"yf": yf, "yb": yb, "nf": len(f_states), "units": yf.shape[-1]}
                       if training else None)
        if self.return_state:
            outs = out if isinstance(out, list) else [out]
            return outs + f_states + b_states
        return out

    def _backward(self, d_outputs):
        c = self._require_cache(self._cache)
        d = list(d_outputs) if isinstance(d_outputs, (list, tuple)) else [d_outputs]
        n_out = 2 if self.merge_mode is None else 1
        if len(d) != n_out + (2 * c["nf"] if self.return_state else 0):
            raise ValueError(
                f"Layer {self.name!r}: backward expects {n_out + 2 * c['nf']} gradient(s) "
                f"matching the outputs. Received: {len(d)}"
            )
        yf, yb = c["yf"], c["yb"]
        if self.merge_mode is None:
            d_f, d_b = d[0], d[1]
        else:
            d_m = d[0]
            if d_m is None:
                d_f = d_b = None
            else:
                d_m = np.asarray(d_m, dtype=yf.dtype)
                expected = yf.shape[:-1] + (2 * yf.shape[-1],) if self.merge_mode == "concat" \
                    else yf.shape
                if d_m.shape != expected:
                    raise ValueError(
                        f"Layer {self.name!r}: the output gradient must have shape {expected}. "
                        f"Received: shape={d_m.shape}"
                    )
                if self.merge_mode == "concat":
                    d_f, d_b = d_m[..., :c["units"]], d_m[..., c["units"]:]
                elif self.merge_mode == "sum":
                    d_f, d_b = d_m, d_m
                elif self.merge_mode == "ave":
                    d_f = d_b = d_m * 0.5
                else:  # mul
                    d_f, d_b = d_m * yb, d_m * yf
        if self.return_sequences and d_b is not None:
            d_b = np.asarray(d_b)[:, ::-1]
        if self.return_state:
            rest = d[n_out:]
            d_f = [d_f] + rest[:c["nf"]]
            d_b = [d_b] + rest[c["nf"]:]
        dx_f = self.forward_layer.backward(d_f)
        dx_b = self.backward_layer.backward(d_b)
        self._raw_grads = {}
        self.initial_state_grads = (list(self.forward_layer.initial_state_grads or [])
                                    + list(self.backward_layer.initial_state_grads or []))
        return dx_f + dx_b

    def compute_output_shape(self, input_shape: tuple) -> Any:
        """As Keras: the wrapped layer's shape, last axis doubled for ``"concat"``."""
        out = self.forward_layer.compute_output_shape(input_shape)
        state_shapes: list = []
        if self.return_state:
            out, state_shapes = out[0], list(out[1:])
        if self.merge_mode == "concat":
            out = tuple(out[:-1]) + (None if out[-1] is None else 2 * out[-1],)
        elif self.merge_mode is None:
            out = [tuple(out), tuple(out)]
        if self.return_state:
            outs = out if isinstance(out, list) else [tuple(out)]
            return outs + state_shapes + state_shapes
        return tuple(out) if not isinstance(out, list) else out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """As Keras: the input mask for sequence outputs (twice for merge_mode=None)."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        if self.return_sequences:
            out: Any = [mask, mask] if self.merge_mode is None else mask
        else:
            out = [None, None] if self.merge_mode is None else None
        if self.return_state:
            states = [None, None]
            return (out if isinstance(out, list) else [out]) + states
        return out

    def get_config(self) -> dict:
        """``layer`` and ``backward_layer`` serialized, ``merge_mode``."""
        from . import serialize

        config = super().get_config()
        config["merge_mode"] = self.merge_mode
        config["layer"] = serialize(self.forward_layer)
        config["backward_layer"] = serialize(self.backward_layer)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Bidirectional":
        """Rebuild, deserializing ``layer`` and ``backward_layer``."""
        from . import deserialize

        config = dict(config)
        config["layer"] = deserialize(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"])
        return cls(**config)
