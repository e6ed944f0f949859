"""`engine run --resume` that does not fit its stopped run is refused as that, before the config,
specs and opt-ins are read, each of which blamed the misfit on something else (QA):

- the wrong --stage, for a stage with live legs, was refused for missing opt-ins (exit 1) with a
  `--paper ... --resume` that was refused again, for the stage; docs/run-report.md promises
  exit 2 and the user's command at the saved stage;
- --paper added (or dropped) on a resume rewrote the stored routing silently: where the live legs
  of every stage the run is promoted to go, and what `engine promote` checks;
- from another folder, the embedded defaults' relative strategy file named nothing:
  `engine/run/defaults.yaml:32:9: error CONFIG_STRATEGY`, not the folder the run ran in.

The stores are made as a stopped run leaves them, as far as these checks read them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import ROOT, cli
from engine.run.keys import CHECKPOINT_KEY, CONFIG_FILE_KEY, ROUTING_KEY
from engine.run.optin import Routing
from state.store import Store
from test_suggest_carried import parsed, suggested

pytestmark = pytest.mark.usefixtures("at_root")


def _stopped(db: Path, *, paper: bool, stage: int = 1, folder: Path = ROOT) -> None:
    """A run of `stage` stopped after a checkpoint, started in `folder` with --paper or without."""
    modes = {"crypto_spot": "paper", "crypto_perp": "off", "forex": "off", "forex_options": "off"}
    with Store.open(path=str(db)) as s:
        s.put_json(CHECKPOINT_KEY, {"cursor": 60, "clock": 1516515300.0, "stage": stage})
        s.put_json(ROUTING_KEY, Routing(modes, (), (), paper).to_json(stage))
        s.put_json(CONFIG_FILE_KEY, {"path": None, "specs": [str(ROOT / "specs")], "cwd": str(folder)})


def _routing(db: Path) -> dict:
    with Store.open_readonly(f"sqlite:///{db}") as s:
        return s.get_json(ROUTING_KEY)


@pytest.mark.parametrize("paper", [False, True], ids=["started without --paper", "started with --paper"])
@pytest.mark.parametrize("given", [(), ("--paper",)], ids=["resumed without", "resumed with --paper"])
def test_a_resume_at_another_stage_is_refused_for_the_stage_with_the_runs_own_routing(
        tmp_path: Path, capsys: pytest.CaptureFixture, paper: bool, given: tuple[str, ...]) -> None:
    db = tmp_path / "r1.db"
    _stopped(db, paper=paper)
    rc, _, err = cli(capsys, "run", "--stage", "2", *given, "--db", str(db), "--no-progress", "--resume")
    assert rc == 2 and "the saved run is stage 1, not stage 2" in err, err
    assert "opt-in" not in err
    [words] = suggested(err)
    args = parsed(words)
    assert (args.stage, args.paper, args.live, args.resume, args.db, args.no_progress) == (
        1, paper, False, True, str(db), True), words


@pytest.mark.parametrize("paper, given", [(False, ("--paper",)), (True, ()), (False, ("--live",))],
                         ids=["--paper added", "--paper dropped", "--live added"])
def test_a_resume_that_changes_the_routing_is_refused_and_leaves_it(
        tmp_path: Path, capsys: pytest.CaptureFixture, paper: bool, given: tuple[str, ...]) -> None:
    db = tmp_path / "r1.db"
    _stopped(db, paper=paper)
    before = _routing(db)
    rc, _, err = cli(capsys, "run", "--stage", "1", *given, "--db", str(db), "--resume")
    assert rc == 2 and f"the saved run was started {'with --paper' if paper else 'without --paper'}" in err, err
    [words] = suggested(err)
    args = parsed(words)
    assert (args.stage, args.paper, args.live, args.resume) == (1, paper, False, True), words
    assert _routing(db) == before


def test_a_resume_from_another_folder_names_the_runs_folder_and_status_command(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "r5.db"
    _stopped(db, paper=False)
    rc, out, err = cli(capsys, "status", "--db", str(db), "--json")
    assert rc == 0, err
    resume = json.loads(out)["engine"]["resume"]
    assert resume.startswith(f"cd {ROOT} && "), resume
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    rc, _, err = cli(capsys, "run", "--stage", "1", "--db", str(db), "--resume")
    assert rc == 2 and f"the run was started in {ROOT}, not here ({elsewhere})" in err, err
    assert f"`{resume}`" in err
    assert "defaults.yaml" not in err


def test_a_resume_in_its_own_folder_named_another_way_is_not_refused_for_it(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The folder compared as a file, not as text: a symlink to it is the same folder."""
    db = tmp_path / "r5.db"
    (tmp_path / "link").symlink_to(ROOT)
    _stopped(db, paper=False, stage=2, folder=tmp_path / "link")
    rc, _, err = cli(capsys, "run", "--stage", "1", "--db", str(db), "--resume")
    assert rc == 2 and "the saved run is stage 2, not stage 1" in err, err
