"""The reason of a transition's record: bound once from the spec, never empty (docs/interpreter.md, Records)."""
from __future__ import annotations

from dataclasses import replace

from hypothesis import given, strategies as st

from engine.runtime import BoundMachine
from engine.spec.durations import format_duration, parse_duration
from engine.spec.ir import Event
from runtime_support import P, build, interp, registry

M = build({"idle": {"initial": True},
           "armed": {"after": [("params.cooldown", "expire"), ("5s", "poke")]},
           "expired": {}},
          [{"event": "arm", "source": "idle", "target": "armed"},
           {"event": "poke", "source": "armed", "guard": "ctx.n >= 0"},
           {"event": "expire", "source": ["idle", "armed"], "target": "expired"},
           {"event": "undo", "source": "expired", "target": "idle"},
           {"event": "plain", "source": "*"}],
          params={"cooldown": ("duration", "90m")}, context={"n": 0})


def described(m=M):
    """M with a description on `arm` (the transition) and `undo` (the event) only."""
    ts = tuple(replace(t, description="Armed by hand.\n  Twice.") if t.event == "arm" else t for t in m.transitions)
    events = {**m.events, "undo": Event("undo", P, "Back to idle.")}
    return replace(m, transitions=ts, events=events)


def test_unguarded_reasons_come_from_the_spec_and_guarded_ones_stay_the_guard():
    it, _, _ = interp()
    inst = it.create(BoundMachine.build(described(), registry()), "i")
    reasons = [r.reason for e in ("arm", "poke", "expire", "undo", "plain") for r in it.send(inst, e)]
    assert reasons == ["Armed by hand. Twice", "ctx.n >= 0", "on `expire` (unguarded)", "Back to idle",
                       "on `plain` (unguarded)"]


def test_a_timer_s_transition_says_which_timer_fired_and_a_sent_event_does_not():
    it, clock, _ = interp(start=0.0)
    bound = BoundMachine.build(M, registry())
    inst = it.create(bound, "i")
    it.send(inst, "arm")
    clock.set(5400)
    assert [r.reason for r in it.advance()] == [
        "after 5s in `armed`: ctx.n >= 0",  # guarded: the guard after the timer (a literal delay)
        "after 1h30m in `armed` (params.cooldown): on `expire` (unguarded)"]
    it.send(inst, "undo")
    [sent] = it.send(inst, "expire")  # the timer's event, sent by the host from idle: no timer fired
    assert sent.reason == "on `expire` (unguarded)"


def test_an_overridden_delay_is_the_one_named():
    it, clock, _ = interp(start=0.0)
    inst = it.create(BoundMachine.build(M, registry(), {"cooldown": "2s"}), "i")
    it.send(inst, "arm")
    [moved] = it.advance(2)
    assert moved.reason == "after 2s in `armed` (params.cooldown): on `expire` (unguarded)"


def test_a_restored_instance_s_timer_still_says_so():
    it, clock, _ = interp(start=0.0)
    bound = BoundMachine.build(M, registry())
    inst = it.create(bound, "i")
    it.send(inst, "arm")
    data = it.snapshot(inst)
    other, _, _ = interp(start=0.0)
    back = other.restore(bound, data)
    [moved] = [r for r in other.advance(5400) if r.target == "expired"]
    assert moved.instance_id == back.id and moved.reason.startswith("after 1h30m in `armed`")


def test_an_operator_s_reason_follows_the_spec_s():
    it, _, _ = interp()
    inst = it.create(BoundMachine.build(described(), registry()), "i")
    [moved] = it.send_because(inst, "arm", "operator: drill")
    assert moved.reason == "Armed by hand. Twice; operator: drill"


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from([0.0, 0.25, 0.5]))
def test_a_formatted_duration_reads_back(whole, frac):
    text = format_duration(whole + frac)
    assert parse_duration(text) == whole + frac and format_duration(parse_duration(text)) == text


@given(st.integers(min_value=0, max_value=10**6), st.floats(min_value=0.9999996, max_value=0.99999999))
def test_a_fraction_just_under_a_second_carries_into_the_next_unit(whole, frac):
    """Printed to the µs, such a fraction is a whole second: 3599.9999999 is "1h", never "59m60s"."""
    text = format_duration(whole + frac)
    assert parse_duration(text) == whole + 1 and "60s" not in text
