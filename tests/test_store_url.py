"""A store value that names no store (state.db.parse_url, the one place every command reads a
store's URL) is one line saying what is wrong and what forms are taken, never a traceback and
never the value past its scheme (a password typed where the port goes); an empty or mistyped
--db is refused, not read as the default store or as a folder `htp:`."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from state.db import BadStoreUrl, parse_url, shown_url, store_url
from state.runlock import run_files

ROOT = Path(__file__).resolve().parents[1]
SPECS = str(ROOT / "specs")
SECRET = "S3cr3tPw"
UNREADABLE = [f"postgresql://admin@dbhost:{SECRET}/prod", f"postgresql://u:{SECRET}@[::1/db",
              f"postgresql://engine:p@{SECRET}@127.0.0.1:9/engine"]  # a raw @: SQLAlchemy's host is "S3cr3tPw@127..."
MISTYPED = ["htp:/bad", "sqlite:/var/x.db", "", " ", f"postgres://u:{SECRET}@h/d", f"mysql://u:{SECRET}@h/d",
            f"u:{SECRET}@h://d", "sqlite+foo:///x.db", f"POSTGRESQL+asyncpg://u:{SECRET}@h/d"]  # no driver; asyncio
OPERATOR = [["status"], ["kill", "--mode", "halt"], ["promote"], ["degrade", "--domain", "crypto_spot"]]


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # a value taken as a path would make its folder here
    monkeypatch.delenv("ENGINE_DB_URL", raising=False)


def _one_line(capsys: pytest.CaptureFixture, code: int, want: int = 2) -> str:
    err = capsys.readouterr().err
    assert code == want, err
    assert err.count("\n") == 1 and "Traceback" not in err and SECRET not in err and "S3cr3t" not in err, err
    return err


@pytest.mark.parametrize("value", UNREADABLE + MISTYPED)
def test_a_value_that_names_no_store_is_refused_without_its_text(value: str) -> None:
    with pytest.raises(BadStoreUrl) as e:
        store_url(value)
    assert SECRET not in str(e.value) and "postgresql://" in str(e.value)  # the forms taken


@pytest.mark.parametrize("url", UNREADABLE + ["htp://x/y", "sqlite:/x"])
def test_every_reader_of_a_url_refuses_it_the_same_way(url: str) -> None:
    for read in (parse_url, run_files):
        with pytest.raises(BadStoreUrl):
            read(url)


def test_postgres_gets_a_hint_not_a_rewrite() -> None:
    with pytest.raises(BadStoreUrl, match=r"did you mean `postgresql\+psycopg2://`"):
        store_url("postgres+psycopg2://u@h/d")
    with pytest.raises(BadStoreUrl, match="did you mean `postgresql://`"):
        store_url(None, "postgres://u@h/d")


@pytest.mark.parametrize("value", ["sqlite:///file:mem.db?mode=memory&cache=shared&uri=true", "sqlite:///file:st.db?uri=true",
                                   "backup?2.db", f"x.db?key={SECRET}", "var/run%2024.db", "sqlite:///x.db?mode=ro"])
def test_a_sqlite_name_read_other_than_as_a_file_is_refused(value: str, capsys: pytest.CaptureFixture) -> None:
    """rev29: a URI filename ran a whole run on an in-memory store (status then found no run), or
    wrote `st.db` while the lock, archive and resume looked at `file:st.db`; a `?` in a path stored
    the run in `backup` and echoed the rest unmasked."""
    with pytest.raises(BadStoreUrl, match="URI filename|holding `?`|no `mode` option"):
        store_url(value)
    _one_line(capsys, main(["status", "--specs", SPECS, "--db", value]))


def test_paths_and_urls_still_read() -> None:
    assert store_url("var/x:1.db") == "sqlite:///var/x:1.db"  # a colon after a folder: a path
    assert store_url("./x:1.db") == "sqlite:///./x:1.db"
    assert parse_url("postgresql+psycopg2://u:p@[::1]:5432/d").port == 5432


@pytest.mark.parametrize("argv", OPERATOR)
@pytest.mark.parametrize("url", UNREADABLE)
def test_operator_commands_refuse_a_bad_environment_url_in_one_line(capsys: pytest.CaptureFixture,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    argv: list[str], url: str) -> None:
    monkeypatch.setenv("ENGINE_DB_URL", url)
    err = _one_line(capsys, main([*argv, "--specs", SPECS]))
    assert f"engine {argv[0]}: ENGINE_DB_URL: not a database URL" in err


@pytest.mark.parametrize("value", UNREADABLE + MISTYPED)
def test_status_and_kill_refuse_a_bad_db_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                     value: str) -> None:
    for argv in OPERATOR[:2]:
        assert "--db: " in _one_line(capsys, main([*argv, "--db", value, "--specs", SPECS]))
    assert list(tmp_path.iterdir()) == []


def _run_argv(tmp_path: Path, *args: str) -> list[str]:
    config = tmp_path / "run.yaml"
    if not config.exists():
        config.write_text(f"strategy: {{file: {ROOT / 'specs/strategies/seed003.yaml'}}}\n")
    return ["run", "--stage", "3", "--no-progress", "--specs", SPECS, "--config", str(config), *args]


@pytest.mark.parametrize("value", UNREADABLE + MISTYPED)
def test_run_refuses_a_bad_db_and_makes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture, value: str) -> None:
    for routing in ("--paper", "--live"):  # --live's refusal prints --db back: the URL is refused first
        err = _one_line(capsys, main(_run_argv(tmp_path, routing, "--db", value)))
        assert err.startswith("engine run: --db: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]  # no var/engine.db, no folder `htp:`


@pytest.mark.parametrize("value", UNREADABLE + ["htp:/bad", "", "postgres://u@h/d", "sqlite+foo:///x.db", "sqlite://",
                                   "sqlite:///:memory:"])  # in memory: nothing would outlive the run
def test_a_bad_config_db_is_reported_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                 value: str) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(f"strategy: {{file: {ROOT / 'specs/strategies/seed003.yaml'}}}\ndb: \"{value}\"\n")
    for argv in (_run_argv(tmp_path, "--paper"), ["promote", "--config", str(config), "--specs", SPECS]):
        code, err = main(argv), capsys.readouterr().err
        assert code == 1 and f"{config}:2:5: error SCHEMA_VALUE `db`" in err, err
        assert "Traceback" not in err and SECRET not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]


# A URL that opens but fails to connect: nothing listens on port 1 of the loopback.
REFUSED = [f"postgresql://u@127.0.0.1:1/db?password={SECRET}", f"postgresql://u:{SECRET}@127.0.0.1:1/db",
           f"postgresql://u@127.0.0.1:1/db?sslmode=prefer&sslpassword={SECRET}"]


def test_a_url_is_shown_with_its_password_and_secret_parameters_masked() -> None:
    url = f"postgresql://u:{SECRET}@h:5/d?sslpassword={SECRET}&api_token={SECRET}&sslmode=require&passwd={SECRET}"
    assert shown_url(url) == "postgresql://u:***@h:5/d?sslpassword=***&api_token=***&sslmode=require&passwd=***"
    assert shown_url(parse_url("sqlite:///var/x.db")) == "sqlite:///var/x.db"


@pytest.mark.parametrize("argv", [*OPERATOR, ["run"]])
@pytest.mark.parametrize("url", REFUSED)
def test_a_store_that_cannot_be_opened_is_named_without_its_secrets(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   argv: list[str], url: str) -> None:
    """A password given as a query parameter (libpq takes one) was printed as typed."""
    full = _run_argv(tmp_path, "--paper") if argv == ["run"] else [*argv, "--specs", SPECS]
    for given in (["--db", url], []):
        if not given:
            monkeypatch.setenv("ENGINE_DB_URL", url)
        err = _one_line(capsys, main([*full, *given]))
        assert "cannot open the state store postgresql://u" in err and "***" in err and "Connection refused" in err


def test_a_driver_message_that_echoes_a_secret_is_scrubbed() -> None:
    from engine.commands.status import driver_error

    url = parse_url("postgresql://u:p%40ss%2F1@h/d?password=p%40ss%2F2&sslmode=require")  # p@ss/1, p@ss/2
    said = str(driver_error(url, RuntimeError("bad: password=p@ss/1 p%40ss%2F1 p@ss/2 sslmode=require")))
    assert "p@ss" not in said and "p%40ss" not in said and "password=*** *** *** sslmode=require" in said, said


def test_a_scheme_is_read_in_any_case(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """RFC 3986: `SQLITE:///x.db` passed the check, then SQLAlchemy found no dialect `SQLITE`."""
    from state.store import Store

    assert store_url("SQLite:///e.db") == "sqlite:///e.db" and store_url("POSTGRESQL://u@h/d") == "postgresql://u@h/d"
    assert store_url("SQLite+PySQLite:///e.db") == "sqlite+pysqlite:///e.db"
    with Store.open(url="SQLITE:///e.db") as s:
        s.open_wallet("crypto_spot", "paper", 1000.0)
    assert main(["status", "--db", "SQLITE:///e.db", "--specs", SPECS]) == 0, capsys.readouterr().err
    assert "store: sqlite:///e.db" in capsys.readouterr().out


def test_a_blank_environment_url_is_called_empty_as_a_blank_db_is(capsys: pytest.CaptureFixture,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    said = _one_line(capsys, main(["status", "--db", " ", "--specs", SPECS])).split("--db: ", 1)[1]
    for blank in (" ", ""):  # "": `ENGINE_DB_URL=$PGURL` with PGURL unset read as no URL: the default file
        monkeypatch.setenv("ENGINE_DB_URL", blank)
        assert _one_line(capsys, main(["status", "--specs", SPECS])).split("ENGINE_DB_URL: ", 1)[1] == said


def test_a_server_stores_commits_are_durable_in_either_mode() -> None:
    """rev30: batch mode set synchronous_commit off. A PostgreSQL crash then lost a checkpoint the
    paper venue had already acknowledged its log against, and every resume was refused (4 of 4)."""
    from state.db import _pg_settings

    assert not [s for s in _pg_settings(None) + _pg_settings(2.0) if "synchronous" in s]
