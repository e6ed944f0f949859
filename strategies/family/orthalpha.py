"""Alpha orthogonal to momentum: the intercept of a rolling regression of realised
risk-adjusted returns on lagged momentum (OrthAlphaStrategy; WLS variant with 1/vol^2)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from statsmodels.regression.rolling import RollingOLS, RollingRegressionResults, RollingWLS

from strategies import blocks, params
from strategies.voltarget import VolTargetStrategy, ema_gap


class OrthAlphaStrategy(VolTargetStrategy):
    """The seed regresses the forward return on dp.shift(forward_window). At row t the only
    forward return already realised is the one that started forward_window bars ago, so
        y_t = log(close_t / close_{t-fw}) / (per-bar vol_{t-fw} x sqrt(fw)),  x_t = dp_{t-fw}
    and the window's intercept (alpha) and its t-value are known at t. Signal:
        clip(alpha / EWM std(alpha), +-2) x ((1 - alpha_w) + alpha_w x min(|t| / t_full, 1)).

    The regressions run with reset=1 (each window summed afresh): statsmodels' default
    recomputes only the LAST window from scratch, so a row's value would differ in the
    last bits between a replay step and the full history, and replay must equal predict."""

    params_model = params.OrthAlphaParams

    def _regression(self, y: pd.Series, x: pd.DataFrame, per_bar_start: pd.Series) -> RollingRegressionResults:
        return RollingOLS(y.to_numpy(), x.to_numpy(), window=self.params.regression_window,
                          min_nobs=self.params.regression_window // 2, missing="drop").fit(reset=1)

    def _intercept(self, y: pd.Series, x: pd.DataFrame, per_bar_start: pd.Series) -> tuple[pd.Series, pd.Series]:
        """Rolling intercept and its t-value; all NaN while too few complete rows exist, or fewer
        rows than one window (statsmodels refuses a sample with none, indexes past the end of one
        shorter than the window, and every window would be NaN anyway)."""
        complete = int((y.notna() & x.notna().all(axis=1) & per_bar_start.notna()).sum())
        if complete < self.params.regression_window // 2 or len(y) < self.params.regression_window:
            nan = pd.Series(np.nan, index=y.index)
            return nan, nan
        res = self._regression(y, x, per_bar_start)
        return pd.Series(res.params[:, 0], index=y.index), pd.Series(res.tvalues[:, 0], index=y.index)

    def _direction(self, bars: pd.DataFrame, vol: pd.Series) -> pd.Series:
        p = self.params
        fw = p.forward_window
        close = bars["close"]
        dp = blocks.ewm_standardise(ema_gap(close, p.fast_ema_window, p.slow_ema_multiplier), p.vol_window)
        per_bar_start = self._per_bar(bars, vol).shift(fw)
        y = np.log(close / close.shift(fw)) / (per_bar_start * math.sqrt(fw))
        x = pd.DataFrame({"const": 1.0, "dp": dp.shift(fw)}, index=bars.index)
        alpha, t_value = self._intercept(y, x, per_bar_start)
        signal = blocks.ewm_standardise(alpha, p.vol_window)
        return signal * ((1 - p.alpha) + p.alpha * (t_value.abs() / p.t_full).clip(upper=1.0))


class WeightedOrthAlphaStrategy(OrthAlphaStrategy):
    """RollingWLS with weights 1 / vol^2 (vol at the start of each observation's return)."""

    params_model = params.WeightedOrthAlphaParams

    def _regression(self, y: pd.Series, x: pd.DataFrame, per_bar_start: pd.Series) -> RollingRegressionResults:
        w = 1.0 / per_bar_start**2
        y = y.where(np.isfinite(w))
        return RollingWLS(y.to_numpy(), x.to_numpy(), window=self.params.regression_window,
                          weights=w.fillna(0.0).to_numpy(), min_nobs=self.params.regression_window // 2,
                          missing="drop").fit(reset=1)
