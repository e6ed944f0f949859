"""The operator commands take --specs as `engine run` does: several folders, loaded as one set.

`engine run --specs A B` loads every folder; `engine kill`, `promote`, `status`, `degrade` and
`move-stop` took one --specs folder, so every command a run started with two folders suggests
(engine/suggest.py Carried keeps its --specs) was refused when pasted (`unrecognized arguments`),
and a kill spec only the second folder held was never read.

Here the kill spec lives in an overlay folder, the second one, with commands the repo's lacks
(`all_clear`, `stand_down`): a pasted command can only name them if it reads that folder."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import run_support
from cli_support import ONE_DATASET, ROOT, cli
from engine.suggest import Carried
from state.store import Store
from test_suggest_carried import parsed, suggested

pytestmark = pytest.mark.usefixtures("at_root")

OVERLAY_COMMANDS = """  all_clear: {event: manual_resume, description: "Overlay: allow entries again."}
  stand_down: {event: manual_halt, description: "Overlay: stand down."}
"""


class Folders:
    """A spec tree without a kill spec (BASE) and an overlay folder holding it (OVERLAY), with
    commands of its own; the overlay also declares the env the assembled test runs select."""

    def __init__(self, tmp: Path) -> None:
        self.base, self.overlay = tmp / "base specs", tmp / "overlay specs"
        shutil.copytree(ROOT / "specs", self.base, ignore=shutil.ignore_patterns("kill"))
        kill = (ROOT / "specs" / "kill" / "kill_modes.yaml").read_text()
        assert kill.count("\ncommands:\n") == 1
        self.overlay.mkdir()
        (self.overlay / "kill_modes.yaml").write_text(kill.replace("\ncommands:\n", "\ncommands:\n" + OVERLAY_COMMANDS))
        run_support.write_env_override(self.overlay, wallet=1000.0)
        self.db, self.config = tmp / "engine.db", tmp / "run.yaml"
        self.config.write_text(ONE_DATASET)

    def specs(self) -> list[str]:
        return [str(self.base), str(self.overlay)]

    def store_args(self) -> list[str]:
        return ["--db", str(self.db), "--specs", *self.specs()]


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    return Folders(tmp_path)


def _pasted_ok(capsys: pytest.CaptureFixture, words: list[str], folders: Folders) -> tuple[str, str]:
    """Run a suggested command as pasted; it names the run's store and both folders and succeeds."""
    args = parsed(words)
    assert (args.db, args.specs) == (str(folders.db), folders.specs()), words
    rc, out, err = cli(capsys, *words)
    assert rc == 0, (words, out, err)
    return out, err


def _posted(db: Path) -> list[tuple[str, dict]]:
    with Store.open(path=str(db)) as s:
        return [(c.command, c.args) for c in s.commands()]


def test_every_command_a_two_folder_run_suggests_works_pasted(folders: Folders, capsys: pytest.CaptureFixture,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A run on BASE + OVERLAY holds for the operator twice: at `confirm_stage_2` (its note suggests
    `engine promote` and `--decline`) and, demoted by a halt, at `demoted` (the note suggests
    `engine promote` once the kill switch is lifted by `engine kill --mode resume` or the overlay's
    `all-clear`). Each suggestion is pasted as the operator would, the kill first, and the
    running engine acts on what was posted."""
    import engine.run.loop as loop
    from engine.run.session import load_specset

    monkeypatch.setattr(run_support, "specset", lambda _: load_specset(folders.specs()))
    spot = run_support.Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=60, seed=1,
                                partial_fill_prob=0.0, slippage_bps=0.0, max_hold_s=3600.0)
    runner = run_support.build(spot, folders.db.parent, folders.overlay, run_support.Checker())
    runner.carried = Carried.of(parsed(["run", "--stage", "1", "--paper", *folders.store_args()]))
    ses, now = runner.session, [0.0]
    ses.cfg = ses.cfg.model_copy(update={"operator_wait_s": 1.0})
    monkeypatch.setattr(loop, "wall", lambda: now[0])
    runner.pause = lambda s: now.__setitem__(0, now[0] + s)
    held: list[list[list[str]]] = []

    class Operator(run_support.Notes):
        """Pastes what a hold note suggests while the run holds: the kill commands when it names
        any (a promotion the kill switch holds back waits for them), else each promotion."""

        def note(self, text: str) -> None:
            super().note(text)
            commands = suggested(text)
            held.append(commands)
            kills = [w for w in commands if w[0] == "kill"]  # the overlay's `all-clear` first: it lists it first
            for words in kills or commands:
                out, _ = _pasted_ok(capsys, words, folders)
                for status in (w for w in suggested(out) if w[0] == "status"):  # `check with engine status`
                    _pasted_ok(capsys, status, folders)

    operator = Operator()
    ses.send(ses.rollout, "gate_passed", {"domain": "crypto_spot", "phase": "candidate"})
    assert ses.rollout.state == "confirm_stage_2"
    runner.run(operator, limit=runner.bars + 1)
    assert ses.rollout.state == "stage_2", operator.notes  # the pasted `engine promote`, taken
    ses.send(ses.kill, "manual_halt", {})  # demotes the rollout
    assert (ses.rollout.state, ses.kill.state) == ("demoted", "halted")
    runner.run(operator, limit=runner.bars + 1)
    assert ses.kill.state == "normal", operator.notes  # lifted by the overlay's all-clear, taken
    confirm, demoted = held
    assert [w[:2] for w in confirm] == [["promote", "--specs"], ["promote", "--decline"]], confirm
    assert [w[:4] for w in demoted if w[0] == "kill"] == [["kill", "--mode", "all-clear", "--specs"],
                                                          ["kill", "--mode", "resume", "--specs"]], demoted
    posted = [a for c, a in _posted(folders.db) if c == "all_clear"]
    assert [(a["machine"], a["event"], a["mode"]) for a in posted] == [("kill_modes", "manual_resume", "all-clear")]
    runner.checkpoint()  # the kill switch lifted: the promotion it held back is posted
    [promote] = [w for w in demoted if w[0] == "promote"]
    out, _ = _pasted_ok(capsys, promote, folders)
    assert out.startswith("stage state: demoted") and "posted #" in out, out


def test_engine_kill_reads_the_kill_spec_of_the_second_folder(folders: Folders, capsys: pytest.CaptureFixture,
                                                              tmp_path: Path) -> None:
    """`engine run --specs BASE OVERLAY`, stopped at --max-bars; `engine kill --mode stand-down`
    (a command only the overlay's kill spec has) on the same folders posts the overlay's event,
    and the resume `engine status` suggests applies it."""
    rc, _, err = cli(capsys, "run", "--stage", "1", "--no-progress", "--config", str(folders.config),
                     "--run-dir", str(tmp_path / "run"), "--max-bars", "60", *folders.store_args())
    assert rc == 0, err
    rc, out, err = cli(capsys, "kill", "--mode", "stand-down", *folders.store_args())
    assert rc == 0, err
    assert "-> event `manual_halt` of `kill_modes` (Overlay: stand down.)" in out, out
    assert _posted(folders.db) == [("stand_down", {"machine": "kill_modes", "event": "manual_halt",
                                                   "mode": "stand-down", "reason": "operator"})]
    rc, out, err = cli(capsys, "status", "--config", str(folders.config), *folders.store_args())
    assert rc == 0 and "kill mode: normal" in out, err
    [resume] = [w for w in suggested(out) if w[0] == "run"]
    assert parsed(resume).specs == folders.specs() and "--resume" in resume, resume
    rc, _, err = cli(capsys, *resume, "--max-bars", "90")
    assert rc == 0, err
    rc, out, err = cli(capsys, "status", "--config", str(folders.config), *folders.store_args())
    assert rc == 0 and "kill mode: halted" in out, (out, err)


@pytest.mark.parametrize("command", [("status",), ("kill", "--mode", "halt"), ("promote",), ("degrade", "--domain",
                         "forex"), ("move-stop", "--symbol", "ETH/BTC", "--stop", "1"), ("run", "--stage", "1")])
def test_every_command_that_takes_specs_takes_them_as_engine_run_does(command: tuple[str, ...]) -> None:
    """One --specs definition: several folders parse to the same list, none is a usage error."""
    args = parsed([*command, "--specs", "a", "b c"])
    assert args.specs == ["a", "b c"]
    assert parsed(list(command)).specs == ["specs"]
    with pytest.raises(SystemExit):
        parsed([*command, "--specs"])


@pytest.mark.parametrize("command", [("kill", "--mode", "halt"), ("status",), ("status", "--json")])
def test_a_missing_specs_folder_is_named_as_engine_run_names_it(folders: Folders, capsys: pytest.CaptureFixture,
                                                                command: tuple[str, ...]) -> None:
    """`engine status` is how an operator decides what to do: a mistyped folder is refused as
    `engine kill` refuses it, not a status of no gates and nothing awaiting confirmation."""
    rc, out, err = cli(capsys, *command, "--db", str(folders.db), "--specs", str(folders.base), "no such specs")
    assert rc == 2 and "--specs 'no such specs': no such file or folder" in err, err
    assert out == ""
