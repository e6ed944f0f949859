"""VectorGuard never answers "no" where the scalar guard would fire or raise.

The quiet-bar screen skips a sample only when the array evaluation of a guard
says it cannot pass there. Hypothesis draws samples (including NaN, zero and
infinities) and scalar contexts, and compares every sample with the guard as
the interpreter evaluates it, for the real per-bar guards of the specs and for
expressions that exercise each rewrite (and/or/not, chained comparisons, `if`,
min/max/abs, division, `in`).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.runtime.compiled import View
from engine.runtime.vector import VectorGuard
from engine.spec.expr import BUILTINS
from run_support import ROOT


def _spec_guards() -> list[str]:
    from engine.spec.loader import load_specs

    specs, _ = load_specs([str(ROOT / "specs")])
    out = []
    for name, event in (("kill_modes", "risk_update"), ("bracket", "price_update")):
        out += [t.guard.source for t in specs.machines[name].transitions if t.event == event and t.guard]
    assert len(out) >= 4, out
    return out


HANDMADE = [
    "event.price > ctx.level and not (event.atr <= 0)",
    "ctx.a < event.price <= ctx.b or event.atr == 0",
    "event.price / event.atr > params.k",
    "(event.price if ctx.flag else -event.price) >= params.k",
    "max(event.price, ctx.level) - min(event.atr, params.k) > abs(ctx.a)",
    "ctx.side in ('buy', 'sell') and event.price % 2 >= 1",
    "event.price in (1.0, 2.0)",
    "not ctx.flag or event.price ** 2 > params.k",
]
GUARDS = _spec_guards() + HANDMADE
values = st.one_of(st.floats(-1e6, 1e6), st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf]))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # inf - inf and the like: NaN, as Python's floats give it
@settings(max_examples=300, deadline=None)
@given(src=st.sampled_from(GUARDS), price=st.lists(values, min_size=1, max_size=8),
       atr=values, daily=values, dd=values, level=values, a=values, b=values, k=values,
       flag=st.booleans(), side=st.sampled_from(["buy", "sell"]))
def test_vector_guard_covers_every_sample_the_scalar_guard_would_fire_or_raise(
        src, price, atr, daily, dd, level, a, b, k, flag, side) -> None:
    n = len(price)
    prices = np.array(price, dtype=float)
    atrs = np.full(n, atr)
    dailies, dds = np.full(n, daily), np.full(n, dd)
    params = {"k": k, "daily_loss_limit": 0.05, "max_drawdown": 0.1, "breakeven_atr": 1.0,
              "trail_activation_atr": 2.0, "trail_distance_atr": 1.0}
    ctx = {"level": level, "a": a, "b": b, "flag": flag, "side": side, "entry_px": level, "stop": b}
    code = compile(src.strip(), "<guard>", "eval")
    maybe = VectorGuard(src).maybe(n, View(params), ctx, {"price": prices, "atr": atrs},
                                   {"pnl": {"daily_loss": dailies, "drawdown": dds}})
    for i in range(n):
        env = {"ctx": View(ctx), "event": View({"price": price[i], "atr": atr}),
               "pnl": View({"daily_loss": daily, "drawdown": dd}), "params": View(params)}
        try:
            fires = bool(eval(code, {"__builtins__": {}, **BUILTINS}, env))  # noqa: S307 - test fixture
        except Exception:  # noqa: BLE001 - the interpreter records a guard error: a step is needed
            fires = True
        assert maybe[i] or not fires, f"{src!r} fires at sample {i} (price {price[i]}) but was screened out"


def test_the_screen_is_exact_on_a_plain_threshold() -> None:
    """Not only safe: on the kill spec's own form it finds exactly the first crossing."""
    maybe = VectorGuard("pnl.daily_loss >= params.limit").maybe(
        4, View({"limit": 0.05}), {}, {}, {"pnl": {"daily_loss": np.array([0.0, 0.049, 0.05, 0.01])}})
    assert maybe.tolist() == [False, False, True, False]


def test_what_cannot_be_vectorized_is_always_maybe() -> None:
    for src in ("some_guard(event.price)", "(event.price > 1 or False) + 1", "round(event.price) > 1"):
        assert VectorGuard(src).code is None
        assert VectorGuard(src).maybe(3, View({}), {}, {"price": np.zeros(3)}, {}).all()


RISING = [src for src in _spec_guards() if "pnl." in src] + [
    "pnl.daily_loss >= params.k or (ctx.flag and params.k < pnl.drawdown)",
    "(pnl.daily_loss >= 1 or ctx.a / ctx.b > 1) and pnl.drawdown > ctx.level",  # raises only below 1
    "pnl.daily_loss > min(params.k, ctx.level) and not ctx.flag",
]
NOT_RISING = ["pnl.daily_loss <= params.k", "not pnl.daily_loss > params.k", "abs(pnl.daily_loss) > params.k",
              "pnl.daily_loss - pnl.drawdown > params.k", "pnl.daily_loss >= pnl.drawdown",
              "params.k < pnl.daily_loss < ctx.level", "-pnl.daily_loss >= params.k",
              "(pnl.daily_loss if ctx.flag else params.k) > 1", "pnl.daily_loss != params.k"]


def test_only_guards_that_rise_with_their_fields_are_checked_at_bounds() -> None:
    assert all(VectorGuard(src).bound_code is not None for src in RISING)
    assert all(VectorGuard(src).bound_code is None for src in NOT_RISING)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=300, deadline=None)
@example(src=RISING[-2], daily=[0.5, 1.5], dd=[0.0], slack=0.0, level=0.0, a=1.0, b=0.0, k=0.0, flag=False)
@given(src=st.sampled_from(RISING + NOT_RISING), daily=st.lists(values, min_size=1, max_size=8),
       dd=st.lists(values, min_size=1, max_size=8), slack=st.sampled_from([0.0, 0.5, math.inf]),
       level=values, a=values, b=values, k=values, flag=st.booleans())
def test_a_guard_false_at_the_bounds_fires_and_raises_at_no_sample_below(
        src, daily, dd, slack, level, a, b, k, flag) -> None:
    """SampledEvent.none_below proves a stretch quiet from the largest values alone: then no
    sample at or below them (NaN samples included) may fire or raise the scalar guard."""
    from types import SimpleNamespace

    from engine.runtime.vector import SampledEvent

    top = {name: max((x for x in xs if not math.isnan(x)), default=-math.inf) + slack
           for name, xs in (("daily_loss", daily), ("drawdown", dd))}
    params, ctx = {"k": k}, {"level": level, "a": a, "b": b, "flag": flag}
    cand = SimpleNamespace(guard=object(), guard_src=src)
    if not SampledEvent().none_below((cand,), View(params), ctx, {}, {"pnl": top}):
        return
    code = compile(src.strip(), "<guard>", "eval")
    for x in daily:
        for y in dd:
            env = {"ctx": View(ctx), "pnl": View({"daily_loss": x, "drawdown": y}), "params": View(params)}
            try:
                fires = bool(eval(code, {"__builtins__": {}, **BUILTINS}, env))  # noqa: S307 - test fixture
            except Exception:  # noqa: BLE001 - a guard error needs a step as much as a firing guard
                fires = True
            assert not fires, f"{src!r} fires at daily_loss={x}, drawdown={y} under bounds {top}"
