"""A path a command reads that names nothing is a usage error (exit 2) with one line; a
--metrics file that is not what `engine select` reads is a file:line:col diagnostic (exit 1)."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main


@pytest.mark.parametrize("argv", [
    ["data", "check", "{missing}"],
    ["data", "import", "{missing}", "--symbol", "ETH/BTC", "--tf", "5m"],
    ["data", "check", "{here}", "--ask", "{missing}"],
    ["docs", "--check", "{missing}"],
    ["select", "--metrics", "{missing}"],
    ["select", "--metrics", "{folder}"],
])
def test_a_path_that_names_nothing_is_a_usage_error(argv: list[str], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    here = tmp_path / "bars.csv"
    here.write_text("ts,open,high,low,close\n")
    names = {"missing": str(tmp_path / "nope.csv"), "here": str(here), "folder": str(tmp_path)}
    with pytest.raises(SystemExit) as exit_:
        main([a.format(**names) for a in argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert ("no such file or folder" in err or "is a folder" in err) and "Traceback" not in err


@pytest.mark.parametrize("text, where, what", [
    ('[{"symbol": "ETH/BTC", "trades": 3,}]', ":1:36:", "not valid JSON"),
    ('{"symbol": "ETH/BTC"}', ":1:1:", "not a list"),
    ("[1, 2]", ":1:1:", "not a list"),
])
def test_a_bad_metrics_file_is_a_diagnostic(text: str, where: str, what: str, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    metrics = tmp_path / "metrics.json"
    metrics.write_text(text)
    assert main(["select", "--metrics", str(metrics), "--out", str(tmp_path / "active.json")]) == 1
    err = capsys.readouterr().err
    assert f"{metrics}{where}" in err and what in err and "hint:" in err
