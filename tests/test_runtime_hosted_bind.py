"""Hosted actions are bound when an instance is created or restored: a host that lacks a method
its machine's spec names is refused there, with the spec's position, not when the event that
runs the action arrives (after the machine has already moved)."""
from __future__ import annotations

import pytest

import engine.actions  # noqa: F401  registers the engine provider
from engine.run.session import load_specset
from engine.runtime import BindError, BoundMachine, Interpreter, ListSink, ReplayClock, default_registry
from engine.spec.params import effective_params


@pytest.fixture(scope="module")
def kill() -> BoundMachine:
    specs = load_specset(["specs"])
    return BoundMachine.build(specs.machines["kill_modes"], default_registry,
                              effective_params(specs, "kill_modes", stage=1, env="paper"))


class Full:
    def __init__(self) -> None:
        self.said: list[str] = []

    def flatten_all(self, ctx) -> None:
        self.said.append("flatten_all")

    def notify(self, ctx, text: str) -> None:
        self.said.append(text)


class NoNotify:
    def flatten_all(self, ctx) -> None:
        pass


def test_a_host_lacking_a_method_is_refused_at_creation(kill: BoundMachine) -> None:
    with pytest.raises(BindError) as e:
        Interpreter(ReplayClock(0.0), ListSink()).create(kill, "kill", host=NoNotify())
    text = str(e.value)
    assert "specs/kill/kill_modes.yaml:" in text and "HOST" in text
    assert "`notify`" in text and "NoNotify" in text and "`kill`" in text


def test_a_host_lacking_a_method_is_refused_at_restore(kill: BoundMachine) -> None:
    interp = Interpreter(ReplayClock(0.0), ListSink())
    data = interp.snapshot(interp.create(kill, "kill", host=Full()))
    with pytest.raises(BindError, match="`notify`"):
        interp.restore(kill, data, host=NoNotify())


def test_no_host_is_refused_where_the_spec_names_hosted_actions(kill: BoundMachine) -> None:
    with pytest.raises(BindError, match="NoneType"):
        Interpreter(ReplayClock(0.0), ListSink()).create(kill, "kill")


def test_the_bound_methods_run(kill: BoundMachine) -> None:
    host = Full()
    interp = Interpreter(ReplayClock(0.0), ListSink())
    inst = interp.create(kill, "kill", host=host)
    assert {name for name, _ in kill.hosted} >= {"notify", "flatten_all"}
    interp.send(inst, "manual_close_only")
    assert inst.state != "normal" and host.said


def test_an_instance_attribute_or_getattr_host_is_called_too(kill: BoundMachine) -> None:
    said: list[str] = []

    class Dynamic:
        def __getattr__(self, name: str):
            return lambda ctx, **kw: said.append(name)

    host = Full()
    host.notify = lambda ctx, text: said.append(f"own {text}")  # the instance's own, over the class's
    interp = Interpreter(ReplayClock(0.0), ListSink())
    for h in (Dynamic(), host):
        interp.send(interp.create(kill, "kill", host=h), "manual_close_only")
    assert said and any(s.startswith("own ") for s in said) and "notify" in said
