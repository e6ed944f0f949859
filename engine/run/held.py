"""The files a run writes its state to, as they were when it opened them. A file removed or
replaced under a running engine (an operator's `rm`, a restore from backup) is still open, so
every write goes on succeeding into a file no one can read again: the run would trade on and
exit 0 with its state gone. Checked at each checkpoint, which then stops the run."""
from __future__ import annotations

import os
from pathlib import Path


class FileReplaced(RuntimeError):
    """A held file is gone or is another file now; the message says which, and what to do."""


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class HeldFiles:
    def __init__(self, files: dict[str, Path | None]) -> None:
        """`files`: what each file is, in words -> its path (None: not a file, say an in-memory
        or server store, which has nothing to check)."""
        self._held = {what: (path, _identity(path)) for what, path in files.items() if path is not None}

    def check(self) -> None:
        for what, (path, was) in self._held.items():
            now = _identity(path)
            if now != was:
                how = "removed" if now is None else "replaced by another file"
                raise FileReplaced(
                    f"{what} {path} was {how} while the run was writing to it: what the run did since it "
                    "opened the file is in no file anyone can read. The run stopped. Start a fresh run "
                    "(the venue's and the store's state no longer agree with any checkpoint)")
