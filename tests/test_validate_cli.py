"""`engine validate`: output format, exit codes, --strict, and a light import footprint."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from engine.cli import main

REPO = Path(__file__).parents[1]
BROKEN = REPO / "tests" / "broken_specs"
LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning) (?P<code>[A-Z_]+) .+")
CLEAN = """\
kind: orders
name: m
version: 1
events:
  go: {}
states:
  a: {initial: true}
  b: {final: true}
transitions:
  - {event: go, source: a, target: b}
"""


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["validate", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_clean_tree_exits_0_with_summary(tmp_path, capsys):
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "m.yaml").write_text(CLEAN)
    rc, out, _ = _run(capsys, str(tmp_path))
    assert (rc, out) == (0, "0 errors, 0 warnings in 1 file\n")


def test_errors_exit_1_with_file_line_col_and_hint(capsys):
    case = BROKEN / "UNRESOLVED_STATE"
    rc, out, _ = _run(capsys, str(case))
    lines = out.splitlines()
    assert rc == 1
    m = LINE.match(lines[0])
    assert m and m["code"] == "UNRESOLVED_STATE" and Path(m["file"]) == case / "orders" / "m.yaml"
    assert (m["line"], m["col"]) == ("14", "13")
    assert lines[1] == "    hint: did you mean `stage_5`?"
    assert lines[-1] == "1 error, 0 warnings in 1 file"


def test_warnings_pass_unless_strict(capsys):
    case = str(BROKEN / "UNUSED_EVENT")
    rc, out, _ = _run(capsys, case)
    assert rc == 0 and "warning UNUSED_EVENT" in out and out.endswith("0 errors, 1 warning in 1 file\n")
    rc, _, _ = _run(capsys, "--strict", case)
    assert rc == 1


def test_json_format_is_pure_json_with_paths(capsys):
    rc, out, err = _run(capsys, "--format", "json", str(BROKEN / "CHECK_UNREACHABLE"))
    data = json.loads(out)
    assert rc == 1 and [d["code"] for d in data] == ["CHECK_UNREACHABLE"]
    assert data[0]["path"] == ["normal", "close_only", "halted_by_mistake"]
    assert data[0]["severity"] == "error" and data[0]["pos"]["line"] == 17
    assert "1 error" in err


def test_github_format_annotations(capsys):
    rc, out, _ = _run(capsys, "--format", "github", str(BROKEN / "NO_PATH_TO_FINAL"))
    annotations = [x for x in out.splitlines() if x.startswith("::")]
    assert rc == 0 and len(annotations) == 2
    assert annotations[0].startswith("::warning file=") and "title=NO_PATH_TO_FINAL" in annotations[0]


def test_missing_path_is_a_usage_error(tmp_path, capsys):
    rc, out, err = _run(capsys, str(tmp_path / "nope"))
    assert rc == 2 and "no such file or directory" in err and out == ""


def test_the_default_specs_outside_the_checkout_point_at_the_engines_own(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc, _, err = _run(capsys)
    assert rc == 2 and f"hint: {REPO / 'specs'} is the engine's own: run in {REPO}" in err


def test_a_missing_path_the_checkout_lacks_too_gets_no_such_hint(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc, _, err = _run(capsys, "no_such_specs")
    assert rc == 2 and "hint" not in err


def test_every_problem_in_one_pass(tmp_path, capsys):
    for case in ("UNRESOLVED_EVENT", "TRAP_STATE", "YAML_SYNTAX"):
        src = BROKEN / case / "orders" / "m.yaml"
        (tmp_path / "orders").mkdir(exist_ok=True)
        (tmp_path / "orders" / f"{case.lower()}.yaml").write_text(
            src.read_text().replace("name: m\n", f"name: {case.lower()}\n"))
    rc, out, _ = _run(capsys, str(tmp_path))
    codes = {m["code"] for m in map(LINE.match, out.splitlines()) if m}
    assert rc == 1 and codes == {"UNRESOLVED_EVENT", "TRAP_STATE", "YAML_SYNTAX"}


def test_real_specs_validate_clean(capsys):
    rc, out, _ = _run(capsys, str(REPO / "specs"))
    assert rc == 0, out


HEAVY = "{'pandas', 'sqlmodel', 'torch', 'xgboost', 'stable_baselines3', 'sqlalchemy', 'numpy'}"


def _heavy_after(call: str) -> subprocess.CompletedProcess:
    code = (f"import sys\nfrom engine.cli import main\ntry:\n    {call}\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY}))")
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)


def test_validate_does_not_import_heavy_modules():
    proc = _heavy_after("main(['validate', '--no-cache', 'specs'])")  # the full path: parse, models, lint
    assert "HEAVY []" in proc.stdout, proc.stdout + proc.stderr


def test_help_does_not_import_heavy_modules():
    proc = _heavy_after("main(['--help'])")
    assert "HEAVY []" in proc.stdout and "validate" in proc.stdout, proc.stdout + proc.stderr


def test_github_format_escapes_a_line_break_so_no_message_forges_a_command(tmp_path, capsys):
    spec = tmp_path / "orders" / "m.yaml"
    spec.parent.mkdir()
    spec.write_text('kind: orders\nname: m\nversion: 1\n"x\\n::error file=README.md,line=1::forged": 1\n')
    rc, out, _ = _run(capsys, "--format", "github", str(spec))
    lines = [x for x in out.splitlines() if x.startswith("::")]
    assert rc == 1 and lines and not any("file=README.md" in x.split("::")[1] for x in lines)
    assert "%0A::error file=README.md" in out
