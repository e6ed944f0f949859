"""A fill names the quote its price came from, so no price is invented: the bar it filled on
(its open's quote, or the bar's own: its close, or the range a stop or limit filled in at its
own price), or a market order's snapshot where that priced it; not the quote its order was
submitted with. The order keeps its own submission quote id. (The QA pass: an ETH/BTC stop
amended for hours filled carrying its submission quote, 2.5 h older than the bar it filled on.
rev33: a fill at the open named the bar's close quote, and a stop's was never stored.)"""
from __future__ import annotations

from adapters.base import ReportStatus as S
from adapters.paper import PaperConfig, PaperVenue
from adapters.paper.clamp import snap
from adapters.paper.pricing import half_spread
from engine.data import bundled
from engine.data.bars import iter_bars
from engine.domain import Domain, Fill, OrderRequest, OrderType, Role, Side

SYM = "ETH/BTC"
ETH = list(iter_bars(bundled.load("crypto_spot/ETH_BTC-5m")))[:400]
BY_MS = {int(round(b.ts * 1000)): b for b in ETH}
CFG = PaperConfig(partial_fill_prob=0.3, seed=1, slippage_bps=0.0)
TICK = 0.000001


def _submit(v: PaperVenue, coid: str, side: Side, type_: OrderType, role: Role, price: float | None = None,
            qty: float = 1.0) -> str:
    q = v.quote(SYM)
    v.submit(OrderRequest(coid, SYM, side, qty, type_, role, q.snapshot_id, q.ts, price=price))
    return q.snapshot_id


def _run() -> tuple[PaperVenue, list[Fill], dict[str, str], list[str]]:
    """Market and limit entries, each protected by a stop trailed (amended) every bar and a take-profit."""
    v = PaperVenue(CFG)
    fills: list[Fill] = []
    submitted: dict[str, str] = {}  # coid -> its submission quote id
    kept: list[str] = []  # the request quote ids of the working stops, just before they filled
    n = 0
    for i, bar in enumerate(ETH):
        stops = {o.request.client_order_id: o.request.quote_id for o in v.open_orders() if o.request.type is OrderType.STOP}
        got = [f for r in v.on_bar(bar) for f in r.fills]
        kept += [stops[f.client_order_id] for f in got if f.client_order_id in stops]
        fills += got
        held = round(sum(p.qty for p in v.positions()), 6)  # partial fills leave float dust
        if held <= 0:  # flat: the other exit (no bracket here, so no one-cancels-other) goes
            for o in v.open_orders():
                if o.request.role is not Role.ENTRY:
                    v.cancel(o.request.client_order_id)
        working = v.open_orders()
        if held <= 0 and not working:
            n += 1
            type_, price = (OrderType.MARKET, None) if n % 2 else (OrderType.LIMIT, bar.close * 0.999)
            submitted[f"e{n}"] = _submit(v, f"e{n}", Side.BUY, type_, Role.ENTRY, price)
        elif held > 0 and not working:
            submitted[f"s{n}"] = _submit(v, f"s{n}", Side.SELL, OrderType.STOP, Role.STOP_LOSS, bar.low * 0.995, held)
            submitted[f"t{n}"] = _submit(v, f"t{n}", Side.SELL, OrderType.LIMIT, Role.TAKE_PROFIT, bar.high * 1.004,
                                         held)
        elif held > 0 and i % 3 == 0:  # trail the stop: the amended order keeps its submission quote id
            for o in working:
                if o.request.type is OrderType.STOP and o.status is not S.TRIGGERED:
                    v.amend(o.request.client_order_id, price=max(o.request.price, bar.low * 0.997))
    return v, fills, submitted, kept


VENUE, FILLS, SUBMITTED, KEPT = _run()


def test_the_run_fills_market_limit_and_trailed_stop_orders():
    kinds = {f.client_order_id[0] for f in FILLS}
    assert {"e", "s", "t"} <= kinds and len(KEPT) >= 1
    assert any(f.qty < 1.0 for f in FILLS)  # partial fills: several fills of one order on several bars


def _limit(coid: str) -> bool:
    return coid[0] == "t" or (coid[0] == "e" and int(coid[1:]) % 2 == 0)  # (_run's take-profits, limit entries)


def test_every_fill_names_the_bar_whose_prices_bound_it():
    """The named bar's side reached the fill price (a buy's lowest ask at or below it, a sell's
    highest bid at or above it); a market or stop fill also lies within that side's range (a
    resting limit fills at its limit, which the bar may have passed by far)."""
    spread = CFG.spread_bps[Domain.CRYPTO_SPOT]
    for f in FILLS:
        symbol, ms = f.quote_id[2:].removesuffix(":open").rsplit(":", 1)
        bar = BY_MS[int(ms)]
        assert symbol == SYM and bar.ts <= f.ts
        half = half_spread(bar, f.price, spread)
        lo, hi = bar.low + f.side.sign * half - TICK, bar.high + f.side.sign * half + TICK  # the side's range
        assert (f.price >= lo) if f.side is Side.BUY else (f.price <= hi), (f, bar)
        assert _limit(f.client_order_id) or lo <= f.price <= hi, (f, bar)


def test_every_fill_s_price_is_read_off_the_stored_quote_it_names():
    """The side the fill traded against in the named quote (a taker's price on the tick grid, no
    slippage here), or, where a stop or limit filled at its own price, that price."""
    prices = {coid: o.req.price for coid, o in VENUE._orders.items()}  # a stop's last amend: it filled there
    bases = set()
    for f in FILLS:
        q = VENUE._issued[f.quote_id]
        side = snap(q.ask, TICK, up=True) if f.side is Side.BUY else snap(q.bid, TICK, up=False)
        own = prices[f.client_order_id]
        assert f.price == side or (own is not None and f.price == snap(own, TICK, up=f.side is Side.BUY)), (f, q)
        bases.add(f.quote_id.endswith(":open"))
    assert bases == {True, False}, "fills at a bar's open and in its range"


def test_a_fill_after_an_amended_stop_names_its_own_bar_and_the_order_keeps_its_submission_quote():
    stop_fills = [f for f in FILLS if f.client_order_id.startswith("s")]
    assert stop_fills and all(f.quote_id.removesuffix(":open") == f"q:{SYM}:{int(round(f.ts * 1000))}"
                                for f in stop_fills)
    assert any(SUBMITTED[f.client_order_id] != f.quote_id for f in stop_fills)
    assert set(KEPT) <= {SUBMITTED[f.client_order_id] for f in stop_fills}  # amended, still the submission's
