"""Typed parameters of the ML filter, ensemble, regimes, selection and exploration.

The values live in specs/ml/*.yaml (specs are the source of truth); this module
only declares their types and bounds and loads them. It imports neither pandas
nor xgboost, so `engine validate` may use it. A bad file is reported as
`file:line:col` diagnostics (SpecError), never as a traceback.
"""
from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo,
                      field_validator, model_validator)
from pydantic_core import PydanticCustomError

from engine.diagnostics import Diagnostic, Pos, Severity, SpecError
from engine.spec.durations import duration_problem
from strategies.ml.pre_spec import feature_values_before_keys, regime_values_before_keys
from strategies.params import MAX_WINDOW

SPEC_DIR = Path(__file__).resolve().parents[2] / "specs" / "ml"

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d|w)$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

REGIMES = ("TREND_UP", "TREND_DOWN", "RANGE", "HIGH_VOL", "NEUTRAL")


def duration_seconds(text: str) -> float:
    """'30s', '15m', '4h', '7d', '4w' -> seconds (the spec format's literal durations)."""
    m = _DURATION.match(str(text).strip())
    if not m:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 4h, 7d, 4w)")
    return float(m.group(1)) * _SECONDS[m.group(2)]


class _Strict(BaseModel):
    # strict: a YAML number for a number, a YAML boolean for a bool, never one read from text
    # (`threshold: "0.6"`), as in every spec (engine/spec/models.py).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _check_duration(v: object) -> str:
    """A literal duration; a YAML number (`train: 4`) is refused in the words every spec uses."""
    if not isinstance(v, str):
        what, hint = duration_problem(v) or ("", "")
        raise PydanticCustomError("duration", "{what}", {"what": what, "hint": hint})
    duration_seconds(v)
    return v


Duration = Annotated[str, BeforeValidator(_check_duration)]


def file_name_problem(path: str) -> str | None:
    """Why `path` cannot name a file (empty, or a folder: `var/`, `.`), or None. Used for the
    active set's file here and in the run config (ml.active_set_file): read as a path, "" is
    the working folder, which a run would try to read as the file."""
    if not path.strip():
        return "names no file (it is empty)"
    if path.endswith(("/", "\\")) or Path(path).name in ("", ".", ".."):
        return f"names a folder ({path}), not a file"
    return None


def _check_file_name(path: str) -> str:
    problem = file_name_problem(path)
    if problem is not None:
        raise PydanticCustomError("file_name", "{what}", {"what": problem, "hint": "name the JSON file `engine "
                                                           "select` writes, e.g. var/active_symbols.json"})
    return path


FileName = Annotated[str, AfterValidator(_check_file_name)]
Bars = Annotated[int, Field(ge=1, le=MAX_WINDOW)]  # a window in bars: see strategies/params.py


# -- ML filter ---------------------------------------------------------------------------

class FeatureConfig(_Strict):
    higher_timeframes: list[Duration] = Field(default_factory=lambda: ["1h", "4h"])
    ema_windows: list[Bars] = Field(default_factory=lambda: [12, 26, 50])
    rsi_window: int = Field(14, ge=2, le=MAX_WINDOW)
    atr_window: int = Field(14, ge=2, le=MAX_WINDOW)
    adx_window: int = Field(14, ge=2, le=MAX_WINDOW)
    bb_window: int = Field(20, ge=2, le=MAX_WINDOW)
    bb_dev: float = Field(2.0, gt=0)
    volume_delta_windows: list[Bars] = Field(default_factory=lambda: [1, 12])
    return_windows: list[Bars] = Field(default_factory=lambda: [1, 3, 12])
    macd_fast: int = Field(12, ge=2, le=MAX_WINDOW)
    macd_slow: int = Field(26, ge=2, le=MAX_WINDOW, validate_default=True)  # checked against macd_fast
    macd_signal: Bars = 9
    volume_mean_window: Bars = Field(48, description="bars of mean volume the volume and OBV deltas are scaled by")
    spread_ratio_window: Bars = Field(48, description="bars of mean spread the spread_ratio feature divides by")

    @field_validator("macd_slow")
    @classmethod
    def _macd_order(cls, v: int, info: ValidationInfo) -> int:
        # A field validator (not a model one), so validate points at macd_slow itself.
        fast = info.data.get("macd_fast")
        if fast is not None and v <= fast:
            raise ValueError(f"macd_slow ({v}) must exceed macd_fast ({fast})")
        return v


def recorded_features(recorded: object) -> FeatureConfig:
    """The FeatureConfig a model's manifest records (`feature_config`), from which a run builds
    its features. A key the manifest lacks (saved before the key existed) gets the value the
    features had then, never today's default: the volume mean window followed the model's own
    volume_delta_windows, which the default 48 matches only for [.., 12]. Raises ValueError."""
    if not isinstance(recorded, dict):
        raise ValueError("the manifest records no feature_config")
    cfg = FeatureConfig.model_validate(recorded)
    missing = {k: v for k, v in feature_values_before_keys(cfg).items() if k not in recorded}
    return FeatureConfig.model_validate({**recorded, **missing}) if missing else cfg


class LabelConfig(_Strict):
    vol_window: int = Field(50, ge=2, le=MAX_WINDOW, description="bars of returns in the rolling volatility")
    upper_k: float = Field(2.0, gt=0, description="upper barrier = upper_k x rolling vol")
    lower_k: float = Field(2.0, gt=0)
    horizon: int = Field(12, ge=1, le=MAX_WINDOW, description="vertical barrier, in bars")
    target: Literal["triple_barrier", "next_return"] = "triple_barrier"


class WalkForwardConfig(_Strict):
    train: Duration = "4w"
    test: Duration = "1w"
    embargo_bars: int = Field(12, ge=0, le=MAX_WINDOW)
    min_folds: int = Field(4, ge=1, description="scale train/test down (4:1 kept) to get this many folds")
    min_train_samples: int = Field(200, ge=10)


class ModelParams(_Strict):
    n_estimators: int = Field(150, ge=1)
    max_depth: int = Field(2, ge=1)
    learning_rate: float = Field(0.03, gt=0, le=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    min_child_weight: float = Field(50.0, ge=0)
    seed: int = 7


# A probability threshold, in [0.5, 1): below 0.5 a probability could pass as BUY and as SELL (p >= thr
# and p <= 1 - thr), while validation counts it as one of them (seed 002's symmetric rule).
Threshold = Annotated[float, Field(ge=0.5, lt=1)]


class ThresholdConfig(_Strict):
    default: Threshold = 0.55
    per_symbol: dict[str, float] = Field(default_factory=dict)  # each a Threshold (_bounds: the symbol named)
    search_grid: list[Threshold] = Field(
        default_factory=lambda: [0.51, 0.53, 0.55, 0.57, 0.6, 0.65])
    min_trades: int = Field(20, ge=1, description="fewest validation trades a searched threshold needs")

    @field_validator("per_symbol")
    @classmethod
    def _bounds(cls, v: dict[str, float]) -> dict[str, float]:
        for sym, thr in v.items():
            if not 0.5 <= thr < 1:
                raise ValueError(f"threshold for {sym} must be in [0.5, 1), got {thr}")
        return v

    def for_symbol(self, symbol: str) -> float:
        return self.per_symbol.get(symbol, self.default)


class DecayConfig(_Strict):
    window: int = Field(100, ge=10, le=MAX_WINDOW, description="recent resolved predictions compared to validation")
    min_samples: int = Field(30, ge=1)
    max_hit_rate_drop: float = Field(0.05, ge=0, le=1)
    max_brier_rise: float = Field(0.02, ge=0, le=1)


class MLConfig(_Strict):
    kind: Literal["ml"]
    features: FeatureConfig = FeatureConfig()
    labels: LabelConfig = LabelConfig()
    walkforward: WalkForwardConfig = WalkForwardConfig()
    model: ModelParams = ModelParams()
    thresholds: ThresholdConfig = ThresholdConfig()
    decay: DecayConfig = DecayConfig()
    registry_root: str = "var/models"


# -- ensemble -----------------------------------------------------------------------------

class EnsembleConfig(_Strict):
    kind: Literal["ensemble"]
    method: Literal["majority", "weighted"] = "weighted"
    threshold: Threshold = 0.6
    min_models: int = Field(2, ge=1)
    weights: dict[str, float] = Field(default_factory=dict)

    @field_validator("weights")
    @classmethod
    def _non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [k for k, w in v.items() if w < 0]
        if bad:
            raise ValueError(f"weights must be >= 0: {', '.join(bad)}")
        return v


# -- regimes, sessions, allowlists --------------------------------------------------------

class SessionWindow(_Strict):
    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=24)


class RegimeConfig(_Strict):
    kind: Literal["regime"]
    adx_window: int = Field(14, ge=2, le=MAX_WINDOW)
    ema_window: int = Field(50, ge=2, le=MAX_WINDOW)
    slope_bars: int = Field(5, ge=1, le=MAX_WINDOW)
    trend_adx_min: float = Field(20.0, ge=0)
    range_adx_max: float = Field(18.0, ge=0)
    bb_window: int = Field(20, ge=2, le=MAX_WINDOW)
    bb_dev: float = Field(2.0, gt=0)
    tight_band_quantile: float = Field(0.5, gt=0, lt=1)
    atr_window: int = Field(14, ge=2, le=MAX_WINDOW)
    vol_lookback: int = Field(500, ge=20, le=MAX_WINDOW, description="past bars the HIGH_VOL quantile is taken over")
    # No default of its own: a spec without the key gets the warm-up it had before the key,
    # derived from its vol_lookback (_min_bars_as_before). None only beside a vol_lookback that
    # is no integer, whose own error fails the spec (rather than a second one: a missing key).
    # Checked against vol_lookback.
    lookback_min_bars: int = Field(None, ge=1, le=MAX_WINDOW,
                                   description="past bars the RANGE and HIGH_VOL quantiles need before they flag a "
                                               "bar; without the key, max(20, vol_lookback // 5): the warm-up "
                                               "regime_flags had before the key (strategies/ml/pre_spec.py)")
    high_vol_quantile: float = Field(0.8, gt=0, lt=1)
    sessions: dict[str, SessionWindow] = Field(default_factory=lambda: {
        "asian": SessionWindow(start_hour=23, end_hour=7),
        "eu": SessionWindow(start_hour=7, end_hour=15),
        "us": SessionWindow(start_hour=13, end_hour=21),
    })

    @model_validator(mode="before")
    @classmethod
    def _min_bars_as_before(cls, data: typing.Any) -> typing.Any:
        # A regime spec written before the key existed keeps the warm-up regime_flags hard-coded
        # then, from its own vol_lookback, not the shipped value: no silent change.
        if isinstance(data, dict):
            lookback = data.get("vol_lookback", cls.model_fields["vol_lookback"].default)
            return {**regime_values_before_keys({"vol_lookback": lookback}), **data}
        return data

    @field_validator("lookback_min_bars")
    @classmethod
    def _within_lookback(cls, v: int, info: ValidationInfo) -> int:
        # A field validator (not a model one), so validate points at lookback_min_bars itself.
        lookback = info.data.get("vol_lookback")
        if lookback is not None and v > lookback:
            raise ValueError(f"lookback_min_bars ({v}) must not exceed vol_lookback ({lookback}), the bars the "
                             f"quantiles are taken over: set lookback_min_bars to at most {lookback}")
        return v

    @model_validator(mode="after")
    def _hysteresis(self) -> "RegimeConfig":
        if self.range_adx_max > self.trend_adx_min:
            raise ValueError("range_adx_max must not exceed trend_adx_min")
        return self


class Allowlist(_Strict):
    """Where a strategy may open risk; '*' allows everything in that dimension."""

    sessions: list[str]
    regimes: list[str]
    assets: list[str]

    @field_validator("regimes")
    @classmethod
    def _known_regimes(cls, v: list[str]) -> list[str]:
        bad = [r for r in v if r != "*" and r not in REGIMES]
        if bad:
            raise ValueError(f"unknown regime(s) {bad}; known: {', '.join(REGIMES)}")
        return v


class AllowlistsConfig(_Strict):
    kind: Literal["allowlists"]
    strategies: dict[str, Allowlist]


# -- selection, exploration ---------------------------------------------------------------

class MetricRange(_Strict):
    lo: float
    hi: float

    @model_validator(mode="after")
    def _ordered(self) -> "MetricRange":
        if self.hi <= self.lo:
            raise ValueError("hi must be greater than lo")
        return self


class SelectionConfig(_Strict):
    kind: Literal["selection"]
    top_k: int = Field(5, ge=1)
    min_trades: int = Field(25, ge=0)
    weights: dict[Literal["sharpe", "profit_factor", "max_drawdown", "winrate"], float] = Field(
        default_factory=lambda: {"sharpe": 0.5, "profit_factor": 0.3, "max_drawdown": 0.2, "winrate": 0.0})
    ranges: dict[Literal["sharpe", "profit_factor", "max_drawdown", "winrate"], MetricRange] = Field(
        default_factory=lambda: dict(_RANGES),
        description="a metric's range left out keeps its default: every weighted metric needs one")
    state_key: str = "active_symbols"
    fallback_file: FileName = "var/active_symbols.json"

    @field_validator("ranges")
    @classmethod
    def _with_defaults(cls, v: dict[str, MetricRange]) -> dict[str, MetricRange]:
        return {**_RANGES, **v}


_RANGES = {"sharpe": MetricRange(lo=-1.0, hi=3.0), "profit_factor": MetricRange(lo=0.0, hi=3.0),
           "max_drawdown": MetricRange(lo=0.0, hi=0.5), "winrate": MetricRange(lo=0.0, hi=1.0)}


class ExplorationSpec(_Strict):
    """specs/ml/exploration.yaml: the regimes that count as chop, and the tag exploration trades
    carry. The rates are per stage, so they are the rollout's parameters, never keys here."""

    kind: Literal["exploration"]
    chop_regimes: list[str]
    tag: str


class ExplorationConfig(_Strict):
    """What a run explores with. No defaults: every value comes from a spec (the rollout stage's
    `exploration_min` / `exploration_max_chop`, whose bounds and order the rollout spec and
    ENGINE_CONTRACT enforce, and specs/ml/exploration.yaml), bound once at load by
    `strategies.exploration.exploration_config`."""

    min_rate: float = Field(ge=0, le=1)
    chop_rate: float = Field(ge=0, le=1)
    chop_regimes: tuple[str, ...]
    tag: str


# -- loading ------------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def load_model(path: str | Path, model: type[M]) -> M:
    """Validate one YAML document against `model`; bad input raises SpecError with file:line:col.

    Read by the spec loader, as `engine validate` reads it, so that a run or `engine train`
    refuses a bad file with exactly the diagnostics validate prints (one code path, not two)."""
    from engine.spec.loader import load_file

    loaded = load_file(Path(path))
    errors = [d for d in loaded.diags if d.severity is Severity.ERROR]
    if errors:
        raise SpecError(errors)
    if loaded.extra is None or not isinstance(loaded.extra[1], model):
        kind = loaded.extra[3] if loaded.extra else "machine, catalogue or overrides"
        want = typing.get_args(model.model_fields["kind"].annotation)[0]
        raise SpecError([Diagnostic(Pos(str(path), 1, 1), Severity.ERROR, "SCHEMA_VALUE",
                                    f"this is a `kind: {kind}` document, not a `kind: {want}` spec",
                                    f"name a `kind: {want}` spec, such as one in specs/ml/")])
    return loaded.extra[1]


def load_spec(name: str, model: type[M], spec_dir: Path | None = None) -> M:
    """Load specs/ml/NAME.yaml (or the same name under `spec_dir`)."""
    return load_model((spec_dir or SPEC_DIR) / f"{name}.yaml", model)
