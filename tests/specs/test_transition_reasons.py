"""Every transition of every shipped machine says why in its audit record (docs/interpreter.md,
Records): QA found the unguarded ones with an empty reason, a demotion among them."""
import pytest

from engine.runtime import BoundMachine

from conftest import _recording_registry
from engine.spec.params import effective_params


def _bound(specset, name: str) -> BoundMachine:
    return BoundMachine.build(specset.machines[name], _recording_registry(specset), effective_params(specset, name))


def _said(specset, name: str, t) -> str:
    """What the spec says of an unguarded transition: its description, else its event's."""
    text = t.description or specset.machines[name].events[t.event].description
    return " ".join(text.split()).removesuffix(".")


def test_every_transition_of_every_shipped_machine_has_a_reason(specset):
    empty = [(name, leaf, c.transition.event, str(c.transition.pos))
             for name in specset.machines for (leaf, _), cands in _bound(specset, name).table.items()
             for c in cands if not c.record["reason"].strip()]
    assert specset.machines and empty == []


def test_a_demotion_says_what_the_spec_says_of_it(machine, specset):
    r = machine("rollout")
    r.send("activate", stage=2)
    [moved] = [x for x in r.send("kill_flatten") if x.kind == "transition"]
    [t] = [t for t in specset.machines["rollout"].transitions
           if t.event == "kill_flatten" and moved.source in t.sources]
    assert moved.target == "demoted" and t.guard is None
    assert moved.reason == _said(specset, "rollout", t) and moved.reason


def test_an_unguarded_transition_without_a_description_takes_its_event_s(machine, specset):
    k = machine("kill_modes")
    k.send("manual_flatten")
    [moved] = [x for x in k.send("flattened") if x.kind == "transition"]
    assert moved.reason == specset.machines["kill_modes"].events["flattened"].description.removesuffix(".")


def test_a_timer_s_transition_says_which_timer_fired(machine):
    k = machine("kill_modes", params={"cooldown": "30m"})
    for _ in range(k.params["max_consecutive_losses"]):
        k.send("trade_closed", pnl=-1.0)
    assert k.state == "cooldown"
    [moved] = k.wait(30 * 60)
    assert moved.target == "normal"
    assert moved.reason == "after 30m in `cooldown` (params.cooldown): The cooldown timer ran out"


@pytest.mark.parametrize("sent", [False, True])
def test_an_order_s_ack_timeout_names_the_timer_only_when_it_fired(machine, sent):
    """The engine also sends `ack_timeout` itself (a venue answer it cannot read): then no timer fired."""
    o = machine("order")
    o.send("submit", qty=1.0, price=100.0, reduce_only=False)
    assert o.state == "SUBMITTED"
    [moved] = o.send("ack_timeout") if sent else o.wait(o.params["submit_timeout"])
    assert moved.target == "UNRESOLVED"
    why = "No answer from the venue in time; the outcome is ambiguous"
    assert moved.reason == (why if sent else f"after 10s in `SUBMITTED` (params.submit_timeout): {why}")
