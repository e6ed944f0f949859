"""The schema of specs/risk/*.yaml (kind: risk). Light: no pandas, so `engine validate` can load it."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.spec.durations import parse_duration

DomainName = Literal["crypto_spot", "crypto_perp", "forex", "forex_options"]
Fraction = Field(ge=0.0, le=1.0)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _seconds(v: object) -> float:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        return parse_duration(v)
    raise ValueError("expected a duration such as 15m, 2h or 7d")


class Canary(_Strict):
    size_pct: float = Fraction
    trades: int = Field(ge=0)
    days: float

    _days = field_validator("days", mode="before")(_seconds)


class LadderStep(_Strict):
    profit_usd: float
    multiplier: float = Field(gt=0)


class Ladder(_Strict):
    window: float
    clamp: tuple[float, float]
    steps: list[LadderStep]

    _window = field_validator("window", mode="before")(_seconds)

    @model_validator(mode="after")
    def _ordered(self) -> "Ladder":
        if self.clamp[0] > self.clamp[1]:
            raise ValueError("clamp must be [low, high] with low <= high")
        if [s.profit_usd for s in self.steps] != sorted(s.profit_usd for s in self.steps):
            raise ValueError("ladder steps must be in increasing profit_usd order")
        return self


class Kelly(_Strict):
    fraction: float = Fraction
    min_trades: int = Field(ge=1)
    floor: float = Fraction  # Kelly may shrink size to this multiple, never to zero


class DrawdownRecovery(_Strict):
    from_drawdown: float = Fraction
    multiplier: float = Fraction


class Sizing(_Strict):
    base_size_pct: float = Fraction
    canary: Canary
    per_trade_risk_pct: dict[DomainName, float]
    percent_sizing_threshold_usd: float = Field(gt=0)
    percent_sizing_above_threshold: dict[DomainName, float]
    ladder: Ladder
    kelly: Kelly
    drawdown_recovery: DrawdownRecovery


class Session(_Strict):
    weekdays: list[int]
    friday_close_utc: str

    @field_validator("friday_close_utc")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        hh, _, mm = v.partition(":")
        if not (hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60):
            raise ValueError("expected HH:MM (quote it: \"21:00\")")
        return v

    @property
    def friday_close_s(self) -> float:
        hh, _, mm = self.friday_close_utc.partition(":")
        return int(hh) * 3600 + int(mm) * 60


class Limits(_Strict):
    short_allowed: dict[DomainName, bool]
    leverage_caps: dict[DomainName, float]
    exposure_pair_pct: float = Fraction
    exposure_portfolio_pct: float = Fraction
    max_concurrent_positions: int = Field(ge=1)
    max_hold: float
    spread_max_bps: dict[DomainName, float]
    sessions: dict[DomainName, Session] = {}
    friday_close_buffer: float
    avoid_weekend_carry: bool

    _durations = field_validator("max_hold", "friday_close_buffer", mode="before")(_seconds)

    def near_weekly_close(self, domain: str, ts: Any) -> Any:
        """Inside the Friday close buffer of `domain`'s session, for a UTC time or an array of
        them (one rule for the per-bar exit and the quiet-bar screen); False without a session."""
        import numpy as np

        ts = np.asarray(ts, dtype=float)
        sess = self.sessions.get(domain)
        if sess is None:
            return np.zeros(ts.shape, dtype=bool)
        weekday = (np.floor_divide(ts, 86400.0).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
        secs = np.floor(np.mod(ts, 86400.0))
        return (weekday == 4) & (secs >= sess.friday_close_s - self.friday_close_buffer)


class Brackets(_Strict):
    atr_window: int = Field(ge=2)
    stop_atr: dict[DomainName, float]
    take_profit_atr: dict[DomainName, float]


GuardName = Literal["kill_mode", "no_short", "active_symbol", "session_hours", "spread_filter", "max_concurrent",
                    "min_size", "exposure_pair", "exposure_portfolio", "leverage_cap", "wallet_available"]


class RiskConfig(_Strict):
    kind: Literal["risk"]
    name: str
    version: int
    description: str
    sizing: Sizing
    limits: Limits
    brackets: Brackets
    guards: list[GuardName]

    @field_validator("guards")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        dup = {g for g in v if v.count(g) > 1}
        if dup:
            raise ValueError(f"guard listed twice: {', '.join(sorted(dup))}")
        return v
