"""Typed parameters of every strategy class (pydantic only, no pandas).

Windows are counted in bars. The seed's defaults assume hourly bars (24 x 30 =
30 days); a spec for another bar interval states its own windows.
Defaults that the seed does not give are marked "our choice".
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


# The longest window, in bars: more than any data set holds (114 years of hourly bars). A
# window beyond the data leaves the strategy flat; one beyond 2**31 bars crashes pandas.
MAX_WINDOW = 1_000_000
# The largest window multiplier: a multiplied window stays within 2**31 bars.
MAX_MULTIPLIER = 1_000


class Params(BaseModel):
    # strict: a YAML number for a number, a YAML boolean for a bool, never one read from text.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    target_vol: float = Field(0.2, gt=0,
                              description="Annualised volatility the in-sample PnL is scaled to (our choice).")
    vol_window: int = Field(24 * 30, ge=4, le=MAX_WINDOW,
                            description="Bars; Rogers-Satchell uses 40% of it (seed).")
    bars_per_year: float | None = Field(
        None, gt=0, description="Annualisation; None: the in-sample bars a calendar year (fewer where a market closes).")


class TiltParams(Params):
    weibull_c: float = Field(2.0, gt=0, description="Weibull shape of the vol tilt (our choice).")
    weibull_scale_mult: float = Field(1.5, gt=0, description="Weibull scale = in-sample median vol x this (seed).")
    alpha: float = Field(0.5, ge=0, le=1, description="Blend: tilt = (1 - alpha) + alpha x vol_tilt (our choice).")


class DecayParams(TiltParams):
    fit_decay: bool = Field(True, description="Deflate/inflate by the strategy's own recent PnL (seed decay).")
    decay_span: int = Field(24 * 90, ge=2, le=MAX_WINDOW,
                            description="EWM span of the strategy PnL, bars (seed: 24 x 90).")


class VolScaleParams(Params):
    pass


class WedThuParams(Params):
    pass


class EmaVolParams(DecayParams):
    fast_ema_window: int = Field(24, ge=1, le=MAX_WINDOW)
    slow_ema_multiplier: float = Field(4.0, gt=1, le=MAX_MULTIPLIER,
                                       description="slow EMA span = fast x this (our choice).")


class AccelVolParams(EmaVolParams):
    diff_multiplier: float = Field(1.0, gt=0, le=MAX_MULTIPLIER,
                                   description="diff window = fast_ema_window x this (our choice).")


class BreakVolParams(DecayParams):
    breakout_window: int = Field(24 * 5, ge=2, le=MAX_WINDOW,
                                 description="Bars of the rolling high and low (our choice).")
    smooth_window: int = Field(24, ge=1, le=MAX_WINDOW, description="EWM span of the signal (our choice).")


class BlockVolParams(DecayParams):
    block_window: int = Field(24 * 5, ge=2, le=MAX_WINDOW, description="Bars of a block's high and low (our choice).")
    smooth_window: int = Field(24, ge=1, le=MAX_WINDOW, description="EWM span of the signal (our choice).")


class BuySellVolParams(TiltParams):
    volume_window: int = Field(24, ge=1, le=MAX_WINDOW,
                               description="EWM span of the taker-buy and total volume (our choice).")
    smooth_window: int = Field(24, ge=1, le=MAX_WINDOW, description="EWM span of the signal (our choice).")


class RevParams(Params):
    reversal_window: int = Field(6, ge=1, le=MAX_WINDOW, description="EMA span of the returns (our choice).")
    reversal_threshold: float = Field(0.5, ge=0,
                                      description="|EMA(returns) / per-bar vol| above which to fade (our choice).")
    volume_threshold: float = Field(0.5, ge=0, le=1,
                                    description="Min-max volume level in [0, 1] required to fade (our choice).")


class OrthAlphaParams(Params):
    forward_window: int = Field(24, ge=1, le=MAX_WINDOW,
                                description="Bars of the forward return regressed (our choice).")
    regression_window: int = Field(24 * 30, ge=10, le=MAX_WINDOW, description="Bars of the rolling OLS (our choice).")
    fast_ema_window: int = Field(24, ge=1, le=MAX_WINDOW,
                                 description="Momentum regressor's fast EMA (the seed leaves it implicit).")
    slow_ema_multiplier: float = Field(4.0, gt=1, le=MAX_MULTIPLIER, description="As EmaVol's (our choice).")
    alpha: float = Field(0.5, ge=0, le=1, description="t-value tilt weight (our choice).")
    t_full: float = Field(2.0, gt=0, description="|t| of the intercept at which the t tilt reaches 1 (our choice).")
    fit_decay: bool = True
    decay_span: int = Field(24 * 90, ge=2, le=MAX_WINDOW)


class WeightedOrthAlphaParams(OrthAlphaParams):
    pass
