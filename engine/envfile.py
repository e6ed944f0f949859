"""The `.env` file: settings and secrets (ENGINE_DB_URL...) kept out of the shell's history.

The `engine` command reads `.env` in the current directory (the folder relative paths such as
var/engine.db and runs/ are read from, and the one a resume command `cd`s back to), once,
before a command runs; not the repo root nor any parent folder, so a file is only ever read
where the user stands. The real environment wins over the file (python-dotenv's
override=False): an exported ENGINE_DB_URL beats the file's.

The live opt-in is the exception: a file left in a folder must not turn a paper run live, so
ENABLE_LIVE_TRADING in `.env` is never loaded and a one-line warning says so. A line
python-dotenv cannot parse fails closed (the store URL may be on it: without it the engine
would use another store), at `.env:LINE:1`. Nothing here prints a value: they may be secrets.
PYTHON_DOTENV_DISABLED=1 (python-dotenv's own switch) reads no file.
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

from engine.diagnostics import Diagnostic, Pos, Severity, SpecError
from engine.run.optin import ENV_VAR as LIVE

NAME = ".env"
DISABLE = "PYTHON_DOTENV_DISABLED"  # load_dotenv honours it too; checked first so a disabled file is not parsed
SYNTAX_HINT = ("write one NAME=value a line (`export NAME=value` and `# comments` are fine); quote a value "
               "holding spaces, quotes or # (NAME=\"a value\"), and close every quote")


def load(folder: Path | None = None) -> list[Diagnostic]:
    """Put `.env`'s settings (in `folder`, default the current directory) into os.environ where
    the environment has none; the warnings to show. SpecError for a file that cannot be read."""
    path = (folder or Path()) / NAME
    if _disabled() or not _present(path):
        return []
    from dotenv import load_dotenv
    from dotenv.parser import parse_stream

    bindings = list(parse_stream(io.StringIO(_text(path))))
    bad = [(b.original.line, why) for b in bindings if (why := _refused(b)) is not None]
    if bad:  # the line's text is not shown: it may hold a secret
        raise SpecError([_at(line, Severity.ERROR, "ENV_FILE_SYNTAX", why, SYNTAX_HINT) for line, why in bad])
    kept = "".join(b.original.string for b in bindings if b.key != LIVE)
    new = {b.key for b in bindings if b.key and b.key != LIVE and b.key not in os.environ}
    load_dotenv(stream=io.StringIO(kept), override=False)
    _loaded.update((key, os.environ.get(key)) for key in new)  # as loaded: ${VAR} expanded
    return [_at(b.original.line, Severity.WARNING, "ENV_FILE_LIVE_IGNORED",
                f"{LIVE} is ignored here: a file cannot arm live trading; export {LIVE}=1 in the shell that "
                "runs the engine to opt in") for b in bindings if b.key == LIVE]


def _refused(b: Any) -> str | None:
    """Why a parsed line cannot be loaded as NAME=value, or None. python-dotenv passes over a bare
    `NAME` (no value: left unset) and a name no variable can have (`"NAME"=...`, a zero-width
    space), and os.environ refuses a NUL byte: each would leave a setting out, or stop the command
    with a traceback, where the line may be the store's."""
    if b.error:
        return "cannot read this line as NAME=value"
    if b.key is None or b.key == LIVE:
        return None  # a blank or comment line; the live opt-in is never loaded (a warning says so)
    if not _VARIABLE.fullmatch(b.key):
        return "the name before `=` is not a variable name (letters, digits and _, not starting with a digit)"
    if b.value is None:  # not named: a value that slipped onto a line of its own reads as a name
        return "a line with no `=value`: it would be left unset"
    return "the value holds a NUL byte, which no environment variable can" if "\0" in b.value else None


_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# The names load() put into os.environ: a command that suggests another one run in another folder
# (a resume `cd`s to the run's folder) must not count on them there.
_loaded: dict[str, str | None] = {}


def from_file(name: str) -> bool:
    """Whether os.environ's `name` came from this folder's `.env`, not from the shell."""
    return name in _loaded and os.environ.get(name) == _loaded[name]


def value_in(folder: Path, name: str) -> str | None:
    """`name` as a command run in `folder` would read it from that folder's `.env` (None: the file
    has no such line, or there is no readable file). Its ${VAR}s are expanded as there: the shell
    that `cd`s to `folder` has it as $PWD, where this command's would name its own folder."""
    path = folder / NAME
    if _disabled() or not path.is_file():
        return None
    from dotenv import dotenv_values
    from dotenv.variables import parse_variables

    try:
        raw = dotenv_values(stream=io.StringIO(_text(path)), interpolate=False)
    except SpecError:
        return None
    value = raw.get(name)
    if not value:
        return None
    there = {**{k: v for k, v in raw.items() if v is not None}, **os.environ, "PWD": str(folder.resolve())}
    return "".join(atom.resolve(there) for atom in parse_variables(value)) or None


def _present(path: Path) -> bool:
    """Whether there is a `.env` to read. One that is there but is no file (a folder, a link to
    nothing: a vault moved away) is refused, not passed over: the store's line may be in it, and
    without it the engine would use another store."""
    if path.is_file():
        return True
    if not os.path.lexists(path):
        return False
    what = "a link to nothing" if path.is_symlink() and not path.exists() else "not a file"
    raise SpecError([_at(0, Severity.ERROR, "ENV_FILE_UNREADABLE", f"cannot read it: {what}",
                         "point it at the file, or remove it")])


def _disabled() -> bool:
    return os.environ.get(DISABLE, "").casefold() in {"1", "true", "t", "yes", "y"}


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise SpecError([_at(path.read_bytes().count(b"\n", 0, e.start) + 1, Severity.ERROR, "ENV_FILE_ENCODING",
                             "not UTF-8 text", "save .env as UTF-8")]) from None
    except OSError as e:
        raise SpecError([_at(0, Severity.ERROR, "ENV_FILE_UNREADABLE", f"cannot read it: {e.strerror}",
                             "fix its permissions, or remove it")]) from None


def _at(line: int, severity: Severity, code: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(Pos(NAME, line, 1 if line else 0), severity, code, message, hint)
