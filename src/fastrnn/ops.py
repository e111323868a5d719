"""Functional entry points into the C++ engine.

These functions hold no state and no random generator: dropout masks and initial states are
inputs. They validate every argument, raise ``TypeError``/``ValueError`` that name the argument,
the expected and the received shape or dtype, never modify the caller's arrays, and release the
GIL while the kernels run.

Shapes: ``B`` samples, ``T`` time steps, ``F`` input features, ``H`` units.
The recurrence is Keras's ``SimpleRNN``::

    h_t = act((x_t * m_x) @ kernel + bias + (h_{t-1} * m_h) @ recurrent_kernel)
"""

from __future__ import annotations

import os
from typing import NamedTuple, Optional

import numpy as np

from ._config import resolve_num_threads

ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_INT64 = np.dtype(np.int64)


class SimpleRNNForward(NamedTuple):
    """Result of :func:`simple_rnn_forward`."""

    outputs: np.ndarray  # (B, T, H), in processing order (reversed time with go_backwards);
    # (B, H), the last of them, with return_sequences=False
    final_state: np.ndarray  # (B, H), the state after the last valid step
    cache: "SimpleRNNCache"  # what simple_rnn_backward needs


class SimpleRNNGradients(NamedTuple):
    """Result of :func:`simple_rnn_backward`."""

    dx: np.ndarray  # (B, T, F)
    dkernel: Optional[np.ndarray]  # (F, H), None when the forward pass had no kernel
    drecurrent_kernel: np.ndarray  # (H, H)
    dbias: Optional[np.ndarray]  # (H,), None when the forward pass had no bias
    dinitial_state: np.ndarray  # (B, H)


class SimpleRNNCache:
    """Everything the backward pass needs from one forward call. The input arrays are kept by
    reference (a C-contiguous array is not copied): change them in place between the forward
    and the backward call and the gradients use the changed values, as with any NumPy view."""

    __slots__ = (
        "x", "kernel", "token_ids", "recurrent_kernel", "has_bias", "initial_state", "mask",
        "input_dropout_mask", "recurrent_dropout_mask", "states", "activation",
        "go_backwards", "zero_output_for_mask", "return_sequences", "time_major_states",
        "batch_shape",
    )

    def __init__(self, x, kernel, token_ids, recurrent_kernel, has_bias, initial_state, mask,
                 input_dropout_mask, recurrent_dropout_mask, states, activation, go_backwards,
                 zero_output_for_mask, return_sequences, time_major_states, batch_shape):
        self.x = x
        self.kernel = kernel
        self.token_ids = token_ids
        self.recurrent_kernel = recurrent_kernel
        self.has_bias = has_bias
        self.initial_state = initial_state
        self.mask = mask
        self.input_dropout_mask = input_dropout_mask
        self.recurrent_dropout_mask = recurrent_dropout_mask
        self.states = states
        self.activation = activation
        self.go_backwards = go_backwards
        self.zero_output_for_mask = zero_output_for_mask
        self.return_sequences = return_sequences
        # states (T, B*H or a little more) instead of (B, T, H), see _core.simple_rnn_forward
        self.time_major_states = time_major_states
        self.batch_shape = batch_shape  # (B, T) of the forward call


_CORE = None


def _engine():
    """The C++ extension, imported on first use (the pure-Python parts import without it)."""
    global _CORE
    if _CORE is None:
        from . import _core

        _CORE = _core
    return _CORE


def _name(dtype) -> str:
    return np.dtype(dtype).name


def _as_array(value, name: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array. Received: {type(value).__name__} ({exc})") from None


def _float_array(value, name: str, shape: tuple, dtype: np.dtype | None) -> np.ndarray:
    """Return a C-contiguous array of the float dtype required, checked against ``shape``.

    ``shape`` holds ints (required sizes) or strings (names of free dimensions).
    """
    arr = _as_array(value, name)
    if arr.dtype not in _FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be float32 or float64. Received: dtype={arr.dtype}"
        )
    if dtype is not None and arr.dtype != dtype:
        raise TypeError(
            f"{name} must have the same dtype as kernel ({_name(dtype)}). "
            f"Received: dtype={arr.dtype}; cast it explicitly"
        )
    _check_shape(arr, name, shape)
    return np.ascontiguousarray(arr)


def _check_shape(arr: np.ndarray, name: str, shape: tuple) -> None:
    if arr.ndim != len(shape):
        raise ValueError(
            f"{name} must be {len(shape)}-D {_shape_text(shape)}. Received: shape={arr.shape}"
        )
    for got, want in zip(arr.shape, shape):
        if isinstance(want, int) and got != want:
            raise ValueError(
                f"{name} must have shape {_shape_text(shape)}. Received: shape={arr.shape}"
            )


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def _bool_mask(value, name: str, shape: tuple) -> np.ndarray:
    arr = _as_array(value, name)
    if arr.dtype.kind not in "biu":
        raise TypeError(f"{name} must be a boolean array. Received: dtype={arr.dtype}")
    _check_shape(arr, name, shape)
    if arr.dtype != np.bool_ and arr.size and ((arr != 0) & (arr != 1)).any():
        raise ValueError(f"{name} must hold only 0/1 or True/False values")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def _read_physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


_PHYSICAL_MEMORY = _read_physical_memory()


def _require_memory(what: str, nbytes: int) -> None:
    """Raise MemoryError before any allocation when a call needs more than the machine has."""
    total = _PHYSICAL_MEMORY
    if total is not None and nbytes > total:
        raise MemoryError(
            f"{what} needs {nbytes / 2**30:,.1f} GiB for its buffers, more than this machine's "
            f"{total / 2**30:,.1f} GiB of memory; use a smaller batch or shorter sequences"
        )


def _require_forward_memory(dtype: np.dtype, B: int, T: int, F: int, H: int) -> None:
    """MemoryError before a forward call over (B, T, F) inputs that cannot fit: an x copy, its
    dropout-masked copy, outputs and states (the backward pass adds dx and deltas)."""
    _require_memory("simple_rnn_forward", dtype.itemsize * (2 * B * T * F + 2 * B * T * H))


def _plain_arrays(dtype, *arrays) -> bool:
    """Whether ``dtype`` is NumPy's native float32 or float64 and every array an ndarray (not a
    subclass) of exactly that dtype, C-contiguous: operands the fast paths pass on without a
    conversion. Identity tests on the dtypes: NumPy's native dtypes are singletons (another
    byte order, or an equal dtype that is not the singleton, takes the full path)."""
    if dtype is not _FLOAT_DTYPES[0] and dtype is not _FLOAT_DTYPES[1]:
        return False
    for a in arrays:
        if type(a) is not np.ndarray or a.dtype is not dtype or not a.flags.c_contiguous:
            return False
    return True


def _plain_layer_arrays(x, kernel, recurrent_kernel, bias) -> bool:
    """True for the common call that needs no conversion: C-contiguous ndarrays of one float
    dtype, x (B, T, F) with B, T >= 1, kernel (F, H) with H >= 1, recurrent_kernel (H, H), bias
    (H,) or None. Anything else goes through the full validation and its error messages (a
    batch of one spent ~10 us of its ~90 us there)."""
    dtype = getattr(kernel, "dtype", None)
    if not _plain_arrays(dtype, x, kernel, recurrent_kernel):
        return False
    x_shape, k_shape = x.shape, kernel.shape
    if len(x_shape) != 3 or len(k_shape) != 2 or 0 in x_shape or k_shape[1] == 0:
        return False
    F, H = k_shape
    return x_shape[2] == F and recurrent_kernel.shape == (H, H) and _plain_bias(bias, dtype, H)


def _plain_token_arrays(table, recurrent_kernel, bias, token_ids) -> bool:
    """True for the fused Embedding call that needs no conversion: a C-contiguous (V, H) table
    (V, H >= 1) and (H, H) recurrent_kernel of one float dtype, a bias (H,) or None, and
    C-contiguous int64 (B, T) token ids with B, T >= 1 (the binding checks their range).
    Anything else goes through the full validation (~15 us of each lecture-model step)."""
    dtype = getattr(recurrent_kernel, "dtype", None)
    if not _plain_arrays(dtype, table, recurrent_kernel) or not (
            type(token_ids) is np.ndarray and token_ids.dtype is _INT64
            and token_ids.flags.c_contiguous):
        return False
    r_shape, t_shape = recurrent_kernel.shape, table.shape
    if (len(r_shape) != 2 or len(t_shape) != 2 or token_ids.ndim != 2 or 0 in r_shape
            or 0 in t_shape or 0 in token_ids.shape):
        return False
    H = r_shape[1]
    return r_shape[0] == H and t_shape[1] == H and _plain_bias(bias, dtype, H)


def _plain_bias(bias, dtype: np.dtype, H: int) -> bool:
    return bias is None or (_plain_arrays(dtype, bias) and bias.shape == (H,))


def _last_output_kept(mask: np.ndarray | None, go_backwards: bool,
                      zero_output_for_mask: bool) -> np.ndarray | None:
    """(B,) 1 where the last output is the final state, 0 where it is a masked step's zeros
    (every step masked, or with zero_output_for_mask the last processed one); None: all 1."""
    if mask is None:
        return None
    if zero_output_for_mask:
        return mask[:, 0 if go_backwards else -1]
    return mask.any(axis=1)


def _activation(activation) -> str:
    name = "linear" if activation is None else activation
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {ACTIVATIONS} or None. Received: {activation!r}"
        )
    return name


def simple_rnn_forward(
    x,
    kernel,
    recurrent_kernel,
    bias=None,
    *,
    initial_state=None,
    mask=None,
    activation: str | None = "tanh",
    go_backwards: bool = False,
    zero_output_for_mask: bool = False,
    input_dropout_mask=None,
    recurrent_dropout_mask=None,
    num_threads: int | None = None,
    token_ids=None,
    return_sequences: bool = True,
) -> SimpleRNNForward:
    """Run a SimpleRNN layer over a whole batch of sequences.

    Args:
        x: (B, T, F) float32 or float64 input.
        kernel: (F, H) input weights; its dtype is the computation dtype. None means ``x``
            is already projected (``x @ kernel``, shape (B, T, H)), e.g. rows gathered from an
            embedding table multiplied by the kernel once; ``dkernel`` is then None and ``dx``
            the gradient of the projected inputs.
        recurrent_kernel: (H, H) recurrent weights.
        bias: (H,) bias or None.
        initial_state: (B, H) state before the first step, zeros if None.
        mask: (B, T) bool, True = keep. A masked step carries state and output through
            unchanged (output zeros before the first valid step).
        activation: "tanh", "relu", "sigmoid", "linear" or None.
        go_backwards: process time reversed and return the outputs in processing order.
        zero_output_for_mask: output zeros (instead of the previous output) at masked steps.
        input_dropout_mask: (B, F) multiplicative mask on every x_t.
        recurrent_dropout_mask: (B, H) multiplicative mask on every h_{t-1}, the initial
            state included.
        num_threads: threads for this call; None uses :func:`fastrnn.get_num_threads`.
        token_ids: (B, T) integer ids, with ``kernel=None`` only: ``x`` is then a (V, H) table
            of projected rows (e.g. ``embeddings @ kernel``) and step t of sample b reads row
            ``token_ids[b, t]``; the backward ``dx`` is the (V, H) gradient of that table. This
            is an Embedding followed by the layer without gathering B*T vectors.
        return_sequences: False returns only the last output, (B, H), as Keras's layer does;
            the (B, T, H) outputs are then never written, and the states the backward pass
            reads are kept in the order that runs fastest.

    Returns:
        ``SimpleRNNForward(outputs (B, T, H) or (B, H), final_state (B, H), cache)``.
    """
    plain = (initial_state is None and mask is None and input_dropout_mask is None
             and recurrent_dropout_mask is None)
    if plain and token_ids is None and _plain_layer_arrays(x, kernel, recurrent_kernel, bias):
        # nothing to convert; the shapes and dtypes are checked
        dtype = kernel.dtype
        B, T, F = x.shape
        H = kernel.shape[1]
        if B * T * (F + H) > 1 << 20:  # smaller calls need at most 16 MiB
            _require_forward_memory(dtype, B, T, F, H)
    elif plain and kernel is None and _plain_token_arrays(x, recurrent_kernel, bias, token_ids):
        dtype = recurrent_kernel.dtype
        B, T = token_ids.shape
        H = recurrent_kernel.shape[1]
        if B * T * H > 1 << 20:  # outputs and states, as the full path checks
            _require_memory("simple_rnn_forward", dtype.itemsize * 2 * B * T * H)
    else:
        weights, weights_name = (
            (recurrent_kernel, "recurrent_kernel") if kernel is None else (kernel, "kernel")
        )
        if not isinstance(weights, np.ndarray) or weights.dtype not in _FLOAT_DTYPES:
            k = _as_array(weights, weights_name)
            raise TypeError(
                f"{weights_name} must be a float32 or float64 array. Received: dtype={k.dtype}"
            )
        dtype = weights.dtype
        if kernel is None:
            recurrent_kernel = _float_array(recurrent_kernel, "recurrent_kernel", ("H", "H"), dtype)
            H = F = recurrent_kernel.shape[1]
            if recurrent_kernel.shape[0] != H:
                raise ValueError(f"recurrent_kernel must be square (H, H). "
                                 f"Received: shape={recurrent_kernel.shape}")
            if input_dropout_mask is not None:
                raise ValueError("input_dropout_mask needs a kernel: with kernel=None the inputs "
                                 "are already projected")
        else:
            kernel = _float_array(kernel, "kernel", ("F", "H"), dtype)
            F, H = kernel.shape
            if H == 0:
                raise ValueError(f"kernel must have at least one unit. Received: shape={kernel.shape}")
            recurrent_kernel = _float_array(recurrent_kernel, "recurrent_kernel", (H, H), dtype)
        if H == 0:
            raise ValueError(
                f"{weights_name} must have at least one unit. Received: shape={weights.shape}"
            )
        x = _as_array(x, "x")
        if token_ids is not None:
            if kernel is not None:
                raise ValueError("token_ids needs kernel=None: x must then be the (V, H) table of "
                                 "projected rows")
            x = _float_array(x, "x", ("V", H), dtype)
            if x.shape[0] == 0:
                raise ValueError(f"x (the table of projected rows) must have at least one row. "
                                 f"Received: shape={x.shape}")
            token_ids = _as_array(token_ids, "token_ids")
            if token_ids.ndim == 2:  # outputs and states (the backward pass adds deltas)
                _require_memory("simple_rnn_forward", dtype.itemsize * 2 * token_ids.size * H)
            token_ids = _token_ids(token_ids, x.shape[0], "token_ids", check_range=False)
            B, T = token_ids.shape
        else:
            if x.ndim == 3:
                B, T, _ = x.shape
                _require_forward_memory(dtype, B, T, F, H)
            x = _float_array(x, "x", ("B", "T", F), dtype)
            B, T, _ = x.shape
        if B == 0 or T == 0:
            raise ValueError(
                f"x must have at least one sample and one time step. Received: shape={x.shape}"
                if token_ids is None else
                f"token_ids must have at least one sample and one time step. "
                f"Received: shape={token_ids.shape}"
            )
        if bias is not None:
            bias = _float_array(bias, "bias", (H,), dtype)
        if initial_state is not None:
            initial_state = _float_array(initial_state, "initial_state", (B, H), dtype)
        if mask is not None:
            mask = _bool_mask(mask, "mask", (B, T))
        if input_dropout_mask is not None:
            input_dropout_mask = _float_array(input_dropout_mask, "input_dropout_mask", (B, F), dtype)
        if recurrent_dropout_mask is not None:
            recurrent_dropout_mask = _float_array(
                recurrent_dropout_mask, "recurrent_dropout_mask", (B, H), dtype
            )
    # The finiteness of the weights, initial state, masks and table is checked by _core.
    act = _activation(activation)
    threads = resolve_num_threads(num_threads)
    outputs, final_state, states, time_major = _engine().simple_rnn_forward(
        x, kernel, recurrent_kernel, bias, initial_state, mask, input_dropout_mask,
        recurrent_dropout_mask, act, bool(go_backwards), bool(zero_output_for_mask), threads,
        token_ids, bool(return_sequences),
    )
    if not return_sequences:  # the last output is the final state where it was not masked
        kept = _last_output_kept(mask, bool(go_backwards), bool(zero_output_for_mask))
        outputs = final_state.copy() if kept is None else final_state * kept[:, None].astype(dtype)
    if kernel is not None:
        x_kept = x
    elif token_ids is not None:  # backward reads only the table's row count
        x_kept = np.empty((x.shape[0], 0), dtype)
    else:  # projected inputs: backward never reads x, keep only its (B, T) sizes
        x_kept = np.empty((B, T, 0), dtype)
    cache = SimpleRNNCache(  # positional, in __init__'s order: a batch of one counts each us
        x_kept, kernel, token_ids, recurrent_kernel, bias is not None, initial_state, mask,
        input_dropout_mask, recurrent_dropout_mask, states, act, bool(go_backwards),
        bool(zero_output_for_mask), bool(return_sequences), bool(time_major), (B, T),
    )
    return SimpleRNNForward(outputs, final_state, cache)


def simple_rnn_backward(
    cache: SimpleRNNCache,
    d_outputs=None,
    d_final_state=None,
    *,
    num_threads: int | None = None,
) -> SimpleRNNGradients:
    """Backpropagation through time for one :func:`simple_rnn_forward` call.

    Args:
        cache: the ``cache`` field of the forward result.
        d_outputs: (B, T, H) gradient of the loss for the outputs (processing order), or
            (B, H) for the last output when the forward call had ``return_sequences=False``;
            or None.
        d_final_state: (B, H) gradient of the loss for the final state, or None.
        num_threads: threads for this call; None uses :func:`fastrnn.get_num_threads`.

    Returns:
        ``SimpleRNNGradients(dx, dkernel, drecurrent_kernel, dbias, dinitial_state)``;
        ``dbias`` is None when the forward pass had no bias; ``dx`` is (V, H) when the forward
        pass read a table through ``token_ids``.
    """
    if not isinstance(cache, SimpleRNNCache):
        raise TypeError(
            "cache must be the cache returned by simple_rnn_forward. "
            f"Received: {type(cache).__name__}"
        )
    dtype = cache.recurrent_kernel.dtype
    B, T = cache.batch_shape
    H = cache.recurrent_kernel.shape[1]
    if d_final_state is not None:
        d_final_state = _float_array(d_final_state, "d_final_state", (B, H), dtype)
    if d_outputs is not None and cache.return_sequences:
        d_outputs = _float_array(d_outputs, "d_outputs", (B, T, H), dtype)
    elif d_outputs is not None:  # the last output's gradient reaches the final state
        d_last = _float_array(d_outputs, "d_outputs", (B, H), dtype)
        kept = _last_output_kept(cache.mask, cache.go_backwards, cache.zero_output_for_mask)
        if kept is not None:
            d_last = d_last * kept[:, None].astype(dtype)
        d_final_state = d_last if d_final_state is None else d_final_state + d_last
        d_outputs = None
    F = H if cache.kernel is None else cache.x.shape[2]
    dx_size = cache.x.shape[0] * H if cache.token_ids is not None else B * T * F
    _require_memory("simple_rnn_backward", dtype.itemsize * (B * T * F + dx_size + 3 * B * T * H))
    threads = resolve_num_threads(num_threads)
    dx, dkernel, drec, dbias, dh0 = _engine().simple_rnn_backward(
        cache.x, cache.kernel, cache.recurrent_kernel, cache.has_bias, cache.initial_state,
        cache.mask, cache.input_dropout_mask, cache.recurrent_dropout_mask, cache.states,
        d_outputs, d_final_state, cache.activation, cache.go_backwards,
        cache.zero_output_for_mask, threads, cache.token_ids, cache.time_major_states,
    )
    return SimpleRNNGradients(dx, dkernel, drec, dbias, dh0)


def _token_ids(ids, input_dim: int, name: str = "ids", check_range: bool = True) -> np.ndarray:
    """``ids`` as a C-contiguous int64 (B, T) array. The range check is one vectorized pass in
    C++ (NumPy's min and max, two passes, took ~0.05 ms of a lecture-model step); the minimum
    and maximum are computed only for the message. check_range=False leaves the range to the
    caller: _core's forward binding checks every id before any kernel reads through them."""
    arr = _as_array(ids, name)
    kind = arr.dtype.kind  # not np.issubdtype: it walks NumPy's type tree in Python, each call
    if kind not in "iuf":
        raise TypeError(f"{name} must be an integer array of token ids. Received: dtype={arr.dtype}")
    floats = kind == "f"
    if floats and arr.size and (not np.isfinite(arr).all() or (arr != np.round(arr)).any()):
        raise ValueError(f"{name} must hold whole numbers (token ids); received fractional or NaN values")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (B, T). Received: shape={arr.shape}")
    check_range = check_range and arr.size > 0
    if check_range and floats:  # before the cast, which cannot hold every float
        _require_id_range(arr, input_dim, name)
    out = np.ascontiguousarray(arr, dtype=np.int64)
    # uint64 ids above 2**63 wrap to negative int64 ones: rejected either way
    if check_range and not floats and not _engine().token_ids_in_range(out, input_dim):
        _require_id_range(arr, input_dim, name)
    return out


def _require_id_range(ids: np.ndarray, input_dim: int, name: str) -> None:
    lo, hi = ids.min(), ids.max()
    if lo < 0 or hi >= input_dim:
        raise ValueError(
            f"{name} must be in [0, {input_dim}) (input_dim={input_dim}). "
            f"Received: values in [{lo}, {hi}]"
        )


def checked_token_ids(ids, input_dim: int) -> np.ndarray:
    """``ids`` as a C-contiguous int64 (B, T) array (no copy when it is one already); raise
    TypeError/ValueError unless it is a 2-D array of ids in ``[0, input_dim)``."""
    return _token_ids(ids, int(input_dim))


def embedding_forward(ids, embeddings, *, num_threads: int | None = None) -> np.ndarray:
    """Gather rows of ``embeddings`` (V, D) for token ``ids`` (B, T) -> (B, T, D)."""
    emb = _as_array(embeddings, "embeddings")
    if emb.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"embeddings must be float32 or float64. Received: dtype={emb.dtype}")
    emb = _float_array(emb, "embeddings", ("V", "D"), emb.dtype)
    ids = _as_array(ids, "ids")
    if ids.ndim == 2:  # before scanning the ids: they may be a huge zero-stride view
        _require_memory("embedding_forward",
                        8 * ids.size + emb.dtype.itemsize * ids.size * emb.shape[1])
    ids = _token_ids(ids, emb.shape[0])
    return _engine().embedding_forward(ids, emb, resolve_num_threads(num_threads))


def embedding_backward(
    ids, d_outputs, input_dim: int, *, num_threads: int | None = None
) -> np.ndarray:
    """Scatter-add ``d_outputs`` (B, T, D) into a dense (input_dim, D) embedding gradient."""
    if isinstance(input_dim, bool) or not hasattr(input_dim, "__index__") or int(input_dim) < 1:
        raise ValueError(f"input_dim must be an int >= 1. Received: {input_dim!r}")
    input_dim = int(input_dim)
    d = _as_array(d_outputs, "d_outputs")
    if d.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"d_outputs must be float32 or float64. Received: dtype={d.dtype}")
    if d.ndim == 3:
        # the dense gradient, a contiguous copy of d_outputs and the int64 ids
        _require_memory("embedding_backward", d.dtype.itemsize * (input_dim * d.shape[2] + d.size)
                        + 8 * d.shape[0] * d.shape[1])
    ids = _token_ids(ids, input_dim)
    d = _float_array(d, "d_outputs", (ids.shape[0], ids.shape[1], "D"), d.dtype)
    return _engine().embedding_backward(ids, d, input_dim, resolve_num_threads(num_threads))


def matmul(a, b, *, transpose_a: bool = False, num_threads: int | None = None) -> np.ndarray:
    """``a @ b`` (or ``a.T @ b``) on the engine's GEMM and threads, for 2-D float arrays.

    The layers use it for their own products so that NumPy's BLAS thread pool never competes
    with the kernel threads for the cores; results are bit-identical for any thread count.
    """
    if not (_plain_arrays(getattr(a, "dtype", None), a, b) and a.ndim == 2 and b.ndim == 2
            and b.shape[0] == a.shape[not transpose_a]):
        # anything but the layers' usual operands: check and convert (a few us a call, 6 calls
        # a lecture-model step, so the usual operands skip it; the binding checks them again)
        a, b = _matmul_operands(a, b, transpose_a)
    return _engine().matmul(a, b, bool(transpose_a), resolve_num_threads(num_threads))


def _matmul_operands(a, b, transpose_a: bool) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` as C-contiguous 2-D arrays of one float dtype with matching K."""
    a = _as_array(a, "a")
    if a.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"a must be float32 or float64. Received: dtype={a.dtype}")
    a = _float_array(a, "a", ("M", "K"), a.dtype)
    k = a.shape[0] if transpose_a else a.shape[1]
    return a, _float_array(b, "b", (k, "N"), a.dtype)
