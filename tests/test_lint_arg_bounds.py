"""ARG_BOUNDS and ARG_BOUNDS_UNPROVEN: the catalogue's `min`/`max` of an action argument bound
what a spec passes, not only a parameter of the same name. The shipped case: apply_stage's
exploration rates, floored at 0.10 (seed 001) in specs/catalogue.yaml, as the rollout's
exploration_min parameter is; a literal or a parameter reaching below the floor is an error at
the argument, an expression lint cannot bound a warning (the run checks its value)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.commands.validate import validate
from engine.diagnostics import Severity
from engine.spec.loader import load_specs

ROOT = Path(__file__).resolve().parents[1]
ROLLOUT = "rollout/rollout.yaml"
ARG = "exploration_min: params.exploration_min"


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    return tmp_path / "specs"


def _edit(specs: Path, old: str, new: str, at: str | None = None, file: str = ROLLOUT) -> tuple[str, int, int]:
    """Replace `old` by `new` in `file`; the (file, line, col) of `at` inside `new` (its start by default)."""
    path = specs / file
    text = path.read_text()
    assert old in text, old
    offset = text.index(old) + new.index(at or new)
    path.write_text(text.replace(old, new, 1))
    return str(path), text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


def _found(specs: Path) -> list:
    return [d for d in validate([str(specs)])[0] if d.code.startswith("ARG_BOUNDS")]


def test_a_literal_below_the_floor_is_an_error_at_the_argument(specs: Path) -> None:
    where = _edit(specs, ARG, "exploration_min: 0.05", "0.05")
    (d,) = _found(specs)
    assert (d.code, d.severity, d.pos.file, d.pos.line, d.pos.col) == ("ARG_BOUNDS", Severity.ERROR, *where)
    assert d.message == ("argument `exploration_min` of action `apply_stage` is `0.05`, out of its bounds: "
                         "it must be a fraction from 0.1 to 1")
    assert d.hint and "e.g." in d.hint and "catalogue.yaml:" in d.hint


@pytest.mark.parametrize("literal", ["0.1", "0.9", "1"])
def test_a_literal_within_the_bounds_passes(specs: Path, literal: str) -> None:
    _edit(specs, ARG, f"exploration_min: {literal}")
    assert _found(specs) == []


def test_a_parameter_whose_min_is_below_the_floor_is_an_error(specs: Path) -> None:
    """Its default (0.10) fits, but an override of 0.05 would pass PARAM_BOUNDS: the argument's
    bounds must hold for every value the parameter may take."""
    _edit(specs, "    default: 0.10\n    min: 0.10\n", "    default: 0.10\n    min: 0.05\n")
    where = _edit(specs, ARG, ARG, "params.exploration_min")
    (d,) = _found(specs)
    assert (d.code, d.severity, d.pos.file, d.pos.line, d.pos.col) == ("ARG_BOUNDS", Severity.ERROR, *where)
    assert "may be a fraction from 0.05 to 1" in d.message and "it must be a fraction from 0.1 to 1" in d.message
    assert d.hint and "`rollout.exploration_min`" in d.hint


def test_an_expression_is_a_warning_the_run_checks(specs: Path) -> None:
    where = _edit(specs, ARG, "exploration_min: params.exploration_min * 0.5", "params.exploration_min * 0.5")
    (d,) = _found(specs)
    assert (d.code, d.severity, d.pos.file, d.pos.line, d.pos.col) == ("ARG_BOUNDS_UNPROVEN", Severity.WARNING,
                                                                      *where)
    assert "cannot prove" in d.message and d.hint and "run refuses" in d.hint


def test_the_shipped_specs_pass_and_declare_the_floor() -> None:
    assert _found(ROOT / "specs") == []
    entry = load_specs([str(ROOT / "specs")])[0].catalogue.actions["apply_stage"]
    assert {k: (b.lo, b.hi) for k, b in entry.bounds.items()} == {
        "exploration_min": (0.1, 1.0), "exploration_max_chop": (0.1, 1.0)}
    assert entry.args["exploration_min"] == "fraction" and "paper_wallet_usd" not in entry.bounds


@pytest.mark.parametrize("decl, says", [
    ("{type: str, min: 1}", "a `str` argument takes neither"),
    ("{type: fraction, min: 0.9, max: 0.5}", "no fraction fits"),
    ("{type: fraction, min: 1.5}", "within 0 and 1"),
])
def test_bounds_that_cannot_hold_are_a_schema_error(specs: Path, decl: str, says: str) -> None:
    where = _edit(specs, "exploration_min: {type: fraction, min: 0.10}", f"exploration_min: {decl}",
                  file="catalogue.yaml")
    errors = [d for d in validate([str(specs)])[0] if d.severity is Severity.ERROR]
    assert [d.code for d in errors][:1] == ["SCHEMA_VALUE"] and says in errors[0].message
    assert (errors[0].pos.file, errors[0].pos.line) == where[:2]
