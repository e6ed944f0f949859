"""The strategy a run trades is the `kind: strategy` spec of its --specs set that the run
config's `strategy.spec` names (engine/run/config.py with_specs), hashed by its bytes: the
run traded specs/strategies/seed003.yaml of whatever folder it ran in, so an edit to --specs
DIR's copy was linted and then ignored."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.diagnostics import SpecError
from engine.run.checkpoint import config_changes, config_digest
from engine.run.config import load_config, with_specs
from engine.run.session import load_specset, spec_hashes

ROOT = Path(__file__).resolve().parents[1]


def _tree(where: Path) -> Path:
    shutil.copytree(ROOT / "specs", where)
    return where


def test_the_config_names_the_sets_strategy_and_the_file_is_the_sets_copy(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "mine")
    cfg = with_specs(load_config(), None, load_specset([str(tree)]))
    assert Path(cfg.strategy.file) == tree / "strategies" / "seed003.yaml"


def test_a_file_the_config_names_wins_over_the_set(tmp_path: Path) -> None:
    own = tmp_path / "own.yaml"
    shutil.copy(ROOT / "specs" / "strategies" / "seed003.yaml", own)
    cfg = load_config().model_copy(update={"strategy": load_config().strategy.model_copy(update={"file": str(own)})})
    assert with_specs(cfg, None, load_specset([str(ROOT / "specs")])).strategy.file == str(own)


def test_a_set_without_that_strategy_is_refused_naming_what_it_has(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "mine")
    (tree / "strategies" / "seed003.yaml").rename(tree / "strategies" / "other.yaml")
    text = (tree / "strategies" / "other.yaml").read_text().replace("name: seed003", "name: other", 1)
    (tree / "strategies" / "other.yaml").write_text(text)
    with pytest.raises(SpecError) as e:
        with_specs(load_config(), None, load_specset([str(tree)]))
    [d] = e.value.diagnostics
    assert d.message == "the spec set has no strategy spec `seed003`" and "other" in d.hint
    assert str(d.pos).startswith("engine/run/defaults.yaml:")


def test_the_hash_is_of_the_strategys_bytes_not_its_folder(tmp_path: Path) -> None:
    cfg = load_config()
    here, there = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert spec_hashes(load_specset([str(here)]), cfg) == spec_hashes(load_specset([str(there)]), cfg)
    mine = there / "strategies" / "seed003.yaml"
    mine.write_text(mine.read_text().replace("fast_ema_window: 24,", "fast_ema_window: 12,", 1))
    changed = spec_hashes(load_specset([str(there)]), cfg)
    assert {k for k, v in spec_hashes(load_specset([str(here)]), cfg).items() if changed[k] != v} == {"strategy"}


def test_a_resume_does_not_read_where_the_strategy_lies_as_a_config_change(tmp_path: Path) -> None:
    """The spec hash checks what the strategy says; a run saved naming the file outright resumes."""
    cfg = with_specs(load_config(), None, load_specset([str(ROOT / "specs")]))
    saved = {**config_digest(cfg), "strategy.file": "0" * 16}
    moved = with_specs(load_config(), None, load_specset([str(_tree(tmp_path / "a"))]))
    assert config_changes(saved, moved) == []
    other = moved.model_copy(update={"strategy": moved.strategy.model_copy(update={"deadband": 0.5})})
    assert config_changes(saved, other) == ["strategy.deadband"]
