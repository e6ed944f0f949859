"""The order machine's own kill gate (specs/orders/order.yaml, the submit guard): an order made
before a kill broadcast reached it is DENIED at its submit if it would open risk and SUBMITTED
if it only closes (reduce_only), whichever kill mode was broadcast. It is the backstop of
"close-only blocks entries everywhere and always lets exits through" behind the risk chain;
a mutation in either direction survived the suite."""
from __future__ import annotations

import pytest

from bracket_support import order_machines
from runtime_support import interp

ORDER = order_machines()["order"]


class Host(list):
    """Records each action the machine calls on its host, instead of a venue."""

    def __getattr__(self, name: str):
        return lambda *args, **kw: self.append((name, kw))


@pytest.mark.parametrize("kill", ["kill_close_only", "kill_flatten", "kill_halt"])
@pytest.mark.parametrize("reduce_only, state", [(False, "DENIED"), (True, "SUBMITTED")])
def test_after_a_kill_an_entry_is_denied_and_an_exit_goes_out(kill: str, reduce_only: bool, state: str) -> None:
    it, _, _ = interp()
    host = Host()
    inst = it.create(ORDER, "o1", host=host)
    it.send(inst, kill)
    it.send(inst, "submit", {"qty": 1.0, "price": 0.0, "reduce_only": reduce_only})
    assert inst.state == state
    assert any(name == "submit_order" for name, _ in host) is reduce_only  # nothing reaches the venue


@pytest.mark.parametrize("reduce_only", [False, True])
def test_without_a_kill_both_go_out(reduce_only: bool) -> None:
    it, _, _ = interp()
    inst = it.create(ORDER, "o1", host=Host())
    it.send(inst, "submit", {"qty": 1.0, "price": 0.0, "reduce_only": reduce_only})
    assert inst.state == "SUBMITTED"
