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


def test_validate_help_says_where_the_cache_is_and_that_the_shipped_specs_pass_strict(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["validate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "$ENGINE_CACHE_DIR" in text and "not the current folder" in text
    assert "the shipped specs give none" in text


def test_strict_passes_on_the_shipped_specs_as_the_docs_say(capsys) -> None:
    """Every shipped contract has a USD rate (ETH sourced for XRP/ETH's days) and no other warning
    is given, so --strict exits 0 on them; the docs say so."""
    assert main(["validate", "--strict", "--no-cache", str(ROOT / "specs")]) == 0
    assert "0 errors, 0 warnings" in capsys.readouterr().out
    lint_rules = " ".join((ROOT / "docs" / "lint-rules.md").read_text().split())
    assert "`engine validate --strict specs` exits 0" in lint_rules
