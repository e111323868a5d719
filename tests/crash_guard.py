"""Run test code in a child process so that a crash (segfault, abort, OOM kill) fails the
test with the case that caused it instead of killing pytest.

Usage from a test::

    from crash_guard import run_guarded
    result = run_guarded("test_fuzz_hostile", "_prop_ops_forward", timeout=120)

The child imports ``module`` from the tests folder and calls ``function()``. While it runs,
the code under test calls :func:`note` before each case with a short description; the
child appends it to a progress file. When the child dies by a signal (or exits without
reporting), :class:`CrashDetected` is raised with the signal, the last noted case and the
child's stderr (faulthandler's traceback). A normal exception in the child is re-raised in
the parent as ``AssertionError`` carrying the child's traceback. On success the function's
JSON-able return value is returned, and the number of ``note`` calls is in ``result["cases"]``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from typing import Any

_TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
_PROGRESS_ENV = "FASTRNN_CRASH_GUARD_PROGRESS"
_progress_file = None
_count = 0

__all__ = ["CrashDetected", "run_guarded", "note", "noted_cases"]


class CrashDetected(AssertionError):
    """The child process died without reporting: a crash in the code under test."""


def note(description: str) -> None:
    """Record the case about to run (a no-op cost outside a guarded child, apart from counting)."""
    global _progress_file, _count
    _count += 1
    path = os.environ.get(_PROGRESS_ENV)
    if not path:
        return
    if _progress_file is None:
        _progress_file = open(path, "a", buffering=1, encoding="utf-8")
    # One line per case, flushed before the case runs: the last line names a crashing case.
    _progress_file.write(description.replace("\n", " ")[:2000] + "\n")
    _progress_file.flush()


def noted_cases() -> int:
    """How many cases :func:`note` has recorded in this process."""
    return _count


def _limit_address_space(limit_bytes: int | None) -> None:
    if limit_bytes:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))


_CHILD = r"""
import faulthandler, importlib, json, sys, traceback
faulthandler.enable()
sys.path.insert(0, {tests!r})
import crash_guard
crash_guard._limit_address_space({limit!r})
out = {out!r}
try:
    mod = importlib.import_module({module!r})
    value = getattr(mod, {function!r})()
    report = {{"ok": True, "value": value, "cases": crash_guard.noted_cases()}}
except BaseException:
    report = {{"ok": False, "error": traceback.format_exc(), "cases": crash_guard.noted_cases()}}
with open(out, "w", encoding="utf-8") as f:
    json.dump(report, f, default=repr)
"""


def _signal_name(returncode: int) -> str:
    if returncode < 0:
        try:
            return signal.Signals(-returncode).name
        except ValueError:
            return f"signal {-returncode}"
    return f"exit status {returncode}"


def run_guarded(module: str, function: str, *, timeout: float = 300,
                env: dict[str, str] | None = None,
                address_space_limit: int | None = None) -> dict[str, Any]:
    """Run ``module.function()`` (module in the tests folder) in a child Python.

    ``env`` adds environment variables; ``address_space_limit`` (bytes) sets RLIMIT_AS in the
    child so that a runaway allocation fails instead of waking the OOM killer.
    Returns ``{"value": <return value>, "cases": <note() calls>}``.
    """
    with tempfile.TemporaryDirectory(prefix="crash_guard_") as tmp:
        progress = os.path.join(tmp, "progress.txt")
        out = os.path.join(tmp, "result.json")
        code = _CHILD.format(tests=_TESTS_DIR, module=module, function=function, out=out,
                             limit=address_space_limit)
        child_env = dict(os.environ)
        child_env.update(env or {})
        child_env[_PROGRESS_ENV] = progress
        child_env.setdefault("PYTHONFAULTHANDLER", "1")
        try:
            proc = subprocess.run([sys.executable, "-c", code], env=child_env, cwd=tmp,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise CrashDetected(
                f"{module}.{function} hung for more than {timeout} s; last case: "
                f"{_last_line(progress)}\nstderr:\n{_tail(exc.stderr)}") from None
        if not os.path.exists(out):
            raise CrashDetected(
                f"{module}.{function} crashed ({_signal_name(proc.returncode)}) after "
                f"{_line_count(progress)} cases; the crashing case:\n  {_last_line(progress)}\n"
                f"stderr:\n{_tail(proc.stderr)}")
        with open(out, encoding="utf-8") as f:
            report = json.load(f)
    if not report["ok"]:
        raise AssertionError(
            f"{module}.{function} failed in the child process after {report['cases']} cases:\n"
            f"{report['error']}\nchild stderr:\n{_tail(proc.stderr)}")
    return {"value": report["value"], "cases": report["cases"]}


def _tail(text: Any, n: int = 6000) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return (text or "")[-n:]


def _last_line(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return "<no case started>"
    return lines[-1] if lines else "<no case started>"


def _line_count(path: str) -> int:
    try:
        with open(path, encoding="utf-8") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0
