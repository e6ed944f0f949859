"""Environment names are declared (specs/overrides/environments.yaml): a `scope: env` override
or a run config's `env:` naming any other is refused, never silently left unapplied."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from engine.spec.params import declared_envs
from engine.spec.validation import check_specs

ROOT = Path(__file__).resolve().parents[1]


def _tree(tmp: Path) -> Path:
    specs = tmp / "specs"
    shutil.copytree(ROOT / "specs", specs)
    return specs


def test_the_shipped_overrides_name_declared_environments() -> None:
    specset, diags = check_specs([ROOT / "specs"])
    assert not diags
    assert {"paper", "bench"} <= set(declared_envs(specset))


def test_a_misspelt_env_key_is_an_error_with_the_known_envs(tmp_path: Path) -> None:
    specs = _tree(tmp_path)
    path = specs / "overrides" / "env_paper.yaml"
    path.write_text(path.read_text().replace("key: paper", "key: papr"))
    _, diags = check_specs([specs])
    [d] = diags
    assert (d.code, d.pos.file, d.pos.line, d.pos.col) == ("UNRESOLVED_OVERRIDE", str(path), 5, 6)
    assert "`papr`" in d.message and "did you mean `paper`?" in d.hint and "paper, bench" in d.hint


def test_env_override_values_are_checked_like_stage_ones(tmp_path: Path) -> None:
    specs = _tree(tmp_path)
    path = specs / "overrides" / "env_bench.yaml"
    path.write_text(path.read_text().replace("  rollout:", "  rollot:").replace("breakeven_atr", "breakeven_atx"))
    _, diags = check_specs([specs])
    assert sorted((d.code, d.pos.line) for d in diags) == [("UNRESOLVED_OVERRIDE", 13), ("UNRESOLVED_OVERRIDE", 16)]


def test_a_run_config_env_that_is_not_declared_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("seed: 7\nenv: papr\n")
    env = {k: v for k, v in os.environ.items() if k != "ENGINE_DB_URL"}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--config", str(cfg),
                           "--db", str(tmp_path / "db" / "engine.db"), "--run-dir", str(tmp_path / "run")],
                          cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1
    assert done.stderr.startswith(f"{cfg}:2:6: error CONFIG_ENV env `papr` is not a declared environment")
    assert "known envs: paper, bench" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml"]


def test_an_env_override_applies_to_its_own_env_and_never_reaches_another() -> None:
    """Each env gets its own override values and only those: bench's loosened kill tripwires must
    never reach paper, nor paper's short order timeouts bench. The values are read from the override
    files themselves, the defaults from the machines' params."""
    import yaml

    from engine.spec.durations import parse_duration
    from engine.spec.params import effective_params

    specset, _ = check_specs([ROOT / "specs"])
    overrides = {env: yaml.safe_load((ROOT / "specs" / "overrides" / f"env_{env}.yaml").read_text())["values"]
                 for env in ("paper", "bench")}
    for machine, name in (("kill_modes", "daily_loss_limit"), ("order", "submit_timeout")):
        default = effective_params(specset, machine)[name]
        owners = [env for env, vals in overrides.items() if name in vals.get(machine, {})]
        assert len(owners) == 1, (machine, name, owners)  # one env sets it, the other must keep the default
        for env, vals in overrides.items():
            got = effective_params(specset, machine, env=env)[name]
            if env in owners:
                raw = vals[machine][name]
                want = parse_duration(raw) if isinstance(raw, str) else raw
                assert got == want != default, (machine, name, env, got, want, default)
            else:
                assert got == default, (machine, name, env, got, default)
    bench_dll = overrides["bench"]["kill_modes"]["daily_loss_limit"]
    assert effective_params(specset, "kill_modes", env="bench")["daily_loss_limit"] == bench_dll
    assert effective_params(specset, "kill_modes", env="paper")["daily_loss_limit"] < bench_dll
