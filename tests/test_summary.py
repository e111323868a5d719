"""summary(): Keras 3.15's table (borders, widths, alignment, counts, sizes, optimizer line).

Exact whole-table comparisons against Keras live in test_keras_golden.py (stored output) and
test_keras_parity_live.py (live Keras, several widths); these tests pin the pieces.
"""

from __future__ import annotations

import numpy as np
import pytest

from fastrnn import layers
from fastrnn.layers import reset_name_counters
from fastrnn.models import Sequential
from fastrnn.models.summary import format_shape, readable_memory_size


@pytest.fixture(autouse=True)
def _setup(monkeypatch):
    reset_name_counters()
    monkeypatch.setenv("COLUMNS", "200")


def _lecture() -> Sequential:
    return Sequential([layers.Embedding(10000, 32), layers.SimpleRNN(32),
                       layers.Dense(1, activation="sigmoid")])


def _text(model, **kw) -> str:
    out = []
    model.summary(print_fn=out.append, **kw)
    assert len(out) == 1  # Keras 3 hands the whole text to print_fn at once
    return out[0]


@pytest.mark.parametrize("nbytes,text", [
    (0, "0.00 B"), (1023, "1023.00 B"), (1024, "1.00 KB"), (322_113 * 4, "1.23 MB"),
    (644_228 * 4, "2.46 MB"), (3 * 1024**3, "3.00 GB"),
])
def test_readable_memory_size_1024_units(nbytes, text):
    assert readable_memory_size(nbytes) == text


def test_format_shape():
    assert format_shape((None, 500, 32)) == "(None, 500, 32)"
    assert format_shape([(None, 32), (None, 32)]) == "[(None, 32), (None, 32)]"
    assert format_shape([(None, 4)]) == "(None, 4)"


def test_unbuilt_rows_and_totals():
    text = _text(_lecture())
    lines = text.splitlines()
    assert lines[0] == 'Model: "sequential"'
    rows = [row for row in lines if row.startswith("│")]
    assert len(rows) == 3
    for row in rows:
        cells = [c.strip() for c in row.strip("│").split("│")]
        assert cells[1] == "?" and cells[2] == "0 (unbuilt)"
    assert lines[-3:] == [" Total params: 0 (0.00 B)", " Trainable params: 0 (0.00 B)",
                          " Non-trainable params: 0 (0.00 B)"]


def test_built_lecture_rows_right_aligned_with_separators():
    m = _lecture()
    m.build((None, 500))
    lines = _text(m).splitlines()
    rows = [row for row in lines if row.startswith("│")]
    assert rows[0] == ("│ embedding (Embedding)                │ (None, 500, 32)             │"
                       "         320,000 │")
    assert rows[1].endswith("│           2,080 │") and rows[2].endswith("│              33 │")
    assert all(len(line) == 88 for line in lines[1:-3])  # Keras's default width
    assert lines[1].startswith("┏") and lines[3].startswith("┡") and lines[-4].startswith("└")
    assert lines[-3:] == [" Total params: 322,113 (1.23 MB)",
                          " Trainable params: 322,113 (1.23 MB)",
                          " Non-trainable params: 0 (0.00 B)"]


def test_optimizer_params_line_after_training_counts_in_total():
    m = _lecture()
    m.build((None, 500))
    m.compile("rmsprop", "binary_crossentropy", metrics=["acc"])
    assert "Optimizer params" not in _text(m)  # compiled but the optimizer is not built yet
    ids = np.random.default_rng(0).integers(1, 10000, size=(2, 500))
    m.train_on_batch(ids, np.array([0.0, 1.0], np.float32))
    lines = _text(m).splitlines()
    assert lines[-4:] == [" Total params: 644,228 (2.46 MB)",
                          " Trainable params: 322,113 (1.23 MB)",
                          " Non-trainable params: 0 (0.00 B)",
                          " Optimizer params: 322,115 (1.23 MB)"]


def test_non_trainable_and_float64_sizes():
    m = Sequential([layers.Input(shape=(3, 2)), layers.SimpleRNN(4, dtype="float64"),
                    layers.Dense(1, dtype="float64", trainable=False)])
    lines = _text(m).splitlines()
    assert lines[-3:] == [" Total params: 33 (264.00 B)", " Trainable params: 28 (224.00 B)",
                          " Non-trainable params: 5 (40.00 B)"]


def test_line_length_and_narrow_terminal(monkeypatch):
    m = _lecture()
    m.build((None, 500))
    assert {len(line) for line in _text(m, line_length=60).splitlines()[1:-3]} == {60}
    monkeypatch.setenv("COLUMNS", "80")  # Keras: min(88, columns - 4)
    assert {len(line) for line in _text(m).splitlines()[1:-3]} == {76}


def test_summary_prints_to_stdout(capsys):
    m = _lecture()
    m.summary()
    out = capsys.readouterr().out
    assert out.startswith('Model: "sequential"\n')
    assert out.endswith("Non-trainable params: 0 (0.00 B)\n")


def test_unsupported_summary_options_are_explicit():
    with pytest.raises(NotImplementedError, match="expand_nested"):
        _lecture().summary(expand_nested=True)
    with pytest.raises(TypeError, match="unexpected"):
        _lecture().summary(colour=True)
