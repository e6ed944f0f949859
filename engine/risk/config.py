"""The schema of specs/risk/*.yaml (kind: risk). Light: no pandas, so `engine validate` can load it.

Every number has bounds that make sense for what it means, and every per-domain map names every
domain: a value the run cannot use (a zero leverage cap divides, a missing domain is a KeyError
on the first entry) is refused here, at its line, rather than mid-run."""
from __future__ import annotations

import hashlib
import json
import math
import typing
from typing import Annotated, Any, Callable, Literal, NamedTuple, TypeVar

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo,
                      WithJsonSchema, field_validator, model_validator)
from pydantic_core import InitErrorDetails, PydanticCustomError

from engine.diagnostics import did_you_mean
from engine.zones import database_name, host_zone
from engine.spec.durations import duration_problem, parse_duration

DomainName = Literal["crypto_spot", "crypto_perp", "forex", "forex_options"]
DOMAINS: tuple[str, ...] = typing.get_args(DomainName)
DAY = 86400.0
FRIDAY = 4 * DAY  # Friday 00:00 UTC, in seconds from Monday 00:00
WEEK = 7 * DAY
T = TypeVar("T")


def _error(message: str, hint: str, **ctx: Any) -> PydanticCustomError:
    # ctx["hint"] is the diagnostic's hint (engine/spec/models.py); the message says what is wrong.
    return PydanticCustomError("risk_value", message, {**ctx, "hint": hint})


def _number(x: float) -> str:
    return f"{x:g}"


def _span(x: float) -> str:
    """Seconds as the spec writes them: 7d, 2h, 90s."""
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if x and x % n == 0:
            return f"{x / n:g}{unit}"
    return f"{x:g}s"


def _within(lo: float, hi: float, hint: str, *, lo_open: bool = False,
            show: Callable[[float], str] = _number) -> AfterValidator:
    """lo <= v <= hi (lo < v when lo_open); NaN is outside every range."""
    shown = f"{'(' if lo_open else '['}{show(lo)}, {show(hi)}]"

    def check(v: float) -> float:
        if (lo < v if lo_open else lo <= v) and v <= hi:
            return v
        raise _error("{value} is outside {range}", hint, value=show(v), range=shown)

    return AfterValidator(check)


def _seconds(v: object) -> float:
    """A literal duration, refused as the overrides refuse one: `max_hold: 2` could be 2 seconds
    or 2 days, and read as seconds it exits every trade after one bar."""
    if bad := duration_problem(v):
        raise _error("{what}", bad[1], what=bad[0])
    return parse_duration(typing.cast(str, v))


_PCT = "a fraction: 0.02 is 2%"
Share = Annotated[float, _within(0.0, 1.0, _PCT, lo_open=True)]  # 0 would size, or cap, every entry to nothing
Leverage = Annotated[float, _within(0.0, 100.0, "a multiple of equity: 1 is unlevered, 10 is 10:1", lo_open=True)]
Multiplier = Annotated[float, _within(0.0, 10.0, "a multiple of the size: 1 leaves it as it is", lo_open=True)]
AtrMultiple = Annotated[float, _within(0.0, 20.0, "a multiple of the ATR, such as 1.5", lo_open=True)]
Bps = Annotated[float, _within(0.0, 10_000.0, "basis points of the mid price: 25 is 0.25%")]
_DURATION = "a duration such as 15m, 2h or 7d"
# What a spec writes, for `engine schema`: a duration string (a bare number is refused, see _seconds).
_DURATION_SCHEMA = WithJsonSchema({"type": "string", "pattern": r"^(?:\d+(?:\.\d+)?[wdhms])+$",
                                   "description": _DURATION})
Duration = Annotated[float, BeforeValidator(_seconds), _within(0.0, 366 * DAY, _DURATION, lo_open=True, show=_span),
                     _DURATION_SCHEMA]
DurationOrZero = Annotated[float, BeforeValidator(_seconds), _within(0.0, 366 * DAY, _DURATION, show=_span),
                           _DURATION_SCHEMA]
Weekday = Annotated[int, _within(0, 6, "0 is Monday, 4 Friday, 6 Sunday")]


def week_seconds(ts: Any) -> Any:
    """Seconds from Monday 00:00 UTC of `ts`'s week (a UTC time or an array): 1970-01-01 was a Thursday."""
    return (ts + 3 * DAY) % WEEK


def _every_domain(v: dict[str, T]) -> dict[str, T]:
    missing = [d for d in DOMAINS if d not in v]
    if missing:
        raise _error("no entry for {missing}", f"every domain needs one: {', '.join(DOMAINS)} (the run "
                     "reads it for each entry of that domain)", missing=", ".join(missing))
    return v


PerDomain = Annotated[dict[DomainName, T], AfterValidator(_every_domain)]


class _Strict(BaseModel):
    # strict: a YAML boolean for a bool, a YAML number for a number (an int is fine for a float),
    # never one read from text: `short_allowed: {crypto_spot: "yes"}` would turn shorting on.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _pair(v: object) -> object:
    """A YAML list as the tuple a strict model wants (strict takes no list for a tuple)."""
    return tuple(v) if isinstance(v, list) else v


def _clamp_pair(v: object) -> object:
    """`[low, high]` as the tuple a strict model wants; anything else said so, not in tuple terms."""
    if isinstance(v, list) and len(v) == 2:
        return tuple(v)
    raise _error("{v} is not a [low, high] pair of multipliers", "write two numbers, as `clamp: [0.5, 5.0]`",
                 v=v if isinstance(v, (int, float, str)) else list(v) if isinstance(v, (list, tuple)) else type(v).__name__)


class Canary(_Strict):
    size_pct: Share
    trades: Annotated[int, _within(0, 100_000, "closed trades: seed 001 says 50")]
    days: DurationOrZero  # 0d: the canary ends by its trade count alone
    # A domain the rollout turns live (paper before, or off after a demotion) starts its canary
    # again: seed 001's stage 2 trades "live ... canary sizing for first 50 trades or 7 days".
    restart_on_live: bool = True


class LadderStep(_Strict):
    profit_usd: float = Field(allow_inf_nan=False)
    multiplier: Multiplier

    @field_validator("profit_usd")
    @classmethod
    def _a_profit(cls, v: float) -> float:
        # Below its first step the ladder is 1.0: a step at a loss would size a small loss down and
        # a larger one back to full size (seed 004's steps are profits: +$200, +$500, +$1000).
        if v <= 0:
            raise _error("profit_usd {v} is not a profit: the ladder raises size on 7-day profit, and below its "
                         "first step the multiplier is 1.0", "give a profit above 0; size in a drawdown is "
                         "`drawdown_recovery`'s", v=v)
        return v


class Ladder(_Strict):
    window: Duration
    clamp: Annotated[tuple[Multiplier, Multiplier], BeforeValidator(_clamp_pair)]
    steps: list[LadderStep]

    @field_validator("clamp")
    @classmethod
    def _low_high(cls, v: tuple[float, float]) -> tuple[float, float]:
        if v[0] > v[1]:
            raise _error("clamp [{lo}, {hi}] is not [low, high]", "write the smaller multiplier first",
                         lo=v[0], hi=v[1])
        return v

    @field_validator("steps")
    @classmethod
    def _in_clamp(cls, v: list[LadderStep], info: ValidationInfo) -> list[LadderStep]:
        if [s.profit_usd for s in v] != sorted(s.profit_usd for s in v):
            raise _error("ladder steps must be in increasing profit_usd order", "sort the steps by profit_usd")
        lo, hi = info.data.get("clamp", (0.0, math.inf))  # no clamp: its own error is reported
        for n, s in enumerate(v, 1):
            if not lo <= s.multiplier <= hi:
                # The sizer would clamp it silently: the spec would say one size and trade another.
                raise _error("step {n} (profit_usd {profit}): multiplier {m} is outside the clamp [{lo}, {hi}]",
                             "widen the clamp or change the step's multiplier", n=n, profit=s.profit_usd,
                             m=s.multiplier, lo=lo, hi=hi)
        return v


class Kelly(_Strict):
    fraction: Share
    min_trades: Annotated[int, _within(1, 100_000, "closed trades before Kelly applies, such as 20")]
    floor: Share  # Kelly may shrink size to this multiple, never to zero


class DrawdownRecovery(_Strict):
    from_drawdown: Share
    multiplier: Share


class Sizing(_Strict):
    base_size_pct: Share
    canary: Canary
    per_trade_risk_pct: PerDomain[Share]
    percent_sizing_threshold_usd: Annotated[float, _within(0.0, 1e9, "US dollars: seed 004 says 1000", lo_open=True)]
    percent_sizing_above_threshold: PerDomain[Share]
    ladder: Ladder
    kelly: Kelly
    drawdown_recovery: DrawdownRecovery


def _time_of_day(v: str) -> str:
    hh, colon, mm = v.partition(":")
    if not (colon and len(hh) == 2 and len(mm) == 2 and hh.isdigit() and mm.isdigit()
            and int(hh) < 24 and int(mm) < 60):
        raise _error("`{value}` is not a time of day", 'write it as HH:MM, quoted: "00:00" or "17:00"', value=v)
    return v


class Session(_Strict):
    weekdays: list[Weekday]
    friday_close_utc: Annotated[str, AfterValidator(_time_of_day)]

    @field_validator("weekdays")
    @classmethod
    def _unique(cls, v: list[int]) -> list[int]:
        if not v:
            raise _error("no weekday listed", "list the days entries are allowed on, 0 (Monday) to 6 (Sunday)")
        if len(set(v)) != len(v):
            raise _error("a weekday is listed twice", "list each day once")
        return v

    @property
    def friday_close_s(self) -> float:
        hh, _, mm = self.friday_close_utc.partition(":")
        return int(hh) * 3600 + int(mm) * 60

    def cutoff(self, buffer: float) -> float:
        """The Friday close less `buffer`, in seconds from Monday 00:00 UTC (week_seconds)."""
        return FRIDAY + self.friday_close_s - buffer

    def closing(self, ts: Any, fill_s: float, buffer: float) -> Any:
        """Whether an order decided at the bar close `ts` (a UTC time, or an array of them) may still
        be filling at the cutoff: it fills during the next bar, `fill_s` long, so that bar must end
        before close - buffer. From the last bar close whose next bar reaches the cutoff to the end
        of Friday; fill_s 0 asks about the instant `ts` itself."""
        week = week_seconds(ts)
        return (week + fill_s >= self.cutoff(buffer)) & (week < FRIDAY + DAY)


def _name(what: str, hint: str) -> Callable[[str], str]:
    def check(v: str) -> str:
        if not v.strip() or v != v.strip():
            raise _error("`{value}` is not a {what}", hint, value=v, what=what)
        return v

    return check


SectorName = Annotated[str, AfterValidator(_name("sector name", "name the sector, such as usd_fx"))]
SymbolName = Annotated[str, AfterValidator(_name("symbol", "write the symbol as the contract catalogue "
                                                           "(adapters/paper/contracts.yaml) does, such as EUR/USD"))]


def _some(v: list[str]) -> list[str]:
    if not v:
        raise _error("the sector lists no symbol", "list its symbols, or remove the sector")
    return v


Symbols = Annotated[list[SymbolName], AfterValidator(_some)]
_ZONE = "an IANA time zone, such as UTC, Europe/Prague or America/New_York"


def _zone(v: str) -> str:
    """A zone zoneinfo knows, so the run can place every day's start (DST included), and the
    same zone on every machine (deterministic replay)."""
    from zoneinfo import ZoneInfo, available_timezones

    if why := host_zone(v):
        bare = database_name(v)
        raise _error("`{zone}` is {why}, not a fixed time zone: the day would start at a different time on another "
                     "machine", f"write `{bare}`" if bare else f"write {_ZONE}", zone=v, why=why)
    try:
        ZoneInfo(v)
    except (ValueError, KeyError, OSError):  # not found: a KeyError; a malformed key or file: a ValueError;
        # a folder of zones (`Europe`): an OSError
        raise _error("`{zone}` is not a time zone", did_you_mean(v, available_timezones()) or f"write {_ZONE}",
                     zone=v) from None
    return v


class TradingDay(_Strict):
    """When the book's trading day starts (engine/risk/tradingday.py): its daily loss, daily risk
    budget and the gates' daily closes all count this day."""

    zone: Annotated[str, AfterValidator(_zone)] = "UTC"
    starts: Annotated[str, AfterValidator(_time_of_day)] = "00:00"  # the zone's wall-clock time


def _listed_again(symbol: str, first: str, sector: str, i: int) -> InitErrorDetails:
    """The error of `symbol` listed again as item `i` of `sector`, located there (the loc below
    `sectors`): at the second listing, where the edit that made it likely is."""
    if first == sector:
        why = _error("the symbol {symbol} is listed twice in sector `{sector}`", "list it once",
                     symbol=symbol, sector=sector)
    else:
        why = _error("the symbol {symbol} is in sector `{first}` and in `{second}`", "put each symbol in one sector: "
                     "its open risk counts against that sector's cap", symbol=symbol, first=first, second=sector)
    return InitErrorDetails(type=why, loc=(sector, i), input=symbol)


class Limits(_Strict):
    short_allowed: PerDomain[bool]
    leverage_caps: PerDomain[Leverage]
    exposure_pair_pct: Share
    exposure_portfolio_pct: Share
    max_concurrent_positions: Annotated[int, _within(1, 1000, "positions open at once in a domain: seed 004 says 5")]
    max_hold: Duration
    spread_max_bps: PerDomain[Bps]
    sessions: dict[DomainName, Session] = {}  # a domain without one trades around the clock
    friday_close_buffer: Annotated[float, BeforeValidator(_seconds), _within(0.0, DAY, _DURATION, show=_span),
                                   _DURATION_SCHEMA]
    avoid_weekend_carry: bool
    # Seed 000's daily risk budget: the risk at the stop of the day's entries, of start-of-day equity.
    daily_risk_budget_pct: Share
    # Seed 000's sector limit: open risk at the stop per sector, of the domain wallet's equity.
    sector_risk_pct: Share
    sectors: dict[SectorName, Symbols]
    trading_day: TradingDay = TradingDay()
    # How far beyond its bar's range a fill's price may be before it is a fault (engine/exec/plausible.py).
    fill_price_band: Share

    @field_validator("sectors", mode="before")
    @classmethod
    def _a_mapping(cls, v: object) -> object:
        if isinstance(v, list):
            raise _error("the sectors are a list, not a mapping of sector names to their symbols",
                         "name each sector: `usd_fx: [EUR/USD, GBP/USD]`, one sector a line under `sectors:`")
        return v

    @field_validator("sectors")
    @classmethod
    def _one_sector_each(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        """A symbol in two sectors would be capped by whichever the guard met first."""
        seen: dict[str, str] = {}
        again = []  # every repeat, so one run of `engine validate` names each
        for name, symbols in v.items():
            for i, symbol in enumerate(symbols):
                first = seen.setdefault(symbol, name)
                if first != name or symbols.index(symbol) != i:
                    again.append(_listed_again(symbol, first, name, i))
        if again:
            raise ValidationError.from_exception_data("sectors", again)
        return v

    def near_weekly_close(self, domain: str, ts: Any, fill_s: float) -> Any:
        """Whether a position must close at the bar close `ts` (a UTC time, or an array of them)
        so as to be flat a buffer before `domain`'s Friday close: Session.closing, the one rule of
        the per-bar exit and the quiet-bar screen; `fill_s` is the length of the bar its market
        exit fills in (the next one). False without a session."""
        import numpy as np

        ts = np.asarray(ts, dtype=float)
        sess = self.sessions.get(domain)
        if sess is None:
            return np.zeros(ts.shape, dtype=bool)
        return sess.closing(ts, fill_s, self.friday_close_buffer)


def _always(lim: Limits) -> bool:
    return True


class Reader(NamedTuple):
    """Code outside the guard chain that reads a `limits` key: `what` it is, for messages, and
    `when` it reads it (the weekend exit reads the sessions only while avoid_weekend_carry is on)."""

    what: str
    when: Callable[[Limits], bool] = _always
    only: str = ""  # `when` in words, for the message of a limit it does not read


_WEEKEND = "the run's weekend exit (engine/run/loop.py, quiet.py)"
_CARRY = "while avoid_weekend_carry is true"
# The `limits` keys the run reads itself, whatever the guard chain: a chain without the guard
# that reads one (engine/risk/guards.py declares each guard's) still applies it, so the linter
# does not warn of it. tests/test_risk_limits_read.py scans engine/ so this cannot fall behind.
RUN_READS: dict[str, Reader] = {
    "max_hold": Reader("the run's max-hold exit (engine/run/loop.py, quiet.py)"),
    "avoid_weekend_carry": Reader(_WEEKEND),
    "sessions": Reader(_WEEKEND, lambda lim: lim.avoid_weekend_carry, _CARRY),
    "friday_close_buffer": Reader(_WEEKEND, lambda lim: lim.avoid_weekend_carry, _CARRY),
    "leverage_caps": Reader("the venue's margin and the book's free cash (engine/run/assemble.py, loop.py)"),
    "trading_day": Reader("the run's day roll: the daily loss, the daily risk budget, the gates' daily closes "
                          "(engine/run/loop.py)"),
    "fill_price_band": Reader("the check of each venue fill against its bar (engine/exec/plausible.py)"),
}


class Brackets(_Strict):
    atr_window: Annotated[int, _within(2, 1000, "bars in the ATR, such as 14")]
    stop_atr: PerDomain[AtrMultiple]
    take_profit_atr: PerDomain[AtrMultiple]


def _currency_code(v: str) -> str:
    if not (2 <= len(v) <= 10 and v.isascii() and v.isalnum() and v.isupper() and v[0].isalpha()):
        raise _error("`{code}` is not a currency code", "write it as the contract catalogue's `quote` does: "
                     "capitals and digits, such as BTC or USDT", code=v)
    if v == "USD":
        raise _error("no rate is needed for USD",
                     "leave it out: the rates are in US dollars, so USD's is 1 by definition")
    return v


def _source(v: str) -> str:
    if not v.strip():
        raise _error("the rate has no source", "say where the figure is from: the market, its date and who "
                     "published it, so that a run's wallets can be audited")
    return v.strip()


CurrencyCode = Annotated[str, AfterValidator(_currency_code)]
_RATE = "US dollars per one unit of the currency, such as 13853 for BTC"


def _rate_number(v: object) -> object:
    """A rate is a YAML number: `true` would read as 1.0 and `"13853"` as 13853, a figure the
    writer never wrote as one, and a wallet funded at a guessed rate (fail closed)."""
    if isinstance(v, bool):
        raise _error("`{value}` is a yes/no value, not a rate", f"write the rate as a number: {_RATE}",
                     value=str(v).lower())
    if isinstance(v, str):
        raise _error("`{value}` is text, not a number", f"write the rate as a plain number (no quotes): {_RATE}",
                     value=v)
    if not isinstance(v, (int, float)):
        raise _error("the rate is not a number", f"write the rate as a plain number: {_RATE}")
    return v


_RATE_KEYS = {  # each key of a rate, with what to write for it
    "usd": f"add `usd:`: {_RATE}",
    "source": "add `source:`: where the figure is from (the market, its date and who published it), so that "
              "a run's wallets can be audited",
}


class UsdRate(_Strict):
    """What one unit of a wallet currency is worth in US dollars, and where that figure is from."""

    usd: Annotated[float, BeforeValidator(_rate_number), _within(0.0, 1e9, _RATE, lo_open=True)]
    source: Annotated[str, AfterValidator(_source)]

    @model_validator(mode="before")
    @classmethod
    def _both(cls, data: Any) -> Any:
        """The keys missing, all in one error (one run names every fix), said with what to write.
        Not with an unknown key beside it: that is likely the missing one misspelt (`sorce:`),
        and the schema reports it with a did-you-mean."""
        if isinstance(data, dict) and set(data) <= set(cls.model_fields):
            lacks = [key for key in _RATE_KEYS if key not in data]
            if lacks:
                raise _error("the rate has no {keys}", "; ".join(_RATE_KEYS[key] for key in lacks),
                             keys=" and no ".join(f"`{key}`" for key in lacks))
        return data


GuardName = Literal["kill_mode", "no_short", "active_symbol", "session_hours", "spread_filter", "max_concurrent",
                    "min_size", "daily_risk_budget", "sector_risk", "exposure_pair", "exposure_portfolio",
                    "leverage_cap", "wallet_available"]


class RiskConfig(_Strict):
    kind: Literal["risk"]
    name: str
    version: int
    description: str
    sizing: Sizing
    limits: Limits
    brackets: Brackets
    guards: list[GuardName]
    # Currency -> its USD rate: what converts the specs' USD figures into a wallet that counts
    # another currency when the run's own data has no rate (engine/run/currency.py).
    usd_rates: dict[CurrencyCode, UsdRate] = {}

    def run_hash(self) -> str:
        """What a run records as `spec_hashes.risk` (engine/run/session.py), and `engine diff`
        prints beside the file's hash: the validated document hashed, which a comment, a
        reformatting or a default spelled out in the file leaves as it is."""
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @field_validator("guards")
    @classmethod
    def _kill_first(cls, v: list[str]) -> list[str]:
        dup = {g for g in v if v.count(g) > 1}
        if dup:
            raise _error("guard listed twice: {dup}", "list each guard once", dup=", ".join(sorted(dup)))
        if not v or v[0] != "kill_mode":
            # The chain checks the kill switch first whatever this list says (chain.RiskChain):
            # a list without it would read as if entries ignored the kill switch.
            raise _error("the chain must start with `kill_mode`", "put `- kill_mode` first: the kill "
                         "switch blocks entries through it, before any other guard")
        return v
