"""Every risk limit is read by a guard (which declares it) or by the run (RUN_READS), and the lint
warns of a limit the spec sets while nothing reads it: dropping `max_concurrent` from the chain
left `max_concurrent_positions: 1` unenforced, validated clean, and the run held two positions."""
from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

import pytest

from engine.commands.validate import validate
from engine.risk.config import RUN_READS, Limits
from engine.risk.guards import GUARDS, READS

ROOT = Path(__file__).resolve().parents[1]
RISK = ROOT / "specs" / "risk" / "risk.yaml"
# Where the run reads limits outside the chain: `lim.X` / `limits.X`, and the one Limits method it calls.
_READ = re.compile(r"\b(?:lim|limits)\.(\w+)")
_METHODS = {"near_weekly_close": {"sessions", "friday_close_buffer"}}


def _guard_reads(name: str) -> set[str]:
    """The `lim.X` attributes a guard's code reads, every branch of it."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(GUARDS[name])))
    return {n.attr for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "lim"}


@pytest.mark.parametrize("name", sorted(GUARDS))
def test_each_guard_declares_exactly_the_limits_it_reads(name: str) -> None:
    assert _guard_reads(name) == READS[name]


def test_the_run_reads_outside_the_chain_exactly_the_limits_declared() -> None:
    found: set[str] = set()
    for src in (ROOT / "engine").rglob("*.py"):
        if src.parent.name in ("risk", "lint"):
            continue  # the guards (declared apiece), the schema, the linter
        for attr in _READ.findall(src.read_text()):
            found |= _METHODS.get(attr, {attr} & set(Limits.model_fields))
    assert found == set(RUN_READS)


def test_every_limit_has_a_reader() -> None:
    assert set(Limits.model_fields) <= set().union(*READS.values(), RUN_READS)


def _warnings(tmp_path: Path, *edits: tuple[str, str]) -> list:
    tree = tmp_path / "specs"
    tree.mkdir()
    (tree / "risk").mkdir()
    text = RISK.read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    (tree / "risk" / "risk.yaml").write_text(text)
    return [d for d in validate([str(tree)])[0] if d.code == "RISK_LIMIT_UNREAD"]


def _line(key: str) -> int:
    return next(n for n, t in enumerate(RISK.read_text().splitlines(), 1) if t.startswith(f"  {key}:"))


def test_the_shipped_risk_spec_reads_every_limit(tmp_path: Path) -> None:
    assert _warnings(tmp_path) == []


def test_a_limit_whose_guard_left_the_chain_is_a_warning_at_its_key(tmp_path: Path) -> None:
    [d] = _warnings(tmp_path, ("  - max_concurrent\n", ""),
                    ("max_concurrent_positions: 8 ", "max_concurrent_positions: 1 "))
    assert (d.pos.line, d.pos.col) == (_line("max_concurrent_positions"), 3)
    assert d.message == "limits.max_concurrent_positions is set but no guard in the chain reads it (max_concurrent)"
    assert "`- max_concurrent`" in d.hint and d.severity.value == "warning"


@pytest.mark.parametrize("guard", sorted(set(READS) - {"kill_mode"}))
def test_dropping_a_guard_warns_of_what_it_alone_read(tmp_path: Path, guard: str) -> None:
    """leverage_caps stays read (wallet_available, the venue's margin); the session limits stay
    read by the weekend exit while avoid_weekend_carry is on."""
    others = set().union(*(READS[g] for g in READS if g != guard), RUN_READS)
    got = {d.message.split()[0] for d in _warnings(tmp_path, (f"  - {guard}\n", ""))}
    assert got == {f"limits.{k}" for k in READS[guard] - others}


def test_without_the_weekend_exit_the_session_limits_need_their_guard(tmp_path: Path) -> None:
    found = _warnings(tmp_path, ("  - session_hours\n", ""), ("avoid_weekend_carry: true ", "avoid_weekend_carry: false "))
    assert [d.pos.line for d in found] == [_line("sessions"), _line("friday_close_buffer")]
    assert all("(session_hours)" in d.message and "avoid_weekend_carry is true" in d.message for d in found)
