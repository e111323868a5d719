"""Data sets mirroring ``keras.datasets``: ``japanese_vowels`` (shipped with the package) and
``imdb`` (downloaded on first use from the public files Keras uses, then cached)."""

from __future__ import annotations

from . import imdb, japanese_vowels

__all__ = ["imdb", "japanese_vowels"]
