"""Market regimes, UTC trading sessions and the per-strategy allowlist (seed 004).

Regimes, with thresholds from specs/ml/regime.yaml:
  HIGH_VOL    ATR/close in the top 20% of the previous `vol_lookback` bars (the
              quantile uses only past bars, never the bar being classified, and
              at least `lookback_min_bars` of them);
  TREND_UP    ADX >= 20 and a rising EMA;   TREND_DOWN: ADX >= 20 and a falling EMA;
  RANGE       ADX < 18 and tight Bollinger bands (width at or below the past median);
  NEUTRAL     anything else, including the indicator warm-up.
HIGH_VOL takes precedence (it changes risk whatever the direction).

`classify(bars)[t]` uses bars up to and including t: it is the regime known at
bar t's close. The engine calls `check_allowlist` before routing an entry and
records each refusal with its reason; only this module and pandas-free code run
in that check.
"""
from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any, Mapping

from engine.zones import utc
from strategies.ml.config import Allowlist, AllowlistsConfig, RegimeConfig, load_spec
from strategies.ml.pre_spec import regime_values_before_keys

if TYPE_CHECKING:
    import pandas as pd


class Regime(str, Enum):
    TREND_UP = "TREND_UP"
    TREND_DOWN = "TREND_DOWN"
    RANGE = "RANGE"
    HIGH_VOL = "HIGH_VOL"
    NEUTRAL = "NEUTRAL"


def load_regime_config() -> RegimeConfig:
    return load_spec("regime", RegimeConfig)


# The RegimeConfig fields regime_flags does not read (sessions are the allowlist's). Every other
# field shapes a model's regime_* features, so a new field is recorded and compared by default:
# a needless refusal rather than a silent train/serve skew.
_NOT_FLAGS = {"kind", "sessions"}
NOT_RECORDED = "(not recorded)"


def flag_settings(cfg: RegimeConfig) -> dict[str, Any]:
    """The settings regime_flags reads: what `engine train` records beside a model."""
    return cfg.model_dump(exclude=_NOT_FLAGS)


def trained_settings(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """A model's recorded `regime_config`, with each key it lacks (saved before the key existed)
    at the value its features had then, never today's."""
    return {**regime_values_before_keys(recorded), **recorded}


def changed_settings(trained: Mapping[str, Any], cfg: RegimeConfig) -> list[tuple[str, Any, Any]]:
    """(key, trained value, current value) for every flag setting that differs from `trained`
    (as trained_settings completes it); a key only one side has differs too (its other value
    is NOT_RECORDED)."""
    trained, now = trained_settings(trained), flag_settings(cfg)
    keys = [k for k in now if k in trained] + sorted(set(now) ^ set(trained))
    return [(k, trained.get(k, NOT_RECORDED), now.get(k, NOT_RECORDED)) for k in keys
            if trained.get(k, NOT_RECORDED) != now.get(k, NOT_RECORDED)]


def load_allowlists() -> dict[str, Allowlist]:
    return dict(load_spec("allowlists", AllowlistsConfig).strategies)


def regime_flags(bars: "pd.DataFrame", cfg: RegimeConfig | None = None) -> "pd.DataFrame":
    """Boolean columns trend_up, trend_down, range, high_vol per bar (not mutually exclusive)."""
    import pandas as pd

    from strategies.ml import indicators as ind

    cfg = cfg or load_regime_config()
    h, lo, c = bars["high"], bars["low"], bars["close"]
    adx = ind.adx(h, lo, c, cfg.adx_window)["adx"]
    ema = ind.ema(c, cfg.ema_window)
    slope = ema - ema.shift(cfg.slope_bars)
    width = ind.bollinger(c, cfg.bb_window, cfg.bb_dev)["bb_width"]
    natr = ind.atr(h, lo, c, cfg.atr_window) / c
    # .shift(1): the reference quantiles are taken over strictly earlier bars.
    past = {"window": cfg.vol_lookback, "min_periods": cfg.lookback_min_bars}
    tight_ref = width.shift(1).rolling(**past).quantile(cfg.tight_band_quantile)
    vol_ref = natr.shift(1).rolling(**past).quantile(cfg.high_vol_quantile)
    trending = adx >= cfg.trend_adx_min
    return pd.DataFrame({
        "trend_up": trending & (slope > 0),
        "trend_down": trending & (slope < 0),
        "range": (adx < cfg.range_adx_max) & (width <= tight_ref),
        "high_vol": natr > vol_ref,
    }, index=bars.index)


def classify(bars: "pd.DataFrame", cfg: RegimeConfig | None = None) -> "pd.Series":
    """One Regime value per bar (strings), HIGH_VOL first, NEUTRAL when nothing applies."""
    import numpy as np
    import pandas as pd

    f = regime_flags(bars, cfg)
    labels = np.select(
        [f["high_vol"], f["trend_up"], f["trend_down"], f["range"]],
        [Regime.HIGH_VOL.value, Regime.TREND_UP.value, Regime.TREND_DOWN.value, Regime.RANGE.value],
        default=Regime.NEUTRAL.value)
    return pd.Series(labels, index=bars.index, name="regime")


def _utc_hour(ts: "float | datetime") -> int:
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            raise ValueError("naive datetime: sessions are defined in UTC, pass an aware datetime")
        return ts.astimezone(timezone.utc).hour
    return utc(float(ts)).hour


def _in_window(hour: int, start: int, end: int) -> bool:
    return start <= hour < end if start <= end else hour >= start or hour < end


def sessions_at(ts: "float | datetime", cfg: RegimeConfig | None = None) -> list[str]:
    """Open sessions at `ts` (epoch seconds UTC or an aware datetime); overlaps give several."""
    cfg = cfg or load_regime_config()
    hour = _utc_hour(ts)
    return [name for name, w in cfg.sessions.items() if _in_window(hour, w.start_hour, w.end_hour)]


def check_allowlist(allowlist: Allowlist, ts: "float | datetime", regime: "Regime | str", asset: str,
                    cfg: RegimeConfig | None = None) -> tuple[bool, str]:
    """(ok, reason). Refuses (fail closed) when the session, regime or asset is not allowed.

    `asset` may be a symbol or a domain name; either listed in `assets` allows it.
    """
    regime = regime.value if isinstance(regime, Regime) else str(regime)
    if regime not in Regime.__members__:
        return False, f"regime: unknown regime {regime!r}"
    if "*" not in allowlist.sessions:
        open_now = sessions_at(ts, cfg)
        if not open_now:
            return False, "session: no session open at this hour"
        if not set(open_now) & set(allowlist.sessions):
            return False, f"session: {'/'.join(open_now)} not in allowlist {allowlist.sessions}"
    if "*" not in allowlist.regimes and regime not in allowlist.regimes:
        return False, f"regime: {regime} not in allowlist {allowlist.regimes}"
    if "*" not in allowlist.assets and asset not in allowlist.assets:
        return False, f"asset: {asset} not in allowlist {allowlist.assets}"
    return True, "allowed"
