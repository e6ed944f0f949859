"""Slippage per domain, as spread_bps and taker_fee_bps are: one figure for every market was
~13 pips a fill on GBP/USD (the QA pass). A number still sets every domain; a bad value is
reported at its place in the run config."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.paper import PaperConfig, PaperVenue
from adapters.paper.catalogue import Catalogue
from adapters.paper.pricing import Pricer
from engine.data import bundled
from engine.data.bars import iter_bars
from engine.diagnostics import SpecError
from engine.domain import Domain, OrderRequest, OrderType, Role, Side
from engine.run.config import load_config

ETH = list(iter_bars(bundled.load("crypto_spot/ETH_BTC-5m")))[:3]
GBP = list(iter_bars(bundled.load("forex/GBPUSD-1m")))[:3]


def test_a_number_sets_every_domain_and_a_map_sets_each():
    assert PaperConfig(slippage_bps=3).slippage_bps == {d: 3.0 for d in Domain}
    assert PaperConfig().slippage_bps == {d: 8.0 for d in Domain}  # seed 004's PAPER_SLIPPAGE_BPS=8
    each = {d.value: 8.0 for d in Domain} | {"forex": 1.0}
    assert PaperConfig(slippage_bps=each).slippage_bps == {**{d: 8.0 for d in Domain}, Domain.FOREX: 1.0}
    with pytest.raises(ValueError, match="has no figure for crypto_perp, crypto_spot, forex_options"):
        PaperConfig(slippage_bps={"forex": 1.0})  # a domain left out is not quietly the default


def _market_fill(v: PaperVenue, bars: list, symbol: str, side: Side, qty: float) -> tuple[float, float]:
    """(fill price, the touch it was taken from) of a market order on the bar after its quote."""
    v.on_bar(bars[0])
    q = v.quote(symbol)
    v.submit(OrderRequest(f"{symbol}-m", symbol, side, qty, OrderType.MARKET, Role.ENTRY, q.snapshot_id, q.ts))
    (fill,) = [f for r in v.on_bar(bars[1]) for f in r.fills]
    return fill.price, (q.ask if side is Side.BUY else q.bid)


def test_each_domains_fills_slip_by_its_own_figure():
    v = PaperVenue(PaperConfig(partial_fill_prob=0.0, slippage_bps={**{d.value: 50.0 for d in Domain}, "forex": 0.0}))
    gbp, gbp_touch = _market_fill(v, GBP, "GBP/USD", Side.BUY, 1000.0)
    eth, eth_touch = _market_fill(v, ETH, "ETH/BTC", Side.BUY, 0.05)
    assert gbp == pytest.approx(max(gbp_touch, GBP[1].open + (GBP[1].ask - GBP[1].bid) / 2), abs=1e-5)  # no slip
    assert eth >= eth_touch * (1 + 50 / 1e4) - 1e-6  # 50 bps against the buyer


def _written(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "run.yaml"
    f.write_text(text, encoding="utf-8")
    return f


def _load(tmp_path: Path, venue: str):
    f = _written(tmp_path, f"seed: 7\nvenue:\n  slippage_bps: {venue}\n")
    return load_config(f, strategy=False), str(f)


def test_the_run_config_takes_a_map_or_a_number(tmp_path: Path):
    cfg, _ = _load(tmp_path, "{crypto_spot: 8, crypto_perp: 8, forex: 1.5, forex_options: 8}")
    assert PaperConfig.model_validate(cfg.venue).slippage_bps[Domain.FOREX] == 1.5
    cfg, _ = _load(tmp_path, "2")
    assert PaperConfig.model_validate(cfg.venue).slippage_bps == {d: 2.0 for d in Domain}


@pytest.mark.parametrize("value, where, says", [
    ("-3", "3:17", "`-3` is out of bounds: it must be at least 0"),
    ("{crypto_spot: 8, crypto_perp: 8, forex: -1, forex_options: 8}", "3:57", "`-1` is out of bounds"),
    ("{forex: 1}", "3:17", "has no figure for crypto_perp, crypto_spot, forex_options"),
    ("lots", "3:17", "must be a number (bps, every domain) or a map of domain -> bps"),
    ("{crypto_spot: 8, crypto_perp: 8, fx: 1, forex_options: 8}", "3:50", "key `fx`: `fx` is not one of crypto_spot, crypto_perp, forex, forex_options"),
])
def test_a_bad_slippage_is_reported_at_its_place(tmp_path: Path, value: str, where: str, says: str):
    with pytest.raises(SpecError) as err:
        _load(tmp_path, value)
    text = str(err.value)
    assert f"run.yaml:{where}:" in text and says in text and "Traceback" not in text, text


XRP_PERP = Catalogue.load().get("XRP-PERP")  # tick 0.0001


@settings(max_examples=100, deadline=None)
@given(base=st.floats(0.05, 50.0), bps=st.floats(0.0, 200.0), side=st.sampled_from(Side))
def test_slippage_and_its_tick_rounding_both_go_against_the_trader(base: float, bps: float, side: Side):
    """Rule (seed 004, Pricer.taker): a taker fill is the touch moved `bps` against the trader, then put
    on the tick grid against the trader too: never better than the slipped price, at most a tick worse."""
    inst = XRP_PERP
    price = Pricer(inst, 0.0, bps).taker(base, side)
    slipped = base * (1 + side.sign * bps / 1e4)
    worse_by = side.sign * (price - slipped)
    assert -1e-12 <= worse_by < inst.tick + 1e-12
    assert abs(price / inst.tick - round(price / inst.tick)) < 1e-6  # on the grid


@pytest.mark.parametrize("text, where, says", [
    ("seed: -3\n", "1:7", "`seed`: `-3` is out of bounds: it must be at least 0"),
    ("seed: 7\nvenue: {seed: -1}\n", "2:15", "`venue.seed`: `-1` is out of bounds"),
    ("seed: 7\nvenue: {leverage: {crypto_spot: 0}}\n", "2:33", "`venue.leverage.crypto_spot`: `0` is out of bounds"),
    ("seed: 7\nvenue: {taker_fee_bps: {crypto_spot: -50}}\n", "2:38", "`venue.taker_fee_bps.crypto_spot`: `-50` is out of bounds"),
    ("seed: 7\nvenue: {spread_bps: {forex: -30}}\n", "2:29", "`venue.spread_bps.forex`: `-30` is out of bounds"),
])
def test_venue_figures_that_cannot_be_are_refused_at_their_place(tmp_path: Path, text: str, where: str, says: str):
    """Each was taken: a negative seed and a zero leverage crashed the run at its first fill (and
    every resume), and a -50 bps fee turned a losing run's Sharpe from -12.75 to +6.81."""
    with pytest.raises(SpecError) as err:
        load_config(_written(tmp_path, text), strategy=False)
    assert f"run.yaml:{where}: error SCHEMA_VALUE {says}" in str(err.value), str(err.value)
