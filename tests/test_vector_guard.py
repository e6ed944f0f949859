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


def _fires(code, env: dict) -> bool:
    """The scalar guard at one sample; a raising guard counts as firing: the interpreter
    records a guard error, so that sample needs a step as much as a firing one."""
    try:
        return bool(eval(code, {"__builtins__": {}, **BUILTINS}, env))
    except Exception:  # noqa: BLE001
        return True


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
@example(src="event.price / event.atr > params.k", price=[math.nan], atr=0.0, daily=0.0, dd=0.0, level=0.0, a=0.0,
         b=0.0, k=0.0, flag=False, side="buy")  # Python raises on NaN / 0; numpy sets no flag
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
        fires = _fires(code, env)
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
            assert not _fires(code, env), f"{src!r} fires at daily_loss={x}, drawdown={y} under bounds {top}"


INTERVAL = GUARDS + [
    "event.price * event.atr > params.k or -event.price >= ctx.level",
    "ctx.a - 2 * event.price >= event.atr + ctx.b",
    "abs(event.price - ctx.level) < event.atr and event.price != ctx.a",
    "(event.price if event.atr > ctx.a else ctx.b) <= params.k",
    "max(event.price, event.atr) >= ctx.level or min(event.price, ctx.a, event.atr) < ctx.b",
    "event.price == ctx.level",
    "params.k * event.price > ctx.level or event.atr * -0.5 < ctx.a or 0.5 - event.price >= ctx.b",
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=400, deadline=None)
@example(src=next(g for g in GUARDS if "trail_activation" in g), price=[1.0, 1.5], atr=[0.1, 0.2], level=1.2, a=0.0, b=1.3, k=1.0,
         flag=False, side="buy")
@given(src=st.sampled_from(INTERVAL), price=st.lists(values, min_size=1, max_size=8),
       atr=st.lists(values, min_size=1, max_size=8), level=values, a=values, b=values, k=values,
       flag=st.booleans(), side=st.sampled_from(["buy", "sell"]))
def test_a_guard_false_over_the_intervals_fires_and_raises_at_no_sample_within(
        src, price, atr, level, a, b, k, flag, side) -> None:
    """SampledEvent.none_within proves a stretch quiet from each field's lowest and highest
    sample: then no sample inside those ranges may fire or raise the scalar guard."""
    from types import SimpleNamespace

    from engine.runtime.vector import SampledEvent, span

    params = {"k": k, "breakeven_atr": 1.0, "trail_activation_atr": 2.0, "trail_distance_atr": 1.0}
    ctx = {"level": level, "a": a, "b": b, "flag": flag, "side": side, "entry_px": level, "stop": b}
    cand = SimpleNamespace(guard=object(), guard_src=src)
    prices, atrs = np.array(price, dtype=float), np.array(atr, dtype=float)
    if not SampledEvent().none_within((cand,), View(params), ctx, {"price": span(prices), "atr": span(atrs)}):
        return
    code = compile(src.strip(), "<guard>", "eval")
    for p in price:
        for x in atr:
            env = {"ctx": View(ctx), "event": View({"price": p, "atr": x}), "params": View(params)}
            assert not _fires(code, env), f"{src!r} fires at price={p}, atr={x} within the intervals"


def test_the_intervals_prove_a_calm_stretch_of_the_bracket_guards() -> None:
    """Not only safe: a bracket far from breakeven and trailing is proven quiet without arrays,
    and a NaN sample (an ATR not yet defined) leaves it to the arrays."""
    from types import SimpleNamespace

    from engine.runtime.vector import SampledEvent, span

    cands = tuple(SimpleNamespace(guard=object(), guard_src=src) for src in _spec_guards() if "event." in src)
    params = View({"breakeven_atr": 1.0, "trail_activation_atr": 2.0, "trail_distance_atr": 1.0})
    ctx = {"side": "buy", "entry_px": 1.1, "stop": 1.09}
    price, atr = np.array([1.1, 1.1004, 1.0995]), np.array([0.002, 0.0021, 0.0019])
    screen = SampledEvent()
    assert screen.none_within(cands, params, ctx, {"price": span(price), "atr": span(atr)})
    assert not screen.none_within(cands, params, ctx, {"price": span(price + 0.0025), "atr": span(atr)})
    atr[1] = math.nan
    assert not screen.none_within(cands, params, ctx, {"price": span(price), "atr": span(atr)})


@settings(max_examples=200, deadline=None)
@given(calls=st.lists(st.tuples(st.floats(0.0, 0.2), st.floats(0.0, 0.2), st.sampled_from([0.0, 0.05, 0.1]),
                                st.booleans()), min_size=1, max_size=12))
def test_a_kept_bound_answers_as_a_fresh_evaluation(calls) -> None:
    """none_below keeps the point it proved; the ctx fields a guard reads (here ctx.level and
    ctx.flag) change what it may reuse. Every answer is the one a fresh screen gives."""
    from types import SimpleNamespace

    from engine.runtime.vector import SampledEvent

    srcs = RISING[:2] + ["pnl.daily_loss > min(params.k, ctx.level) and not ctx.flag"]
    cands = tuple(SimpleNamespace(guard=object(), guard_src=src) for src in srcs)
    params, kept = View({"k": 0.1, "daily_loss_limit": 0.05, "max_drawdown": 0.1}), SampledEvent()
    for daily, dd, level, flag in calls:
        ctx, upper = {"level": level, "flag": flag, "other": daily}, {"pnl": {"daily_loss": daily, "drawdown": dd}}
        assert kept.none_below(cands, params, ctx, {}, upper) == SampledEvent().none_below(cands, params, ctx, {}, upper)


finite = st.floats(-1e6, 1e6) | st.sampled_from([0.0, -0.0, math.inf, -math.inf])


@st.composite
def in_range(draw):
    """An interval's ends and samples inside it (the ends themselves included)."""
    lo, hi = sorted([draw(finite), draw(finite)])
    inner = [lo + (hi - lo) * f for f in draw(st.lists(st.floats(0.0, 1.0), max_size=3))]
    return lo, hi, [lo, hi] + [x for x in inner if lo <= x <= hi]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@settings(max_examples=500, deadline=None)
@given(x=in_range(), y=in_range(), c=finite | st.integers(-3, 3))
def test_every_sample_operation_lands_inside_its_interval(x, y, c) -> None:
    """Each _Interval operation bounds what the same float operation gives at every sample,
    with a fixed operand (float or int, either side) or another interval; a comparison's
    True or False holds at every sample."""
    import operator

    from engine.runtime import vector as V

    if not all(map(math.isfinite, (*x[:2], *y[:2]))):
        with pytest.raises(V.Unvectorizable):  # a sample at inf could make NaN: not an interval
            V._Interval(min(x[0], y[0]), max(x[1], y[1]))
        return
    xi, yi = V._Interval(x[0], x[1]), V._Interval(y[0], y[1])
    ops = {"add": operator.add, "sub": operator.sub, "mul": operator.mul}
    cmps = {"ge": operator.ge, "gt": operator.gt, "le": operator.le, "lt": operator.lt,
            "eq": operator.eq, "ne": operator.ne}
    pairs = [(xi, c, lambda s: (s, c)), (c, xi, lambda s: (c, s))]
    pairs += [(xi, yi, lambda s, t=t: (s, t)) for t in y[2]]
    for left, right, sample in pairs:
        for name, op in {**ops, **cmps}.items():
            try:
                got = op(left, right)
            except V.Unvectorizable:
                continue  # "cannot tell": always safe
            for s in x[2]:
                want = op(*sample(s))
                if name in ops:
                    assert got.lo <= want <= got.hi, (name, left, right, s, want, got.lo, got.hi)
                elif got is not V.MAYBE:
                    assert got == want, (name, s, want)
    for f, g in ((operator.neg, operator.neg), (V._iabs, abs)):
        got = f(xi)
        assert all(got.lo <= g(s) <= got.hi for s in x[2])
    for f, g in ((V._INTERVAL_HELPERS["min"], min), (V._INTERVAL_HELPERS["max"], max)):
        try:
            got = f(xi, c, yi)
        except V.Unvectorizable:
            assert not math.isfinite(c)
            continue
        assert all(got.lo <= g(s, c, t) <= got.hi for s in x[2] for t in y[2])
