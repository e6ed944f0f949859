"""A bracket's legs cover what it holds: entry fills less what the legs have exited
(specs/orders/bracket.yaml, &fill_and_resize). When a leg partly filled before the rest of the
entry did, the next entry fill resizes the legs to that remainder; a mutation that resized them
to everything filled (a stop that would overfill past flat) survived the suite."""
from __future__ import annotations

import pytest

from bracket_support import order_machines
from runtime_support import interp


class Host(list):
    """Records each action the machine calls on its host, instead of a venue."""

    def __getattr__(self, name: str):
        return lambda *args, **kw: self.append((name, kw))


@pytest.mark.parametrize("two_step", [False, True])
def test_an_entry_fill_after_a_partial_exit_resizes_the_legs_to_what_is_held(two_step: bool) -> None:
    bracket = order_machines({"bracket": {"two_step_placement": two_step}})["bracket"]
    it, _, _ = interp()
    host = Host()
    b = it.create(bracket, "b1", host=host)
    it.send(b, "open", {"side": "buy", "qty": 3.0, "entry_price": 100.0, "limit_price": 0.0,
                        "stop": 95.0, "take_profit": 110.0})
    it.send(b, "entry_fill", {"qty": 1.0, "price": 100.0})
    it.send(b, "leg_filled", {"leg": "take_profit", "qty": 0.5, "price": 110.0})
    del host[:]
    it.send(b, "entry_fill", {"qty": 2.0, "price": 100.0})
    assert [kw["qty"] for name, kw in host if name == "resize_legs"] == [2.5]  # 1 + 2 filled, 0.5 exited
    assert b.state == "protected"
