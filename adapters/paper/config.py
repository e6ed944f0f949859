"""Harsh paper-execution settings (seed 004 defaults); validated, so a typo in
a config file is an error rather than a silently ignored key."""
from __future__ import annotations

from typing import Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.domain import Domain

_ALL = {d: 1000.0 for d in Domain}


class PaperConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    slippage_bps: float = Field(8.0, ge=0, description="added against the trader on every taker fill")
    partial_fill_prob: float = Field(0.2, ge=0, le=1, description="chance a fill attempt fills only part")
    partial_fill_min: float = Field(0.2, gt=0, lt=1, description="smallest fraction a partial fill takes")
    partial_fill_max: float = Field(0.8, gt=0, lt=1, description="largest fraction a partial fill takes")
    latency_ms: int = Field(250, ge=0, description="sim time before a new order is worked")
    max_quote_age_s: float = Field(2.0, ge=0, description="an order's quote may be at most this old "
                                   "(bar data: only the current bar's snapshot qualifies)")
    seed: int = Field(0, description="seed of the fill randomness (deterministic replays)")
    spread_bps: dict[Domain, float] = Field(
        default_factory=lambda: {Domain.CRYPTO_SPOT: 10.0, Domain.CRYPTO_PERP: 4.0,
                                 Domain.FOREX: 1.5, Domain.FOREX_OPTIONS: 30.0},
        description="modelled full spread where the data has no real bid/ask")
    taker_fee_bps: dict[Domain, float] = Field(
        default_factory=lambda: {Domain.CRYPTO_SPOT: 10.0, Domain.CRYPTO_PERP: 5.5,
                                 Domain.FOREX: 0.2, Domain.FOREX_OPTIONS: 10.0})
    leverage: dict[Domain, float] = Field(
        default_factory=lambda: {Domain.CRYPTO_SPOT: 1.0, Domain.CRYPTO_PERP: 3.0,
                                 Domain.FOREX: 10.0, Domain.FOREX_OPTIONS: 1.0},
        description="margin = notional / leverage when checking free funds")
    starting_balance: dict[Domain, float] = Field(default_factory=lambda: dict(_ALL))
    funding: bool = Field(True, description="accrue perp funding from the funding-rate data")

    @model_validator(mode="after")
    def _ranges(self) -> "PaperConfig":
        if self.partial_fill_min > self.partial_fill_max:
            raise ValueError("partial_fill_min must be <= partial_fill_max")
        for name in ("spread_bps", "taker_fee_bps", "leverage"):
            missing = set(Domain) - set(getattr(self, name))
            if missing:
                raise ValueError(f"{name} lacks {sorted(d.value for d in missing)}")
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> "PaperConfig":
        """Partial per-domain maps are merged over the defaults."""
        data = dict(data or {})
        base = cls()
        for key in ("spread_bps", "taker_fee_bps", "leverage", "starting_balance"):
            if key in data:
                data[key] = {**getattr(base, key), **{Domain(k): v for k, v in data[key].items()}}
        return cls(**data)
