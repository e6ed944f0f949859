"""Run KPIs: per-trade figures from closed trades, risk figures from an equity curve.

Definitions (docs/run-report.md repeats them):
  * trades: closed round trips; win_rate: share with pnl > 0 (pnl is net of fees and funding).
  * profit_factor: gross profit / gross loss, in money.
  * expectancy: mean pnl per trade, in money.
  * sharpe, sortino: from the simple returns between consecutive equity samples
    (the loop records one per domain per bar time, every symbol of that time marked),
    annualised by the curve's mean sampling rate, sqrt((samples - 1) * year / span),
    with a 365.25-day year (strategies.selection uses the same year and the same
    "per period in this span" rule for trades; the gates' RunningKpis the same rule for
    daily closes: sampling_rate). Sortino's downside deviation is
    sqrt(mean(min(r, 0)^2)) over every return, as in strategies.selection.
  * max_dd: largest peak-to-trough fall of the curve, as a fraction of the peak.
  * total_return: last equity / start balance - 1.

A figure that does not exist is None, never NaN or infinity: win_rate and
expectancy with no trade; profit_factor with no losing trade (nothing to divide
by); sharpe with fewer than two returns, a flat curve or returns all equal
(EQUAL_RETURNS: their deviation is rounding); sortino with fewer than
two returns or no negative return; total_return with a zero start balance.
max_dd is 0.0 for a curve that never fell. A curve whose values all lie within
float rounding of one another (FLAT) is flat: it is measured as its first value.

Exploration trades never mix with exploitation ones (seed 001): `split_kpis`
takes their share off the equity curve (each point's, as the promotion gates'
daily equity does) and measures them on that share alone.
"""
from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from engine.run.equity import EquityCurve
from engine.run.result import ClosedTrade
from strategies.selection import SECONDS_PER_YEAR

Curve = Sequence[tuple[float, float]]  # (ts, equity), time-ordered
# Relative spread of a curve's values that is float rounding, not a move: equity less the
# exploration share sums the same fills in another order, and differs from the start balance
# by ~1e-16 of it when only exploration traded; a real move of 1e-12 of a wallet is far below
# any price tick.
FLAT = 1e-12


@dataclass(frozen=True, slots=True)
class Kpis:
    trades: int
    win_rate: float | None
    sharpe: float | None
    sortino: float | None
    max_dd: float
    profit_factor: float | None
    expectancy: float | None
    total_return: float | None
    gross_profit: float
    gross_loss: float  # positive amount
    fees: float
    funding: float  # perp funding these trades paid (received: negative), already inside their pnl

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def store_fields(self) -> dict[str, Any]:
        """Keyword arguments for Store.put_kpis (a figure that does not exist stays None)."""
        return {k: v for k, v in asdict(self).items()
                if k in ("trades", "win_rate", "sharpe", "sortino", "max_dd", "profit_factor", "expectancy")}


def kpis(trades: Sequence[ClosedTrade], equity: Curve, start_balance: float) -> Kpis:
    """KPIs of `trades` and the curve they moved; an empty curve falls back to the closed-trade curve."""
    curve = list(equity) or trade_curve(trades, start_balance)
    pnls = [t.pnl for t in trades]
    n = len(pnls)
    # Started at 0.0: with no trade the sums are still floats (report.json types them so), and
    # the losses are summed negated, as -sum() would make a zero -0.0.
    gross_profit = sum((p for p in pnls if p > 0), 0.0)
    gross_loss = sum((-p for p in pnls if p < 0), 0.0)
    values = _values(curve)
    if values.size and np.ptp(values) <= FLAT * np.max(np.abs(values)):
        values = np.full(values.size, values[0])
    sharpe, sortino = _ratios(curve, values)
    last = float(values[-1]) if values.size else start_balance
    return Kpis(
        trades=n,
        win_rate=sum(p > 0 for p in pnls) / n if n else None,
        sharpe=sharpe,
        sortino=sortino,
        max_dd=_max_dd(values),
        profit_factor=_ratio(gross_profit, gross_loss),
        expectancy=sum(pnls) / n if n else None,
        total_return=last / start_balance - 1.0 if start_balance else None,
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        fees=sum((t.fees for t in trades), 0.0),
        funding=sum((t.funding for t in trades), 0.0),
    )


def split_kpis(trades: Sequence[ClosedTrade], equity: Curve, start_balance: float) -> dict[str, Kpis]:
    """{"exploitation": ..., "exploration": ...} for one domain.

    Each point of an EquityCurve carries the exploration trades' share of its equity
    (Runner._explored, what the gates take off): the pnl of those closed and the value of
    those open. Exploitation is measured on the equity less that share, exploration on the
    start balance plus it: the two curves' moves add up to the domain's. A curve without
    shares (no exploration trade ever held any, or plain pairs) is all exploitation; the
    exploration trades, if any, are then measured on their closed-trade curve.
    """
    explore = [t for t in trades if t.exploration]
    exploit = [t for t in trades if not t.exploration]
    x = _shares(equity)
    if x is None:
        return {"exploitation": kpis(exploit, equity, start_balance),
                "exploration": kpis(explore, [], start_balance)}
    ts = [t for t, _ in equity]
    exploit_curve = list(zip(ts, (e - s for (_, e), s in zip(equity, x, strict=True)), strict=True))
    return {"exploitation": kpis(exploit, exploit_curve, start_balance),
            "exploration": kpis(explore, list(zip(ts, (start_balance + s for s in x), strict=True)), start_balance)}


def stage_kpis(trades: Sequence[ClosedTrade], equity: Curve, start_balance: float,
               stage_log: Sequence[tuple[float, int, str | None]]) -> dict[int, Kpis]:
    """Exploitation KPIs per rollout stage of one domain: each trade counts for the stage that
    opened it, each equity sample for the stage in force at its time. `stage_log` holds
    (from time, stage, rollout state) entries in time order. A change is taken after the bar
    stamped with its time, so that bar's sample is the old stage's last. A stage after the
    first is measured from the exploitation equity it started with, the old stage's last
    sample; a stage with several spells (demoted, then reinstated: the demotion keeps the
    stage's parameters) is measured over all of them. A stage in which the domain has neither a
    trade nor an equity sample (its wallet opened later) is left out: it has no record there, and
    a row of zeros would read as one."""
    first = stage_log[0][1]
    if len(stage_log) < 2:  # most runs: one stage, the whole run
        return {first: split_kpis(trades, equity, start_balance)["exploitation"]}
    starts = [e[0] for e in stage_log]
    groups: dict[int, tuple[list[ClosedTrade], EquityCurve]] = {e[1]: ([], EquityCurve()) for e in stage_log}
    for t in trades:
        groups[first if t.stage is None else t.stage][0].append(t)
    last: tuple[float, float, float] | None = None
    for (t, e), x in zip(equity, _shares(equity) or itertools.repeat(0.0), strict=False):
        curve = groups[stage_log[max(bisect.bisect_left(starts, t) - 1, 0)][1]][1]
        if not curve and last is not None:
            curve.append(*last)  # where the stage began: its first bar's move is its own
        curve.append(t, e, x)
        last = (t, e, x)
    return {n: split_kpis(own, curve, start_balance if n == first or not curve else _exploited_at_start(curve))
            ["exploitation"] for n, (own, curve) in groups.items() if own or curve}


def _shares(equity: Curve) -> Sequence[float] | None:
    """Each point's exploration share (an EquityCurve's), or None where there is none."""
    return equity.shares() if isinstance(equity, EquityCurve) else None


def _exploited_at_start(curve: EquityCurve) -> float:
    """The first point's equity less its exploration share: what a later stage starts from."""
    x = curve.shares()
    return curve.eq[0] - (x[0] if x is not None else 0.0)


def trade_curve(trades: Sequence[ClosedTrade], start_balance: float) -> list[tuple[float, float]]:
    """Equity sampled at each exit: start balance plus cumulative realised pnl."""
    ordered = sorted(trades, key=lambda t: t.exit_ts)
    if not ordered:
        return []
    first = min(t.entry_ts for t in ordered)
    cum = itertools.accumulate(t.pnl for t in ordered)
    return [(first, start_balance)] + [(t.exit_ts, start_balance + c) for t, c in zip(ordered, cum, strict=True)]


def periods_per_year(curve: Curve) -> float | None:
    span = curve[-1][0] - curve[0][0] if len(curve) > 1 else 0.0
    return sampling_rate(len(curve) - 1, span)


def sampling_rate(intervals: int, span: float) -> float | None:
    """Samples per year of a curve with `intervals` gaps over `span` seconds: the one rule that
    annualises both the report's ratios and the gates' Sharpe (RunningKpis), so that a venue
    closed at weekends (forex) is annualised by the days it trades, not by 365."""
    return intervals * SECONDS_PER_YEAR / span if span > 0 else None


def _values(curve: Curve) -> np.ndarray:
    # The loop re-measures a gate's KPIs at every closed trade: vectorised, a
    # 100k-sample curve costs a few ms instead of ~80 ms in pure Python.
    return np.fromiter((e for _, e in curve), dtype=float, count=len(curve))


def _max_dd(values: np.ndarray) -> float:
    peak = np.maximum.accumulate(values) if values.size else values
    above = peak > 0
    if not above.any():
        return 0.0
    worst = float(np.max((peak[above] - values[above]) / peak[above]))
    return min(max(worst, 0.0), 1.0)  # equity below zero (leverage) is a total loss, not more


def _ratios(curve: Curve, values: np.ndarray) -> tuple[float | None, float | None]:
    per_year = periods_per_year(curve)
    prev, nxt = values[:-1], values[1:]
    returns = nxt[prev > 0] / prev[prev > 0] - 1.0
    if returns.size < 2 or per_year is None:
        return None, None
    mu = float(returns.mean())
    downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
    return sharpe_ratio(mu, float(returns.std(ddof=1)), per_year), _ratio(mu * math.sqrt(per_year), downside)


# Returns that agree to within a millionth of their mean are equal ones (a curve rising by exactly
# 1% a day): their sample deviation is rounding, about 1e-16 of the mean two-pass and 1e-8 in
# RunningKpis' one pass, and a Sharpe divided by it (~1e15) is noise, not a figure.
EQUAL_RETURNS = 1e-6


def sharpe_ratio(mean: float, sd: float, per_year: float) -> float | None:
    """The annualised Sharpe of returns with this mean and sample standard deviation, sampled
    `per_year` times a year (sampling_rate); None where it does not exist (see _ratio), and for
    returns that are all equal (EQUAL_RETURNS)."""
    if sd <= EQUAL_RETURNS * abs(mean):
        return None
    return _ratio(mean * math.sqrt(per_year), sd)


def _ratio(num: float, den: float) -> float | None:
    """num / den, or None when den is zero or the quotient overflows (a denormal loss)."""
    q = num / den if den > 0 else math.inf
    return q if math.isfinite(q) else None


# The shadow gate's baseline (model_promotion: `kpi.sharpe >= kpi.baseline_sharpe`). A run has
# no second model beside the candidate: every exploitation entry of a domain goes through the
# one decider, so no trades of the domain are a baseline's. The baseline is flat (holding cash,
# Sharpe 0): the shadow gate asks for a non-negative Sharpe, as its spec's input says.
FLAT_BASELINE_SHARPE = 0.0


@dataclass(slots=True)
class RunningKpis:
    """What the promotion gates read, kept in O(1) per event so a long replay stays linear.

    Sharpe is of daily equity returns, annualised by the closes' mean sampling rate
    (sampling_rate, the report's rule: a forex week has fewer daily closes than a crypto
    one), so on the same closes it is the report's `kpis(...).sharpe`; max DD is on daily
    closes; trades and win rate count closed exploitation trades.
    The daily equity is the book's less the exploration trades' share (Runner._explored):
    their closed pnl and the open ones' value, so exploration moves no gate figure.

    They measure one phase of the gate (model_promotion: the KPIs of the model in its
    current phase): `phase` names it ("machine:state"), and `restart` begins the next one
    from nothing but the equity it starts at.
    """

    trades: int = 0
    wins: int = 0
    days: int = 0
    ret_sum: float = 0.0
    ret_sq: float = 0.0
    last_equity: float | None = None
    peak: float = 0.0
    max_dd: float = 0.0
    phase: str | None = None  # None: no gate yet (or a checkpoint from before phases were kept)
    # The closes' span and the gaps in it: the sampling rate Sharpe is annualised by (days
    # counts returns only, none from a close at or below zero, as the report's).
    first_ts: float | None = None
    last_ts: float | None = None
    intervals: int = 0
    # The equity the phase opened with while its first daily close is still to come: the wallet's
    # start balance for the phase a domain opens in (Runner._gate_kpis). That close then has a
    # return and a drawdown from it (`day`), so a loss on the wallet's first day counts.
    opening: float | None = None

    @classmethod
    def restored(cls, state: dict[str, Any]) -> RunningKpis:
        """The KPIs a checkpoint saved (state()). One from before the closes' times were kept
        has no span to annualise by: its phase is measured again from the next daily close,
        as one from before phases were kept."""
        return cls(**state) if "first_ts" in state else cls(**{**state, "phase": None})

    def restart(self, phase: str | None, close: tuple[float, float] | None) -> None:
        """Measure `phase` from now on: no trade, no return, no drawdown; its curve starts at
        the (time, equity) `close` (None: at the next daily close)."""
        self.trades = self.wins = self.days = self.intervals = 0
        self.ret_sum = self.ret_sq = self.max_dd = 0.0
        self.first_ts, self.last_equity = close if close is not None else (None, None)
        self.last_ts = self.first_ts
        self.peak = self.last_equity if self.last_equity is not None and self.last_equity > 0 else 0.0
        self.phase = phase
        self.opening = None

    def close(self) -> tuple[float, float] | None:
        """The last daily close, (time, equity), or None before the first."""
        return None if self.last_ts is None or self.last_equity is None else (self.last_ts, self.last_equity)

    def trade(self, pnl: float) -> None:
        self.trades += 1
        self.wins += pnl > 0

    def day(self, ts: float, equity: float, start: float | None = None) -> None:
        """The daily close at `ts`: the equity the day ended with. `start`: when that day began,
        where the equity the phase opened with (`opening`) is the curve's first point."""
        if self.opening is not None and start is not None:
            if self.last_equity is None:
                self.first_ts = self.last_ts = start
                self.last_equity = self.opening
                self.peak = max(self.opening, 0.0)
            self.opening = None
        if self.last_equity is not None:
            self.intervals += 1
            if self.last_equity > 0:
                r = equity / self.last_equity - 1.0
                self.days += 1
                self.ret_sum += r
                self.ret_sq += r * r
        if self.first_ts is None:
            self.first_ts = ts
        self.last_ts, self.last_equity = ts, equity
        if equity > self.peak:  # max(peak, equity): the first unless the second is larger
            self.peak = equity
        if self.peak > 0 and (dd := 1.0 - equity / self.peak) > self.max_dd:
            self.max_dd = dd

    @property
    def sharpe(self) -> float:
        if self.days < 2:
            return 0.0
        mean = self.ret_sum / self.days
        var = max(self.ret_sq / self.days - mean * mean, 0.0) * self.days / (self.days - 1)
        span = self.last_ts - self.first_ts if self.last_ts is not None and self.first_ts is not None else 0.0
        per_year = sampling_rate(self.intervals, span)
        sharpe = None if per_year is None else sharpe_ratio(mean, math.sqrt(var), per_year)
        return 0.0 if sharpe is None else sharpe

    def inputs(self) -> dict[str, Any]:
        return {"kpi": {"trades": self.trades, "sharpe": self.sharpe, "max_dd": self.max_dd,
                        "win_rate": self.wins / self.trades if self.trades else 0.0,
                        "baseline_sharpe": FLAT_BASELINE_SHARPE}}

    def state(self) -> dict[str, Any]:
        return asdict(self)
