"""The rollout names the engine reads by convention: STAGE_ASSIGN (a transition into `stage_N`
assigns `stage: N`, which picks the parameters every machine runs on) and AWAITING_UNTAGGED (a
state that takes `engine promote`'s or `decline`'s event is tagged `awaiting_operator`, the only
states those commands post in). Both slips validated clean and ran wrong: stage 2 on stage 3's
parameters, and a confirmation nobody could give or decline."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ROOT / "specs", tmp_path / "specs"))


def _validate(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", "validate", "--no-cache", str(tree)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _edit(tree: Path, old: str, new: str) -> tuple[int, int]:
    """Replace `old` (once) in the rollout; the 1-based line and column where `new` differs."""
    path = tree / "rollout" / "rollout.yaml"
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    at = text.index(old) + next(i for i, (a, b) in enumerate(zip(old, new)) if a != b)
    return text[:at].count("\n") + 1, at - text.rfind("\n", 0, at)


def _refused(tree: Path, old: str, new: str) -> tuple[str, int, int]:
    """validate's output on the rollout edited so, which it must refuse; where the edit is."""
    line, col = _edit(tree, old, new)
    done = _validate(tree)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout
    return done.stdout, line, col


def test_an_activation_into_stage_2_that_assigns_stage_3_fails_validate(tree: Path) -> None:
    out, line, col = _refused(tree, "target: stage_2, guard: event.stage == 2, actions: [{assign: {stage: 2}}]",
                              "target: stage_2, guard: event.stage == 2, actions: [{assign: {stage: 3}}]")
    assert f"rollout.yaml:{line}:{col}: error STAGE_ASSIGN the transition into `stage_2` assigns `stage: 3`" in out
    assert "hint: assign `stage: 2`, or target `stage_3`" in out


def test_a_stage_assigned_a_digit_int_cannot_read_is_no_lint_failure(tree: Path) -> None:
    """`stage: "²"` passes isdigit() and failed int(): STAGE_ASSIGN itself crashed (INTERNAL)."""
    out, _, _ = _refused(tree, "target: stage_2, guard: event.stage == 2, actions: [{assign: {stage: 2}}]",
                         "target: stage_2, guard: event.stage == 2, actions: [{assign: {stage: \"²\"}}]")
    assert "INTERNAL" not in out and "EXPR_PARSE" in out


def test_a_confirmation_into_stage_3_that_assigns_stage_2_fails_validate(tree: Path) -> None:
    out, _, _ = _refused(tree, "    target: stage_3\n    guard: ctx.kill_clear\n    actions: [{assign: {stage: 3}}]",
                         "    target: stage_3\n    guard: ctx.kill_clear\n    actions: [{assign: {stage: 2}}]")
    assert "STAGE_ASSIGN the transition into `stage_3` assigns `stage: 2`" in out


def test_a_misspelt_awaiting_tag_on_a_confirmation_fails_validate(tree: Path) -> None:
    out, line, col = _refused(tree, "the operator confirms.\n    domains: *stage_1_domains\n    tags: [awaiting_operator]",
                              "the operator confirms.\n    domains: *stage_1_domains\n    tags: [awaiting_operatr]")
    assert (f"rollout.yaml:{line}:{col - len('awaiting_operat')}: error AWAITING_UNTAGGED state `confirm_stage_2` "
            f"takes `operator_confirmed` (`engine promote`)" in out), out
    assert "hint: did you mean `awaiting_operator`?" in out
    assert out.count("AWAITING_UNTAGGED") == 1  # once per state, though it takes both commands' events


def test_the_shipped_rollout_is_clean_of_both(tree: Path) -> None:
    done = _validate(tree)
    assert done.returncode == 0 and "STAGE_ASSIGN" not in done.stdout and "AWAITING_UNTAGGED" not in done.stdout
