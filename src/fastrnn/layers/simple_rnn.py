"""``SimpleRNNCell`` (weights, config, dropout rates) and ``SimpleRNN`` (the sequence layer).

The whole sequence loop and its backward pass (BPTT) run in the C++ engine through
:func:`fastrnn.ops.simple_rnn_forward` / :func:`fastrnn.ops.simple_rnn_backward`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import ops
from .embedding import EmbeddedTokens, EmbeddingTableGradient
from .base import (
    Layer,
    check_ndim,
    dropout_keep_mask,
    get_regularizer,
    lazy_module,
    reject_constraint,
    serialize_initializer,
    serialize_regularizer,
    standardize_mask,
)

__all__ = ["SimpleRNNCell", "SimpleRNN"]


def _core_activation(activation: Any, owner: str) -> str:
    """Name of an activation the C++ engine implements (tanh, relu, sigmoid, linear)."""
    act = lazy_module("activations").get(activation)
    name = getattr(act, "name", None)
    if name not in ops.ACTIVATIONS:
        raise ValueError(
            f"{owner}: activation must be one of {ops.ACTIVATIONS} or None (the activations "
            f"the C++ engine implements). Received: activation={activation!r}"
        )
    return name


def _check_units(units: Any) -> int:
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
        raise ValueError(
            "Received an invalid value for argument `units`, expected a positive integer, "
            f"got {units}."
        )
    return int(units)


def _check_rate(value: Any, arg: str) -> float:
    try:
        rate = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`{arg}` must be a float in [0, 1]. Received: {arg}={value!r}") from None
    if np.isnan(rate):
        raise ValueError(f"`{arg}` must be a float in [0, 1]. Received: {arg}={value!r}")
    return min(1.0, max(0.0, rate))  # clamped, as Keras does


class SimpleRNNCell(Layer):
    """Weights and settings of one SimpleRNN step: ``h_t = act(x_t W + b + h_{t-1} U)``.

    Weights (created by ``build((..., F))``): ``kernel (F, units)``,
    ``recurrent_kernel (units, units)``, ``bias (units,)`` when ``use_bias``.
    Calling the cell runs one step: ``cell(x_t, [h]) -> (h_new, [h_new])``.
    """

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = _check_units(units)
        self.activation = _core_activation(activation, type(self).__name__)
        self.use_bias = bool(use_bias)
        inits = lazy_module("initializers")
        self.kernel_initializer = inits.get(kernel_initializer)
        self.recurrent_initializer = inits.get(recurrent_initializer)
        self.bias_initializer = inits.get(bias_initializer)
        self.kernel_regularizer = get_regularizer(kernel_regularizer)
        self.recurrent_regularizer = get_regularizer(recurrent_regularizer)
        self.bias_regularizer = get_regularizer(bias_regularizer)
        for arg, value in (("kernel_constraint", kernel_constraint),
                           ("recurrent_constraint", recurrent_constraint),
                           ("bias_constraint", bias_constraint)):
            reject_constraint(type(self).__name__, arg, value)
        self.dropout = _check_rate(dropout, "dropout")
        self.recurrent_dropout = _check_rate(recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        self._rng = lazy_module("_random").make_generator(seed)
        self.state_size = self.units
        self.output_size = self.units
        self._path_prefix: str | None = None

    def build(self, input_shape: tuple) -> None:
        """Create kernel (F, units), recurrent_kernel (units, units) and bias (units,)."""
        F = input_shape[-1]
        if F is None:
            raise ValueError(
                f"Layer {self.name!r}: the last dimension of the inputs must be known. "
                f"Received: input_shape={input_shape}"
            )
        prefix = self._path_prefix or self.name
        self.kernel = self.add_weight("kernel", (F, self.units), self.kernel_initializer,
                                      self.kernel_regularizer, path_prefix=prefix)
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, self.units), self.recurrent_initializer,
            self.recurrent_regularizer, path_prefix=prefix)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), self.bias_initializer,
                                        self.bias_regularizer, path_prefix=prefix)
        super().build(input_shape)

    def dropout_masks(self, batch: int, features: int, training: bool):
        """Input (batch, F) and recurrent (batch, units) dropout multipliers, or None each.

        Drawn from this cell's own generator, only in training and only for non-zero rates.
        """
        in_mask = rec_mask = None
        if training and self.dropout > 0:
            in_mask = dropout_keep_mask(self._rng, (batch, features), self.dropout, self.dtype)
        if training and self.recurrent_dropout > 0:
            rec_mask = dropout_keep_mask(self._rng, (batch, self.units), self.recurrent_dropout,
                                         self.dtype)
        return in_mask, rec_mask

    def __call__(self, inputs: Any, states: Any = None, training: bool | None = False, **kwargs):
        """One step: ``(x_t (B, F), [h (B, units)]) -> (h_new, [h_new])``."""
        x = self._as_float(inputs)
        check_ndim(x, 2, self.name)
        self._maybe_build(x.shape)
        if isinstance(states, (list, tuple)):
            states = states[0] if states else None
        h0 = None if states is None else self._as_float(states, "states")
        in_mask, rec_mask = self.dropout_masks(x.shape[0], x.shape[1], bool(training))
        res = ops.simple_rnn_forward(
            x[:, None, :], self.kernel, self.recurrent_kernel, self.bias, initial_state=h0,
            activation=self.activation, input_dropout_mask=in_mask,
            recurrent_dropout_mask=rec_mask)
        h = res.final_state
        return h, [h]

    def _forward(self, inputs, mask=None, training=False, **kwargs):
        raise NotImplementedError(
            "SimpleRNNCell runs one step through cell(x_t, states); wrap it in SimpleRNN for "
            "sequences and training"
        )

    def get_config(self) -> dict:
        """Constructor arguments (Keras names)."""
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            "kernel_initializer": serialize_initializer(self.kernel_initializer),
            "recurrent_initializer": serialize_initializer(self.recurrent_initializer),
            "bias_initializer": serialize_initializer(self.bias_initializer),
            "kernel_regularizer": serialize_regularizer(self.kernel_regularizer),
            "recurrent_regularizer": serialize_regularizer(self.recurrent_regularizer),
            "bias_regularizer": serialize_regularizer(self.bias_regularizer),
            "kernel_constraint": None,
            "recurrent_constraint": None,
            "bias_constraint": None,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        })
        return config


_CELL_ARGS = (
    "units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer",
    "bias_initializer", "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
    "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
    "recurrent_dropout", "seed",
)


class SimpleRNN(Layer):
    """Fully-connected RNN whose output is fed back as the next state (Keras ``SimpleRNN``).

    Input ``(batch, timesteps, features)``; output ``(batch, units)``, or
    ``(batch, timesteps, units)`` with ``return_sequences``; ``[output, state]`` with
    ``return_state``. ``go_backwards`` processes time reversed and returns the outputs in
    processing order. A ``mask`` (batch, timesteps) skips steps (state carried through).
    ``stateful`` keeps the final state of each batch as the initial state of the next (fixed
    batch size); ``reset_states()`` zeroes it. ``unroll`` is accepted and has no effect.
    Weights: ``kernel (F, units)``, ``recurrent_kernel (units, units)``, ``bias (units,)``.
    """

    supports_masking = True

    def __init__(
        self,
        units: int,
        activation: Any = "tanh",
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        activity_regularizer: Any = None,
        kernel_constraint: Any = None,
        recurrent_constraint: Any = None,
        bias_constraint: Any = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        seed: int | None = None,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.cell = SimpleRNNCell(
            units, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout,
            seed=seed, dtype=self.dtype, name="simple_rnn_cell",
        )
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.states: np.ndarray | None = None
        self._cache: dict | None = None
        self.initial_state_grads: list[np.ndarray] | None = None

    # cell settings, Keras-style attribute access
    units = property(lambda self: self.cell.units, doc="Number of units.")
    activation = property(lambda self: self.cell.activation, doc="Activation name.")
    use_bias = property(lambda self: self.cell.use_bias, doc="Whether there is a bias.")
    dropout = property(lambda self: self.cell.dropout, doc="Input dropout rate.")
    recurrent_dropout = property(lambda self: self.cell.recurrent_dropout,
                                 doc="Recurrent dropout rate.")
    seed = property(lambda self: self.cell.seed, doc="Seed of the dropout generator.")
    kernel = property(lambda self: self.cell.kernel, doc="(F, units) input weights.")
    recurrent_kernel = property(lambda self: self.cell.recurrent_kernel,
                                doc="(units, units) recurrent weights.")
    bias = property(lambda self: self.cell.bias, doc="(units,) bias or None.")

    def build(self, input_shape: tuple) -> None:
        """Build the cell for ``(batch, timesteps, features)`` inputs."""
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected "
                f"ndim=3, found ndim={len(input_shape)}. Full shape received: {input_shape}"
            )
        if self.stateful and input_shape[0] is None:
            raise ValueError(
                "When using `stateful=True` in a RNN, the batch size must be static. Found "
                f"dynamic batch size: sequence.shape={input_shape}. Declare it with "
                "Input(shape, batch_size=...) or batch_input_shape=."
            )
        self.cell._path_prefix = f"{self.name}/{self.cell.name}"
        self.cell.build(input_shape)
        self._weights = self.cell._weights  # the same records: this layer owns the cell's weights
        if self.stateful:
            self.states = np.zeros((input_shape[0], self.units), dtype=self.dtype)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: tuple) -> Any:
        """``(B, units)`` or ``(B, T, units)``; with return_state ``[output_shape, (B, units)]``."""
        input_shape = tuple(input_shape)
        B = input_shape[0]
        out = (B, input_shape[1], self.units) if self.return_sequences else (B, self.units)
        if self.return_state:
            return [out, (B, self.units)]
        return out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The input mask when returning sequences, else None (state masks are None)."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        out = mask if self.return_sequences else None
        if self.return_state:
            return [out, None]
        return out

    def reset_states(self, states: Any = None) -> None:
        """Zero the state of a stateful layer (or set it to ``states``, shape (batch, units))."""
        if not self.stateful or self.states is None:
            return
        if states is None:
            self.states[...] = 0
            return
        if isinstance(states, (list, tuple)):
            states = states[0]
        arr = np.asarray(states, dtype=self.dtype)
        if arr.shape != self.states.shape:
            raise ValueError(
                f"Layer {self.name!r} expects a state of shape {self.states.shape}. "
                f"Received: shape={arr.shape}"
            )
        self.states[...] = arr

    def reset_state(self, states: Any = None) -> None:
        """Keras 3 name of ``reset_states``."""
        self.reset_states(states)

    def _initial_state(self, initial_state: Any, batch: int) -> np.ndarray | None:
        if initial_state is None:
            if self.stateful:
                if self.states.shape[0] != batch:
                    raise ValueError(
                        f"Layer {self.name!r} is stateful with batch size {self.states.shape[0]}. "
                        f"Received: a batch of {batch} samples"
                    )
                return self.states
            return None
        if isinstance(initial_state, (list, tuple)):
            if len(initial_state) != 1:
                raise ValueError(
                    f"Layer {self.name!r} has 1 state; initial_state must be one array. "
                    f"Received: a list of {len(initial_state)}"
                )
            initial_state = initial_state[0]
        h0 = self._as_float(initial_state, "initial_state")
        if h0.shape != (batch, self.units):
            raise ValueError(
                f"Layer {self.name!r}: initial_state must have shape (batch, units) = "
                f"({batch}, {self.units}). Received: shape={h0.shape}"
            )
        return h0

    def __call__(self, inputs: Any, initial_state: Any = None, mask: Any = None,
                 training: bool | None = False, **kwargs: Any):
        """Run on NumPy inputs: ``layer(x, initial_state=None, mask=None, training=False)``."""
        return self.forward(inputs, mask=mask, training=bool(training),
                            initial_state=initial_state, **kwargs)

    def projects_embedding(self, emb: Any, ids: np.ndarray) -> bool:
        """Whether this layer, fed by ``emb``'s training output for ``ids`` (B, T), projects the
        vocabulary itself instead of reading the gathered vectors.

        Then ``x @ kernel = (embeddings @ kernel)[ids]``, ``dkernel = embeddings.T @ S`` and
        ``d embeddings = S @ kernel.T`` with ``S`` the per-id sum of the projected-input
        gradients: the same products over V rows instead of B*T rows, so only when V is well
        below B*T. Input dropout (a mask per sample and feature) and an activity regularizer on
        the Embedding rule it out.
        """
        return (self.cell.dropout == 0 and emb.activity_regularizer is None
                and emb.embeddings.dtype == np.dtype(self.dtype)
                and emb.input_dim * 2 <= ids.size)

    def _fused_embedding(self, inputs: Any, training: bool) -> tuple | None:
        """(embedding layer, ids) when ``inputs`` is an Embedding's training output that this
        layer projects itself (:meth:`projects_embedding`), else None."""
        if not training or type(inputs) is not EmbeddedTokens or inputs._source is None:
            return None
        emb, ids = inputs._source
        if self.projects_embedding(emb, ids):
            return emb, ids
        if inputs._deferred:  # never gathered: reading it would be garbage
            raise RuntimeError(f"Layer {self.name!r} received an Embedding output whose "
                               "vectors were not gathered")
        return None

    def _forward(self, inputs, mask=None, training=False, initial_state=None):
        x = self._as_float(inputs)
        check_ndim(x, 3, self.name, "(batch, timesteps, features)")
        self._maybe_build((None if not self.stateful else x.shape[0],) + x.shape[1:])
        B, T, F = x.shape
        if F != self.kernel.shape[0]:
            raise ValueError(
                f"Input 0 of layer '{self.name}' is incompatible with the layer: expected axis -1 "
                f"of input shape to have value {self.kernel.shape[0]}, but received input with "
                f"shape {x.shape}"
            )
        m = standardize_mask(mask, B, T, self.name)
        h0 = self._initial_state(initial_state, B)
        in_mask, rec_mask = self.cell.dropout_masks(B, F, training)
        kernel, token_ids = self.kernel, None
        fused = self._fused_embedding(inputs, training)
        if fused is not None:  # project the vocabulary; the engine reads its rows by id
            emb, token_ids = fused
            x = ops.matmul(emb.embeddings, self.kernel)  # (V, H)
            kernel = None
        res = ops.simple_rnn_forward(
            x, kernel, self.recurrent_kernel, self.bias, initial_state=h0, mask=m,
            activation=self.activation, go_backwards=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask, input_dropout_mask=in_mask,
            recurrent_dropout_mask=rec_mask, token_ids=token_ids,
            return_sequences=self.return_sequences,
        )
        if self.stateful:
            self.states = np.array(res.final_state, dtype=self.dtype)
        if training:
            self._cache = {"cache": res.cache, "shape": (B, T), "fused": fused}
        else:
            self._cache = None
        output = res.outputs
        if self.return_state:
            return [output, res.final_state]
        return output

    def _backward(self, d_outputs):
        c = self._require_cache(self._cache)
        B, T = c["shape"]
        H = self.units
        d_state = None
        if self.return_state:
            if not isinstance(d_outputs, (list, tuple)) or len(d_outputs) != 2:
                raise ValueError(
                    f"Layer {self.name!r} returns [output, state]; backward expects a list of two "
                    f"gradients (None allowed). Received: {type(d_outputs).__name__}"
                )
            d_out, d_state = d_outputs
        else:
            d_out = d_outputs
        d_final = None if d_state is None else self._grad(d_state, (B, H), "state")
        if d_out is not None:  # the last output's gradient goes to the final state in ops
            d_out = self._grad(d_out, (B, T, H) if self.return_sequences else (B, H), "output")
        if d_out is None and d_final is None:
            d_final = np.zeros((B, H), dtype=self.dtype)
        g = ops.simple_rnn_backward(c["cache"], d_out, d_final)
        dkernel, dx = g.dkernel, g.dx
        if c["fused"] is not None:
            emb, _ = c["fused"]
            per_id = g.dx  # (V, H): the projected-input gradients summed per id
            dkernel = ops.matmul(emb.embeddings, per_id, transpose_a=True)
            dx = EmbeddingTableGradient(ops.matmul(per_id, np.ascontiguousarray(self.kernel.T)))
        self._raw_grads = {"kernel": dkernel, "recurrent_kernel": g.drecurrent_kernel}
        if self.use_bias:
            self._raw_grads["bias"] = g.dbias
        self.initial_state_grads = [g.dinitial_state]
        return dx

    def _grad(self, d: Any, shape: tuple, what: str) -> np.ndarray:
        arr = np.asarray(d, dtype=self.dtype)
        if arr.shape != shape:
            raise ValueError(
                f"Layer {self.name!r}: the gradient of the {what} must have shape {shape}. "
                f"Received: shape={arr.shape}"
            )
        return arr

    def get_config(self) -> dict:
        """Constructor arguments (Keras names; the cell's settings flattened in)."""
        config = super().get_config()
        cell_config = self.cell.get_config()
        for key in _CELL_ARGS:
            config[key] = cell_config[key]
        config.update({
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        })
        return config
