"""A catalogue guard or action with no implementation: `engine validate` passed it and `engine run`
refused with the bare name (`specs name actions or guards with no implementation: send_sms`).
Now validate reports it at the catalogue entry and at each use, and the run's refusal carries
the same file:line:col lines, for every provider."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.commands.validate import validate
from engine.diagnostics import SpecError, render
from engine.runtime.registry import PROVIDER_MODULES
from engine.spec.lint.implemented import LIGHT

ROOT = Path(__file__).resolve().parents[1]
HEAVY = {"pandas", "sqlmodel", "torch", "xgboost", "stable_baselines3", "sqlalchemy", "numpy"}
SMS = "  send_sms: {provider: PROVIDER, args: {text: str}, description: Text the operator.}\n"


def _tree(tmp_path: Path, provider: str) -> Path:
    tree = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", tree)
    cat = tree / "catalogue.yaml"
    cat.write_text(cat.read_text().replace("actions:\n", "actions:\n" + SMS.replace("PROVIDER", provider), 1))
    kill = tree / "kill" / "kill_modes.yaml"
    use = "      - notify: {text: \"'kill: close-only, ' + ctx.tripped_by\"}\n"
    assert use in kill.read_text()
    kill.write_text(kill.read_text().replace(use, use + "      - send_sms: {text: \"'close only'\"}\n"))
    return tree


def _line(path: Path, text: str) -> int:
    return next(n for n, t in enumerate(path.read_text().splitlines(), 1) if text in t)


def test_validate_reports_an_engine_action_without_code_at_the_entry_and_the_use(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "engine")
    found = [d for d in validate([str(tree)])[0] if d.code == "UNIMPLEMENTED"]
    where = [(Path(d.pos.file).name, d.pos.line, d.pos.col) for d in found]
    assert where == [("catalogue.yaml", _line(tree / "catalogue.yaml", "send_sms"), 3),
                     ("kill_modes.yaml", _line(tree / "kill" / "kill_modes.yaml", "send_sms"), 9)]
    assert all(d.severity.value == "error" and "`send_sms` of provider `engine`" in d.message for d in found)
    assert "engine.actions" in found[0].hint


def test_a_misspelt_guard_hints_at_the_implemented_name(tmp_path: Path) -> None:
    tree = tmp_path / "specs"
    shutil.copytree(ROOT / "tests" / "broken_specs" / "UNIMPLEMENTED", tree)
    [entry, use] = [d for d in validate([str(tree)])[0] if "`cover`" in d.message]
    assert entry.hint == use.hint == "did you mean `covers`?"


def test_the_run_refuses_a_provider_validate_does_not_import_with_the_same_lines(tmp_path: Path) -> None:
    """`rl` is not light (and has no code yet): validate finds that its module does not exist,
    without importing anything; the run reports it at the same lines."""
    from engine.run.session import load_specset

    assert "rl" not in LIGHT
    tree = _tree(tmp_path, "rl")
    found = [d for d in validate([str(tree)])[0] if d.code == "UNIMPLEMENTED"]
    cat_line = _line(tree / "catalogue.yaml", "send_sms")
    use_line = _line(tree / "kill" / "kill_modes.yaml", "send_sms")
    assert [(Path(d.pos.file).name, d.pos.line) for d in found] == [("catalogue.yaml", cat_line),
                                                                    ("kill_modes.yaml", use_line)]
    assert all("(there is no module rl.actions)" in d.message for d in found)
    with pytest.raises(SpecError) as refused:
        load_specset([str(tree)])
    lines = render(refused.value.diagnostics)
    assert f"catalogue.yaml:{cat_line}:3: error UNIMPLEMENTED" in lines
    assert f"kill_modes.yaml:{use_line}:9: error UNIMPLEMENTED" in lines
    assert "there is no module rl.actions" in lines


def test_a_provider_without_a_module_is_found_without_importing_it(tmp_path: Path) -> None:
    """QA: a `risk` guard validated clean (engine.risk.actions does not exist) and the run refused.
    Validate must still import no heavy module, nor the provider packages it only looks up."""
    tree = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", tree)
    cat = tree / "catalogue.yaml"
    entry = "  in_session: {provider: risk, args: {ts: float}}\n"
    cat.write_text(cat.read_text().replace("guards:\n", "guards:\n" + entry, 1))
    kill = tree / "kill" / "kill_modes.yaml"
    use = "guard: pnl.drawdown >= params.max_drawdown\n"
    kill.write_text(kill.read_text().replace(use, "guard: pnl.drawdown >= params.max_drawdown and in_session(1.0)\n"))
    code = ("import sys\nfrom engine.commands.validate import validate\n"
            f"d = [x for x in validate([{str(tree)!r}])[0] if x.code == 'UNIMPLEMENTED']\n"
            "print(len(d), 'there is no module engine.risk.actions' in d[0].message)\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {(HEAVY | {'rl'})!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split("\n")[:2] == ["2 True", "[]"], out.stdout + out.stderr


def test_engine_run_prints_the_lines_without_a_traceback(tmp_path: Path) -> None:
    tree = _tree(tmp_path, "engine")
    out = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--specs", str(tree),
                          "--db", str(tmp_path / "e.db"), "--run-dir", str(tmp_path / "run"), "--no-progress"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"kill_modes.yaml:{_line(tree / 'kill' / 'kill_modes.yaml', 'send_sms')}:9: error UNIMPLEMENTED" in out.stderr


def test_the_light_providers_import_nothing_heavy() -> None:
    modules = [PROVIDER_MODULES[p] for p in LIGHT]
    code = (f"import sys, importlib\nfor m in {modules!r}: importlib.import_module(m)\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
