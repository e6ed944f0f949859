"""Replay benchmark: 1,000,000 bars through the full pipeline vs backtesting.py.

Both run an SMA(10)/SMA(30) crossover whose entries carry a 1.5 x ATR(14) stop
and a 3 x ATR(14) take-profit, on the EURUSD hourly series tiled to N bars with
continuous prices (every other copy time-reversed, so the tiles join exactly). Ours sends every order through the order and bracket
machines, with the risk chain and paper fills on and the store journaling in
batch mode. Prints bars/s for both, the ratio, both trade counts, how many trades
agree one for one (side, entry bar and exit bar), peak memory, and journaled
events per second with fsync per commit and in batch mode.

    python tools/bench_replay.py [--bars 1000000] [--skip-peer] [--rounds N] [--checkpoint-every C]

Batch mode writes the journal, orders, fills and machine snapshots in one transaction per
checkpoint, every `checkpoint_every` bars: the run config's default (200) unless
--checkpoint-every says otherwise, and the figure is printed with the result, since a rarer
checkpoint roughly doubles bars/s here.

The benchmark env (specs/overrides/env_bench.yaml) loosens the kill tripwires and
this script widens the risk limits that backtesting.py does not have (sessions,
max hold, exposure caps: on a reversal the old position still counts until its
exit fills; the daily risk budget and the sector cap), so that both engines take
the same trades; fills have no costs. Both put stops and targets on the instrument's
tick grid. Where a trade still differs, the paper venue's harsher rules decide it: a
market order pays the worse of the signal bar's close and the next open, a quote is
at least a tick wide, and a target fills only when the price trades through it.
"""
from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.threads import pin_threads

pin_threads()  # before anything native is imported

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from engine.run.loop import Runner

FAST, SLOW, ATR_N, SL_ATR, TP_ATR = 10, 30, 14, 1.5, 3.0
BAR_S = 3600.0
Trade = tuple[str, float, float]  # side, entry bar's and exit bar's open time (epoch s)


def tiled_eurusd(n: int) -> pd.DataFrame:
    """The bundled EURUSD 1h series repeated to n bars with continuous prices: every other
    copy runs backwards in time (open and close swapped), so each copy starts exactly where
    the last one ended and prices stay in EURUSD's range instead of compounding a drift."""
    from engine.data import bundled

    base = bundled.load("forex/EURUSD-1h")[["open", "high", "low", "close", "volume"]].to_numpy()
    backwards = base[::-1][:, [3, 1, 2, 0, 4]]  # reversed bars: open <-> close
    reps = -(-n // len(base))
    arr = np.concatenate([base if k % 2 == 0 else backwards for k in range(reps)])[:n]
    idx = pd.date_range("2017-04-19 09:00", periods=n, freq="h", tz="UTC")
    return pd.DataFrame(arr, index=idx, columns=["open", "high", "low", "close", "volume"])


def sma_cross_direction(close: np.ndarray) -> np.ndarray:
    fast = pd.Series(close).rolling(FAST).mean().to_numpy()
    slow = pd.Series(close).rolling(SLOW).mean().to_numpy()
    return np.where(np.isnan(slow), np.nan, np.sign(fast - slow))


# -- ours ------------------------------------------------------------------------------
def run_ours(df: pd.DataFrame, work: Path, checkpoint_every: int | None = None) -> dict:
    t0 = time.perf_counter()
    runner = build_ours(df, work, checkpoint_every)
    t1, c1 = time.perf_counter(), time.process_time()
    runner.run()
    t2, c2 = time.perf_counter(), time.process_time()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    journaled = runner.session.store.journal_entries()[-1].seq if runner.bars else 0
    # backtesting.py's finalize_trades counts a position still open at the end as a trade; so do we.
    still_open = sum(1 for b in runner.session.execution.brackets.values() if b.entry_fills)
    closed: list[Trade] = [(t.side, t.entry_ts - BAR_S, t.exit_ts - BAR_S) for t in runner.trades]  # close -> open
    return {"bars": runner.bars, "setup_s": t1 - t0, "run_s": t2 - t1, "cpu_s": c2 - c1,
            "trades": len(runner.trades) + still_open, "closed": closed,
            "peak_rss_mib": rss, "journal_rows": journaled, "checkpoint_every": runner.session.cfg.checkpoint_every}


def build_ours(df: pd.DataFrame, work: Path, checkpoint_every: int | None = None) -> Runner:
    """The benchmark's Runner, assembled and ready to run (setup is timed apart from the run);
    `checkpoint_every` None: the run config's."""
    from engine.data.bars import epoch_seconds
    from engine.domain import Domain
    from engine.run.assemble import assemble
    from engine.run.config import load_config
    from engine.run.market import Series, atr
    from engine.run.optin import Routing
    from engine.run.session import load_specset

    cfg = load_config()
    cfg = cfg.model_copy(update={
        "db": str(work / "engine.db"), "env": "bench", "durability": "batch",
        "checkpoint_every": cfg.checkpoint_every if checkpoint_every is None else checkpoint_every,
        "venue": {"slippage_bps": 0.0, "partial_fill_prob": 0.0, "spread_bps": {d.value: 0.0 for d in Domain},
                  "taker_fee_bps": {d.value: 0.0 for d in Domain}}})
    specs = load_specset([str(ROOT / "specs")])
    risk = specs.extra["risk"]
    limits = risk.limits.model_copy(update={"sessions": {}, "avoid_weekend_carry": False, "max_hold": 1e12,
                                            "exposure_pair_pct": 1.0, "exposure_portfolio_pct": 1.0,
                                            "daily_risk_budget_pct": 1.0, "sector_risk_pct": 1.0})
    brackets = risk.brackets.model_copy(update={"stop_atr": {**risk.brackets.stop_atr, "forex": SL_ATR},
                                                "take_profit_atr": {**risk.brackets.take_profit_atr, "forex": TP_ATR}})
    risk = risk.model_copy(update={"limits": limits, "brackets": brackets})
    specs = dataclasses.replace(specs, extra={**specs.extra, "risk": risk})  # keeps its kinds and places

    close = df["close"].to_numpy()
    ts = epoch_seconds(df.index) + 3600.0
    series = Series("EUR/USD", Domain.FOREX, ts, *(df[k].to_numpy() for k in ("open", "high", "low", "close", "volume")),
                    None, None, sma_cross_direction(close), np.zeros(len(df)), atr(df, ATR_N), SLOW)
    routing = Routing({"crypto_spot": "off", "crypto_perp": "off", "forex": "paper", "forex_options": "off"}, (), ())
    runner = assemble(cfg, specs, 3, routing, work / "run", series=[series])
    runner.decider.use = runner.decider.use.model_copy(update={"deadband": 0.0})
    return runner


# -- backtesting.py --------------------------------------------------------------------
def run_peer(df: pd.DataFrame) -> dict:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    from adapters.paper.catalogue import Catalogue

    tick = Catalogue.load().get("EUR/USD").tick  # the paper venue's grid for it

    def on_tick(x: float) -> float:
        return round(x / tick) * tick

    def sma(x: np.ndarray, n: int) -> pd.Series:
        return pd.Series(x).rolling(n).mean()

    def atr_ind(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int) -> pd.Series:
        prev = pd.Series(c).shift(1)
        tr = pd.concat([pd.Series(h) - pd.Series(lo), (pd.Series(h) - prev).abs(), (pd.Series(lo) - prev).abs()],
                       axis=1).max(axis=1)
        return tr.ewm(alpha=1.0 / n, adjust=False, min_periods=n).mean()

    class SmaCross(Strategy):
        def init(self) -> None:
            self.fast = self.I(sma, self.data.Close, FAST)
            self.slow = self.I(sma, self.data.Close, SLOW)
            self.atr = self.I(atr_ind, self.data.High, self.data.Low, self.data.Close, ATR_N)

        def next(self) -> None:
            price, a = self.data.Close[-1], self.atr[-1]
            if not a > 0:
                return
            if crossover(self.fast, self.slow):
                self.position.close()
                self.buy(size=0.05, sl=on_tick(price - SL_ATR * a), tp=on_tick(price + TP_ATR * a))
            elif crossover(self.slow, self.fast):
                self.position.close()
                self.sell(size=0.05, sl=on_tick(price + SL_ATR * a), tp=on_tick(price - TP_ATR * a))

    data = df.rename(columns=str.capitalize)
    bt = Backtest(data, SmaCross, cash=1_000_000, commission=0.0, finalize_trades=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0, c0 = time.perf_counter(), time.process_time()
        stats = bt.run()
        t1, c1 = time.perf_counter(), time.process_time()
    t = stats._trades
    closed: list[Trade] = [("buy" if size > 0 else "sell", entry.timestamp(), exit_.timestamp())
                           for size, entry, exit_ in zip(t.Size, t.EntryTime, t.ExitTime, strict=True)]
    return {"bars": len(df), "run_s": t1 - t0, "cpu_s": c1 - c0, "trades": int(stats["# Trades"]), "closed": closed}


def one_for_one(ours: list[Trade], peer: list[Trade]) -> int:
    """How many of our closed trades the peer made too: same side, entry bar and exit bar (the
    peer's list also holds the position finalize_trades closed at the end). Matched as sets, so
    one trade only one side made does not shift every later pair out of step."""
    return sum((Counter(ours) & Counter(peer)).values())


def journal_rates(n: int = 2000) -> dict:
    """Events journaled per second the way a run journals them: durability "full" writes and
    commits (fsync) each one through the Store; "batch" collects them in the run's
    BufferedLedger and writes them in the checkpoint transaction (Store.write_batch)."""
    from engine.domain import Domain
    from engine.exec.ledger import BufferedLedger
    from state.store import Store

    out = {}
    for mode in ("full", "batch"):
        with tempfile.TemporaryDirectory() as d:
            store = Store.open(path=str(Path(d) / "j.db"), durability=mode)
            store.open_wallet(Domain.FOREX, "paper", 1000.0)
            ledger = BufferedLedger(store, "paper", time.time, "bench")
            t0 = time.perf_counter()
            for k in range(n):
                if mode == "full":
                    store.journal("bench", str(k), {"k": k})
                    store.commit()
                else:
                    ledger.journal("bench", str(k), {"k": k})
            ledger.flush([], [])
            store.commit()
            out[mode] = n / (time.perf_counter() - t0)
            store.close()
    return out


def bench_round(df: pd.DataFrame, skip_peer: bool, checkpoint_every: int | None) -> tuple[float, float] | None:
    """Ours, then the peer, on the same data; returns the (wall, CPU time) ratios of bars/s."""
    with tempfile.TemporaryDirectory() as d:
        ours = run_ours(df, Path(d), checkpoint_every)
    print(f"ours:            {ours['bars']:>9,} bars in {ours['run_s']:.2f}s = {ours['bars'] / ours['run_s']:,.0f} bars/s"
          f"  (setup {ours['setup_s']:.2f}s), {ours['trades']:,} trades, process peak RSS so far {ours['peak_rss_mib']:.0f} MiB,"
          f" {ours['journal_rows']:,} journal rows, a checkpoint every {ours['checkpoint_every']:,} bars")
    if skip_peer:
        return None
    peer = run_peer(df)
    wall = (ours["bars"] / ours["run_s"]) / (peer["bars"] / peer["run_s"])
    cpu = (ours["bars"] / ours["cpu_s"]) / (peer["bars"] / peer["cpu_s"])
    print(f"backtesting.py:  {peer['bars']:>9,} bars in {peer['run_s']:.2f}s = {peer['bars'] / peer['run_s']:,.0f} bars/s,"
          f" {peer['trades']:,} trades")
    print(f"ratio ours/backtesting.py: {wall:.2f}x ({cpu:.2f}x in CPU time)   trade counts: {ours['trades']:,} vs"
          f" {peer['trades']:,} ({'agree' if ours['trades'] == peer['trades'] else 'differ'})")
    same = one_for_one(ours["closed"], peer["closed"])
    print(f"one for one: {same:,} of our {len(ours['closed']):,} closed trades have the peer's side, entry bar and exit"
          f" bar ({same / max(1, len(ours['closed'])):.1%})")
    return wall, cpu


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text}: a count of bars, 1 or more")
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--skip-peer", action="store_true", help="do not run backtesting.py")
    ap.add_argument("--rounds", type=int, default=1,
                    help="alternate ours and the peer this many times; the median ratio is the figure "
                         "(a shared machine's speed drifts by tens of percent within a minute)")
    ap.add_argument("--checkpoint-every", type=_positive, metavar="C",
                    help="bars between checkpoints, each one batch transaction (default: the run config's)")
    args = ap.parse_args()
    df = tiled_eurusd(args.bars)
    ratios: list[tuple[float, float]] = []
    for _ in range(max(1, args.rounds)):
        ratio = bench_round(df, args.skip_peer, args.checkpoint_every)
        if ratio is not None:
            ratios.append(ratio)
    if len(ratios) > 1:
        wall, cpu = (statistics.median(r[k] for r in ratios) for k in (0, 1))
        print(f"median over {len(ratios)} rounds: {wall:.2f}x wall, {cpu:.2f}x CPU time")
    rates = journal_rates()
    print(f"journal: {rates['full']:,.0f} events/s with fsync per commit, {rates['batch']:,.0f} events/s in batch mode"
          f" ({rates['batch'] / rates['full']:.0f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
