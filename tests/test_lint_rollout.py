"""ROLLOUT_LIVE_TAG: the rollout's `live` tag can never disagree with the `domains` the engine
trades (it was read by nothing, so a stale tag told a reviewer the wrong thing)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return Path(shutil.copytree(ROOT / "specs", tmp_path / "specs"))


def _validate(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", "validate", str(tree)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _edit(tree: Path, old: str, new: str) -> int:
    """Replace `old` (once) in the rollout; the 1-based line it was on."""
    path = tree / "rollout" / "rollout.yaml"
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    return text[: text.index(old)].count("\n") + 1


def test_a_live_stage_without_the_tag_fails_validate(tree: Path) -> None:
    line = _edit(tree, "    gate: model_promotion\n    tags: [live]\n    after: *reoffer_timer\n    entry: *apply_stage\n"
                       "  confirm_stage_4:",
                 "    gate: model_promotion\n    after: *reoffer_timer\n    entry: *apply_stage\n  confirm_stage_4:")
    done = _validate(tree)
    assert done.returncode == 1, done.stdout
    domains = line - 1  # stage_3's `domains:` is the line above its gate
    assert f"rollout.yaml:{domains}:5: error ROLLOUT_LIVE_TAG state `stage_3` trades `crypto_spot` live" in done.stdout
    assert "hint: add `live` to its `tags:`" in done.stdout and "Traceback" not in done.stderr


def test_an_awaiting_state_tagged_live_over_paper_domains_fails_validate(tree: Path) -> None:
    line = _edit(tree, "    domains: *stage_1_domains\n    tags: [awaiting_operator]\n    after",
                 "    domains: *stage_1_domains\n    tags: [awaiting_operator, live]\n    after")
    done = _validate(tree)
    assert done.returncode == 1, done.stdout
    assert (f"rollout.yaml:{line + 1}:31: error ROLLOUT_LIVE_TAG state `confirm_stage_2` is tagged `live`, but "
            "its `domains` trade no domain live") in done.stdout


def test_the_shipped_rollout_tags_agree() -> None:
    done = _validate(ROOT / "specs")
    assert done.returncode == 0 and "ROLLOUT_LIVE_TAG" not in done.stdout
