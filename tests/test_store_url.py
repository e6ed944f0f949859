"""A store value that names no store (state.db.parse_url, the one place every command reads a
store's URL) is one line saying what is wrong and what forms are taken, never a traceback and
never the value past its scheme (a password typed where the port goes); an empty or mistyped
--db is refused, not read as the default store or as a folder `htp:`."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from state.db import BadStoreUrl, parse_url, store_url
from state.runlock import run_files

ROOT = Path(__file__).resolve().parents[1]
SPECS = str(ROOT / "specs")
SECRET = "S3cr3tPw"
UNREADABLE = [f"postgresql://admin@dbhost:{SECRET}/prod", f"postgresql://u:{SECRET}@[::1/db"]
MISTYPED = ["htp:/bad", "sqlite:/var/x.db", "", " ", f"postgres://u:{SECRET}@h/d", f"mysql://u:{SECRET}@h/d",
            f"u:{SECRET}@h://d"]
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


@pytest.mark.parametrize("value", UNREADABLE + ["htp:/bad", "", "postgres://u@h/d"])
def test_a_bad_config_db_is_reported_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                 value: str) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(f"strategy: {{file: {ROOT / 'specs/strategies/seed003.yaml'}}}\ndb: \"{value}\"\n")
    for argv in (_run_argv(tmp_path, "--paper"), ["promote", "--config", str(config), "--specs", SPECS]):
        code, err = main(argv), capsys.readouterr().err
        assert code == 1 and f"{config}:2:5: error SCHEMA_VALUE `db`" in err, err
        assert "Traceback" not in err and SECRET not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]
