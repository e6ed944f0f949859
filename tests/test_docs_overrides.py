"""engine docs shows what a stage or environment really runs with: each parameter's overrides
next to its default (the pages showed defaults only, so a reviewer of stage 2 read a 5% daily
loss limit where the stage runs 3%), and `engine docs --check` goes stale when an override changes."""
from __future__ import annotations

import shutil
from pathlib import Path

from engine.docs.render import pages, stale, write
from engine.spec.loader import load_specs

ROOT = Path(__file__).resolve().parents[1]


def _row(page: str, param: str) -> str:
    """The parameter's row (a state may have the same name)."""
    params = page[page.index("## Parameters"):]
    return next(line for line in params.splitlines() if line.startswith(f"| `{param}` |"))


def test_a_parameter_row_lists_the_default_and_each_override_in_the_order_they_apply() -> None:
    specs, _ = load_specs([ROOT / "specs"])
    kill = pages(specs)["kill/kill_modes.md"]
    row = _row(kill, "daily_loss_limit")
    assert "| `0.035` |" in row
    env, stage = row.index("env `bench`: `0.49` ("), row.index("stage 2: `0.03` (")
    assert env < stage and "stage_2.yaml)" in row
    assert "stage 2: `30m`" in _row(kill, "cooldown")
    assert "env `paper`: `2s`" in _row(pages(specs)["orders/order.md"], "ack_timeout")
    assert "stage" not in _row(kill, "flatten_retry").split("|")[5]  # no override: an empty cell


def test_an_override_edit_makes_the_generated_docs_stale(tmp_path: Path) -> None:
    tree = Path(shutil.copytree(ROOT / "specs", tmp_path / "specs"))
    out = tmp_path / "docs"
    specs, _ = load_specs([tree])
    write(out, pages(specs))
    override = tree / "overrides" / "stage_2.yaml"
    override.write_text(override.read_text().replace("daily_loss_limit: 0.03", "daily_loss_limit: 0.02"))
    specs, _ = load_specs([tree])
    assert stale(out, pages(specs)) == ["kill/kill_modes.md: out of date"]
