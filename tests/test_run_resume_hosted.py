"""A resume is refused when the spec of any machine the saved run hosts changed, not only of the
machines the engine always creates: a stage may name a gate machine of its own (the check read
a fixed list, so an edited `gate:` machine resumed silently under the new spec)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """data:
  crypto_spot:
    datasets: [crypto_spot/ETH_BTC-5m]
    primary: 15m
    confirm: 5m
"""


def _run(work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ENGINE_DB_URL"}
    return subprocess.run([sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--no-progress",
                           "--config", str(work / "run.yaml"), "--db", str(work / "engine.db"),
                           "--specs", str(work / "specs"), *args],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=600)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_an_edited_gate_machine_of_a_stage_refuses_the_resume(tmp_path: Path) -> None:
    specs = Path(shutil.copytree(ROOT / "specs", tmp_path / "specs"))
    gate = specs / "gates" / "crypto_gate.yaml"
    gate.write_text((specs / "gates" / "model_promotion.yaml").read_text()
                    .replace("name: model_promotion", "name: crypto_gate", 1))
    _edit(specs / "rollout" / "rollout.yaml",
          "domains: &stage_1_domains {crypto_spot: paper, crypto_perp: \"off\", forex: \"off\", forex_options: \"off\"}\n"
          "    gate: model_promotion",
          "domains: &stage_1_domains {crypto_spot: paper, crypto_perp: \"off\", forex: \"off\", forex_options: \"off\"}\n"
          "    gate: crypto_gate")
    (tmp_path / "run.yaml").write_text(CONFIG)
    first = _run(tmp_path, "--max-bars", "120", "--run-dir", str(tmp_path / "run"))
    assert first.returncode == 0, first.stderr[-2000:]

    _edit(gate, "    default: 100\n", "    default: 50\n")  # fewer trades before the gate may pass
    done = _run(tmp_path, "--resume")
    assert done.returncode == 1, done.stderr[-2000:]
    assert "the spec of `crypto_gate` changed since the saved run's last checkpoint" in done.stderr
    assert "Traceback" not in done.stderr
