"""Data preprocessing utilities mirroring ``keras.utils`` / ``keras.preprocessing``."""

from __future__ import annotations

from . import sequence
from .sequence import pad_sequences

__all__ = ["pad_sequences", "sequence"]
