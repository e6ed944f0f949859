"""The risk chain: sizing formulas from the seeds, and caps that are never exceeded."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, strategies as st
from ruamel.yaml import YAML

from engine.domain import Domain, Instrument, Quote, Side
from engine.risk.chain import RiskChain
from engine.risk.config import RiskConfig
from engine.risk.sizing import Sizer
from engine.risk.guards import min_size
from engine.risk.types import Book, Context, Intent

SPEC = Path(__file__).resolve().parents[1] / "specs" / "risk" / "risk.yaml"


@pytest.fixture(scope="module")
def config() -> RiskConfig:
    return RiskConfig.model_validate(YAML(typ="safe").load(SPEC.read_text()))


def book(**kw) -> Book:
    base = dict(domain=Domain.FOREX, equity=1000.0, available=1000.0, peak_equity=1000.0, trades_closed=100,
                days_active=30.0, pnl_window=0.0)
    return Book(**{**base, **kw})


def intent(price: float = 1.10, stop_dist: float = 0.002, side: Side = Side.BUY, ts: float = 1_500_000_000.0) -> Intent:
    q = Quote("q1", "EURUSD", ts, price - 0.00001, price + 0.00001, price)
    stop = q.ask - stop_dist if side is Side.BUY else q.bid + stop_dist
    return Intent("EURUSD", Domain.FOREX, side, q, stop, price + 2 * stop_dist, ts, "sma")


FX = Instrument("EURUSD", Domain.FOREX, tick=1e-5, step=1.0, min_notional=1.0)


def test_ladder_follows_seed_004_and_clamps(config: RiskConfig) -> None:
    ladder = Sizer(config.sizing).ladder
    assert [ladder(p) for p in (0, 199, 200, 500, 1000, 10_000)] == [1.0, 1.0, 1.2, 1.5, 2.0, 2.0]


def test_percent_sizing_above_threshold(config: RiskConfig) -> None:
    s = Sizer(config.sizing)
    assert s.risk_cap(1000, "forex", 1.0) == pytest.approx(5.0)  # B x r_A = 1000 x 0.5%
    # 7k -> 50k -> 150k progression of seed 004: B x r exceeds $1000 only at 200k+ for forex
    assert s.risk_cap(300_000, "forex", 1.0) == pytest.approx(max(1000, 300_000 * 0.0035))


def test_canary_uses_two_percent(config: RiskConfig) -> None:
    chain = RiskChain(config)
    fresh = chain.evaluate(intent(stop_dist=0.05), book(trades_closed=3, days_active=1), FX,
                           kill_mode="normal", entries_allowed=True, active_symbols=None)
    seasoned = chain.evaluate(intent(stop_dist=0.05), book(), FX,
                              kill_mode="normal", entries_allowed=True, active_symbols=None)
    assert fresh.sized.factors["size_pct"] == 0.02 and seasoned.sized.factors["size_pct"] == 0.05


def test_close_only_rejects_with_rule_and_numbers(config: RiskConfig) -> None:
    d = RiskChain(config).evaluate(intent(), book(), FX, kill_mode="close_only", entries_allowed=False,
                                   active_symbols=None)
    assert not d.approved and d.rejection.rule == "kill_mode" and d.rejection.numbers["mode"] == "close_only"


def test_wide_spread_rejected(config: RiskConfig) -> None:
    wide = intent()
    q = Quote("q2", "EURUSD", wide.ts, 1.0990, 1.1010, 1.1)
    d = RiskChain(config).evaluate(Intent("EURUSD", Domain.FOREX, Side.BUY, q, 1.09, 1.12, wide.ts, "sma"),
                                   book(), FX, kill_mode="normal", entries_allowed=True, active_symbols=None)
    assert d.rejection.rule == "spread_filter" and d.rejection.numbers["spread_bps"] > 4


def test_a_quote_with_no_mid_is_refused_as_a_spread_beyond_any_cap(config: RiskConfig) -> None:
    """No spread can be measured against a mid of 0: fail closed (a mutant reading it as 0 bps survived)."""
    q = Quote("q3", "EURUSD", 1_500_000_000.0, 0.0, 0.0, 0.0)
    d = RiskChain(config).evaluate(Intent("EURUSD", Domain.FOREX, Side.BUY, q, 1.09, 1.12, q.ts, "sma"),
                                   book(), FX, kill_mode="normal", entries_allowed=True, active_symbols=None)
    assert not d.approved and d.rejection.rule == "spread_filter" and d.rejection.numbers["spread_bps"] == math.inf


def test_a_spread_at_the_cap_passes_and_one_just_above_is_refused(config: RiskConfig) -> None:
    """spread_max_bps is a maximum: a spread of exactly the shipped cap is allowed (the guard says
    "exceeds"), the next representable spread above it is not. Prices are k/4096 so the bps come out exact."""
    cap = config.limits.spread_max_bps["forex"]

    def at(bid: float, ask: float):
        q = Quote("q4", "EURUSD", 1_500_000_000.0, bid, ask, (bid + ask) / 2)
        i = Intent("EURUSD", Domain.FOREX, Side.BUY, q, q.ask - 0.002, q.ask + 0.004, q.ts, "sma")
        return q, RiskChain(config).evaluate(i, book(), FX, kill_mode="normal", entries_allowed=True,
                                             active_symbols=None)

    q, d = at((5000 - cap / 4) / 4096, (5000 + cap / 4) / 4096)
    assert 1e4 * q.spread / q.mid == cap  # the premise: exactly at the cap, no rounding either way
    assert d.approved and d.rejection is None
    q, d = at((5000 - cap / 4) / 4096, math.nextafter((5000 + cap / 4) / 4096, math.inf))
    assert 1e4 * q.spread / q.mid > cap
    assert not d.approved and d.rejection.rule == "spread_filter"
    assert d.rejection.numbers["spread_bps"] > cap and d.rejection.numbers["max_bps"] == cap


_OTHERS = ("GBPUSD", "USDJPY", "AUDUSD", "USDCAD")


@given(equity=st.floats(10, 1e6), have=st.floats(0, 0.4), others=st.lists(st.floats(0, 0.2), max_size=len(_OTHERS)),
       n_open=st.integers(0, 10), dist=st.floats(1e-5, 0.5), price=st.floats(0.5, 2.0), pnl=st.floats(-1e4, 1e4),
       trades=st.integers(0, 500), win=st.floats(0.0, 1.0))
def test_approved_entries_never_exceed_a_cap(config: RiskConfig, equity: float, have: float, others: list[float],
                                             n_open: int, dist: float, price: float, pnl: float, trades: int,
                                             win: float) -> None:
    """Open notional (as shares of equity) in the entry's symbol and spread over others: the
    portfolio cap can bind while the entry's own symbol is well under the pair cap."""
    open_notional = {"EURUSD": have * equity, **{s: f * equity for s, f in zip(_OTHERS, others)}}
    b = book(equity=equity, available=equity, peak_equity=equity * 1.1, open_positions=n_open,
             open_notional=open_notional, pnl_window=pnl, trades_closed=trades, win_rate=win, payoff_ratio=1.5)
    d = RiskChain(config).evaluate(intent(price, dist), b, FX, kill_mode="normal",
                                   entries_allowed=True, active_symbols=None)
    if not d.approved:
        return
    lim, add = config.limits, d.sized.exposure
    assert open_notional["EURUSD"] + add <= lim.exposure_pair_pct * equity + 1e-9
    assert sum(open_notional.values()) + add <= lim.exposure_portfolio_pct * equity + 1e-9
    assert n_open < lim.max_concurrent_positions
    assert d.sized.risk_at_stop <= d.sized.factors["risk_cap"] + 1e-9


def test_the_portfolio_cap_counts_the_open_notional_of_every_symbol(config: RiskConfig) -> None:
    # 14k GBPUSD + 14k USDJPY open (each under the 15% pair cap) and a 5k EURUSD entry: 33k of a
    # 100k wallet is over the 30% portfolio cap, although EURUSD alone holds nothing yet.
    b = book(equity=100_000.0, available=100_000.0, peak_equity=100_000.0,
             open_notional={"GBPUSD": 14_000.0, "USDJPY": 14_000.0}, open_positions=2)
    d = RiskChain(config).evaluate(intent(stop_dist=0.05), b, FX, kill_mode="normal", entries_allowed=True,
                                   active_symbols=None)
    assert not d.approved and d.rejection.rule == "exposure_portfolio"
    n = d.rejection.numbers
    assert n["open"] == pytest.approx(28_000.0) and n["cap"] == pytest.approx(30_000.0)
    assert n["add"] == pytest.approx(5_000.0, rel=1e-3)
    assert "portfolio exposure would be" in d.rejection.message


PERP = Instrument("BTC-PERP", Domain.CRYPTO_PERP, tick=0.5, step=0.001, min_notional=5.0)


def perp_intent(price: float = 43_000.0) -> Intent:
    q = Quote("q3", "BTC-PERP", 1_642_345_200.0, price - 0.5, price + 0.5, price)
    return Intent("BTC-PERP", Domain.CRYPTO_PERP, Side.BUY, q, q.ask - 400.0, q.ask + 800.0, q.ts, "sma")


def test_an_entry_smaller_than_one_lot_is_rejected_by_min_size(config: RiskConfig) -> None:
    # A $1,000 canary wallet at 2% buys $20 of a $43k contract: 0.00046 BTC, under the 0.001 lot.
    d = RiskChain(config).evaluate(perp_intent(), book(domain=Domain.CRYPTO_PERP, trades_closed=0, days_active=0),
                                   PERP, kill_mode="normal", entries_allowed=True, active_symbols=None)
    assert d.rejection is not None and d.rejection.rule == "min_size"
    assert d.rejection.numbers["qty"] == 0.0 and d.rejection.numbers["step"] == 0.001
    assert "less than one lot" in d.rejection.message


def test_min_size_admits_a_notional_exactly_at_the_venue_minimum_and_never_zero_lots(config: RiskConfig) -> None:
    """The venue's min_notional is a floor it accepts (>=); zero lots are refused even where the
    venue sets no minimum, rather than an order of nothing sent (QA mutation run mut5f G01/G02)."""
    lim, i = config.limits, perp_intent()
    sized = Sizer(config.sizing)(i, book(domain=Domain.CRYPTO_PERP), "crypto_perp")

    def judged(qty: float, notional: float, inst: Instrument):
        s = sized._replace(qty=qty, notional=notional)
        return min_size(Context(i, s, book(domain=Domain.CRYPTO_PERP), inst, "normal", True, None, "crypto_perp"), lim)

    assert judged(0.001, PERP.min_notional, PERP) is None
    assert judged(0.001, PERP.min_notional - 0.01, PERP).rule == "min_size"
    free = Instrument("BTC-PERP", Domain.CRYPTO_PERP, tick=0.5, step=0.001, min_notional=0.0)
    assert judged(0.0, 0.0, free).rule == "min_size"


@given(equity=st.floats(1_000, 1e6), price=st.floats(1_000, 100_000), trades=st.integers(0, 200))
def test_an_approved_size_is_whole_lots(config: RiskConfig, equity: float, price: float, trades: int) -> None:
    b = book(domain=Domain.CRYPTO_PERP, equity=equity, available=equity, peak_equity=equity, trades_closed=trades)
    d = RiskChain(config).evaluate(perp_intent(price), b, PERP, kill_mode="normal", entries_allowed=True,
                                   active_symbols=None)
    lots = d.sized.qty / PERP.step
    assert abs(lots - round(lots)) < 1e-6
    assert d.sized.notional == pytest.approx(d.sized.qty * perp_intent(price).entry)
    if d.approved:
        assert d.sized.qty >= PERP.step


EURO_FUTURE = Instrument("6EH4", Domain.FOREX, tick=0.00005, step=1.0, min_notional=0.0, multiplier=125_000.0)


def test_a_contract_multiplier_scales_notional_and_risk(config: RiskConfig) -> None:
    # One 6EH4 contract is 125,000 EUR (~$137k at 1.10): 5% of a $10M wallet buys 3 of them,
    # not the 450,000 that sizing per euro would give.
    b = book(equity=1e7, available=1e7, peak_equity=1e7)
    d = RiskChain(config).evaluate(intent(stop_dist=0.01), b, EURO_FUTURE, kill_mode="normal",
                                   entries_allowed=True, active_symbols=None)
    mult = EURO_FUTURE.multiplier
    assert d.sized.qty >= 1 and d.sized.qty.is_integer()
    assert d.sized.notional == pytest.approx(d.sized.qty * intent(stop_dist=0.01).entry * mult)
    assert d.sized.risk_at_stop <= d.sized.factors["risk_cap"] + 1e-9
    assert d.sized.qty == 3 and d.sized.notional <= config.sizing.base_size_pct * 1e7


def test_the_risk_cap_bounds_the_loss_of_a_whole_contract(config: RiskConfig) -> None:
    """Seed 004's per-trade risk cap on a contract: a stop 0.2 under 1.10 loses 25,000 USD per
    6EH4 contract (x 125,000), so the 0.5% cap of a $10M wallet (50,000) buys 1, not the 3 its 5%
    notional would (QA mutation run mut5f S14: the loss per unit not times the multiplier)."""
    b = book(equity=1e7, available=1e7, peak_equity=1e7)
    d = RiskChain(config).evaluate(intent(stop_dist=0.2), b, EURO_FUTURE, kill_mode="normal",
                                   entries_allowed=True, active_symbols=None)
    mult, per_unit = EURO_FUTURE.multiplier, d.sized.per_unit
    assert d.sized.qty == 1
    assert d.sized.risk_at_stop == pytest.approx(d.sized.qty * per_unit.total * mult)
    assert d.sized.qty * intent(stop_dist=0.2).stop_distance * mult <= d.sized.risk_cap
    parts = d.sized.stop_loss(mult)  # the audit record of the cap, by cause, in money (mut5f T02)
    assert parts["stop"] == pytest.approx(d.sized.qty * per_unit.stop * mult)
    assert sum(v for k, v in parts.items() if k != "total") == pytest.approx(parts["total"])


def test_no_short_rejects_with_the_side_the_domain_and_the_limit(config: RiskConfig) -> None:
    spot = intent(side=Side.SELL)._replace(domain=Domain.CRYPTO_SPOT)  # spot: short_allowed false in risk.yaml
    d = RiskChain(config).evaluate(spot, book(domain=Domain.CRYPTO_SPOT), FX, kill_mode="normal",
                                   entries_allowed=True, active_symbols=None)
    assert d.rejection.rule == "no_short"
    assert d.rejection.numbers == {"side": "sell", "domain": "crypto_spot", "short_allowed": False}


def test_a_symbol_outside_the_active_set_is_rejected_with_the_set(config: RiskConfig) -> None:
    d = RiskChain(config).evaluate(intent(), book(), FX, kill_mode="normal", entries_allowed=True,
                                   active_symbols=frozenset({"GBP/USD", "USD/JPY"}))
    assert d.rejection.rule == "active_symbol"
    assert d.rejection.numbers == {"symbol": "EURUSD", "active": ["GBP/USD", "USD/JPY"]}
