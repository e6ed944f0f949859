"""The currency each domain's wallet counts in, and the rate its USD figures convert at.

A wallet counts in its instruments' quote currency (ETH/BTC's P&L is BTC), while the specs
give money in US dollars (the rollout's `paper_wallet_usd`, the risk spec's `*_usd`). Each
domain's USD rate (USD per unit of its currency) comes, in this order, from
  1. the domain's own bars of that currency against USD (a USD/JPY series makes a JPY
     wallet: 1 / its last close at the run's start, else its first close): the same period
     as the trades, where another domain's bundled data is from another year;
  2. the risk spec's `usd_rates` table, each rate with its source;
and otherwise the run is refused: a guessed rate would size every trade wrongly.
A domain that trades no instrument in the run has nothing to convert: its wallet holds the
USD amount as given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from engine.domain import Domain

USD = "USD"


@dataclass(frozen=True, slots=True)
class WalletCurrency:
    currency: str
    usd_rate: float  # USD per one unit of `currency`
    source: str  # where the rate came from: the journal and the report name it

    def from_usd(self, usd: float) -> float:
        """`usd` US dollars in this currency (a USD wallet keeps the amount exactly as written)."""
        return usd if self.currency == USD else usd / self.usd_rate

    def as_dict(self) -> dict[str, Any]:
        return {"currency": self.currency, "usd_rate": self.usd_rate, "rate_source": self.source}


class NoRate(Exception):
    """A domain's wallet currency has no USD rate (or its symbols have no single currency)."""


def wallet_currencies(series: Iterable[Any], usd_rates: Mapping[str, Any], at: float,
                      catalogue: Any = None, risk_file: str = "specs/risk/risk.yaml") -> dict[Domain, WalletCurrency]:
    """Every domain's wallet currency and USD rate at time `at` (the run's start). `series`:
    the run's bar series (symbol, domain, ts, close); `usd_rates`: the risk spec's table
    (currency -> {usd, source}), from `risk_file` (the hint names it). Raises NoRate, one line
    naming the currency and the domain."""
    from adapters.paper.catalogue import Catalogue

    cat = catalogue if catalogue is not None else Catalogue.load()
    by_domain: dict[Domain, list[Any]] = {}
    for s in series:
        by_domain.setdefault(s.domain, []).append(s)
    out = {}
    for dom in Domain:
        own = by_domain.get(dom)
        out[dom] = (_currency(dom, own, usd_rates, at, cat, risk_file) if own else
                    WalletCurrency(USD, 1.0, "trades no instrument in this run: the USD amount as given"))
    return out


def _currency(dom: Domain, series: list[Any], usd_rates: Mapping[str, Any], at: float,
              cat: Any, risk_file: str) -> WalletCurrency:
    quotes = {s.symbol: _quote(s.symbol, cat) for s in series}
    currencies = set(quotes.values())
    if len(currencies) > 1:
        raise NoRate(f"{dom.value} trades symbols quoted in {', '.join(sorted(currencies))}, and its one wallet "
                     "counts one currency: trade symbols of another quote currency in a run of their own")
    currency = currencies.pop()
    if currency == USD:
        return WalletCurrency(USD, 1.0, "quoted in USD")
    for s in series:
        if s.symbol == f"{USD}/{currency}":
            close, ts = _close_at(s, at)
            if not close > 0:  # NaN too
                raise NoRate(f"the {s.symbol} close of {_iso(ts)} is {close}: no USD rate for {currency} "
                             f"(the {dom.value} wallet) can be made from it; check the data")
            return WalletCurrency(currency, 1.0 / close, f"1 / the {s.symbol} close of {_iso(ts)} in the run's data")
    entry = usd_rates.get(currency)
    if entry is None:
        raise NoRate(f"no USD rate for {currency}, the currency of the {dom.value} wallet "
                     f"({', '.join(sorted(quotes))}): add `{currency}: {{usd: <USD per {currency}>, source: "
                     f"<where the figure is from>}}` to the risk spec's `usd_rates` ({risk_file}), or trade a USD/{currency} series in "
                     f"{dom.value} beside it")
    return WalletCurrency(currency, float(entry.usd), f"usd_rates: {entry.source}")


def _quote(symbol: str, cat: Any) -> str:
    if symbol not in cat:
        raise NoRate(f"{symbol} is not in the contract catalogue (adapters/paper/contracts.yaml): the currency "
                     "its wallet counts in is unknown; add its contract there, with its `quote`")
    return cat.get(symbol).quote


def _close_at(s: Any, at: float) -> tuple[float, float]:
    """The last close at or before `at`, else the first one (the data starts after the run)."""
    import bisect

    i = max(bisect.bisect_right(s.ts, at) - 1, 0)
    return float(s.close[i]), float(s.ts[i])


def _iso(ts: float) -> str:
    from engine.zones import utc

    return utc(ts).strftime("%Y-%m-%d %H:%M UTC")
