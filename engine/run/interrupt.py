"""A Ctrl-C (SIGINT) or a SIGTERM is never lost, and a SIGTERM stops a run as Ctrl-C does.

Python raises KeyboardInterrupt wherever the main thread is when SIGINT arrives; inside a
finalizer (a `__del__`, a weakref or garbage-collector callback) it cannot propagate: Python
prints "Exception ignored in ..." with a traceback and goes on, and a run would archive the last
run's files and finish with exit 0 as if no key had been pressed. A SIGTERM (`kill PID`, a
supervisor stopping the engine) would end the process at once, without the resume command and
with a start's archived files not put back.

While `deferred()` is active, SIGTERM raises `Terminated` (a KeyboardInterrupt: every place that
handles Ctrl-C handles it too), every signal is recorded where it arrives, and one that a
finalizer swallowed prints nothing; `check()` raises it again at a point where the run handles
Ctrl-C (engine/commands/run.py: the exit status `exit_code` gives, the resume hint, a start's
files put back). Inside `held()` a signal is only recorded, for the next check(): a few file moves
that must happen all or none. Once an interrupt is raised, later signals are only recorded too: the
code that handles it (closing files, putting archived ones back) must run to its end, and a second
Ctrl-C could land where no held() covers it (between an `except` and its `with held()`).
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

_pending = 0  # the signal (SIGINT, SIGTERM) that arrived and no check() has raised yet; 0: none
_held = False  # inside held(): record a signal, raise it when the block ends
_raised = False  # an interrupt was raised and is being handled: record later signals, raise none


class Terminated(KeyboardInterrupt):
    """A SIGTERM, stopping the run as a Ctrl-C does."""


def exit_code(e: KeyboardInterrupt) -> int:
    """128 + the signal's number, as a shell reports a process the signal ended: 130 for Ctrl-C,
    143 for SIGTERM (engine/cli.py's table)."""
    return 128 + _signal_of(e)


def stopped(e: KeyboardInterrupt) -> str:
    """What stopped the run, in words, to begin its message with."""
    return "interrupted by SIGTERM" if isinstance(e, Terminated) else "interrupted"


def check() -> None:
    """Raise the interrupt of a signal not yet acted on, once; call it where a run can stop."""
    global _pending
    if _pending:
        signum, _pending = _pending, 0
        _raise(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """For the block's duration, record each SIGINT and SIGTERM (their interrupts are raised as
    usual) and silence the traceback of one a finalizer could not raise; the process's handlers
    come back after."""
    global _pending, _raised
    _pending, _raised = 0, False
    hook = sys.unraisablehook
    sys.unraisablehook = _silencing_hook(hook)
    replaced = _own_signals()
    try:
        yield
    finally:
        sys.unraisablehook = hook
        for signum, handler in replaced.items():
            signal.signal(signum, handler)
        _pending, _raised = 0, False


@contextmanager
def held() -> Iterator[None]:
    """The block runs to its end whatever signal deferred() owns arrives: the signal is only
    recorded, and the caller's next check() raises it, where it can undo the block whole."""
    global _held
    outer, _held = _held, True
    try:
        yield
    finally:
        _held = outer


def _signal_of(e: BaseException | type[BaseException]) -> int:
    kind = e if isinstance(e, type) else type(e)
    return signal.SIGTERM if issubclass(kind, Terminated) else signal.SIGINT


def _silencing_hook(previous: Hook) -> Hook:
    """An unraisable hook that records an interrupt silently (check() raises it) and passes
    anything else to `previous`."""
    def hook(unraisable: Any) -> None:
        global _pending, _raised
        if issubclass(unraisable.exc_type, KeyboardInterrupt):  # never raised after all: the next signal may be
            _pending, _raised = _signal_of(unraisable.exc_type), False
        else:
            previous(unraisable)
    return hook


# The handler each signal must have for deferred() to take it over: another one (a SIGINT ignored
# by a background job, a handler of the embedding program) stays as it is.
_DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}


def _own_signals() -> dict[int, Any]:
    """Put _on_signal in place of Python's default SIGINT and SIGTERM handling; returns the
    handlers replaced. Only the main thread may set one (an in-process caller on another thread
    leaves them alone)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {signum: signal.signal(signum, _on_signal) for signum, default in _DEFAULTS.items()
            if signal.getsignal(signum) is default}


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    """Python's default SIGINT handler, for SIGTERM too, remembering the signal: an interrupt that
    a library's `except BaseException` drops would leave nothing for the unraisable hook to see.
    Inside held(), or while an interrupt raised earlier is handled, it is only remembered."""
    global _pending
    _pending = signum
    if not (_held or _raised):
        _raise(signum)


def _raise(signum: int) -> None:
    """Raise the signal's interrupt; until deferred() ends, later signals are only recorded."""
    global _raised
    _raised = True
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
