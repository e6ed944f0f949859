"""Harsh paper-execution settings (seed 004 defaults); validated, so a typo in
a config file is an error rather than a silently ignored key."""
from __future__ import annotations

from typing import Annotated, Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from engine.domain import Domain

_ALL = {d: 1000.0 for d in Domain}
Bps = Annotated[float, Field(ge=0)]
_PER_DOMAIN = ("spread_bps", "taker_fee_bps", "slippage_bps", "leverage")  # a figure for every domain
_EXAMPLE = "crypto_spot: 8, crypto_perp: 8, forex: 2, forex_options: 8"


class PaperConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Seed 004 gives one figure (PAPER_SLIPPAGE_BPS=8) for every market; a domain may set its own
    # (8 bps is ~13 pips on GBP/USD, several times its spread). A number sets all domains.
    slippage_bps: dict[Domain, Bps] = Field(
        default_factory=lambda: {d: 8.0 for d in Domain},
        description="added against the trader on every taker fill, per domain (a number: all domains)")
    partial_fill_prob: float = Field(0.2, ge=0, le=1, description="chance a fill attempt of an entry or a bracket "
                                     "leg fills only part (a market close fills whole)")
    partial_fill_min: float = Field(0.2, gt=0, lt=1, description="smallest fraction a partial fill takes")
    partial_fill_max: float = Field(0.8, gt=0, lt=1, description="largest fraction a partial fill takes")
    latency_ms: int = Field(250, ge=0, description="sim time before a new order is worked")
    max_quote_age_s: float = Field(2.0, ge=0, description="an order's quote may be at most this old "
                                   "(bar data: only the current bar's snapshot qualifies)")
    seed: int = Field(0, ge=0, description="seed of the fill randomness (deterministic replays)")
    spread_bps: dict[Domain, Bps] = Field(
        default_factory=lambda: {Domain.CRYPTO_SPOT: 10.0, Domain.CRYPTO_PERP: 4.0,
                                 Domain.FOREX: 1.5, Domain.FOREX_OPTIONS: 30.0},
        description="modelled full spread where the data has no real bid/ask")
    taker_fee_bps: dict[Domain, Bps] = Field(
        default_factory=lambda: {Domain.CRYPTO_SPOT: 10.0, Domain.CRYPTO_PERP: 5.5,
                                 Domain.FOREX: 0.2, Domain.FOREX_OPTIONS: 10.0})
    leverage: dict[Domain, Annotated[float, Field(gt=0)]] = Field(
        default_factory=lambda: {Domain.CRYPTO_SPOT: 1.0, Domain.CRYPTO_PERP: 3.0,
                                 Domain.FOREX: 10.0, Domain.FOREX_OPTIONS: 1.0},
        description="margin = notional / leverage when checking free funds")
    starting_balance: dict[Domain, float] = Field(default_factory=lambda: dict(_ALL))
    funding: bool = Field(True, description="accrue perp funding from the funding-rate data")

    @field_validator("slippage_bps", mode="before")
    @classmethod
    def _one_for_all(cls, v: Any) -> Any:
        """A number is every domain's figure, checked here so that an error points at it."""
        if isinstance(v, bool) or not isinstance(v, (int, float, Mapping)):
            raise PydanticCustomError("bps", "must be a number (bps, every domain) or a map of domain -> bps",
                                      {"hint": f"e.g. 8 or {{{_EXAMPLE}}}"})
        if isinstance(v, Mapping):
            return v
        if v < 0:
            raise PydanticCustomError("bps", "`{got}` is out of bounds: it must be at least 0 (bps against the trader)",
                                      {"got": v, "hint": "write 0 for no slippage"})
        return {d: v for d in Domain}

    @field_validator(*_PER_DOMAIN)
    @classmethod
    def _every_domain(cls, v: dict[Domain, float], info: ValidationInfo) -> dict[Domain, float]:
        missing = sorted(d.value for d in set(Domain) - set(v))
        if missing:
            one = ", or one number for all" if info.field_name == "slippage_bps" else ""
            raise PydanticCustomError("domains", "has no figure for {missing}",
                                      {"missing": ", ".join(missing),
                                       "hint": f"give every domain ({', '.join(d.value for d in Domain)}){one}"})
        return v

    @model_validator(mode="after")
    def _ranges(self) -> "PaperConfig":
        if self.partial_fill_min > self.partial_fill_max:
            raise ValueError("partial_fill_min must be <= partial_fill_max")
        return self
