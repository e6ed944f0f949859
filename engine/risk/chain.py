"""The guard chain, bound once from the risk spec: size, put the size in whole lots of the
instrument, then every guard in spec order: the guards judge the order the venue will get."""
from __future__ import annotations

from typing import Mapping, NamedTuple

from engine.domain import Instrument, on_lot_grid
from engine.risk.config import RiskConfig
from engine.risk.guards import GUARDS, Guard
from engine.risk.sizing import Sizer
from engine.risk.types import Book, Context, Costs, Intent, Rejection, Sized


class Decision(NamedTuple):
    sized: Sized
    rejection: Rejection | None

    @property
    def approved(self) -> bool:
        return self.rejection is None


class RiskChain:
    def __init__(self, config: RiskConfig, usd_rates: Mapping[str, float] | None = None):
        """`usd_rates`: domain -> USD per unit of its wallet's currency, which the spec's USD
        thresholds are converted at (None: every wallet counts USD)."""
        missing = [g for g in config.guards if g not in GUARDS]
        if missing:  # unreachable while config.GuardName and GUARDS agree; guards the guard
            raise ValueError(f"risk guards without implementation: {', '.join(missing)}")
        self.config = config
        self.size = Sizer(config.sizing, usd_rates)
        self._limits = config.limits
        # The kill switch first, whatever the list says: the schema insists on it, but a config
        # built in code (model_copy) is not validated, and no list may let entries past a kill.
        kill = GUARDS["kill_mode"]
        self._guards: tuple[Guard, ...] = (kill, *(GUARDS[g] for g in config.guards if GUARDS[g] is not kill))

    def evaluate(self, intent: Intent, book: Book, instrument: Instrument, *, kill_mode: str,
                 entries_allowed: bool, active_symbols: frozenset[str] | None, costs: Costs = Costs()) -> Decision:
        """`costs`: the venue's taker fee and slippage, which a stopped-out entry pays on top of
        its stop distance (the per-trade risk cap bounds the sum)."""
        domain = intent.domain.value
        sized = in_lots(self.size(intent, book, domain, instrument.multiplier, costs, instrument.tick), instrument)
        ctx = Context(intent, sized, book, instrument, kill_mode, entries_allowed, active_symbols, domain)
        limits = self._limits
        for fn in self._guards:
            rejection = fn(ctx, limits)
            if rejection is not None:
                return Decision(sized, rejection)
        return Decision(sized, None)


def in_lots(sized: Sized, instrument: Instrument) -> Sized:
    """`sized` with its qty rounded down to whole lots (the venue's clamp would do the same), and
    its notional and risk at the stop for that qty: an entry smaller than one lot is zero, which
    min_size rejects, rather than an order of nothing sent to the venue."""
    step = instrument.step
    qty = sized.qty
    if step <= 0 or qty <= 0:
        return sized
    lots = on_lot_grid(qty, step, float(step).is_integer(), down=True)
    if lots == qty:
        return sized
    fill = None if sized.fill_notional is None else sized.fill_notional * lots / qty
    return sized._replace(qty=lots, notional=sized.notional * lots / qty, risk_at_stop=sized.risk_at_stop * lots / qty,
                          fill_notional=fill)
