"""A Ctrl-C is never lost. Python raises KeyboardInterrupt wherever the main thread is when SIGINT
arrives; inside a finalizer (a `__del__`, a weakref or garbage-collector callback) it cannot
propagate: Python prints "Exception ignored in ..." with a traceback and goes on, and a run would
archive the last run's files and finish with exit 0 as if no key had been pressed.

While `deferred()` is active, every SIGINT is recorded where it arrives and one that a finalizer
swallowed prints nothing; `check()` raises it again at a point where the run handles Ctrl-C
(engine/commands/run.py: exit 130, the resume hint, a start's files put back).
"""
from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

Hook = Callable[[Any], None]  # sys.unraisablehook's type: it takes sys.UnraisableHookArgs

_pending = False  # a SIGINT arrived that no check() has raised yet


def check() -> None:
    """Raise the KeyboardInterrupt of a Ctrl-C not yet acted on, once; call it where a run can stop."""
    global _pending
    if _pending:
        _pending = False
        raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """For the block's duration, record each SIGINT (its KeyboardInterrupt is raised as usual) and
    silence the traceback of one a finalizer could not raise; the process's handlers come back after."""
    global _pending
    _pending = False
    hook = sys.unraisablehook
    sys.unraisablehook = _silencing_hook(hook)
    handler = _own_sigint()
    try:
        yield
    finally:
        sys.unraisablehook = hook
        if handler is not None:
            signal.signal(signal.SIGINT, handler)
        _pending = False


def _silencing_hook(previous: Hook) -> Hook:
    """An unraisable hook that records a KeyboardInterrupt silently (check() raises it) and passes
    anything else to `previous`."""
    def hook(unraisable: Any) -> None:
        global _pending
        if issubclass(unraisable.exc_type, KeyboardInterrupt):
            _pending = True
        else:
            previous(unraisable)
    return hook


def _own_sigint() -> Any:
    """Put _on_sigint in place of Python's default SIGINT handler; returns the handler replaced, or
    None when left alone: a SIGINT ignored (a background job's) or handled by the embedding program
    stays so, and only the main thread may set one (an in-process caller on another thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return None
    return signal.signal(signal.SIGINT, _on_sigint)


def _on_sigint(_signum: int, _frame: FrameType | None) -> None:
    """Python's default handler, remembering the signal: a KeyboardInterrupt that a library's
    `except BaseException` drops would leave nothing for the unraisable hook to see."""
    global _pending
    _pending = True
    raise KeyboardInterrupt
