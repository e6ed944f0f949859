"""Every key `engine status --json` prints is documented in docs/run-report.md (QA D7: `gates` and
`engine.archived` were printed and documented nowhere)."""
from __future__ import annotations

import json
import re
from pathlib import Path

from test_operator_commands import engine, unsaved  # noqa: F401 - unsaved is a fixture

ROOT = Path(__file__).resolve().parents[1]


def _status_paragraph() -> str:
    doc = (ROOT / "docs" / "run-report.md").read_text()
    return doc.split("- `engine status [--json]`", 1)[1].split("\n- `engine kill", 1)[0]


def test_every_key_of_status_json_and_of_its_engine_object_is_documented(unsaved, capsys) -> None:
    assert engine("status", "--db", str(unsaved), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    documented = set(re.findall(r"`(\w+)`", _status_paragraph()))
    assert {"gates", "archived"} <= {*data, *data["engine"]}
    assert {*data, *data["engine"], *data["stage"], *data["kill"]} - documented == set()
