"""engine run and the operator commands as a user meets them: Ctrl-C names the command that goes
on, the commands a refusal suggests paste as they are, --live where no leg is live is refused,
one exit code per kind of failure (engine/cli.py's table), a store SQLite cannot use is one line
naming the file, and a resume with nothing left to replay journals nothing."""
from __future__ import annotations

import json
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from cli_support import ONE_DATASET, ROOT, after_word, engine_env, engine_process
from engine.cli import main
from engine.run.keys import CHECKPOINT_KEY, FINISHED_KEY
from engine.run.optin import ENV_VAR, NotLive, route
from state.store import Store

pytestmark = pytest.mark.usefixtures("at_root")


def argv_in(tmp: Path, *args: str) -> list[str]:
    """`engine run --stage 1` on one data set, its store, config and run directory under `tmp`."""
    (tmp / "one.yaml").write_text(ONE_DATASET)
    return ["run", "--stage", "1", "--config", str(tmp / "one.yaml"), "--db", str(tmp / "e.db"),
            "--run-dir", str(tmp / "run"), *args]


def suggested(stderr: str) -> list[str]:
    """The `engine ...` command a message suggests, as argv after its command word."""
    return after_word(stderr.split("`")[1])


def equity_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM journal WHERE kind = 'equity'").fetchone()[0]


# -- 1. Ctrl-C ---------------------------------------------------------------------------
def test_ctrl_c_names_the_resume_command_and_that_command_ends_as_an_uninterrupted_run(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    argv = argv_in(tmp_path / "a", "--max-bars", "400", "--heartbeat")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *argv], cwd=ROOT, env=engine_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in proc.stdout:  # a line per bar: past the first checkpoints, Ctrl-C
        if line.startswith("bar ") and int(line.split()[1]) >= 120:
            proc.send_signal(signal.SIGINT)
            break
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err[-2000:]
    assert err.startswith("engine run: interrupted") and err.count("\n") == 1 and "Traceback" not in err
    resume = suggested(err)
    assert resume[-1] == "--resume"
    for given in ("--config", "--db", "--run-dir", "--max-bars"):
        assert argv[argv.index(given) + 1] == resume[resume.index(given) + 1], given
    done = engine_process(*resume)
    assert done.returncode == 0, done.stderr[-2000:]
    (tmp_path / "b").mkdir()  # the uninterrupted reference, in-process: its exit status is not the point
    assert main(argv_in(tmp_path / "b", "--max-bars", "400", "--no-progress")) == 0
    for name in ("trades.csv", "audit.jsonl"):
        assert (tmp_path / "a/run" / name).read_bytes() == (tmp_path / "b/run" / name).read_bytes(), name
    ends = [json.loads((tmp_path / t / "run/report.json").read_text())["domains"] for t in "ab"]
    assert ends[0] == ends[1]


# -- 2. --live where no leg is live ---------------------------------------------------------
def test_live_for_a_stage_without_a_live_leg_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert main(argv_in(tmp_path, "--live")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stage 1 routes no leg live" in err and "--live is not needed" in err
    assert "crypto_spot paper" in err  # the rollout spec's domains for stage_1
    assert not (tmp_path / "e.db").exists() and not (tmp_path / "run").exists()


def test_the_stage_s_legs_come_from_the_spec() -> None:
    modes = {"forex": "paper", "crypto_spot": "off"}
    with pytest.raises(NotLive, match="stage 4 routes no leg live .*forex paper, crypto_spot off"):
        route(4, modes, config_enabled=True, live_flag=True, paper_flag=False, environ={ENV_VAR: "1"})
    assert route(4, {"forex": "live"}, config_enabled=True, live_flag=True, paper_flag=False,
                 environ={ENV_VAR: "1"}).live_domains == ("forex",)


def test_a_stage_added_in_yaml_runs_and_one_the_spec_lacks_is_a_usage_error(tmp_path: Path, capsys) -> None:
    """Which stages exist is the rollout spec's to say: argparse once took only 1-5, so a stage_6
    that validated clean could not be run."""
    from test_lint_contract import STAGE_6

    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    rollout = specs / "rollout/rollout.yaml"
    text = rollout.read_text().replace("  demoted:\n", STAGE_6, 1)
    five = "  - {event: activate, source: inactive, target: stage_5, guard: event.stage == 5, actions: [{assign: {stage: 5}}]}\n"
    six = five.replace("5", "6")
    rollout.write_text(text.replace(five, five + six).replace("stage_5_options_live]", "stage_5_options_live, stage_6]"))
    argv = argv_in(tmp_path, "--max-bars", "60", "--no-progress", "--specs", str(specs))
    argv[2] = "7"
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "stage 7 is not a stage of the rollout in " in err and "(it defines stages 1, 2, 3, 4, 5, 6)" in err
    assert not (tmp_path / "e.db").exists() and not (tmp_path / "run").exists()
    argv[2] = "6"
    assert main(argv) == 0, capsys.readouterr().err[-2000:]
    report = json.loads((tmp_path / "run/report.json").read_text())
    assert (report["stage"], report["final_stage_state"], report["bars"]) == (6, "stage_6", 60)


@pytest.mark.parametrize("given", ["0", "-1", "+1", "²", "٣", "1.0", ""])
def test_a_stage_is_a_plain_number_of_1_or_more(capsys, given: str) -> None:
    """int() reads `٣` as 3, and `²` passes isdigit() but not int(): argparse then printed its own
    `invalid stage_number value`."""
    with pytest.raises(SystemExit) as e:
        main(["run", "--stage", given])
    assert e.value.code == 2
    assert f"argument --stage: {given!r} is not a stage: give a stage number (1 or more)" in capsys.readouterr().err


# -- 3. the --paper suggestion pastes ---------------------------------------------------------
def test_the_paper_suggestion_keeps_every_option_given_and_runs_as_pasted(tmp_path: Path) -> None:
    argv = argv_in(tmp_path, "--max-bars", "60", "--no-progress", "--specs", str(ROOT / "specs"))
    argv[2] = "2"  # stage 2: crypto spot live
    done = engine_process(*argv)
    assert done.returncode == 1, done.stderr[-2000:]
    paper = suggested(done.stderr.split("Or run ")[1])
    assert paper[:4] == ["run", "--stage", "2", "--paper"]
    assert sorted(paper[4:]) == sorted(argv[3:])
    pasted = engine_process(*paper)
    assert pasted.returncode == 0, pasted.stderr[-2000:]
    assert json.loads((tmp_path / "run/report.json").read_text())["bars"] == 60


# -- 4. one exit code per kind of failure --------------------------------------------------------
COMMANDS = {"run": ["run", "--stage", "1", "--no-progress"], "status": ["status"],
            "kill": ["kill", "--mode", "halt"], "promote": ["promote"]}


@pytest.mark.parametrize("name", COMMANDS)
@pytest.mark.parametrize("case, code", [("memory-url", 2), ("bad-url", 2), ("no-config", 2), ("no-run", 1)])
def test_every_command_exits_alike_for_the_same_failure(tmp_path: Path, capsys, name: str, case: str,
                                                        code: int) -> None:
    extra = {"memory-url": ["--db", "sqlite://"], "bad-url": ["--db", "nosuchdriver://x/y"],
             "no-config": ["--config", str(tmp_path / "none.yaml")],
             "no-run": ["--db", str(tmp_path / "none.db")] + (["--resume"] if name == "run" else [])}[case]
    assert main([*COMMANDS[name], *extra]) == code
    err = capsys.readouterr().err
    assert err.startswith(f"engine {name}: ") and "Traceback" not in err


@pytest.mark.parametrize("name", ["run", "kill", "promote"])
def test_a_missing_spec_folder_is_a_usage_error_for_every_command(tmp_path: Path, capsys, name: str) -> None:
    assert main([*COMMANDS[name], "--specs", str(tmp_path / "nope"), "--db", str(tmp_path / "e.db")]) == 2
    assert str(tmp_path / "nope") in capsys.readouterr().err


# -- 5. a store SQLite cannot use ---------------------------------------------------------------
@pytest.mark.parametrize("name", COMMANDS)
def test_a_file_that_is_no_database_is_one_line_naming_it(tmp_path: Path, capsys, name: str) -> None:
    db = tmp_path / "x.db"
    db.write_bytes(b"not a database, just some bytes " * 200)
    assert main([*COMMANDS[name], "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "OperationalError" not in err
    assert f"{db} is not a usable SQLite store" in err and "point --db at the engine's store" in err


@pytest.mark.parametrize("name, extra", [("run", []), ("run", ["--resume"]), ("kill", [])])
@pytest.mark.parametrize("side", ["-shm", "-wal"])
def test_a_side_file_that_is_a_folder_is_one_line_naming_it(tmp_path: Path, capsys, name: str, extra: list[str],
                                                            side: str) -> None:
    db = tmp_path / "x.db"
    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 0, "stage": 1})
        s.put_json("mine", 1)
    (tmp_path / f"x.db{side}").mkdir()
    where = ["--run-dir", str(tmp_path / "run")] if name == "run" else []
    assert main([*COMMANDS[name], "--db", str(db), *where, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"its side file {db}{side} is a folder, not a file" in err and "remove that folder" in err
    (tmp_path / f"x.db{side}").rmdir()
    with Store.open_readonly(f"sqlite:///{db}") as s:  # a fresh run put the store back where it was
        assert s.get_json("mine") == 1
    assert not (tmp_path / "x.db-archive").exists()


# -- 6. a resume with nothing left to replay --------------------------------------------------------
def test_a_resume_already_at_max_bars_is_refused_and_writes_nothing(tmp_path: Path, capsys) -> None:
    assert main(argv_in(tmp_path, "--max-bars", "120", "--no-progress")) == 0
    report = (tmp_path / "run/report.json").read_bytes()
    rows = equity_rows(tmp_path / "e.db")
    capsys.readouterr()
    assert main(argv_in(tmp_path, "--max-bars", "120", "--no-progress", "--resume")) == 2
    err = capsys.readouterr().err
    assert "at bar 120 already" in err and "larger --max-bars" in err and err.count("\n") == 1
    assert equity_rows(tmp_path / "e.db") == rows and (tmp_path / "run/report.json").read_bytes() == report


def test_a_resume_after_the_last_bar_writes_the_report_without_another_checkpoint(tmp_path: Path, capsys) -> None:
    """Stopped after its last checkpoint (the last bar's) and before its report: the resume
    replays nothing, journals no empty equity row, writes the report and marks the run finished."""
    assert main(argv_in(tmp_path, "--no-progress")) == 0
    trades = (tmp_path / "run/trades.csv").read_bytes()
    report = json.loads((tmp_path / "run/report.json").read_text())
    with Store.open(path=str(tmp_path / "e.db")) as s:  # as if stopped before the report
        s.put_json(FINISHED_KEY, None)
    (tmp_path / "run/report.json").unlink()
    rows = equity_rows(tmp_path / "e.db")
    assert main(argv_in(tmp_path, "--no-progress", "--resume")) == 0
    assert "had processed its last bar already" in capsys.readouterr().out
    assert equity_rows(tmp_path / "e.db") == rows
    assert (tmp_path / "run/trades.csv").read_bytes() == trades
    again = json.loads((tmp_path / "run/report.json").read_text())
    assert again["domains"] == report["domains"] and again["bars"] == report["bars"]
    assert main(argv_in(tmp_path, "--no-progress", "--resume")) == 1
    assert "already finished" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["kill", "status"])
def test_a_store_with_damaged_pages_is_one_line_naming_it(tmp_path: Path, capsys, name: str) -> None:
    """A store a bad disk or a torn copy damaged: SQLite reads it, then a page fails (review 8: a
    failed read was committed, and `engine kill` died on SQLAlchemy's PendingRollbackError)."""
    db = tmp_path / "x.db"
    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 0, "stage": 1})
        for i in range(400):
            s.journal("note", f"k{i}", {"text": "x" * 200})
    data = bytearray(db.read_bytes())
    rng = random.Random(5)
    for page in range(2, len(data) // 4096, 3):
        data[page * 4096 + 8:page * 4096 + 100] = bytes(rng.randrange(256) for _ in range(92))
    db.write_bytes(bytes(data))
    assert main([*COMMANDS[name], "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"{db} is not a usable SQLite store" in err
