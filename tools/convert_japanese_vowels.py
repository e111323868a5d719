#!/usr/bin/env python3
"""Convert the Japanese Vowels ``.ts`` files into the compact ``japanese_vowels.npz`` shipped
with fastrnn.

Usage::

    python tools/convert_japanese_vowels.py [TRAIN.ts TEST.ts] [-o OUT.npz]

Without file arguments the raw files are read from ``../shared/data/japanese_vowels/`` next to
the repository. The output holds, for each split ``s`` in ``train``/``test``:

* ``s_values``: float32 ``(sum(lengths), 12)``, all frames of all cases concatenated in file order;
* ``s_lengths``: int16 ``(n,)``, frames per case;
* ``s_labels``: uint8 ``(n,)``, speaker labels shifted from the raw 1..9 to 0..8.

It is written with ``np.savez_compressed`` and contains no object arrays (loadable with
``allow_pickle=False``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Tuple

import numpy as np

N_DIMS = 12
REPO = Path(__file__).resolve().parents[1]
DEFAULT_RAW = REPO.parent / "shared" / "data" / "japanese_vowels"
DEFAULT_OUT = REPO / "src" / "fastrnn" / "datasets" / "data" / "japanese_vowels.npz"


def parse_ts(path: Path) -> Tuple[List[np.ndarray], List[int]]:
    """Parse a multivariate ``.ts`` file into ``(len_i, 12)`` float64 cases and raw labels."""
    cases: List[np.ndarray] = []
    labels: List[int] = []
    in_data = False
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                in_data = line.lower().startswith("@data")
                continue
            if not in_data:
                raise ValueError(f"{path}:{lineno}: data line before @data")
            parts = line.split(":")
            if len(parts) != N_DIMS + 1:
                raise ValueError(f"{path}:{lineno}: expected {N_DIMS} dimensions and a label, "
                                 f"found {len(parts)} fields")
            dims = [np.array([float(v) for v in p.split(",")]) for p in parts[:N_DIMS]]
            if len({d.size for d in dims}) != 1:
                raise ValueError(f"{path}:{lineno}: dimensions have different lengths")
            cases.append(np.stack(dims, axis=1))
            labels.append(int(parts[N_DIMS]))
    return cases, labels


def pack(cases: List[np.ndarray], labels: List[int]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate cases into (values float32, lengths int16, labels uint8 in 0..8)."""
    values = np.concatenate(cases, axis=0).astype(np.float32)
    lengths = np.array([c.shape[0] for c in cases], dtype=np.int16)
    lab = np.array(labels, dtype=np.int64) - 1
    if lab.min() < 0 or lab.max() > 8:
        raise ValueError(
            f"labels must be 1..9 in the raw file; got {lab.min() + 1}..{lab.max() + 1}")
    return values, lengths, lab.astype(np.uint8)


def main(argv: "List[str] | None" = None) -> None:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train", nargs="?", type=Path, default=DEFAULT_RAW / "JapaneseVowels_TRAIN.ts")
    ap.add_argument("test", nargs="?", type=Path, default=DEFAULT_RAW / "JapaneseVowels_TEST.ts")
    ap.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    arrays = {}
    for split, path in (("train", args.train), ("test", args.test)):
        values, lengths, labels = pack(*parse_ts(path))
        arrays[f"{split}_values"] = values
        arrays[f"{split}_lengths"] = lengths
        arrays[f"{split}_labels"] = labels
        print(f"{split}: {lengths.size} cases, lengths {lengths.min()}..{lengths.max()}, "
              f"{values.shape[0]} frames")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.output, **arrays)
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
