import numpy as np
import pandas as pd
from ml_helpers import random_bars

from strategies.ml.config import LabelConfig
from strategies.ml.labels import make_labels, next_return, triple_barrier


def _flat_then(path: list[tuple[float, float, float]], n_flat: int = 30) -> pd.DataFrame:
    """n_flat bars with a tiny alternating return (sigma > 0), then (high, low, close) bars."""
    closes = [100 * (1.001 if i % 2 else 1.0) for i in range(n_flat)]
    rows = [(c, c, c, c) for c in closes] + [(closes[-1], h, lo, c) for h, lo, c in path]
    idx = pd.date_range("2024-01-01", periods=len(rows), freq="1h", tz="UTC")
    return pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=idx).assign(volume=1.0)


CFG = LabelConfig(vol_window=10, upper_k=1.0, lower_k=1.0, horizon=3)


def test_upper_barrier_first_gives_plus_one_and_exit_time():
    bars = _flat_then([(101.0, 100.0, 100.5), (100.6, 100.4, 100.5), (100.6, 100.4, 100.5)])
    lab = triple_barrier(bars, CFG)
    row = lab.iloc[30]  # decision at the open of the first path bar
    assert row.label == 1 and row.t1 == bars.index[30] and row.ret > 0


def test_both_barriers_in_one_bar_is_pessimistic():
    bars = _flat_then([(103.0, 97.0, 100.0), (100.1, 99.9, 100.0), (100.1, 99.9, 100.0)])
    assert triple_barrier(bars, CFG).iloc[30].label == -1


def test_vertical_barrier_gives_zero_and_its_return():
    bars = _flat_then([(100.12, 100.08, 100.1)] * 3)
    row = triple_barrier(bars, CFG).iloc[30]
    assert row.label == 0 and row.t1 == bars.index[32]
    assert np.isclose(row.ret, np.log(100.1 / bars["close"].iloc[29]))


def test_labels_use_only_bars_from_t_on_and_tail_is_undefined():
    bars = random_bars(200, seed=1)
    lab = triple_barrier(bars, CFG)
    changed = bars.copy()
    changed.iloc[:100, :4] *= 1.0  # identical past
    changed.iloc[150:, :4] *= 1.5  # a different future beyond the horizon of row 100
    assert lab.iloc[100].equals(triple_barrier(changed, CFG).iloc[100])
    assert lab["label"].iloc[-2:].isna().all()  # horizon runs past the data
    assert lab["label"].iloc[:10].isna().all()  # volatility warm-up


def test_barriers_scale_with_volatility():
    calm, wild = random_bars(400, seed=2, vol=0.001), random_bars(400, seed=2, vol=0.01)
    share = [triple_barrier(b, CFG)["label"].value_counts(normalize=True).get(0.0) for b in (calm, wild)]
    assert abs(share[0] - share[1]) < 0.1  # scale-free: the same walk hits barriers equally often


def test_next_return_sign_and_binary_target():
    bars = random_bars(50, seed=4)
    nr = next_return(bars)
    assert nr["label"].iloc[10] == np.sign(bars["close"].iloc[10] - bars["close"].iloc[9])
    y = make_labels(bars, LabelConfig(target="next_return"))["y"]
    assert set(y.dropna().unique()) <= {0.0, 1.0}


def test_barrier_width_uses_the_volatility_known_at_t_minus_1():
    """Seed 004 labels, no lookahead: sigma is the std of the `vol_window` log returns that end
    at bar t-1 (known when the decision is taken at t's open). Bar t's own big move must not
    widen the barrier that bar t is then judged against."""
    bars = _flat_then([(103.0, 100.0, 103.0), (103.1, 102.9, 103.0), (103.1, 102.9, 103.0)])
    row = triple_barrier(bars, CFG).iloc[30]
    past = np.log(bars["close"].iloc[:30]).diff().iloc[-CFG.vol_window:]
    width = past.std() * np.sqrt(CFG.horizon)
    assert row.label == 1 and np.isclose(row.ret, CFG.upper_k * width)


def test_an_unchanged_price_is_not_an_up_label():
    """The binary target y is 1 only when the price went UP: a vertical-barrier exit or a next
    bar at exactly the entry price (common in quiet forex minutes) is y = 0, not a rise."""
    flat = _flat_then([(100.1, 100.1, 100.1)] * 3)  # the path stays at the entry close (100.1)
    tb = make_labels(flat, CFG).iloc[30]
    assert tb.label == 0 and tb.ret == 0 and tb.y == 0
    nr = make_labels(flat, LabelConfig(target="next_return"))
    assert nr["ret"].iloc[31] == 0 and nr["y"].iloc[31] == 0
    assert nr["y"].iloc[1] == 1  # ... and a rise is 1 (bar 1 closes 0.1% above bar 0)
