"""`engine validate` and `engine run` share one check; a file inside a spec tree is validated
with its tree; the exit status survives a closed pipe; input that would crash the parser is
a diagnostic."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.commands.validate import validate
from engine.diagnostics import Severity, SpecError, render
from engine.run.session import load_specset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    out = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", out)
    return out


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _engine(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=ROOT, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120, env={**os.environ})


def _break_kill_limits(specs: Path) -> None:
    """A default above its declared max, and an override of a misspelt parameter."""
    _edit(specs / "kill" / "kill_modes.yaml", "    default: 0.05\n", "    default: 0.9\n")
    with (specs / "overrides" / "env_paper.yaml").open("a") as f:
        f.write("  kill_modes:\n    daily_loss_limt: 0.001\n")


def test_run_refuses_every_error_validate_reports_with_the_same_messages(specs: Path) -> None:
    _break_kill_limits(specs)
    errors = [d for d in validate([str(specs)])[0] if d.severity is Severity.ERROR]
    assert {d.code for d in errors} == {"PARAM_BOUNDS", "UNRESOLVED_OVERRIDE"}
    with pytest.raises(SpecError) as refused:
        load_specset([str(specs)])
    assert render(refused.value.diagnostics) == render(errors)


def test_engine_run_refuses_a_bad_override_at_its_line_without_a_traceback(specs: Path, tmp_path: Path) -> None:
    _break_kill_limits(specs)
    out = _engine("run", "--stage", "1", "--specs", str(specs), "--db", str(tmp_path / "e.db"),
                  "--run-dir", str(tmp_path / "run"), "--no-progress")
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "env_paper.yaml:11:5: error UNRESOLVED_OVERRIDE" in out.stderr
    assert "did you mean `daily_loss_limit`?" in out.stderr


@pytest.mark.parametrize("doc", ["risk/risk.yaml", "strategies/seed003.yaml"])
def test_engine_run_refuses_a_spec_tree_without_a_document_it_reads(specs: Path, tmp_path: Path, doc: str) -> None:
    (specs / doc).unlink()
    assert [d.code for d in validate([str(specs)])[0]] == ["MISSING_DOCUMENT"]
    out = _engine("run", "--stage", "1", "--specs", str(specs), "--db", str(tmp_path / "e.db"),
                  "--run-dir", str(tmp_path / "run"), "--no-progress")
    assert out.returncode == 1 and "Traceback" not in out.stderr and "[Errno" not in out.stderr
    assert "MISSING_DOCUMENT" in out.stderr and "hint: restore " in out.stderr and f"specs/{doc.split('/')[0]}/" in out.stderr


@pytest.mark.parametrize("one", ["kill/kill_modes.yaml", "overrides/stage_2.yaml", "catalogue.yaml"])
def test_one_file_of_a_clean_tree_validates_clean(specs: Path, one: str) -> None:
    diags, n_files = validate([str(specs / one)])
    assert diags == [] and n_files == len(list(specs.rglob("*.yaml")))


def test_one_file_reports_what_its_edit_broke_elsewhere_in_the_tree(specs: Path, monkeypatch) -> None:
    _edit(specs / "kill" / "kill_modes.yaml", "  cooldown:\n", "  cooldown_s:\n")  # stage_2 overrides it
    monkeypatch.chdir(specs.parent)  # relative paths in, relative file names out
    found = {(d.pos.file, d.code) for d in validate(["specs/kill/kill_modes.yaml"])[0]}
    assert ("specs/overrides/stage_2.yaml", "UNRESOLVED_OVERRIDE") in found


def test_a_closed_pipe_keeps_the_exit_status(specs: Path) -> None:
    _break_kill_limits(specs)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line is written (`| head -0`)
    try:
        out = _engine("validate", "--no-cache", str(specs), stdout=write)
    finally:
        os.close(write)
    assert out.returncode == 1 and out.stderr == ""


@pytest.mark.parametrize("nested", ["[" * 30000 + "]" * 30000, "{a: " * 30000 + "}" * 30000,
                                    "\n" + "- " * 30000 + "x"])
def test_deep_nesting_is_a_positioned_error_not_a_segfault(tmp_path: Path, nested: str) -> None:
    f = tmp_path / "deep.yaml"
    f.write_text("kind: orders\nfoo: " + nested + "\n")
    out = _engine("validate", "--no-cache", str(f))
    assert out.returncode == 1, out.returncode  # -11 when libyaml's composer overflowed its stack
    assert "error YAML_SYNTAX invalid YAML: nested deeper than 200 levels" in out.stdout
    assert f"{f}:1:1:" not in out.stdout  # positioned at the level that is too deep


def test_an_override_of_the_risk_spec_says_no_override_reaches_it(specs: Path) -> None:
    """Per-stage risk limits are what a trader reaches for; the risk spec is no machine, so the
    override is refused, and the hint says where its values are set instead."""
    with (specs / "overrides" / "env_paper.yaml").open("a") as f:
        f.write("  risk:\n    max_hold: 1h\n")
    [d] = validate([str(specs)])[0]
    assert (d.code, d.message) == ("UNRESOLVED_OVERRIDE", "no machine named `risk`")
    assert d.hint == (f"`risk` is the risk spec ({specs / 'risk' / 'risk.yaml'}), not a machine: overrides set "
                      "machine parameters only, so its values are set in that file, for every stage and environment")
