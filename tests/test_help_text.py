"""What --help and the docs say about commands matches what the commands do (QA D8)."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import COMMANDS, main
from engine.spec.yamlio import parse_yaml

ROOT = Path(__file__).resolve().parents[1]


def test_engine_help_names_every_command_of_the_shipped_kill_spec() -> None:
    """It listed flatten, close-only, resume: halt and disaster were left out."""
    kill = ROOT / "specs" / "kill" / "kill_modes.yaml"
    doc, _ = parse_yaml(kill.read_text(), str(kill))
    modes = [name.replace("_", "-") for name in doc.data["commands"]]
    assert {"halt", "disaster"} <= set(modes)
    assert [m for m in modes if m not in COMMANDS["kill"]] == []


def test_validate_help_says_where_the_cache_is_and_why_strict_fails_on_the_shipped_specs(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "$ENGINE_CACHE_DIR" in text and "not the current folder" in text
    assert "CONTRACT_NO_RATE" in text


def test_strict_fails_on_the_shipped_specs_as_the_docs_say(capsys) -> None:
    """The warning is real (no sourced USD rate for ETH): the docs say --strict fails on it."""
    assert main(["validate", "--strict", "--no-cache", str(ROOT / "specs")]) == 1
    out = capsys.readouterr().out
    assert "0 errors, 1 warning" in out and "warning CONTRACT_NO_RATE XRP/ETH" in out
    lint_rules = " ".join((ROOT / "docs" / "lint-rules.md").read_text().split())
    assert "`engine validate --strict specs` exits 1" in lint_rules
