"""``python -m fastrnn._bench``: the same as ``python -m fastrnn bench``."""

from __future__ import annotations

import sys

from . import main

raise SystemExit(main(sys.argv[1:]))
