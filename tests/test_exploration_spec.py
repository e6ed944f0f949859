"""The exploration rates an ML run uses are the rollout spec's, per stage and env: nothing in
Python sets them (ExplorationConfig had defaults of 10% / 25% and a 10% floor of its own, so the
helpers used those whatever the spec said)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.spec.loader import load_specs
from engine.spec.validation import check_specs
from strategies.exploration import exploration_config, exploration_rate
from strategies.ml.config import ExplorationConfig

SPECS = Path(__file__).resolve().parents[1] / "specs"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SPECS, tmp_path / "specs"))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_the_rates_follow_the_rollout_spec_and_its_stage_overrides(tree: Path) -> None:
    rollout = tree / "rollout" / "rollout.yaml"
    _edit(rollout, "    default: 0.10\n    min: 0.10", "    default: 0.20\n    min: 0.10")
    _edit(rollout, "    default: 0.25\n", "    default: 0.40\n")
    _edit(tree / "overrides" / "stage_2.yaml", "values:\n", "values:\n  rollout:\n    exploration_min: 0.3\n")
    specs, diags = load_specs([tree])
    assert not diags
    one, two = exploration_config(specs, 1, "paper"), exploration_config(specs, 2, "paper")
    assert (one.min_rate, one.chop_rate) == (0.20, 0.40) and (two.min_rate, two.chop_rate) == (0.3, 0.40)
    assert exploration_rate("TREND_UP", one) == 0.20 and exploration_rate("RANGE", one) == 0.40


def test_the_shipped_specs_give_ten_and_twenty_five_percent() -> None:
    specs, _ = load_specs([SPECS])
    cfg = exploration_config(specs, 1, "paper")
    assert (cfg.min_rate, cfg.chop_rate, cfg.chop_regimes, cfg.tag) == (0.10, 0.25, ("RANGE",), "exploration")


def test_the_config_has_no_values_of_its_own() -> None:
    with pytest.raises(ValidationError) as e:
        ExplorationConfig()
    assert {err["loc"][0] for err in e.value.errors()} == {"min_rate", "chop_rate", "chop_regimes", "tag"}


def test_the_ten_percent_floor_is_the_specs_and_enforced(tree: Path) -> None:
    _edit(tree / "overrides" / "stage_2.yaml", "values:\n", "values:\n  rollout:\n    exploration_min: 0.05\n")
    _, diags = check_specs([tree])
    assert [d.code for d in diags if "exploration_min" in d.message] == ["PARAM_BOUNDS"]


def test_a_rate_written_in_the_exploration_document_is_reported_once(tree: Path) -> None:
    _edit(tree / "ml" / "exploration.yaml", "tag: exploration", "tag: exploration\nmin_rate: 0.3")
    _, diags = check_specs([tree])
    assert [d.code for d in diags] == ["ENGINE_CONTRACT"]
