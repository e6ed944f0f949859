"""Every key a spec lacks is reported at once, at the mapping that lacks it, with a hint naming the
value the shipped spec (the repo's specs/) has there and the seed its comment credits: a user
who deleted three keys sees three errors, not one per run of `engine validate`."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from engine.cli import main
from engine.commands.validate import validate
from engine.diagnostics import Diagnostic
from engine.spec import shipped

ROOT = Path(__file__).resolve().parents[1]
RISK = "risk/risk.yaml"


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    return tmp_path / "specs"


def drop(specs: Path, rel: str, *keys: str) -> Path:
    """The file with each line that sets one of `keys` (by its indentation and name) removed."""
    path = specs / rel
    lines = path.read_text().splitlines(keepends=True)
    for key in keys:
        found = [line for line in lines if re.match(rf"{re.escape(key)}:(\s|$)", line)]
        assert len(found) == 1, key
        lines.remove(found[0])
    path.write_text("".join(lines))
    return path


def line_of(path: Path, key: str) -> int:
    """The 1-based line that sets `key` (written with its indentation) in `path`."""
    [n] = [i for i, line in enumerate(path.read_text().splitlines(), 1) if re.match(rf"{re.escape(key)}:(\s|$)", line)]
    return n


def missing(specs: Path, path: Path) -> list[Diagnostic]:
    return [d for d in validate([str(specs)])[0] if d.pos.file == str(path) and d.code == "SCHEMA_MISSING"]


def test_every_missing_risk_key_is_reported_at_once_with_the_shipped_value_and_its_seed(specs: Path) -> None:
    path = drop(specs, RISK, "  daily_risk_budget_pct", "  sector_risk_pct", "  base_size_pct")
    found = {d.message: d for d in missing(specs, path)}
    assert set(found) == {"missing required key `daily_risk_budget_pct` in `limits`",
                          "missing required key `sector_risk_pct` in `limits`",
                          "missing required key `base_size_pct` in `sizing`"}
    shipped_risk = ROOT / "specs" / RISK
    for key, parent, value, seed in (("daily_risk_budget_pct", "limits", "0.035", "seed 000"),
                                     ("sector_risk_pct", "limits", "0.015", "seed 000"),
                                     ("base_size_pct", "sizing", "0.05", "seed 001")):
        d = found[f"missing required key `{key}` in `{parent}`"]
        first = {"limits": "  short_allowed", "sizing": "  canary"}[parent]  # the mapping starts at its first key
        assert (d.pos.line, d.pos.col) == (line_of(path, first), 3)
        assert d.hint == (f"add `{key}: {value}` to `{parent}`, as the shipped "
                          f"specs/{RISK}:{line_of(shipped_risk, '  ' + key)} has it ({seed})")


def test_the_cli_prints_every_missing_key_and_other_schema_errors_together_and_fails(
        specs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = drop(specs, RISK, "  daily_risk_budget_pct", "  sector_risk_pct", "    fraction")
    path.write_text(path.read_text().replace("  atr_window: 14\n", "  atr_window: 1\n", 1))
    assert main(["validate", "--no-cache", str(specs)]) == 1
    out, err = capsys.readouterr()
    mine = [line for line in out.splitlines() if line.startswith(f"{path}:")]
    assert [line.split(" error ")[1].split(" ")[0] for line in mine] == [
        "SCHEMA_MISSING", "SCHEMA_MISSING", "SCHEMA_MISSING", "SCHEMA_VALUE"]
    assert "missing required key `fraction` in `sizing.kelly`" in out
    assert out.count("    hint: add `") == 3 and "Traceback" not in out + err


@pytest.mark.parametrize("rel, old, new, parent, shipped_values", [
    ("ml/regime.yaml", "asian: {start_hour: 23, end_hour: 7}", "asian: {}", "sessions.asian",
     {"start_hour": ("23", "  asian:"), "end_hour": ("7", "  asian:")}),
    ("ml/selection.yaml", "sharpe: {lo: -1.0, hi: 3.0}", "sharpe: {}", "ranges.sharpe",
     {"lo": ("-1.0", "  sharpe:"), "hi": ("3.0", "  sharpe:")}),
    ("ml/exploration.yaml", "chop_regimes: [RANGE]\ntag: exploration\n", "", "",
     {"chop_regimes": ("[RANGE]", "chop_regimes"), "tag": ("exploration", "tag")}),
    ("ml/allowlists.yaml", "    sessions: [asian, eu]\n    regimes: [RANGE]\n", "", "strategies.mean_reversion",
     {"sessions": ("[asian, eu]", "    sessions: [asian"), "regimes": ("[RANGE]", "    regimes: [RANGE")}),
    ("strategies/seed003.yaml", "name: seed003\nversion: 1\n", "", "",
     {"name": ("seed003", "name"), "version": ("1", "version")}),
    ("kill/kill_modes.yaml", "    type: duration\n    default: 15m\n", "", "parameters.cooldown",
     {"type": ("duration", "  cooldown:|    type:"), "default": ("15m", "  cooldown:|    default:")}),
])
def test_other_kinds_report_every_missing_key_with_its_shipped_value(
        specs: Path, rel: str, old: str, new: str, parent: str, shipped_values: dict[str, tuple[str, str]]) -> None:
    path = specs / rel
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))
    found = {re.search(r"key `(\w+)`", d.message)[1]: d for d in missing(specs, path)}  # type: ignore[index]
    assert sorted(found) == sorted(shipped_values)
    source = ROOT / "specs" / rel
    lines = source.read_text().splitlines()
    for key, (value, anchor) in shipped_values.items():
        n = 0
        for prefix in anchor.split("|"):  # the first line starting with each prefix in turn
            n = next(i for i, line in enumerate(lines, 1) if i > n and line.startswith(prefix))
        where = f"`{parent}`" if parent else "the document"
        assert found[key].hint == f"add `{key}: {value}` to {where}, as the shipped specs/{rel}:{n} has it"


def test_a_missing_key_the_shipped_spec_lacks_too_is_hinted_without_a_value(
        specs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validating the shipped tree itself (edited in place): no value to quote, and none invented."""
    monkeypatch.setattr(shipped, "SHIPPED", specs)
    path = drop(specs, RISK, "  daily_risk_budget_pct")
    [d] = missing(specs, path)
    assert d.hint == "add `daily_risk_budget_pct:` to `limits`"


def test_a_missing_mapping_too_long_to_quote_points_at_the_shipped_one(specs: Path) -> None:
    path = specs / RISK
    text = path.read_text()
    start, end = text.index("brackets:\n"), text.index("# USD per one unit")
    path.write_text(text[:start] + text[end:])
    [d] = missing(specs, path)
    assert d.message == "missing required key `brackets`"
    assert d.hint == f"add `brackets:` to the document: copy it from the shipped specs/{RISK}:" \
        f"{line_of(ROOT / 'specs' / RISK, 'brackets')} (seed 000)"


def test_a_value_two_union_members_refuse_is_still_one_error(specs: Path) -> None:
    """Only missing keys are kept apart: two members' views of one bad value stay one error."""
    path = specs / "kill/kill_modes.yaml"
    text = path.read_text()
    path.write_text(text.replace("    min: 0.001", "    min: [0.001]", 1))
    found = [d for d in validate([str(specs)])[0] if d.pos.file == str(path) and d.code.startswith("SCHEMA")]
    assert len(found) == 1


def test_an_edit_of_the_shipped_spec_is_a_cache_miss(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hint quotes the shipped specs: a cached result must not quote a value they no longer have."""
    monkeypatch.setenv("ENGINE_CACHE_DIR", str(tmp_path / "cache"))
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    shutil.copytree(ROOT / "specs", ours)
    shutil.copytree(ROOT / "specs", theirs)
    monkeypatch.setattr(shipped, "SHIPPED", theirs)
    drop(ours, RISK, "  sector_risk_pct")

    def hint() -> str:
        [d] = [d for d in validate([str(ours)], use_cache=True)[0] if d.code == "SCHEMA_MISSING"]
        return d.hint or ""

    assert "`sector_risk_pct: 0.015`" in hint()
    edited = theirs / RISK
    edited.write_text(edited.read_text().replace("  sector_risk_pct: 0.015", "  sector_risk_pct: 0.02", 1))
    assert "`sector_risk_pct: 0.02`" in hint()
