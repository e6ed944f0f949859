"""An action's arguments are checked against its implementation at load. A catalogue edit
(`notify: args: {text: str, channel: str}`, with `channel` passed at every use) validated clean,
the run started, and the first kill-switch alert raised `TypeError: Session.notify() got an
unexpected keyword argument 'channel'` as a traceback mid-run, with the kill mode never entered.
Now the binding refuses it at each use, before the run directory is made."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import engine.actions  # noqa: F401  registers the engine provider
from engine.run.session import load_specset
from engine.runtime import BindError, BoundMachine, Interpreter, ListSink, ReplayClock, default_registry
from engine.runtime.hosted import host_problems
from engine.runtime.registry import Registry
from engine.spec.params import effective_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def specs():
    return load_specset([str(ROOT / "specs")])


@pytest.fixture(scope="module")
def kill(specs) -> BoundMachine:
    return BoundMachine.build(specs.machines["kill_modes"], default_registry,
                              effective_params(specs, "kill_modes", stage=1, env="paper"))


class Takes:
    def flatten_all(self, ctx) -> None:
        pass

    def notify(self, ctx, text: str) -> None:
        pass


class Refuses(Takes):
    def notify(self, ctx, message: str) -> None:  # type: ignore[override]  # the spec passes `text`
        pass


def test_a_host_class_whose_method_refuses_the_spec_s_args_is_named_at_each_use(kill: BoundMachine) -> None:
    assert host_problems(kill, Takes) == []
    found = host_problems(kill, Refuses)
    uses = {n for n, line in enumerate((ROOT / "specs/kill/kill_modes.yaml").read_text().splitlines(), 1)
            if "notify: {text:" in line}
    assert {d.pos.line for d in found} == uses and len(uses) > 1 and {d.code for d in found} == {"ACTION_SIGNATURE"}
    assert all("Refuses.notify takes (self, ctx, message)" in d.message and "'message'" in d.message for d in found)


def test_an_instance_of_such_a_host_is_refused_at_creation(kill: BoundMachine) -> None:
    with pytest.raises(BindError, match="ACTION_SIGNATURE"):
        Interpreter(ReplayClock(0.0), ListSink()).create(kill, "kill", host=Refuses())


def test_a_registered_function_that_refuses_the_spec_s_args_fails_the_binding(specs) -> None:
    reg = Registry()
    for name, fn in default_registry.actions.items():
        reg.actions[name] = fn
    reg.guards.update(default_registry.guards)
    reg.actions["notify"] = lambda ctx: None  # takes no `text`
    with pytest.raises(BindError) as e:
        BoundMachine.build(specs.machines["kill_modes"], reg, effective_params(specs, "kill_modes", stage=1, env="paper"))
    assert "ACTION_SIGNATURE" in str(e.value) and "kill_modes.yaml:" in str(e.value) and "`notify`" in str(e.value)


def test_engine_run_refuses_a_catalogue_arg_no_host_takes_before_making_its_directory(tmp_path: Path) -> None:
    tree = tmp_path / "specs"
    shutil.copytree(ROOT / "specs", tree)
    cat = tree / "catalogue.yaml"
    assert "args: {text: str}\n    description: Send an operator alert" in cat.read_text()
    cat.write_text(cat.read_text().replace("args: {text: str}\n    description: Send an operator alert",
                                           "args: {text: str, channel: str}\n    description: Send an operator alert"))
    for f in tree.rglob("*.yaml"):
        f.write_text(f.read_text().replace("notify: {text:", "notify: {channel: \"'ops'\", text:"))
    run_dir = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--specs", str(tree),
                          "--db", str(tmp_path / "e.db"), "--run-dir", str(run_dir), "--no-progress"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    errors = [line for line in out.stderr.splitlines() if " error " in line]
    assert errors and all("error ACTION_SIGNATURE" in line for line in errors), errors[:3]
    hosts = {"kill_modes.yaml": "Session", "rollout.yaml": "Session", "order.yaml": "OrderHandle",
             "bracket.yaml": "BracketHandle"}
    for file, host in hosts.items():
        assert any(f"{file}:" in line and f"{host}.notify takes (self, ctx, text)" in line for line in errors), file
    assert not run_dir.exists()
