"""Regenerate the Keras golden files ``tests/data/golden_*.npz`` (run by hand, not a test).

    KERAS_BACKEND=torch COLUMNS=200 python tests/make_golden.py

Needs Keras 3.15.x (torch backend, CPU). For each small model it stores a JSON description
(layers, compile and fit arguments), the initial weights (``get_weights()``), inputs, labels,
``predict`` outputs before and after one epoch of ``fit(shuffle=False)``, the weights after that
epoch, the History, and the ``summary()`` text before and after fitting. A header records the
versions used. ``golden_summaries.npz`` holds Keras's summaries of the lecture models (§7.1).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras  # noqa: E402

OUT = Path(__file__).resolve().parent / "data"

# Each spec: layers as [class_name, kwargs] (Bidirectional wraps one such pair), the input
# shape without the batch axis and its dtype, compile/fit arguments, and how to make data.
SPECS = {
    "lecture": {
        "input": [[10], "int32"],
        "layers": [["Embedding", {"input_dim": 30, "output_dim": 8}],
                   ["SimpleRNN", {"units": 8}],
                   ["Dense", {"units": 1, "activation": "sigmoid"}]],
        "compile": {"optimizer": "rmsprop", "loss": "binary_crossentropy", "metrics": ["acc"]},
        "fit": {"batch_size": 16, "epochs": 1, "shuffle": False},
        "data": "ids_binary",
    },
    "stacked": {
        "input": [[7, 3], "float32"],
        "layers": [["SimpleRNN", {"units": 6, "return_sequences": True}],
                   ["SimpleRNN", {"units": 5}],
                   ["Dense", {"units": 1}]],
        "compile": {"optimizer": "rmsprop", "loss": "mse", "metrics": ["mae"]},
        "fit": {"batch_size": 10, "epochs": 1, "shuffle": False},
        "data": "float_regression",
    },
    "bidirectional": {
        "input": [[9], "int32"],
        "layers": [["Embedding", {"input_dim": 25, "output_dim": 6}],
                   ["Bidirectional", {"layer": ["SimpleRNN", {"units": 5}]}],
                   ["Dense", {"units": 3, "activation": "softmax"}]],
        "compile": {"optimizer": "rmsprop", "loss": "sparse_categorical_crossentropy",
                    "metrics": ["acc"]},
        "fit": {"batch_size": 12, "epochs": 1, "shuffle": False},
        "data": "ids_three_classes",
    },
    "masked": {
        "input": [[8], "int32"],
        "layers": [["Embedding", {"input_dim": 20, "output_dim": 6, "mask_zero": True}],
                   ["SimpleRNN", {"units": 7, "return_sequences": True}],
                   ["SimpleRNN", {"units": 4}],
                   ["Dense", {"units": 1, "activation": "sigmoid"}]],
        "compile": {"optimizer": "rmsprop", "loss": "binary_crossentropy", "metrics": ["acc"]},
        "fit": {"batch_size": 16, "epochs": 1, "shuffle": False},
        "data": "padded_ids_binary",
    },
    "masked_sequence": {
        "input": [[6], "int32"],
        "layers": [["Embedding", {"input_dim": 15, "output_dim": 5, "mask_zero": True}],
                   ["SimpleRNN", {"units": 6, "return_sequences": True}],
                   ["Dense", {"units": 1, "activation": "sigmoid"}]],
        "compile": {"optimizer": "rmsprop", "loss": "binary_crossentropy", "metrics": ["acc"]},
        "fit": {"batch_size": 8, "epochs": 1, "shuffle": False},
        "data": "padded_ids_per_step",
    },
}

# Lecture variants of keras-semantics §7.1 (name -> layers), built with (None, 500).
LECTURE_SUMMARIES = {
    "rnn_only": [["Embedding", {"input_dim": 10000, "output_dim": 32}],
                 ["SimpleRNN", {"units": 32}]],
    "four_rnn": [["Embedding", {"input_dim": 10000, "output_dim": 32}],
                 ["SimpleRNN", {"units": 32, "return_sequences": True}],
                 ["SimpleRNN", {"units": 32, "return_sequences": True}],
                 ["SimpleRNN", {"units": 32, "return_sequences": True}],
                 ["SimpleRNN", {"units": 32}]],
    "lecture": [["Embedding", {"input_dim": 10000, "output_dim": 32}],
                ["SimpleRNN", {"units": 32}],
                ["Dense", {"units": 1, "activation": "sigmoid"}]],
    "bidirectional": [["Embedding", {"input_dim": 10000, "output_dim": 32}],
                      ["Bidirectional", {"layer": ["SimpleRNN", {"units": 32}]}],
                      ["Dense", {"units": 1, "activation": "sigmoid"}]],
}


def make_layer(spec):
    """A Keras layer from ``[class_name, kwargs]``."""
    name, kwargs = spec
    kwargs = dict(kwargs)
    if name == "Bidirectional":
        return keras.layers.Bidirectional(make_layer(kwargs.pop("layer")), **kwargs)
    return getattr(keras.layers, name)(**kwargs)


def make_data(kind: str, shape: list, rng: np.random.Generator):
    n = 40 if kind != "padded_ids_per_step" else 24
    if kind == "ids_binary":
        x = rng.integers(1, 30, size=(n, *shape)).astype("int32")
        y = (x[:, :5].sum(1) > x[:, 5:].sum(1)).astype("float32")
    elif kind == "float_regression":
        x = rng.normal(size=(n, *shape)).astype("float32")
        y = (x[:, :, 0].sum(1, keepdims=True) * 0.3).astype("float32")
    elif kind == "ids_three_classes":
        x = rng.integers(1, 25, size=(n, *shape)).astype("int32")
        y = (x.sum(1) % 3).astype("int32")
    elif kind == "padded_ids_binary":
        x = rng.integers(1, 20, size=(n, *shape)).astype("int32")
        lengths = rng.integers(2, shape[0] + 1, size=n)
        for i, ln in enumerate(lengths):
            if i % 2:  # post-padding
                x[i, ln:] = 0
            else:  # pre-padding
                x[i, :shape[0] - ln] = 0
        y = (x.sum(1) > 9 * lengths).astype("float32")
    elif kind == "padded_ids_per_step":
        x = rng.integers(1, 15, size=(n, *shape)).astype("int32")
        lengths = rng.integers(2, shape[0] + 1, size=n)
        for i, ln in enumerate(lengths):
            x[i, ln:] = 0
        y = (x > 7).astype("float32")[..., None]
    else:  # pragma: no cover
        raise ValueError(kind)
    return x, y


def summary_text(model) -> str:
    lines = []
    model.summary(print_fn=lines.append)
    return "".join(lines)


def make_model(spec):
    shape, dtype = spec["input"]
    model = keras.Sequential([keras.Input(shape=tuple(shape), dtype=dtype)]
                             + [make_layer(s) for s in spec["layers"]])
    return model


def header() -> dict:
    import torch

    return {
        "keras_version": np.array(keras.__version__),
        "backend": np.array(keras.backend.backend()),
        "torch_version": np.array(torch.__version__),
        "numpy_version": np.array(np.__version__),
        "generated_by": np.array("tests/make_golden.py"),
    }


def golden(name: str, spec: dict, seed: int) -> dict:
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = make_model(spec)
    model.compile(**spec["compile"])
    x, y = make_data(spec["data"], spec["input"][0], np.random.default_rng(seed))
    out = {"spec": np.array(json.dumps(spec)), "x": x, "y": y,
           "summary_before": np.array(summary_text(model))}
    w0 = model.get_weights()
    out["pred_before"] = model.predict(x, verbose=0)
    hist = model.fit(x, y, verbose=0, **spec["fit"])
    out["pred_after"] = model.predict(x, verbose=0)
    out["summary_after"] = np.array(summary_text(model))
    out["history"] = np.array(json.dumps(hist.history))
    for i, w in enumerate(w0):
        out[f"w0_{i}"] = w
    for i, w in enumerate(model.get_weights()):
        out[f"w1_{i}"] = w
    out["n_weights"] = np.array(len(w0))
    return out


def lecture_summaries() -> dict:
    out = {}
    for name, layer_specs in LECTURE_SUMMARIES.items():
        keras.backend.clear_session()
        model = keras.Sequential([make_layer(s) for s in layer_specs])
        out[f"{name}_unbuilt"] = np.array(summary_text(model))
        model.build((None, 500))
        out[f"{name}_built"] = np.array(summary_text(model))
        out[f"{name}_params"] = np.array(model.count_params())
    return out


def main() -> int:
    if not keras.__version__.startswith("3.15"):
        print(f"warning: golden files are meant for Keras 3.15.x, found {keras.__version__}")
    if os.environ.get("COLUMNS") != "200":
        print("error: run with COLUMNS=200 so summaries use Keras's default 88-column width")
        return 1
    OUT.mkdir(exist_ok=True)
    for seed, (name, spec) in enumerate(SPECS.items(), start=11):
        data = {**header(), **golden(name, spec, seed)}
        path = OUT / f"golden_{name}.npz"
        np.savez_compressed(path, **data)
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    path = OUT / "golden_summaries.npz"
    np.savez_compressed(path, **header(), **lecture_summaries())
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
