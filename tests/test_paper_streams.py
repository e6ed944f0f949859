"""Each symbol's partial fills come from its own seeded stream: a segregated domain's data
never moves another's fills (the QA pass: forex bars replayed before crypto shifted the
crypto draws), and a durable venue restores every stream, so a resumed run draws the same."""
from __future__ import annotations

from pathlib import Path

from adapters.paper import PaperConfig, PaperVenue
from adapters.paper.streams import fill_stream
from engine.data import bundled
from engine.data.bars import iter_bars
from engine.domain import Bar, Fill, OrderRequest, OrderType, Role, Side

ETH = list(iter_bars(bundled.load("crypto_spot/ETH_BTC-5m")))[:40]
GBP = list(iter_bars(bundled.load("forex/GBPUSD-1m")))[:40]  # 2012: replays before the 2018 crypto bars
CFG = PaperConfig(partial_fill_prob=0.5, seed=11)


def _buy(v: PaperVenue, symbol: str, coid: str, qty: float) -> None:
    q = v.quote(symbol)
    v.submit(OrderRequest(coid, symbol, Side.BUY, qty, OrderType.MARKET, Role.ENTRY, q.snapshot_id, q.ts))


def _trade(v: PaperVenue, bars: list[Bar], symbol: str, qty: float, start: int = 0) -> list[Fill]:
    """A small buy on every other bar of `bars`: many fill attempts, so many draws."""
    out: list[Fill] = []
    for i, bar in enumerate(bars, start):
        out += [f for r in v.on_bar(bar) for f in r.fills]
        if i % 2 == 0:
            _buy(v, symbol, f"{symbol}-{i}", qty)
    return out


def _eth_fills(v: PaperVenue, with_forex: bool) -> list[Fill]:
    if with_forex:
        _trade(v, GBP, "GBP/USD", 1000.0)
    return _trade(v, ETH, "ETH/BTC", 0.05)


def test_a_symbols_fills_do_not_depend_on_another_domain_in_the_run():
    alone = _eth_fills(PaperVenue(CFG), with_forex=False)
    beside = _eth_fills(PaperVenue(CFG), with_forex=True)
    assert any(f.qty < 0.05 for f in alone)  # partial fills drawn: the stream is exercised
    assert beside == alone


def test_streams_are_keyed_by_seed_and_symbol_not_by_process():
    a, b = fill_stream(11, "ETH/BTC").random(4), fill_stream(11, "ETH/BTC").random(4)
    assert (a == b).all()
    assert not (a == fill_stream(11, "GBP/USD").random(4)).any()
    assert not (a == fill_stream(12, "ETH/BTC").random(4)).any()
    # A stable digest of the name (Python's hash() is salted per process): the first draw is fixed,
    # and a change of the derivation (which would move every replay's fills) shows here.
    assert fill_stream(0, "ETH/BTC").bit_generator.random_raw() == FIRST_RAW


FIRST_RAW = 11062664641992091277


def test_a_reopened_venue_draws_each_symbols_stream_where_it_left_off(tmp_path: Path):
    whole = PaperVenue(CFG)
    expected = _trade(whole, GBP[:20], "GBP/USD", 1000.0) + _trade(whole, ETH[:20], "ETH/BTC", 0.05)
    expected += _trade(whole, GBP[20:], "GBP/USD", 1000.0, 20) + _trade(whole, ETH[20:], "ETH/BTC", 0.05, 20)
    first = PaperVenue.open(tmp_path / "v.sqlite", CFG)
    got = _trade(first, GBP[:20], "GBP/USD", 1000.0) + _trade(first, ETH[:20], "ETH/BTC", 0.05)
    first.ack()  # the engine checkpointed everything: the reopened venue goes on live
    first.close()
    again = PaperVenue.open(tmp_path / "v.sqlite")
    got += _trade(again, GBP[20:], "GBP/USD", 1000.0, 20) + _trade(again, ETH[20:], "ETH/BTC", 0.05, 20)
    assert got == expected and any(f.qty < 0.05 for f in got if f.symbol == "ETH/BTC")
