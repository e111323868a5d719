"""Hostile input at every public entry point, driven by hypothesis.

Each property (``_prop_*``) runs in a child process through ``crash_guard.run_guarded``: a
segfault or abort fails the test and names the last case instead of killing pytest. Every
case either returns a correct result or raises TypeError/ValueError/MemoryError whose message
names what was wrong; user arrays are never modified; a valid array in an unusual layout
(reversed, sliced, zero-stride, Fortran order, read-only, unaligned) gives bit-identically
the result of its contiguous copy.

Environment: FASTRNN_FUZZ_EXAMPLES scales max_examples (default 1.0); FASTRNN_FUZZ_RANDOM=1
draws new examples on every run (CI default: derandomized, reproducible).
"""

from __future__ import annotations

import io
import json
import os
import sys
import warnings
import zipfile

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from crash_guard import CrashDetected, note, run_guarded  # noqa: E402

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ALLOWED = (TypeError, ValueError, MemoryError)
_SCALE = float(os.environ.get("FASTRNN_FUZZ_EXAMPLES", "1"))
_STATS: dict[str, int] = {}


def _settings(n: int):
    return settings(max_examples=max(1, int(n * _SCALE)), deadline=None, database=None,
                    derandomize=os.environ.get("FASTRNN_FUZZ_RANDOM") != "1",
                    suppress_health_check=list(HealthCheck), print_blob=True)


def _count(key: str) -> None:
    _STATS[key] = _STATS.get(key, 0) + 1


# FASTRNN_FUZZ_COLLECT=1: record violations (first 3 per kind) instead of failing at the first
# one, to survey many problems in one run; the property then returns them.
_COLLECT = os.environ.get("FASTRNN_FUZZ_COLLECT") == "1"
_VIOLATIONS: dict[str, list[str]] = {}


def expect(condition: bool, message: str) -> None:
    """Assert ``condition``; in collect mode record ``message`` instead."""
    if condition:
        return
    if not _COLLECT:
        raise AssertionError(message)
    key = message.split(" -- ")[0][:90]
    _VIOLATIONS.setdefault(key, [])
    if len(_VIOLATIONS[key]) < 3:
        _VIOLATIONS[key].append(message[:600])


def _result() -> dict:
    return {"counts": dict(_STATS), "violations": _VIOLATIONS} if _COLLECT else dict(_STATS)


# ------------------------------------------------------------------ hostile arrays

LAYOUTS = ("contiguous", "reversed", "sliced", "fortran", "readonly", "unaligned", "broadcast")
BAD_DTYPES = ("object", "bool", "complex64", "complex128", "float16", "int64", "int8", "uint8",
              "<U3", "datetime64[s]", ">f8", "V8")
MUTATIONS = ("wrong_dtype", "wrong_rank", "wrong_shape", "zero_len", "nonfinite", "list",
             "scalar", "junk")


def in_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """The same values as ``a`` in an unusual memory layout."""
    if layout == "reversed" and a.ndim:
        big = np.ascontiguousarray(a[(slice(None, None, -1),) * a.ndim])
        return big[(slice(None, None, -1),) * a.ndim]
    if layout == "sliced" and a.ndim:
        big = np.zeros(tuple(2 * s for s in a.shape), a.dtype)
        big[(slice(None, None, 2),) * a.ndim] = a
        return big[(slice(None, None, 2),) * a.ndim]
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    if layout == "unaligned" and a.size and not a.dtype.hasobject:
        raw = np.zeros(a.nbytes + 1, np.uint8)
        b = raw[1:].view(a.dtype).reshape(a.shape)
        b[...] = a
        return b
    if layout == "broadcast" and a.ndim and a.shape[0] > 0:
        # zero stride along axis 0: every row equals the first one
        return np.broadcast_to(a[:1], a.shape)
    return a


def contiguous_twin(a):
    return np.array(a, copy=True, order="C") if isinstance(a, np.ndarray) else a


def mutate(draw, a: np.ndarray, kind: str):
    """``a`` damaged in one way."""
    if kind == "wrong_dtype":
        dt = draw(st.sampled_from(BAD_DTYPES))
        if dt == "V8":
            return np.zeros(a.shape, dtype=[("a", "<f4"), ("b", "<i4")])
        if dt == "object":
            return a.astype(object)
        if dt == "<U3":
            return a.astype("<U3")
        if dt == "datetime64[s]":
            return np.zeros(a.shape, dt)
        with np.errstate(all="ignore"):
            return a.astype(dt)
    if kind == "wrong_rank":
        if a.ndim >= 2 and draw(st.booleans()):
            return a.reshape(a.shape[:-2] + (a.shape[-2] * a.shape[-1],))  # one axis fewer
        if a.ndim == 1 and a.size and draw(st.booleans()):
            return a[0]  # a 0-d value
        return a[..., None]  # one axis more
    if kind == "wrong_shape":
        if not a.ndim:
            return np.zeros((2,), a.dtype)
        axis = draw(st.integers(0, a.ndim - 1))
        shape = list(a.shape)
        shape[axis] += draw(st.sampled_from([1, 2, 7]))
        return np.zeros(shape, a.dtype)
    if kind == "zero_len":
        if not a.ndim:
            return np.zeros((0,), a.dtype)
        axis = draw(st.integers(0, a.ndim - 1))
        shape = list(a.shape)
        shape[axis] = 0
        return np.zeros(shape, a.dtype)
    if kind == "nonfinite":
        b = a.copy()
        if b.size and np.issubdtype(b.dtype, np.floating):
            idx = draw(st.integers(0, b.size - 1))
            b.reshape(-1)[idx] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return b
    if kind == "list":
        return a.tolist()
    if kind == "scalar":
        return draw(st.sampled_from([1.5, 0, np.float32(2.0), np.array(3.0)]))
    return draw(st.sampled_from(["abc", {"a": 1}, object(), b"\x00\x01", [[1, 2], [3]], 1j]))


def snapshot(values: dict) -> dict:
    return {k: v.copy() for k, v in values.items()
            if isinstance(v, np.ndarray) and not v.dtype.hasobject}


def assert_unchanged(before: dict, values: dict) -> None:
    for k, old in before.items():
        new = values[k]
        same = new.shape == old.shape and (
            np.array_equal(new, old, equal_nan=True) if old.dtype.kind in "fc"
            else np.array_equal(new, old))
        expect(same, f"the caller's {k} was modified")


# Messages that do not name the argument yet, tolerated while the lead fixes them (empty: the
# ones found -- num_threads=nan, embedding_backward input_dim=None/"abc"/2**62 -- are fixed and
# pinned by the regression tests at the end of this file).
KNOWN_UNCLEAR_MESSAGES: tuple[str, ...] = (
    # embedding_backward(input_dim=2**62) with D = 0: the (2**62, 0) gradient needs 0 bytes, so
    # the memory check passes, and the binding's array allocation says this (no crash).
    "array is too big",
)


def check_error(exc: BaseException, names: list[str], case: str) -> None:
    """An allowed exception type whose message names one of ``names``."""
    if isinstance(exc, ALLOWED) and any(k in str(exc) for k in KNOWN_UNCLEAR_MESSAGES):
        _count("known unclear message")
        return
    expect(isinstance(exc, ALLOWED), f"{type(exc).__name__}: {exc} -- case: {case}")
    message = str(exc)
    expect(message.strip(), f"empty {type(exc).__name__} message -- case: {case}")
    if names and not isinstance(exc, MemoryError):
        expect(any(n in message for n in names),
               f"message does not name any of {names}: {message!r} -- case: {case}")


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


# ------------------------------------------------------------------ fastrnn.ops

RNN_ARGS = ("x", "kernel", "recurrent_kernel", "bias", "initial_state", "mask",
            "input_dropout_mask", "recurrent_dropout_mask")


@st.composite
def rnn_call(draw):
    dtype = np.dtype(draw(st.sampled_from(["float32", "float64"])))
    B = draw(st.integers(1, 9))
    T = draw(st.sampled_from([1, 2, 5, 17, 40]))
    F = draw(st.integers(0, 6))
    H = draw(st.sampled_from([1, 3, 16, 17, 33]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    v = {
        "x": rng.normal(size=(B, T, F)).astype(dtype),
        "kernel": (rng.normal(size=(F, H)) * 0.5).astype(dtype),
        "recurrent_kernel": (rng.normal(size=(H, H)) * 0.3).astype(dtype),
        "bias": rng.normal(size=(H,)).astype(dtype) if draw(st.booleans()) else None,
        "initial_state": rng.normal(size=(B, H)).astype(dtype) if draw(st.booleans()) else None,
        "mask": (rng.random((B, T)) > 0.3) if draw(st.booleans()) else None,
        "input_dropout_mask": (rng.random((B, F)) > 0.5).astype(dtype) * 2
        if draw(st.booleans()) else None,
        "recurrent_dropout_mask": (rng.random((B, H)) > 0.5).astype(dtype) * 2
        if draw(st.booleans()) else None,
    }
    if v["mask"] is not None and draw(st.booleans()):
        v["mask"] = v["mask"].astype(draw(st.sampled_from(["int64", "uint8", "int8"])))
    layouts = {k: draw(st.sampled_from(LAYOUTS)) for k in RNN_ARGS if v[k] is not None}
    mutated = draw(st.lists(st.sampled_from(RNN_ARGS), max_size=2, unique=True))
    kinds = {k: draw(st.sampled_from(MUTATIONS)) for k in mutated}
    kw = dict(activation=draw(st.sampled_from(["tanh", "relu", "sigmoid", "linear", None])),
              go_backwards=draw(st.booleans()), zero_output_for_mask=draw(st.booleans()),
              num_threads=draw(st.sampled_from([None, 1, 2, 3])))
    hostile_kw = draw(st.sampled_from([None, "activation", "num_threads"]))
    if hostile_kw == "activation":
        kw["activation"] = draw(st.sampled_from(["softmax", "", 3, b"tanh", ["tanh"], "TANH"]))
    elif hostile_kw == "num_threads":
        kw["num_threads"] = draw(st.sampled_from([0, -1, 1.5, "2", True, 2**40, float("nan")]))
        if kw["num_threads"] == 2**40:
            hostile_kw = "num_threads_huge"  # capped to the machine's maximum: may succeed
    args = {}
    for k in RNN_ARGS:
        a = v[k]
        if k in kinds:
            base = a if a is not None else np.zeros({"bias": (H,), "initial_state": (B, H),
                                                     "mask": (B, T)}.get(k, (B, max(F, 1))), dtype)
            args[k] = mutate(draw, base, kinds[k])
        elif a is not None:
            args[k] = in_layout(a, layouts[k])
        else:
            args[k] = None
    return dict(dtype=dtype, dims=(B, T, F, H), clean=v, args=args, kinds=kinds, kw=kw,
                hostile_kw=hostile_kw, layouts=layouts)


def _rejects(call) -> bool:
    """Whether the drawn call must raise."""
    if call["hostile_kw"] and call["hostile_kw"] != "num_threads_huge":
        return True
    for k, kind in call["kinds"].items():
        if kind in ("wrong_dtype", "wrong_rank", "wrong_shape", "scalar", "junk"):
            return True
        if kind == "zero_len":
            return True
        if kind == "nonfinite" and k != "x" and k != "mask":
            return True
    return False


def _prop_ops_rnn():
    from fastrnn import ops

    @_settings(250)
    @given(call=rnn_call(), hostile_grad=st.sampled_from(MUTATIONS + ("valid",) * 4),
           grad_layout=st.sampled_from(LAYOUTS), data=st.data())
    def prop(call, hostile_grad, grad_layout, data):
        args, kw = call["args"], call["kw"]
        case = (f"simple_rnn_forward dims={call['dims']} dtype={call['dtype']} kinds={call['kinds']} "
                f"layouts={call['layouts']} kw={kw}")
        note(case)
        _count("ops.simple_rnn_forward")
        before = snapshot(args)
        try:
            res = ops.simple_rnn_forward(args["x"], args["kernel"], args["recurrent_kernel"],
                                         args["bias"], initial_state=args["initial_state"],
                                         mask=args["mask"],
                                         input_dropout_mask=args["input_dropout_mask"],
                                         recurrent_dropout_mask=args["recurrent_dropout_mask"],
                                         **kw)
        except BaseException as exc:  # noqa: BLE001 - checked below
            names = list(call["kinds"]) + (["num_threads" if call["hostile_kw"] == "num_threads_huge"
                                            else call["hostile_kw"]] if call["hostile_kw"] else [])
            if not names:
                raise AssertionError(f"valid call raised {exc!r} -- {case}") from exc
            if any(kd in ("wrong_shape", "zero_len", "wrong_rank") for kd in call["kinds"].values()):
                names += list(RNN_ARGS)  # a size mismatch may be blamed on the other array
            check_error(exc, names, case)
            assert_unchanged(before, args)
            return
        expect(not _rejects(call), f"hostile call succeeded -- {case}")
        assert_unchanged(before, args)
        B, T, F, H = call["dims"]
        expect(res.outputs.shape == (B, T, H) and res.final_state.shape == (B, H), case)
        expect(res.outputs.dtype == call["dtype"], case)
        if not call["kinds"]:
            # the layout must not matter: bit-identical to contiguous copies
            twin = {k: contiguous_twin(a) for k, a in args.items()}
            ref = ops.simple_rnn_forward(twin["x"], twin["kernel"], twin["recurrent_kernel"],
                                         twin["bias"], initial_state=twin["initial_state"],
                                         mask=twin["mask"],
                                         input_dropout_mask=twin["input_dropout_mask"],
                                         recurrent_dropout_mask=twin["recurrent_dropout_mask"],
                                         **kw)
            expect(same_bits(res.outputs, ref.outputs), f"layout changed the outputs -- {case}")
            expect(np.isfinite(res.outputs).all() or kw["activation"] in ("relu", "linear", None),
                   f"non-finite outputs from finite inputs -- {case}")
        # backward with a (possibly hostile) output gradient
        good = np.ones((B, T, H), call["dtype"])
        d_out = in_layout(good, grad_layout) if hostile_grad == "valid" else \
            mutate(data.draw, good, hostile_grad)
        note(case + f" backward d_outputs={hostile_grad}/{grad_layout}")
        _count("ops.simple_rnn_backward")
        before = snapshot({"d": d_out})
        try:
            g = ops.simple_rnn_backward(res.cache, d_out, None, num_threads=kw["num_threads"])
        except BaseException as exc:  # noqa: BLE001
            expect(hostile_grad != "valid", f"valid backward raised {exc!r} -- {case}")
            check_error(exc, ["d_outputs"], case)
            return
        assert_unchanged(before, {"d": d_out})
        expect(hostile_grad in ("valid", "list", "nonfinite"),
               f"hostile d_outputs ({hostile_grad}) accepted -- {case}")
        expect(g.dx.shape == (B, T, F) and g.dkernel.shape == (F, H), case)
        expect(g.drecurrent_kernel.shape == (H, H) and g.dinitial_state.shape == (B, H), case)

    prop()
    return _result()


def _prop_ops_cache():
    """Tampered caches into simple_rnn_backward: the binding's own checks must hold."""
    from fastrnn import ops

    @_settings(150)
    @given(field=st.sampled_from(["x", "kernel", "recurrent_kernel", "states", "mask",
                                  "initial_state", "input_dropout_mask",
                                  "recurrent_dropout_mask", "activation", "has_bias"]),
           kind=st.sampled_from(MUTATIONS + ("reversed", "sliced", "none")),
           data=st.data())
    def prop(field, kind, data):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(3, 4, 2))
        res = ops.simple_rnn_forward(x, rng.normal(size=(2, 5)), rng.normal(size=(5, 5)) * 0.3,
                                     np.zeros(5), initial_state=np.zeros((3, 5)),
                                     mask=np.ones((3, 4), bool),
                                     input_dropout_mask=np.ones((3, 2)),
                                     recurrent_dropout_mask=np.ones((3, 5)))
        cache = res.cache
        old = getattr(cache, field)
        if field == "activation":
            new = data.draw(st.sampled_from(["softmax", "", None, 3, "relu"]), label="activation")
        elif field == "has_bias":
            new = data.draw(st.sampled_from([None, "yes", 2, False]), label="has_bias")
        elif kind == "none":
            new = None
        elif kind in ("reversed", "sliced"):
            new = in_layout(old, kind)
        else:
            new = mutate(data.draw, old, kind)
        setattr(cache, field, new)
        case = f"simple_rnn_backward tampered cache.{field} = {kind}"
        note(case)
        _count("ops.simple_rnn_backward(tampered cache)")
        try:
            g = ops.simple_rnn_backward(cache, np.ones((3, 4, 5)))
        except (AttributeError, IndexError):
            return  # a cache that is no longer one: any Python exception is fine, no crash
        except BaseException as exc:  # noqa: BLE001
            check_error(exc, [], case)
            return
        expect(g.dx.shape == (3, 4, 2), case)

    prop()
    return _result()


@st.composite
def embedding_call(draw):
    V = draw(st.integers(1, 50))
    D = draw(st.integers(0, 9))
    B, T = draw(st.integers(0, 6)), draw(st.integers(0, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    id_dtype = draw(st.sampled_from(["int64", "int32", "uint8", "uint64", "int8", "float32",
                                     "float64", "bool", "object", "complex64", "float16", "<U2"]))
    ids = rng.integers(0, V, size=(B, T))
    special = draw(st.sampled_from([None, -1, V, 2**31, -2**63, 2**63 - 1, 0.5, np.nan, np.inf]))
    if special is not None and ids.size:
        ids = ids.astype(np.float64) if isinstance(special, float) else ids.astype(object)
        ids.reshape(-1)[draw(st.integers(0, ids.size - 1))] = special
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ids = np.asarray(ids).astype(id_dtype)
        except (OverflowError, ValueError, TypeError):
            ids = np.asarray(ids)
    rank = draw(st.sampled_from([2, 2, 2, 1, 3, 0]))
    if rank == 1:
        ids = ids.reshape(-1)
    elif rank == 3:
        ids = ids[..., None]
    elif rank == 0:
        ids = ids.reshape(-1)[:1].reshape(()) if ids.size else np.array(0)
    ids = in_layout(ids, draw(st.sampled_from(LAYOUTS)))
    emb_dtype = draw(st.sampled_from(["float32", "float64", "float32", "float16", "int64"]))
    emb = in_layout(rng.normal(size=(V, D)).astype(emb_dtype), draw(st.sampled_from(LAYOUTS)))
    input_dim = draw(st.sampled_from([V, V, 0, -3, V + 5, 2**62, 10**12, 3.5, "7", None]))
    return ids, emb, input_dim, (B, T, V, D)


def _prop_ops_embedding():
    from fastrnn import ops

    @_settings(200)
    @given(call=embedding_call(), threads=st.sampled_from([None, 1, 3]))
    def prop(call, threads):
        ids, emb, input_dim, (B, T, V, D) = call
        case = (f"embedding ids dtype={ids.dtype} shape={ids.shape} strides={ids.strides} "
                f"emb {emb.dtype}{emb.shape} input_dim={input_dim!r}")
        note(case)
        _count("ops.embedding_forward")
        before = snapshot({"ids": ids, "emb": emb})
        try:
            out = ops.embedding_forward(ids, emb, num_threads=threads)
        except BaseException as exc:  # noqa: BLE001
            check_error(exc, ["ids", "embeddings"], case)
            assert_unchanged(before, {"ids": ids, "emb": emb})
        else:
            assert_unchanged(before, {"ids": ids, "emb": emb})
            ref = np.asarray(emb)[np.asarray(ids).astype(np.int64)]
            expect(same_bits(out, ref), case)
        note(case + " backward")
        _count("ops.embedding_backward")
        d = np.ones(tuple(np.shape(ids)) + (D,), np.float32)
        try:
            g = ops.embedding_backward(ids, d, input_dim, num_threads=threads)
        except BaseException as exc:  # noqa: BLE001
            check_error(exc, ["ids", "input_dim", "d_outputs"], case)
            return
        ref = np.zeros((int(input_dim), D), np.float32)
        np.add.at(ref, np.asarray(ids).astype(np.int64).reshape(-1), d.reshape(np.size(ids), D))
        np.testing.assert_allclose(g, ref, rtol=1e-6, err_msg=case)

    prop()
    return _result()


# ------------------------------------------------------------------ layers

@st.composite
def hostile_input(draw, shape: tuple, ids: bool = False, vocab: int = 10):
    """A valid input of ``shape`` in an odd layout, or a damaged one; returns (array, kind)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    good = rng.integers(0, vocab, size=shape) if ids else rng.normal(size=shape).astype(
        draw(st.sampled_from(["float32", "float64"])))
    kind = draw(st.sampled_from(("valid",) * 3 + MUTATIONS + ("long",)))
    if kind == "valid":
        return in_layout(good, draw(st.sampled_from(LAYOUTS))), kind
    if kind == "long":  # a very long sequence
        return np.resize(good, (1, 3000) + shape[2:]), kind
    if ids and kind == "nonfinite":
        bad = good.copy()
        bad.reshape(-1)[0] = draw(st.sampled_from([-1, vocab, 10**12, -2**63]))
        return bad, "bad_ids"
    return mutate(draw, good, kind), kind


def _layers():
    from fastrnn import layers as L

    return {
        "SimpleRNN": (lambda: L.SimpleRNN(4), (3, 5, 2)),
        "SimpleRNN(seq,state,back,dropout)": (
            lambda: L.SimpleRNN(4, return_sequences=True, return_state=True, go_backwards=True,
                                dropout=0.3, recurrent_dropout=0.3, seed=1), (3, 5, 2)),
        "Bidirectional": (lambda: L.Bidirectional(L.SimpleRNN(3, return_sequences=True)), (2, 6, 3)),
        "Embedding": (lambda: L.Embedding(10, 3, mask_zero=True), (2, 7)),
        "Dense": (lambda: L.Dense(3), (4, 5)),
        "Dense(3-D)": (lambda: L.Dense(3), (2, 4, 5)),
        "Dropout": (lambda: L.Dropout(0.5, seed=1), (3, 4)),
        "Masking": (lambda: L.Masking(0.0), (2, 5, 3)),
        "TimeDistributed": (lambda: L.TimeDistributed(L.Dense(2)), (2, 5, 3)),
        "Flatten": (lambda: L.Flatten(), (2, 3, 4)),
        "Activation": (lambda: L.Activation("tanh"), (2, 3)),
    }


def _prop_layers():
    factories = _layers()

    @_settings(300)
    @given(name=st.sampled_from(sorted(factories)), training=st.booleans(), data=st.data(),
           prebuilt=st.booleans())
    def prop(name, training, data, prebuilt):
        make, shape = factories[name]
        layer = make()
        ids = name == "Embedding"
        if prebuilt:  # build on a valid input first, then send the hostile one
            good = np.ones(shape, np.int64 if ids else np.float32)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                layer(good)
        x, kind = data.draw(hostile_input(shape, ids=ids), label="input")
        case = (f"layer {name} prebuilt={prebuilt} training={training} input kind={kind} "
                f"{getattr(x, 'dtype', type(x).__name__)}{getattr(x, 'shape', '')}")
        note(case)
        _count(f"layers.{name.split('(')[0]}")
        before = snapshot({"x": x})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = layer(x, training=training)
        except BaseException as exc:  # noqa: BLE001
            check_error(exc, [], case)
            assert_unchanged(before, {"x": x})
            return
        assert_unchanged(before, {"x": x})
        outs = out if isinstance(out, (list, tuple)) else [out]
        for o in outs:
            expect(isinstance(o, (np.ndarray, np.generic)), f"output is {type(o).__name__} -- {case}")
        if kind == "valid" and not training:
            # the layout must not matter: same layer, contiguous copy, bit-identical result
            ref = layer(contiguous_twin(x))
            refs = ref if isinstance(ref, (list, tuple)) else [ref]
            for o, r in zip(outs, refs):
                expect(same_bits(o, r), f"layout changed the result -- {case}")
        if training and hasattr(layer, "backward"):
            d_kind = data.draw(st.sampled_from(("valid", "valid") + MUTATIONS), label="d_kind")
            good_d = np.ones_like(outs[0])
            d = good_d if d_kind == "valid" else mutate(data.draw, good_d, d_kind)
            if len(outs) > 1:
                d = [d] + [np.ones_like(o) for o in outs[1:]]
            note(case + f" backward d={d_kind}")
            _count(f"layers.{name.split('(')[0]}.backward")
            try:
                layer.backward(d)
            except BaseException as exc:  # noqa: BLE001
                check_error(exc, [], case + f" backward d={d_kind}")

    prop()
    return _result()


# ------------------------------------------------------------------ Sequential

def _seq_model(kind: str):
    from fastrnn import layers as L
    from fastrnn.models import Sequential

    if kind == "ids":
        m = Sequential([L.Embedding(10, 3), L.SimpleRNN(4), L.Dense(1)])
    else:
        m = Sequential([L.SimpleRNN(4, return_sequences=kind == "seq"), L.Dense(1)])
    m.compile(optimizer="sgd", loss="mse")
    return m


def _prop_sequential():
    @_settings(250)
    @given(kind=st.sampled_from(["floats", "seq", "ids"]), method=st.sampled_from(
        ["fit", "predict", "evaluate", "train_on_batch", "predict_on_batch"]),
        target=st.sampled_from(["x", "y", "sample_weight", "batch_size", "epochs",
                                "validation_split", "class_weight", "none"]),
        prebuilt=st.booleans(), data=st.data())
    def prop(kind, method, target, prebuilt, data):
        m = _seq_model(kind)
        shape = (6, 5) if kind == "ids" else (6, 5, 2)
        rng = np.random.default_rng(0)
        x = rng.integers(0, 10, size=shape) if kind == "ids" else rng.normal(size=shape).astype("float32")
        y = rng.normal(size=(6, 5, 1) if kind == "seq" else (6, 1)).astype("float32")
        kw: dict = {"verbose": 0}
        if prebuilt:
            m.predict(x, verbose=0)
        xkind = "valid"
        if target == "x":
            x, xkind = data.draw(hostile_input(shape, ids=kind == "ids"), label="x")
        elif target == "y":
            y, _ = data.draw(hostile_input(y.shape), label="y")
        elif target == "sample_weight" and method in ("fit", "evaluate", "train_on_batch"):
            kw["sample_weight"], _ = data.draw(hostile_input((6,)), label="sample_weight")
        elif target == "batch_size" and method in ("fit", "predict", "evaluate"):
            kw["batch_size"] = data.draw(st.sampled_from([0, -1, 1.5, True, "4", 10**12, None, 1]))
        elif target == "epochs" and method == "fit":
            kw["epochs"] = data.draw(st.sampled_from([0, -1, 1.5, True, "2", 2, None]))
        elif target == "validation_split" and method == "fit":
            kw["validation_split"] = data.draw(st.sampled_from([-0.1, 1.0, 1.5, 0.99, "0.5", np.nan]))
        elif target == "class_weight" and method == "fit":
            kw["class_weight"] = data.draw(st.sampled_from([{0: 1.0}, {"a": 1}, [1, 2], {0: np.nan}]))
        case = (f"Sequential({kind}).{method} prebuilt={prebuilt} hostile {target} "
                f"(x kind={xkind}) kw={ {k: v for k, v in kw.items() if k != 'sample_weight'} }")
        note(case)
        _count(f"Sequential.{method}")
        before = snapshot({"x": x, "y": y})
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if method == "fit":
                    m.fit(x, y, **kw)
                elif method == "evaluate":
                    m.evaluate(x, y, **kw)
                elif method == "train_on_batch":
                    m.train_on_batch(x, y, sample_weight=kw.get("sample_weight"))
                elif method == "predict":
                    kw.pop("sample_weight", None)
                    m.predict(x, **kw)
                else:
                    m.predict_on_batch(x)
        except BaseException as exc:  # noqa: BLE001
            check_error(exc, [], case)
        assert_unchanged(before, {"x": x, "y": y})

    prop()
    return _result()


# ------------------------------------------------------------------ scikit-learn estimators

def _prop_sklearn():
    pytest.importorskip("sklearn")
    from fastrnn.sklearn import RNNClassifier, RNNRegressor, SequenceScaler

    @_settings(120)
    @given(est=st.sampled_from(["clf", "reg", "clf_emb", "scaler"]),
           stage=st.sampled_from(["fit", "predict", "params"]), data=st.data())
    def prop(est, stage, data):
        rng = np.random.default_rng(1)
        emb = est == "clf_emb"
        shape = (8, 6) if emb else (8, 6, 2)
        X = rng.integers(0, 10, size=shape) if emb else rng.normal(size=shape)
        y = np.array([0, 1] * 4) if est.startswith("clf") else rng.normal(size=8)
        params: dict = dict(units=3, epochs=1, batch_size=4, random_state=0) if est != "scaler" else {}
        if emb:
            params["embedding"] = (10, 3)
        hostile = stage
        if stage == "params" and est != "scaler":
            name = data.draw(st.sampled_from(["units", "dropout", "batch_size", "epochs",
                                              "learning_rate", "embedding", "n_threads",
                                              "activation", "optimizer"]))
            params[name] = data.draw(st.sampled_from([0, -1, 1.5, "x", None, (3, 0), np.nan,
                                                      10**9, True, [], (5,)]))
            hostile = f"params {name}={params[name]!r}"
        Xh, kind = X, "valid"
        if stage in ("fit", "predict"):
            Xh, kind = data.draw(hostile_input(shape, ids=emb), label="X")
        if stage == "fit" and data.draw(st.booleans(), label="hostile y"):
            y = data.draw(st.sampled_from([y[:3], y.astype(object), y.astype(str), np.full(8, np.nan),
                                           y[:, None], np.zeros((8, 2, 2)), []]), label="y")
            kind += "+bad y"
        case = f"sklearn {est} {hostile} X kind={kind} {getattr(Xh, 'dtype', type(Xh).__name__)}"
        note(case)
        _count(f"sklearn.{est}.{stage}")
        cls = {"clf": RNNClassifier, "clf_emb": RNNClassifier, "reg": RNNRegressor,
               "scaler": SequenceScaler}[est]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = cls(**params)
                if est == "scaler":
                    model.fit(Xh if stage == "fit" else X)
                    if stage == "predict":
                        model.transform(Xh)
                else:
                    model.fit(Xh if stage == "fit" else X, y)
                    model.predict(Xh if stage == "predict" else X)
        except BaseException as exc:  # noqa: BLE001
            check_error(exc, [], case)

    prop()
    return _result()


# ------------------------------------------------------------------ load_model / load_weights

def _saved_files(tmp: str) -> tuple[str, str]:
    from fastrnn import layers as L
    from fastrnn.models import Sequential

    m = Sequential([L.Input((None, 2)), L.SimpleRNN(3), L.Dense(1)])
    m.compile(optimizer="adam", loss="mse")
    model_path = os.path.join(tmp, "good.keras")
    weights_path = os.path.join(tmp, "good.weights.h5")
    m.save(model_path)
    m.save_weights(weights_path)
    return model_path, weights_path


def _prop_files():
    import tempfile

    from fastrnn import saving

    tmp = tempfile.mkdtemp(prefix="fuzz_files_")
    model_path, weights_path = _saved_files(tmp)
    good_model = open(model_path, "rb").read()
    good_weights = open(weights_path, "rb").read()
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=8)

    def rezip(config: bytes | None, weights: bytes | None) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(good_model)) as src, zipfile.ZipFile(buf, "w") as dst:
            for info in src.infolist():
                body = src.read(info.filename)
                if info.filename == "config.json" and config is not None:
                    body = config
                if info.filename == "weights.npz" and weights is not None:
                    body = weights
                dst.writestr(info.filename, body)
        return buf.getvalue()

    def npz(arrays: dict, pickle: bool = False) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **arrays) if not pickle else np.save(buf, np.array([1, "a"], object),
                                                           allow_pickle=True)
        return buf.getvalue()

    @_settings(200)
    @given(target=st.sampled_from(["model", "weights"]),
           how=st.sampled_from(["truncate", "flip", "random", "config_value", "config_key",
                                "weights_arrays", "pickle", "version", "empty"]),
           data=st.data())
    def prop(target, how, data):
        base = good_model if target == "model" else good_weights
        blob = base
        if how == "truncate":
            blob = base[:data.draw(st.integers(0, len(base) - 1))]
        elif how == "flip":
            b = bytearray(base)
            for i in data.draw(st.lists(st.integers(0, len(b) - 1), min_size=1, max_size=8)):
                b[i] ^= data.draw(st.integers(1, 255))
            blob = bytes(b)
        elif how == "random":
            blob = data.draw(st.binary(max_size=300))
        elif how == "empty":
            blob = b""
        elif how in ("config_value", "config_key") and target == "model":
            cfg = json.loads(zipfile.ZipFile(io.BytesIO(good_model)).read("config.json"))
            path_keys = []
            node = cfg
            while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
                key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict)
                                                else list(range(len(node)))))
                path_keys.append(key)
                if isinstance(node[key], (dict, list)) and node[key]:
                    node = node[key]
                else:
                    break
            if how == "config_key" and isinstance(node, dict) and node:
                node.pop(data.draw(st.sampled_from(sorted(node))))
            elif isinstance(node, dict) and node:
                node[data.draw(st.sampled_from(sorted(node)))] = data.draw(json_values)
            elif isinstance(node, list) and node:
                node[data.draw(st.integers(0, len(node) - 1))] = data.draw(json_values)
            blob = rezip(json.dumps(cfg).encode(), None)
        elif how in ("weights_arrays", "pickle", "version"):
            arrays = {f"arr_{i:04d}": a for i, a in enumerate(
                [np.zeros((2, 3), np.float32), np.zeros((3, 3), np.float32),
                 np.zeros(3, np.float32), np.zeros((3, 1), np.float32), np.zeros(1, np.float32)])}
            if how == "weights_arrays":
                key = data.draw(st.sampled_from(sorted(arrays)))
                arrays[key] = data.draw(st.sampled_from([
                    np.zeros((7,), np.float32), np.array(["a"]), np.zeros((2, 3), complex),
                    np.full((2, 3), np.nan, np.float32), np.zeros((2, 3), bool), np.zeros(()),
                    np.zeros((0, 3), np.float32)]))
                if data.draw(st.booleans()):
                    arrays.pop(data.draw(st.sampled_from(sorted(arrays))))
            if target == "weights":
                arrays["__format_version__"] = np.array(
                    data.draw(st.sampled_from([1, 2, 0, -1])) if how == "version" else 1)
                arrays["__fastrnn_version__"] = np.array("0.1.0")
                blob = npz(arrays, pickle=how == "pickle")
            else:
                blob = rezip(None, npz(arrays, pickle=how == "pickle"))
                if how == "version":
                    cfg = json.loads(zipfile.ZipFile(io.BytesIO(good_model)).read("config.json"))
                    cfg["format_version"] = data.draw(st.sampled_from([2, 0, "1", None, 1.0, True]))
                    blob = rezip(json.dumps(cfg).encode(), None)
        name = "case.keras" if target == "model" else "case.weights.h5"
        path = os.path.join(tmp, name)
        with open(path, "wb") as f:
            f.write(blob)
        case = f"load {target} damaged by {how} ({len(blob)} bytes)"
        note(case)
        _count(f"saving.load_{target}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if target == "model":
                    saving.load_model(path)
                else:
                    m = saving.load_model(model_path)
                    m.load_weights(path)
        except BaseException as exc:  # noqa: BLE001
            byte_level = how in ("truncate", "flip", "random", "empty", "pickle", "version")
            check_error(exc, [path, name] if byte_level else [], case)

    prop()
    return _result()


# ------------------------------------------------------------------ the guarded tests

PROPS = ["_prop_ops_rnn", "_prop_ops_cache", "_prop_ops_embedding", "_prop_layers",
         "_prop_sequential", "_prop_sklearn", "_prop_files"]


@pytest.mark.parametrize("prop", PROPS)
def test_hostile_inputs_never_crash(prop, capsys):
    result = run_guarded("test_fuzz_hostile", prop, timeout=600,
                         env={"OMP_NUM_THREADS": "2"}, address_space_limit=16 * 2**30)
    with capsys.disabled():
        print(f"\n{prop}: {result['cases']} cases, {result['value']}")


def _prop_crash_demo():
    import ctypes

    note("about to dereference NULL")
    ctypes.string_at(0)


def test_crash_guard_reports_the_crashing_case():
    with pytest.raises(CrashDetected) as info:
        run_guarded("test_fuzz_hostile", "_prop_crash_demo", timeout=60)
    assert "SIGSEGV" in str(info.value) and "about to dereference NULL" in str(info.value)


# ------------------------------------------------------------------ known problems (lead)

def _prop_huge_thread_count():
    """num_threads far above what the OS can start: must raise, not segfault in libgomp."""
    from fastrnn import ops

    x = np.ones((4, 3, 2), np.float32)
    k = np.ones((2, 5), np.float32)
    r = np.eye(5, dtype=np.float32)
    for n in (10**5, 10**6):
        note(f"simple_rnn_forward(input_dropout_mask=ones, num_threads={n})")
        try:
            ops.simple_rnn_forward(x, k, r, input_dropout_mask=np.ones((4, 2), np.float32),
                                   num_threads=n)
        except ALLOWED:
            pass
        note(f"embedding_forward(N=4096, num_threads={n})")
        try:
            ops.embedding_forward(np.zeros((64, 64), np.int64), np.ones((3, 4), np.float32),
                                  num_threads=n)
        except ALLOWED:
            pass
    return "no crash"


def test_huge_thread_count_does_not_crash():
    """Regression: num_threads=10**5 used to reach `omp parallel num_threads(n)` uncapped
    (input dropout, embedding) and libgomp segfaulted creating the threads."""
    run_guarded("test_fuzz_hostile", "_prop_huge_thread_count", timeout=300)


def test_num_threads_nan_message_names_the_argument():
    """Regression: num_threads=nan gave 'cannot convert float NaN to integer'."""
    from fastrnn import ops

    with pytest.raises(ValueError, match="num_threads"):
        ops.simple_rnn_forward(np.ones((1, 1, 1)), np.ones((1, 1)), np.ones((1, 1)),
                               num_threads=float("nan"))


@pytest.mark.parametrize("input_dim", [None, "abc", 2**62])
def test_embedding_backward_input_dim_errors_name_it(input_dim):
    """Regression: int(input_dim) errors and numpy's 'array is too big' did not name it."""
    from fastrnn import ops

    with pytest.raises((TypeError, ValueError, MemoryError)) as info:
        ops.embedding_backward(np.zeros((2, 3), np.int64), np.ones((2, 3, 4)), input_dim)
    message = str(info.value)
    assert "input_dim" in message or (info.type is MemoryError and "GiB" in message), message
