"""`.env` in the current directory (engine/envfile.py): read by every command before it runs, the
real environment winning; it never arms the live opt-in, and never has a value printed."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_support import cli
from engine.run.optin import ENV_VAR as LIVE

ROOT = Path(__file__).resolve().parents[1]
SPECS = str(ROOT / "specs")
SECRET = "S3cr3tPw"
DISABLE = "PYTHON_DOTENV_DISABLED"  # python-dotenv's switch, on for the rest of the suite
SET_BY_FILES = ("ENGINE_DB_URL", LIVE, "ENGINE_TEST_OTHER")


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tmp_path as the working folder, none of SET_BY_FILES in the environment, and .env read
    (tests/conftest.py turns it off for the suite). The engine sets os.environ from .env in this
    process: setenv then delenv makes the teardown remove what it set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(DISABLE, raising=False)
    for name in SET_BY_FILES:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    return tmp_path


def test_a_dotenv_here_selects_the_store_for_status(here: Path, capsys: pytest.CaptureFixture) -> None:
    (here / ".env").write_text(f"# the store\nENGINE_DB_URL=sqlite:///{here / 'from-file.db'}\n")
    code, _, err = cli(capsys, "status", "--specs", SPECS)
    assert code == 1 and f"no store at {here / 'from-file.db'}" in err, err


def test_the_real_environment_beats_the_dotenv(here: Path, capsys: pytest.CaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (here / ".env").write_text(f"ENGINE_DB_URL=sqlite:///{here / 'from-file.db'}\nENGINE_TEST_OTHER=x\n")
    monkeypatch.setenv("ENGINE_DB_URL", f"sqlite:///{here / 'exported.db'}")
    code, _, err = cli(capsys, "status", "--specs", SPECS)
    assert code == 1 and f"no store at {here / 'exported.db'}" in err and "from-file" not in err, err
    assert os.environ["ENGINE_TEST_OTHER"] == "x"  # what the environment lacks, the file gives


def test_a_dotenv_does_not_arm_live_trading_and_says_so(here: Path, capsys: pytest.CaptureFixture) -> None:
    (here / ".env").write_text(f"ENGINE_TEST_OTHER=x\n{LIVE}=1\n")
    (here / "live.yaml").write_text(f"strategy: {{file: {ROOT / 'specs/strategies/seed003.yaml'}}}\n"
                                    "execution: {trading_enabled: true}\n")
    code, _, err = cli(capsys, "run", "--stage", "2", "--live", "--config", "live.yaml", "--specs", SPECS,
                       "--db", str(here / "engine.db"), "--run-dir", str(here / "run"), "--no-progress")
    assert code == 1 and f"environment: `export {LIVE}=1` in this shell: MISSING" in err, err
    warning = f".env:2:1: warning ENV_FILE_LIVE_IGNORED {LIVE} is ignored here: a file cannot arm live trading"
    assert [line for line in err.splitlines() if ".env" in line][0].startswith(warning), err
    assert LIVE not in os.environ and os.environ["ENGINE_TEST_OTHER"] == "x"
    assert not (here / "run").exists()


@pytest.mark.parametrize("url", [f"postgresql://u:{SECRET}@127.0.0.1:1/db",
                                 f"postgresql://u@127.0.0.1:1/db?password={SECRET}"])
def test_a_password_in_the_dotenv_url_is_never_printed(here: Path, capsys: pytest.CaptureFixture, url: str) -> None:
    (here / ".env").write_text(f'ENGINE_DB_URL="{url}"\n')
    code, out, err = cli(capsys, "status", "--specs", SPECS)
    assert code == 2 and "cannot open the state store postgresql://u" in err and "***" in err, err
    assert SECRET not in out + err


def test_a_line_that_does_not_parse_is_named_at_its_line_without_its_text(here: Path,
                                                                         capsys: pytest.CaptureFixture) -> None:
    (here / ".env").write_text(f"ENGINE_TEST_OTHER=x\nENGINE_DB_URL {SECRET}\nB=\"{SECRET}\n")
    code, out, err = cli(capsys, "status", "--specs", SPECS)
    assert code == 1 and out == "", out
    assert err.startswith(".env:2:1: error ENV_FILE_SYNTAX cannot read this line as NAME=value\n    hint: "), err
    assert ".env:3:1: error ENV_FILE_SYNTAX" in err and SECRET not in err
    assert "ENGINE_TEST_OTHER" not in os.environ  # a bad file sets nothing


@pytest.mark.parametrize(("line", "why"), [
    ("ENGINE_DB_URL", "a line with no `=value`: it would be left unset"),
    ("export ENGINE_DB_URL", "a line with no `=value`: it would be left unset"),
    # rev29: a value that slipped onto a line of its own reads as a name, and was printed
    (f"sk_live_{SECRET}", "a line with no `=value`: it would be left unset"),
    (f'"ENGINE_DB_URL"=postgresql://u:{SECRET}@h/db', "the name before `=` is not a variable name"),
    (f"ENGINE\u200b_DB_URL=postgresql://u:{SECRET}@h/db", "the name before `=` is not a variable name"),
    (f"ENGINE_DB_URL=postgresql://u:{SECRET}\0@h/db", "the value holds a NUL byte"),
])
def test_a_line_python_dotenv_passes_over_or_the_environment_refuses_stops_the_command(
        here: Path, capsys: pytest.CaptureFixture, line: str, why: str) -> None:
    """rev25: python-dotenv reads a bare name as no value and a quoted one as another name, and
    left the store unset: the command ran on var/engine.db. A NUL byte ended in a traceback."""
    (here / ".env").write_text(f"A_FINE_LINE=1\n{line}\n")
    code, out, err = cli(capsys, "status", "--specs", SPECS)
    assert code == 1 and out == "", out
    assert err.startswith(f".env:2:1: error ENV_FILE_SYNTAX {why}"), err
    assert SECRET not in err and not (here / "var").exists()


@pytest.mark.parametrize("what", ["a link to nothing", "not a file"])
def test_a_dotenv_that_is_there_but_is_no_file_stops_the_command(here: Path, capsys: pytest.CaptureFixture,
                                                                 what: str) -> None:
    """rev29: a `.env` linked to a vault file that moved (or a folder) was passed over in silence,
    and the run used var/engine.db instead of the store its line named."""
    if what == "not a file":
        (here / ".env").mkdir()
    else:
        (here / ".env").symlink_to(here / "vault" / "env.moved")
    code, out, err = cli(capsys, "status", "--specs", SPECS)
    assert code == 1 and out == "", out
    assert err.startswith(f".env:0:0: error ENV_FILE_UNREADABLE cannot read it: {what}"), err
    assert not (here / "var").exists()


def test_a_value_that_interpolates_counts_as_the_files(here: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """rev29: `${PWD}` in a `.env` value: the loaded value was compared with the line's text, so a
    store named that way was taken for the shell's, and the resume suggested elsewhere lacked --db."""
    from engine import envfile

    monkeypatch.setattr(envfile, "_loaded", {})
    monkeypatch.setenv("PWD", str(here))
    (here / ".env").write_text("ENGINE_DB_URL=sqlite:///${PWD}/var/engine.db\n")
    assert envfile.load() == []
    assert os.environ["ENGINE_DB_URL"] == f"sqlite:///{here}/var/engine.db"
    assert envfile.from_file("ENGINE_DB_URL")


def test_a_dotenv_that_is_not_utf8_is_one_error(here: Path, capsys: pytest.CaptureFixture) -> None:
    (here / ".env").write_bytes(b"A=1\nENGINE_DB_URL=postgresql://u:\xe9t\xe9@h/db\n")
    code, _, err = cli(capsys, "status", "--specs", SPECS)
    assert code == 1 and err.startswith(".env:2:1: error ENV_FILE_ENCODING not UTF-8 text"), err


def test_the_switch_python_dotenv_documents_turns_the_file_off(here: Path, capsys: pytest.CaptureFixture,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    (here / ".env").write_text(f"ENGINE_DB_URL=sqlite:///{here / 'from-file.db'}\nbad line\n")
    monkeypatch.setenv(DISABLE, "1")
    code, _, err = cli(capsys, "status", "--specs", SPECS)
    assert code == 1 and f"no store at {here / 'var' / 'engine.db'}, which `var/engine.db` names" in err, err


def test_help_reads_no_dotenv(here: Path) -> None:
    (here / ".env").write_text("bad line\n")
    env = {k: v for k, v in os.environ.items() if k != DISABLE}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "--help"], cwd=here, capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0 and "validate" in done.stdout and done.stderr == "", done.stderr


def test_a_value_read_for_another_folder_expands_as_there(here: Path) -> None:
    """rev30: B's status suggested `cd A && engine run ... --resume` without --db, reading A's
    `ENGINE_DB_URL=sqlite:///${PWD}/var/engine.db` with B's $PWD: pasted, it resumed A's own run."""
    from engine import envfile

    a = here / "A"
    a.mkdir()
    (a / ".env").write_text("ENGINE_DB_URL=sqlite:///${PWD}/var/engine.db\n")
    assert envfile.value_in(a, "ENGINE_DB_URL") == f"sqlite:///{a.resolve()}/var/engine.db"
