"""Where the store lives and how durable each commit is.

Every command (`engine run`, `status`, `kill`, `promote`) finds its store by one rule,
`store_url`: the command line's `--db`, then the ENGINE_DB_URL environment variable,
then the run config's `db` (`--config`), then var/engine.db. `--db` and the config's
`db` take a SQLite file or a database URL (anything with `://`); ENGINE_DB_URL a URL.
(`Store.open`'s own arguments, `resolve_url`: an explicit URL, then an explicit SQLite
path, then ENGINE_DB_URL, then var/engine.db.) Every URL is read by `parse_url`, which
refuses one that names no store the engine keeps (BadStoreUrl) without showing it; its scheme
is read case-insensitively (RFC 3986), and `shown_url` is how a URL is shown to people (its
password and secret-looking query values masked), `scrubbed` a driver's message about it.

SQLite runs in WAL mode so `engine status` / `engine kill` in another terminal
read and write while the engine runs. Durability "full" fsyncs every commit
(synchronous=FULL); "batch" lets the OS flush (synchronous=NORMAL: a power cut
can lose the last commits, never corrupt the file). Each transaction starts
with BEGIN IMMEDIATE: it takes the write lock up front, so a read-then-write
never fails with SQLITE_BUSY_SNAPSHOT and check-then-insert is race-free
across processes.

A file created in "batch" durability gets 16 KiB pages: its checkpoints write ~10^5
rows at once, and larger pages cut the B-tree and WAL work per row (a 100k-bar
checkpoint's CPU, WAL copy included, fell ~10%). A "full" file keeps 4 KiB pages, as
each of its small commits writes whole pages; an existing file keeps its page size.

A "batch" connection also keeps a 16 MiB page cache (SQLite's default is 2 MiB): a checkpoint
dirties ~11 MiB of new journal pages, and with the default cache those pushed the indexes'
pages out (client_order_id and fill_id keys are random, so each row lands on any page of
its index): dirty pages spilled to the WAL mid-transaction and were read back, ~4x the page
reads and ~2x the page writes of the same rows, growing with the indexes (a 1M-bar run's
checkpoints: 72k -> 37k writes, 48k -> 12k reads; ~10% of their CPU).
"""
from __future__ import annotations

import math
import os
import re
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Literal, Mapping
from urllib.parse import quote, quote_plus, urlencode

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

Durability = Literal["full", "batch"]
DEFAULT_PATH = Path("var") / "engine.db"
ENV_VAR = "ENGINE_DB_URL"
BUSY_TIMEOUT_MS = 30_000
BATCH_PAGE_SIZE = 16_384
BATCH_CACHE_KIB = 16_384


FORMS = ("a store is a SQLite file's path (--db or the config's db: var/engine.db), sqlite:///path/to/file.db "
         "or postgresql://user[:password]@host[:port]/db")
BACKENDS = ("sqlite", "postgresql")  # the stores state.runlock can hold alone (a file lock; an advisory lock)
ALIASES = {"postgres": "postgresql"}  # the spelling libpq and Heroku accept and SQLAlchemy does not
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:")  # two letters at least: `C:` stays a drive's path
NAME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")  # a scheme, shown; anything else before :// may be a secret
MASK = "***"  # what a secret is shown as (SQLAlchemy's own mask for a password)
# Query parameters whose value may be a secret: libpq's password, sslpassword, a token, a key...
SECRET_PARAM = re.compile(r"pass|pwd|secret|token|key", re.IGNORECASE)
EMPTY = "empty (an empty value does not mean the default store)"


class BadStoreUrl(ValueError):
    """A store value that names no store: what is wrong with it, never its text past the scheme
    (a URL's user, password or port may be a secret: `admin@db:S3cr3t` is a password typed
    where the port goes). `what` without the `source` and FORMS, for a config diagnostic."""

    def __init__(self, source: str, what: str) -> None:
        super().__init__(f"{source}: {what}; {FORMS}")
        self.what = what


def store_url(flag: str | None = None, config_db: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The store a command acts on: `flag` (--db), else $ENGINE_DB_URL (of `environ`, default
    os.environ), else `config_db` (the run config's `db`), else var/engine.db; a path becomes its
    sqlite:/// URL. BadStoreUrl for a value that names no store (an empty --db or $ENGINE_DB_URL is
    one: `ENGINE_DB_URL=$PGURL` with $PGURL unset must not run on the default SQLite file)."""
    if flag is not None:
        return as_store_url(flag, "--db")
    env = (os.environ if environ is None else environ).get(ENV_VAR)
    if env is not None:
        return normal_url(env, ENV_VAR)
    return as_store_url(config_db or str(DEFAULT_PATH), "the run config's db")


def as_store_url(value: str, source: str) -> str:
    """`value` (--db, the config's `db`) as a URL: a URL with its scheme lower-cased, a file path as sqlite:///path.
    BadStoreUrl when it is empty or a mistyped URL (`htp:/x` would be a folder `htp:`)."""
    if not value.strip() or "://" in value or SCHEME.match(value):
        return normal_url(value, source)
    if "?" in value or "%" in value:  # as a sqlite:/// URL: `a?b` stores in `a`, `a%20b` in `a b` (not shown)
        raise BadStoreUrl(source, "a file path holding `?` or `%`: in its sqlite:/// URL what follows a `?` would be "
                          "read as options, and `%XX` as an escaped character, not as the file's name; rename the file")
    return f"sqlite:///{value}"


def normal_url(url: str, source: str = "the store URL") -> str:
    """`url` checked (parse_url) with its scheme as parse_url read it, lower-cased: SQLAlchemy loads
    no `SQLITE` dialect. The rest stays as given (a URL rendered again may quote its password)."""
    return f"{parse_url(url, source).drivername}://{url.partition('://')[2]}"


def parse_url(url: str, source: str = "the store URL") -> URL:
    """The parsed URL of a store the engine keeps; BadStoreUrl naming what is wrong (`source`:
    where the value came from), showing no more of it than its scheme."""
    if not url.strip():
        raise BadStoreUrl(source, EMPTY)
    scheme, slashes, rest = url.partition("://")
    if not slashes:
        typo = SCHEME.match(url)
        raise BadStoreUrl(source, f"not a database URL: `{typo.group()}…` lacks the `//` after its scheme (a "
                          "file whose name has a colon: write it as ./name)" if typo else
                          "not a database URL (no scheme://)")
    if not NAME.fullmatch(scheme):
        raise BadStoreUrl(source, "not a database URL: what comes before its :// is no scheme")
    backend = scheme.split("+")[0].lower()
    if backend in ALIASES:
        raise BadStoreUrl(source, f"`{scheme}://` is not a scheme SQLAlchemy knows: did you mean "
                          f"`{ALIASES[backend]}{scheme[len(backend):]}://`")
    if backend not in BACKENDS:
        raise BadStoreUrl(source, f"`{scheme}://` names no store the engine keeps (SQLite or PostgreSQL)")
    if rest.partition("?")[0].count("@") > 1:  # SQLAlchemy splits at the first: the rest would show as the host
        raise BadStoreUrl(source, f"not a database URL: `{scheme}://…` has more than one `@`; an `@` in a password is "
                          "written %40 (the URL is not shown: it may hold a password)")
    try:
        parsed = make_url(f"{scheme.lower()}://{rest}")
    except (ArgumentError, ValueError):  # ValueError: a port that is no number (int() of its text)
        raise BadStoreUrl(source, f"not a database URL: `{scheme}://…` has no readable host and port (a port is a "
                          "number, an IPv6 host is written [::1]; the URL is not shown: it may hold a password)"
                          ) from None
    _check_driver(parsed, scheme, source)
    if parsed.get_backend_name() == "sqlite":
        _check_sqlite(parsed, source)
    return parsed


def _check_sqlite(parsed: URL, source: str) -> None:
    """BadStoreUrl for a SQLite URL that SQLite would read otherwise than as the file it names."""
    if parsed.database:
        _check_file_name(parsed.database, source)
    if "uri" in parsed.query:
        raise BadStoreUrl(source, "a SQLite URI filename (`uri=`): SQLite reads the name its own way (`file:`, "
                          "mode=memory), not where the engine's lock, archive and resume look for the file; name "
                          "the file plainly: sqlite:///path/to/engine.db")
    ignored = sorted(set(parsed.query) - SQLITE_OPTIONS)
    if ignored:  # mode=ro, cache=shared...: URI filename options, which a plain URL passes over in silence
        raise BadStoreUrl(source, f"SQLite takes no `{ignored[0]}` option in a plain URL (a URI filename's, which the "
                          "engine refuses): it would be ignored; name the file alone: sqlite:///path/to/engine.db")


# The query options pysqlite's connect() takes in a sqlite:/// URL (SQLAlchemy's pysqlite dialect).
SQLITE_OPTIONS = frozenset({"timeout", "isolation_level", "detect_types", "check_same_thread", "cached_statements"})

# The engine names files after the store's (state.runlock.run_files: `x.db-paper-venue.db-wal`),
# and a file system takes at most 255 bytes a name: the store's own keeps room for the longest.
NAME_MAX, NAMED_AFTER = 255, 32


def _check_file_name(database: str, source: str) -> None:
    """BadStoreUrl for a SQLite file whose name (or a folder's on its path) no file system takes."""
    parts = [len(os.fsencode(p)) for p in Path(database).parts]
    if parts and (max(parts) > NAME_MAX or parts[-1] > NAME_MAX - NAMED_AFTER):
        raise BadStoreUrl(source, f"a SQLite file whose path has a name of {max(parts)} bytes: a file system takes "
                          f"at most {NAME_MAX}, and the engine names its files after the store's; keep the store's "
                          f"name to {NAME_MAX - NAMED_AFTER} bytes")


def _check_driver(parsed: URL, scheme: str, source: str) -> None:
    """BadStoreUrl for a driver SQLAlchemy has no dialect for, or an asyncio one (the engine's
    connections block): found here, by every command alike, not when a connection is made."""
    backend = parsed.get_backend_name()
    try:
        is_async = parsed.get_dialect().is_async
    except NoSuchModuleError:
        is_async = None
    if is_async is not False:
        what = "an asyncio driver, and the engine's connections block" if is_async else "no driver SQLAlchemy has"
        raise BadStoreUrl(source, f"`{scheme}://` names {what}: leave the driver out (`{backend}://`) or name "
                          f"another (e.g. `{'sqlite+pysqlite' if backend == 'sqlite' else 'postgresql+psycopg2'}://`)")


def shown_url(url: URL | str) -> str:
    """`url` as shown to people (messages, suggested commands, `engine status`): its password and
    the value of every query parameter whose name looks secret (password, sslpassword, a token,
    a key) masked as ***, as secrets never reach a log."""
    parsed = url if isinstance(url, URL) else parse_url(url)
    shown = _unquoted_file(parsed.set(query={}).render_as_string(hide_password=True), parsed)
    pairs = [(k, MASK if SECRET_PARAM.search(k) else v) for k, v in _params(parsed)]
    return f"{shown}?{urlencode(pairs, safe='*')}" if pairs else shown


def _unquoted_file(shown: str, parsed: URL) -> str:
    """A SQLite URL with its file as the user wrote it (`sqlite:///:memory:`, not SQLAlchemy's
    `sqlite:///%3Amemory%3A`), where that reads back as the same file; any other URL as rendered."""
    head = f"{parsed.drivername}:///"
    if parsed.get_backend_name() != "sqlite" or not parsed.database or not shown.startswith(head):
        return shown
    plain = f"{head}{parsed.database}"
    try:
        same = make_url(plain).database == parsed.database
    except (ArgumentError, ValueError):
        same = False
    return plain if same else shown


def scrubbed(text: str, url: URL | str) -> str:
    """`text` (a driver's message) with every secret of `url` (its password, secret query values)
    masked, as typed and as percent-encoded: a driver may echo what it was given."""
    parsed = url if isinstance(url, URL) else parse_url(url)
    secrets = [str(parsed.password or "")] + [v for k, v in _params(parsed) if SECRET_PARAM.search(k)]
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):  # a longer one first
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, MASK)
    return text


def _params(parsed: URL) -> list[tuple[str, str]]:
    """The URL's query parameters, one pair per value (`?k=1&k=2` holds a tuple under k)."""
    return [(k, v) for k, vs in parsed.query.items() for v in ((vs,) if isinstance(vs, str) else vs)]


class MemoryStore(ValueError):
    """An in-memory SQLite URL: no store a run could be resumed, watched or killed from. `what`
    without the hint, for a config diagnostic."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}; give --db a SQLite file (default {DEFAULT_PATH}) or a database server's URL")
        self.what = what


def check_persistent(url: str, source: str = "the store URL") -> None:
    """MemoryStore for `sqlite://` and `sqlite:///:memory:`: that store dies with the run, and
    `engine status`, `kill` and `--resume` would never reach it (they open their own)."""
    parsed = parse_url(url, source)
    if parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise MemoryStore(f"{shown_url(parsed)} is an in-memory store: nothing of the run would outlive it, and "
                          "`engine status`, `kill` and `--resume` could never reach it")


def resolve_url(url: str | None = None, path: str | os.PathLike | None = None) -> str:
    if url:
        return url
    if path is None and os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    db = Path(path) if path is not None else DEFAULT_PATH
    db.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db}"


def connect_args(url: str, wait_s: float | None) -> dict[str, Any]:
    """Driver arguments that bound how long connecting to a server store waits (libpq's
    connect_timeout: whole seconds, at least 1); none for SQLite or without a bound."""
    if wait_s is None or parse_url(url).get_driver_name() not in ("psycopg2", "psycopg"):
        return {}
    return {"connect_timeout": max(1, math.ceil(wait_s))}


def with_driver(url: Any) -> str:
    """`url` naming the PostgreSQL driver that is installed when it names none: SQLAlchemy 2.1
    reads a plain `postgresql://` as psycopg (3), and with only psycopg2 installed that URL,
    the one most people write, failed with "No module named 'psycopg'"."""
    parsed = url if isinstance(url, URL) else parse_url(url)
    if parsed.drivername != "postgresql" or find_spec("psycopg") is not None or find_spec("psycopg2") is None:
        return normal_url(url) if isinstance(url, str) else parsed.render_as_string(hide_password=False)
    return parsed.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def make_engine(url: str, durability: Durability, wait_s: float | None = None) -> Engine:
    """`wait_s` bounds every wait of its connections (an operator command beside a running
    engine): SQLite's busy timeout (default 30 s); on PostgreSQL connecting, lock_timeout and
    statement_timeout (default: none)."""
    if durability not in ("full", "batch"):
        raise ValueError(f"durability must be 'full' or 'batch', not {durability!r}")
    url = with_driver(url)
    if parse_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url, durability, BUSY_TIMEOUT_MS if wait_s is None else int(wait_s * 1000))
    return _server_engine(url, wait_s)  # its commits are synchronous in either durability (_pg_settings)


def _sqlite_engine(url: str, durability: Durability, busy_ms: int) -> Engine:
    engine = create_engine(url, connect_args={"timeout": busy_ms / 1000})
    sync = "FULL" if durability == "full" else "NORMAL"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin (savepoints need it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if durability == "batch":
            cur.execute(f"PRAGMA page_size={BATCH_PAGE_SIZE}")  # before WAL, which fixes it in a new file
            cur.execute(f"PRAGMA cache_size=-{BATCH_CACHE_KIB}")  # negative: KiB, whatever the page size
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={sync}")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _server_engine(url: str, wait_s: float | None) -> Engine:
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args(url, wait_s))
    settings = _pg_settings(wait_s) if engine.dialect.name == "postgresql" else []
    if settings:

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            for setting in settings:
                cur.execute(setting)
            cur.close()
            dbapi_conn.commit()

    return engine


def _pg_settings(wait_s: float | None) -> list[str]:
    """Session settings: a bounded wait fails a lock or a statement after `wait_s` rather than
    hang. Commits stay synchronous in batch mode too: they are few (a checkpoint's), and the paper
    venue acknowledges its catch-up log once the checkpoint has committed, so a commit a server
    crash could still lose (synchronous_commit off) left the venue's file ahead of the store, and
    the resume the run promised was refused for good."""
    if wait_s is None:
        return []
    ms = max(1, int(wait_s * 1000))
    return [f"SET lock_timeout = {ms}", f"SET statement_timeout = {ms}"]
