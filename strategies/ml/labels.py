"""Labels for the ML filter: volatility-scaled triple barrier, and the sign of the next return.

Same clock as features.py: the decision for row t is taken at the open of bar t
with information up to the close of bar t-1, so the entry price is close[t-1]
and the label looks at bars t .. t+horizon-1 only.

Triple barrier (López de Prado): with sigma = rolling std of per-bar log returns
over `vol_window` bars ending at t-1 (known at decision time) and
h = sigma * sqrt(horizon) (the volatility over the holding period):
  upper = entry * exp(upper_k * h),  lower = entry * exp(-lower_k * h);
the first bar whose high reaches `upper` gives +1, whose low reaches `lower`
gives -1 (both in one bar: -1, the pessimistic reading: we cannot know which
came first); none within `horizon` bars gives 0 at the vertical barrier.
Each label carries `ret` (log return to the exit) and `t1` (the exit bar's
index time) so validation can purge overlapping samples.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from strategies.ml.config import LabelConfig


def _prev_close_and_sigma(bars: pd.DataFrame, vol_window: int) -> tuple[np.ndarray, np.ndarray]:
    close = bars["close"].astype(float)
    sigma = np.log(close).diff().rolling(vol_window, min_periods=vol_window).std()
    return close.shift(1).to_numpy(), sigma.shift(1).to_numpy()


def triple_barrier(bars: pd.DataFrame, cfg: LabelConfig | None = None) -> pd.DataFrame:
    """Columns label (-1/0/+1, NaN where undefined), ret, t1; index = bars.index."""
    cfg = cfg or LabelConfig()
    n, hz = len(bars), cfg.horizon
    entry, sigma = _prev_close_and_sigma(bars, cfg.vol_window)
    width = sigma * np.sqrt(hz)
    upper, lower = entry * np.exp(cfg.upper_k * width), entry * np.exp(-cfg.lower_k * width)
    high, low, close = (bars[k].to_numpy(dtype=float) for k in ("high", "low", "close"))

    label = np.full(n, np.nan)
    exit_idx = np.full(n, -1)
    exit_px = np.full(n, np.nan)
    valid = np.isfinite(width) & (np.arange(n) + hz <= n)
    open_ = valid.copy()
    for k in range(hz):  # vectorised over rows, looped over the (short) horizon
        idx = np.minimum(np.arange(n) + k, n - 1)
        down = open_ & (low[idx] <= lower)
        up = open_ & (high[idx] >= upper) & ~down
        label[down], exit_px[down] = -1.0, lower[down]
        label[up], exit_px[up] = 1.0, upper[up]
        exit_idx[down | up] = idx[down | up]
        open_ &= ~(down | up)
    last = np.minimum(np.arange(n) + hz - 1, n - 1)
    label[open_], exit_px[open_], exit_idx[open_] = 0.0, close[last][open_], last[open_]

    ret = np.where(valid, np.log(exit_px / entry), np.nan)
    t1 = pd.Series(pd.NaT, index=bars.index, dtype=bars.index.dtype)
    t1[valid] = bars.index[exit_idx[valid]]
    return pd.DataFrame({"label": label, "ret": ret, "t1": t1}, index=bars.index)


def next_return(bars: pd.DataFrame) -> pd.DataFrame:
    """Sign of bar t's return from close[t-1] (the return right after the decision)."""
    logc = np.log(bars["close"].astype(float))
    ret = logc.diff()
    return pd.DataFrame({"label": np.sign(ret), "ret": ret, "t1": bars.index}, index=bars.index)


def make_labels(bars: pd.DataFrame, cfg: LabelConfig | None = None) -> pd.DataFrame:
    """Labels per `cfg.target`, plus the binary model target `y` (1 = price went up)."""
    cfg = cfg or LabelConfig()
    out = triple_barrier(bars, cfg) if cfg.target == "triple_barrier" else next_return(bars)
    # A vertical-barrier exit (0) counts by the sign of its return, so every sample has a side.
    up = (out["label"] > 0) | ((out["label"] == 0) & (out["ret"] > 0))
    out["y"] = np.where(out["label"].notna(), up.astype(float), np.nan)
    return out
