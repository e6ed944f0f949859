"""`engine run` refuses a bad strategy file (the run config's `strategy.file`) with exactly the
diagnostics `engine validate` prints for it: one loader, one set of messages and hints."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.cli import main
from engine.commands.validate import validate
from engine.diagnostics import render

ROOT = Path(__file__).resolve().parents[1]
SEED = "    weight: 0.05\n    params: {fast_ema_window: 24"  # the first entry, emavol_24h (lines 30-31)

MISTAKES = {
    "tab": (SEED, SEED.replace("    weight", "\tweight"), "YAML_SYNTAX", "hint: indent with spaces"),
    "duplicate key": (SEED, "    weight: 0.05\n" + SEED, "YAML_DUPLICATE_KEY", "first defined at line 30"),
    "unclosed brace": ("target_vol: 0.2}\n  - id: emavol_192h", "target_vol: 0.2\n  - id: emavol_192h",
                       "YAML_SYNTAX", "did not find expected ',' or '}'"),
    "misspelt key": ("{fast_ema_window: 24", "{fast_ema_windw: 24", "SCHEMA_UNKNOWN_KEY",
                     "did you mean `fast_ema_window`?"),
    "bad value": ("{fast_ema_window: 24", "{fast_ema_window: abc", "seed003.yaml:31:31:", "fast_ema_window"),
}


@pytest.fixture(autouse=True)
def _at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ENGINE_DB_URL", raising=False)


@pytest.mark.parametrize("name", MISTAKES)
def test_run_reports_a_bad_strategy_file_as_validate_does(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                          name: str) -> None:
    old, new, code, shown = MISTAKES[name]
    specs = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", specs)
    strategy = specs / "strategies" / "seed003.yaml"
    text = strategy.read_text()
    assert old in text
    strategy.write_text(text.replace(old, new, 1))
    config = tmp_path / "cfg.yaml"
    config.write_text(f"strategy: {{file: {strategy}}}\n")

    by_validate = render([d for d in validate([str(specs)])[0] if d.pos.file == str(strategy)])
    rc = main(["run", "--stage", "1", "--no-progress", "--specs", str(specs), "--config", str(config),
               "--db", str(tmp_path / "e.db"), "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and "Traceback" not in err
    assert err == by_validate
    assert code in err and shown in err, err
