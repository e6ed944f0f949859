"""Every command the engine suggests keeps the options that chose the store, run config and specs
of the command that suggests it (engine/suggest.py Carried), quoted, so that pasted it acts on the
same run. QA D2: the operator hold note, promote's refusal while the kill switch is engaged and a
resume with the wrong --stage dropped --db/--specs/--config/--paper, and pasted went to
var/engine.db (another run) or were refused. QA D3: `engine status` of a finished run said it
awaited `engine promote`, which then refused (no engine takes a command posted to a finished run).

Each site is driven as the user meets it and every `engine ...` between backticks in what it
prints is parsed with that command's own parser: its --db, --config and --specs must be the ones
given (a store and folders whose names hold spaces, so an unquoted path fails)."""
from __future__ import annotations

import argparse
import importlib
import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from cli_support import ONE_DATASET, ROOT, after_word, cli
from engine.suggest import Carried
from state.store import Store
from test_operator_commands import set_gate, set_routing, set_state

pytestmark = pytest.mark.usefixtures("at_root")

# The commands that act on a run's store: a suggestion of one must name the same store and specs.
ON_THE_STORE = ("run", "status", "kill", "promote", "move-stop", "degrade")


class Given:
    """The options a user gave: a store, run config and spec folder whose paths hold spaces."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        self.db, self.config, self.specs = folder / "my store.db", folder / "run config.yaml", folder / "my specs"
        self.config.write_text(ONE_DATASET)
        self.specs.symlink_to(ROOT / "specs")

    def argv(self, *words: str, db: bool = True) -> list[str]:
        return [*words, *(["--db", str(self.db)] if db else []), "--config", str(self.config),
                "--specs", str(self.specs)]


@pytest.fixture
def given(tmp_path: Path) -> Given:
    return Given(tmp_path / "op folder")


def suggested(text: str) -> list[list[str]]:
    """The words (after the command word) of every `engine ...` command between backticks in
    `text` that acts on a store; a resume's `cd FOLDER &&` dropped."""
    found = []
    for quoted in re.findall(r"`([^`]+)`", text):
        command = quoted.split(" && ", 1)[1] if quoted.startswith("cd ") else quoted
        if command == "engine run":  # a mention (`a fresh engine run archives the store`), not a command
            continue
        if command.startswith("engine ") and after_word(command)[0] in ON_THE_STORE:
            found.append(after_word(command))
    return found


def parsed(words: list[str]) -> argparse.Namespace:
    """`engine WORDS` as that command parses it (a template's S and PRICE filled in)."""
    name, rest = words[0], ["1" if w == "PRICE" else w for w in words[1:]]
    parser = argparse.ArgumentParser(prog=f"engine {name}")
    importlib.import_module(f"engine.commands.{name.replace('-', '_')}").add_arguments(parser)
    return parser.parse_args(rest)


def assert_carried(text: str, given: Given, *, db: bool = True, least: int = 1) -> list[list[str]]:
    """At least `least` suggested commands in `text`, each naming the given store, config and specs."""
    commands = suggested(text)
    assert len(commands) >= least, text
    for words in commands:
        args = parsed(words)
        specs = args.specs if isinstance(args.specs, list) else [args.specs]
        assert (args.db, args.config, specs) == (str(given.db) if db else None, str(given.config),
                                                  [str(given.specs)]), (words, text)
    return commands


def _stopped(db: Path, stage: int = 1, brackets: list | None = None) -> None:
    """A run stopped after a checkpoint at `stage` (a resume takes commands), wallets and states as
    a run leaves them."""
    from engine.run.keys import CHECKPOINT_KEY

    with Store.open(path=str(db)) as s:
        s.open_wallet("crypto_spot", "paper", 1000.0)
        s.put_json(CHECKPOINT_KEY, {"cursor": 1200, "clock": 1516515300.0, "stage": stage, "brackets": brackets or []})
    set_state(db, "rollout", f"stage_{stage}", {"stage": stage})
    set_state(db, "kill_modes", "normal", {"tripped_by": ""})
    set_routing(db, paper=True)


def _halted_demoted(db: Path) -> None:
    _stopped(db)
    set_state(db, "rollout", "demoted", {"stage": 1, "kill_clear": False})
    set_state(db, "kill_modes", "halted", {"tripped_by": "manual"})


def _awaiting(db: Path) -> None:
    _stopped(db)
    set_state(db, "rollout", "confirm_stage_2", {"stage": 1, "kill_clear": True})


def _demoted_clear(db: Path) -> None:
    _stopped(db)
    set_state(db, "rollout", "demoted", {"stage": 1, "kill_clear": True})


def _gate_waits(db: Path) -> None:
    _stopped(db)
    set_gate(db, "crypto_spot", "awaiting_confirmation")


def _bracket_open(db: Path) -> None:
    _stopped(db, brackets=[{"id": "b1", "domain": "crypto_spot", "symbol": "ETH/BTC", "side": "long"}])
    with Store.open(path=str(db)) as s:
        s.save_snapshots([("bracket", "b1", "h", {"format": 1, "machine": "bracket", "spec_hash": "h", "id": "b1",
                                                  "state": "open", "ctx": {"stop": 0.05, "take_profit": 0.07},
                                                  "done": False, "timers": []})])


def _finished(db: Path) -> None:
    from engine.run.keys import FINISHED_KEY

    _stopped(db)
    with Store.open(path=str(db)) as s:
        s.put_json(FINISHED_KEY, {"run_dir": "runs/done"})


def _unsaved(db: Path) -> None:
    """A store a run made before its first checkpoint: no resume could take a command."""
    Store.open(path=str(db)).close()
    set_state(db, "kill_modes", "normal", {"tripped_by": ""})


def _nothing(db: Path) -> None:
    """No store at all."""


# (the site, the store it meets, the command line, its exit code, the stream that names the command)
SITES: list[tuple[str, Callable[[Path], None], tuple[str, ...], int, str]] = [
    ("promote refused while halted: the kill command that lifts it", _halted_demoted, ("promote",), 1, "err"),
    ("a decline nothing answers: the command that does", _demoted_clear, ("promote", "--decline"), 1, "err"),
    ("promote posted: the resume that applies it", _awaiting, ("promote",), 0, "out"),
    ("status awaiting a confirmation: engine promote", _awaiting, ("status",), 0, "out"),
    ("status with a gate waiting: engine promote --domain", _gate_waits, ("status",), 0, "out"),
    ("status with a bracket open: engine move-stop", _bracket_open, ("status",), 0, "out"),
    ("kill posted: check with engine status", _stopped, ("kill", "--mode", "halt"), 0, "out"),
    ("no store: the run that starts one", _nothing, ("status",), 1, "err"),
    ("no store: the run that starts one (kill)", _nothing, ("kill", "--mode", "halt"), 1, "err"),
    ("a finished run: engine status", _finished, ("kill", "--mode", "halt"), 1, "err"),
    ("no checkpoint: engine status", _unsaved, ("kill", "--mode", "halt"), 1, "err"),
    ("move-stop with nothing open: engine status", _stopped, ("move-stop", "--symbol", "ETH/BTC", "--stop", "1"),
     1, "err"),
    ("degrade with no gate saved: engine status", _stopped, ("degrade", "--domain", "forex"), 1, "err"),
]


@pytest.mark.parametrize("site, store, argv, code, stream", SITES, ids=[s[0] for s in SITES])
def test_every_suggested_command_keeps_the_store_config_and_specs(
        site: str, store: Callable[[Path], None], argv: tuple[str, ...], code: int, stream: str, given: Given,
        capsys: pytest.CaptureFixture) -> None:
    store(given.db)
    rc, out, err = cli(capsys, *given.argv(*argv))
    assert rc == code, (out, err)
    assert_carried({"out": out, "err": err}[stream], given)


def test_a_store_named_by_engine_db_url_is_left_to_it(given: Given, capsys: pytest.CaptureFixture,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The store came from $ENGINE_DB_URL: the suggestion relies on it too, never writes it out."""
    _halted_demoted(given.db)
    monkeypatch.setenv("ENGINE_DB_URL", f"sqlite:///{given.db}")
    rc, _, err = cli(capsys, *given.argv("promote", db=False))
    assert rc == 1 and str(given.db) not in err.split(": ", 1)[1]
    assert_carried(err, given, db=False)


def test_a_suggested_db_url_shows_no_password() -> None:
    url = "postgresql+psycopg2://engine:s3cret@db.example/engine"
    carried = Carried.of(argparse.Namespace(db=url, config=None, specs="specs"))
    command = carried.command("promote")
    assert "s3cret" not in command and shlex.split(command)[1:] == ["promote", "--db",
                                                                     "postgresql+psycopg2://engine:***@db.example/engine"]


def test_a_resume_with_another_stage_suggests_the_users_command_with_the_saved_stage(
        given: Given, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """QA D2 case 3: `resume it with engine run --stage 3 --resume` dropped --paper, --specs, --config
    and --db. The suggestion, pasted, gets past every check and runs with those options, and with
    the run's own routing: the --paper this resume added, which the run was not started with, stays
    out (a resume keeps its run's routing)."""
    import engine.commands.run as run_command

    run = ("run", "--no-progress", "--run-dir", str(tmp_path / "run"))
    rc, _, err = cli(capsys, *given.argv(*run, "--stage", "1", "--max-bars", "60"))
    assert rc == 0, err
    rc, _, err = cli(capsys, *given.argv(*run, "--stage", "2", "--paper", "--resume"))
    assert rc == 2 and "the saved run is stage 1, not stage 2" in err, err
    [words] = assert_carried(err, given)
    args = parsed(words)
    assert (args.stage, args.paper, args.resume) == (1, False, True), words
    seen = []
    monkeypatch.setattr(run_command, "_execute", lambda a, runner, *rest: seen.append(runner.carried) or 0)
    rc, _, err = cli(capsys, *words)
    assert rc == 0, err
    assert seen == [Carried.of(args)], "the run's own suggestions keep its options too"


def test_the_hold_note_names_the_runs_store_config_and_specs(given: Given, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """QA D2 case 1: ``rollout `confirm_stage_5` awaits the operator: `engine promote` ...`` for a
    run given --db and --specs: pasted, it went to var/engine.db."""
    import engine.run.loop as loop
    from run_support import Checker, Notes, Scenario, build, write_env_override

    spot = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=60, seed=1, partial_fill_prob=0.0,
                    slippage_bps=0.0, max_hold_s=3600.0)
    runner = build(spot, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    runner.carried = Carried.of(parsed(["run", *given.argv("--stage", "1", "--paper")]))
    ses, now = runner.session, [0.0]
    ses.cfg = ses.cfg.model_copy(update={"operator_wait_s": 1.0})
    monkeypatch.setattr(loop, "wall", lambda: now[0])
    runner.pause = lambda s: now.__setitem__(0, now[0] + s)
    progress = Notes()
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})
    assert ses.rollout.state == "confirm_stage_2"
    runner.run(progress, limit=runner.bars + 1)
    ses.send(ses.kill, "manual_halt", {})  # demotes the rollout: the note says what lifts the kill switch
    assert (ses.rollout.state, ses.kill.state) == ("demoted", "halted")
    runner.run(progress, limit=runner.bars + 1)
    confirm, demoted = [n for n in progress.notes if "awaits the operator" in n]
    assert [w[:2] for w in assert_carried(confirm, given, least=2)] == [["promote", "--config"],
                                                                         ["promote", "--decline"]], confirm
    assert [w[:2] for w in assert_carried(demoted, given, least=2)] == [["promote", "--config"],
                                                                         ["kill", "--mode"]], demoted


def test_a_promotion_to_a_domain_without_data_suggests_the_run_with_the_runs_options(given: Given,
                                                                                     tmp_path: Path) -> None:
    from run_support import Checker, Notes, Scenario, build, write_env_override

    spot = Scenario(stage=2, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=60, seed=1, partial_fill_prob=0.0,
                    slippage_bps=0.0, max_hold_s=3600.0)
    runner = build(spot, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    runner.carried = Carried.of(parsed(["run", *given.argv("--stage", "2", "--paper")]))
    ses, notes = runner.session, Notes()
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "canary"})
    ses.store.post_command("promote", {"machine": "rollout", "event": "operator_confirmed", "reason": "operator",
                                       "expect_state": "confirm_stage_3", "stage": 3})
    runner.run(progress=notes, limit=2)
    assert ses.rollout.state == "stage_3" and notes.notes, notes.notes
    for note in notes.notes:
        [words] = assert_carried(note, given)
        assert words[:3] == ["run", "--stage", "3"] and parsed(words).paper, note


def test_status_of_a_finished_run_awaits_no_confirmation(given: Given, capsys: pytest.CaptureFixture) -> None:
    """QA D3: a run that finished in a state tagged awaiting_operator (demoted) showed `awaiting
    operator confirmation: engine promote`, which then refused: no engine takes it."""
    _finished(given.db)
    set_state(given.db, "rollout", "demoted", {"stage": 1, "kill_clear": True})
    set_gate(given.db, "crypto_spot", "awaiting_confirmation")
    rc, out, _ = cli(capsys, *given.argv("status"))
    assert rc == 0 and "engine: the run finished" in out
    assert "awaiting operator confirmation" not in out and "awaits the operator" not in out, out
    rc, out, _ = cli(capsys, *given.argv("status", "--json"))
    data = json.loads(out)
    assert rc == 0 and data["stage"]["state"] == "demoted" and data["stage"]["awaiting_confirmation"] is False
    assert [g["awaiting_confirmation"] for g in data["gates"]] == [False]
    rc, _, err = cli(capsys, *given.argv("promote"))
    assert rc == 1 and "finished" in err
