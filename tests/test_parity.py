"""Replay/live parity: the same bars give the same decisions through strategy -> risk -> orders.

Replay precomputes the strategy position, ATR, regimes and model probabilities
for the whole series at load time. The "live" path here precomputes nothing:
bar by bar it recomputes the position with `one_step_predict(bars[:t+1])`, the
ATR and regime from bars[:t+1], and the model probability from the features of
the 5m bars received by the bar's close, then feeds the same Runner machinery.
Every submitted order (client_order_id, side, qty, price...) and every refusal
must match.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from test_run_ml import SYMBOL, make_runner, registry, rejected  # noqa: F401 (registry is a fixture)

from engine.run.decide import SymbolInputs
from engine.run.market import Timeline, atr
from engine.run.signals import ModelFeed, regime_live

HISTORY = slice(2000, 4000)  # 5m bars of ETH/BTC in this test (7 days): live rebuilds features every bar
BARS = 45  # tradable 15m bars compared: short, yet many decisions with the fast strategy


@pytest.fixture
def short_history(monkeypatch):
    from engine.data import bundled

    full = bundled.load
    monkeypatch.setattr(bundled, "load", lambda name: full(name).iloc[HISTORY])


def orders(runner) -> list[tuple]:
    return [(o.client_order_id, o.symbol, o.side, o.type, o.role, o.qty, o.price, o.parent_id)
            for o in runner.session.store.orders()]


class LiveFeed:
    """What a live feed knows at bar i of the primary series: rows 0..i, and the 5m bars closed by then."""

    def __init__(self, replay_series, runner, registry_root):
        from engine.data import bundled
        from engine.data.resample import multi_timeframe
        from engine.run.market import _strategies
        from strategies.ml.registry import ModelRegistry

        cfg = runner.session.cfg
        dd = cfg.data["crypto_spot"]
        self.native = bundled.load(dd.datasets[0])
        self.df = multi_timeframe(self.native, dd.primary, dd.confirm)
        fit_end = int(len(self.df) * cfg.strategy.fit_fraction)
        self.strategies = [s.fit(self.df.iloc[:fit_end]) for s in _strategies(cfg.strategy)]
        model = ModelRegistry(registry_root).load(SYMBOL, "5m", 1)
        self.feed = ModelFeed(f"{SYMBOL}:5m:v1", model, self.native, runner.session.specs.extra["regime"])
        self.window = runner.session.specs.extra["risk"].brackets.atr_window
        n = len(replay_series)
        self.series = dataclasses.replace(replay_series, signal=np.full(n, np.nan), atr=np.full(n, np.nan))
        self.inputs = SymbolInputs(np.full(n, None, dtype=object), {self.feed.name: np.full(n, np.nan)},
                                   model.threshold)

    def advance(self, i: int) -> None:
        bars = self.df.iloc[: i + 1]
        s, t = self.series, float(self.series.ts[i])
        s.signal[i] = sum(strat.one_step_predict(bars) for strat in self.strategies)
        s.atr[i] = atr(bars, self.window)[-1]
        self.inputs.regime[i] = regime_live(s, i)
        received = self.native[self.native.index + pd.Timedelta("5min") <= pd.Timestamp(t, unit="s", tz="UTC")]
        self.inputs.prob[self.feed.name][i] = self.feed.prob_live(received, t)


def window_with_orders(work, registry) -> int:
    """The first tradable row of a window that starts a few bars before a full replay's first order."""
    probe = make_runner(work, registry)
    probe.decider.filters.exploration = explore_often(probe)
    probe.run()
    first = min(o.ts for o in probe.session.store.orders())
    s = probe.series[0]
    return max(s.start, int(np.searchsorted(s.ts, first)) - 5)


def explore_often(runner):
    return runner.decider.filters.exploration.model_copy(update={"min_rate": 0.5, "chop_rate": 0.5})


def test_replay_and_live_feed_make_identical_decisions(tmp_path, registry, short_history):
    start = window_with_orders(tmp_path / "probe", registry)
    series = dataclasses.replace(make_runner(tmp_path / "load", registry).series[0], start=start)
    replay = make_runner(tmp_path / "replay", registry, series=[series])
    replay.decider.filters.exploration = explore_often(replay)  # exploration draws on the path too
    replay.run(limit=BARS)

    live = make_runner(tmp_path / "live", registry, series=[series])
    feed = LiveFeed(series, live, registry)
    live.series = [feed.series]
    live.decider.filters = dataclasses.replace(live.decider.filters, exploration=replay.decider.filters.exploration)
    feed.inputs.allowlist = live.decider.filters.inputs[SYMBOL].allowlist
    live.decider.filters.inputs = {SYMBOL: feed.inputs}  # nothing precomputed is left
    for s, i in Timeline(live.series):
        if live.bars >= BARS:
            break
        feed.advance(i)
        live.step(s, i)
        live.bars += 1
    live.checkpoint()

    got, want = orders(live), orders(replay)
    assert len(want) >= 3, "the window should submit orders"
    assert got == want
    refusals = rejected(replay)
    assert {"ml_filter", "allowlist", "no_short"} <= {rule for _, rule, _ in refusals}, "a window without them"
    assert rejected(live) == refusals
    assert live.rejections == replay.rejections
    assert [(t.exploration, t.model_version) for t in live.trades] == \
        [(t.exploration, t.model_version) for t in replay.trades]
    done = slice(start, start + BARS)
    np.testing.assert_array_equal(feed.series.signal[done], series.signal[done])
    np.testing.assert_array_equal(feed.series.atr[done], series.atr[done])


def test_live_probability_equals_the_precomputed_one(registry):
    """The model's P(up) at decision times: whole series at once vs only the bars received by then."""
    from engine.data import bundled
    from strategies.ml.registry import ModelRegistry
    from strategies.regime import load_regime_config

    native = bundled.load("crypto_spot/ETH_BTC-5m")
    feed = ModelFeed("m", ModelRegistry(registry).load(SYMBOL, "5m", 1), native, load_regime_config())
    ts = np.array([native.index[k].timestamp() + 300.0 for k in (100, 3000, 4321, len(native) - 1)])
    ts = np.append(ts, ts[-1] - 1800.0)  # inside the last, unfinished 1h/4h bucket
    live = [feed.prob_live(native, t) for t in ts]
    assert np.isnan(live[0])  # not warm yet: no probability, no entry
    np.testing.assert_array_equal(feed.probs(ts)[1:], live[1:])
