"""Counts and store URLs as a user reads them (QA D9: "1 trades", "1 pages" (engine/commands/docs.py says it with engine.words too),
`sqlite:///%3Amemory%3A`, and a README layout table without rl/)."""
from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, strategies as st
from sqlalchemy.engine import make_url

from engine.cli import main
from engine.words import counted
from state.db import shown_url

ROOT = Path(__file__).resolve().parents[1]


def test_one_is_singular_and_every_other_count_plural() -> None:
    assert [counted(n, "trade") for n in (0, 1, 2)] == ["0 trades", "1 trade", "2 trades"]


def test_the_equity_chart_titles_say_1_closed_trade() -> None:
    from engine.run.report import _panel_title
    from engine.run.result import DomainResult

    dr = DomainResult("crypto_spot", "paper", 1000.0, 1010.0, 0)
    assert _panel_title("crypto_spot", dr, [(0.0, 1000.0), (1.0, 1010.0)], 1).endswith(", 1 closed trade")
    assert _panel_title("crypto_spot", dr, None, 2).endswith(", 2 closed trades")


def test_an_in_memory_sqlite_url_is_shown_as_written(capsys) -> None:
    assert shown_url("sqlite:///:memory:") == "sqlite:///:memory:"
    assert main(["status", "--db", "sqlite:///:memory:", "--specs", str(ROOT / "specs")]) == 2
    err = capsys.readouterr().err
    assert "sqlite:///:memory: is an in-memory store" in err and "%3A" not in err


@given(st.text(st.characters(codec="utf-8", exclude_characters="\x00?#"), min_size=1, max_size=20))
def test_a_sqlite_url_shown_reads_back_as_the_same_file(name: str) -> None:
    url = f"sqlite:///{name}"
    database = make_url(url).database
    assert make_url(shown_url(url)).database == database


def test_the_readme_layout_names_every_top_level_package() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = {m.split("/")[0] for m in re.findall(r"^\| `([\w/]+)` \|", layout, flags=re.M)}
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert "rl" in packages and packages - listed == set()
