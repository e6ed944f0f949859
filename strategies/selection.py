"""Evaluation and top-K selection (seed 002).

Metrics per symbol/timeframe from a list of trade returns (log returns, as the
labels give them): trades, win rate, profit factor, Sharpe, Sortino, max
drawdown, average trade, exposure, total return. Ranking uses the composite

    score = w_s * n(sharpe) + w_pf * n(profit_factor) - w_dd * n(max_drawdown) + w_wr * n(winrate)

where n() maps a metric linearly onto [0, 1] over its range and clamps, and the
weights are clamped to >= 0 and normalised to sum to 1 (specs/ml/selection.yaml).

The active set and how the engine must use it (one rule: engine/run/signals.py
`active_symbols`, told in docs/engine-run.md "The active set"):
  * new entries only on active symbols (an empty set: no new entries), refused by
    the risk chain's `active_symbol` guard with the set in its numbers;
  * open positions on a symbol that was deselected stay managed (TP/SL, trailing,
    exits, reconciliation) until they close; deselection never orphans or
    force-closes a position.
  * no set at all (`read_active_set_file` finds no file where the selection spec's
    fallback_file points, and the run config names none): no selection was made, and
    every symbol the run trades may enter, as seed 002 falls back to the configured
    symbols. A file the run config names that is missing, and any file that is not an
    active set, refuse the run: never read as "no selection".
`engine select` writes the set to a JSON file (var/active_symbols.json), which a fresh
run reads and copies into its store (kv "active_symbols"); or, with --state, posts it to
the run in a store, which replaces its copy and journals the change (engine/run/signals.py
change_active_set).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Iterable, Sequence

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from engine.diagnostics import Pos
from engine.words import counted
from engine.zones import utc
from strategies.ml.config import SelectionConfig

PF_CAP = 100.0  # profit factor with no losing trade: capped so it stays finite (and JSON-safe)
SECONDS_PER_YEAR = 365.25 * 86400


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def _std(xs: Sequence[float], mu: float) -> float:
    return math.sqrt(sum((x - mu) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0


def trade_metrics(log_returns: Sequence[float], span_seconds: float,
                  exposure: float | None = None) -> dict[str, float]:
    """Metrics of sequential trades over a period of `span_seconds`.

    Sharpe and Sortino are per trade, annualised by the number of trades per
    year in this period; drawdown is on the compounded equity curve.
    """
    r = [math.expm1(x) for x in log_returns]
    n = len(r)
    if n == 0:
        return {"trades": 0, "winrate": 0.0, "profit_factor": 0.0, "sharpe": 0.0, "sortino": 0.0,
                "max_drawdown": 0.0, "avg_trade": 0.0, "exposure": exposure or 0.0, "total_return": 0.0}
    gains, losses = sum(x for x in r if x > 0), -sum(x for x in r if x < 0)
    mu, sd = _mean(r), _std(r, _mean(r))
    downside = math.sqrt(sum(min(x, 0.0) ** 2 for x in r) / n)
    per_year = math.sqrt(n * SECONDS_PER_YEAR / span_seconds) if span_seconds > 0 else 1.0
    equity, peak, max_dd = 1.0, 1.0, 0.0
    for x in r:
        equity *= 1.0 + x
        peak = max(peak, equity)
        max_dd = max(max_dd, 1.0 - equity / peak)
    return {
        "trades": n,
        "winrate": sum(x > 0 for x in r) / n,
        "profit_factor": min(gains / losses, PF_CAP) if losses > 0 else (PF_CAP if gains > 0 else 0.0),
        "sharpe": mu / sd * per_year if sd > 0 else 0.0,
        "sortino": mu / downside * per_year if downside > 0 else 0.0,
        "max_drawdown": max_dd,
        "avg_trade": mu,
        "exposure": exposure if exposure is not None else 0.0,
        "total_return": equity - 1.0,
    }


class MetricsRow(BaseModel):
    """One row of `engine select --metrics`: what ranking and the table read, each a finite number
    in its range (an infinite Sharpe would outrank every real row)."""
    model_config = ConfigDict(extra="ignore", strict=True, allow_inf_nan=False)
    symbol: str
    tf: str = ""
    trades: int = Field(ge=0)
    winrate: float = Field(ge=0, le=1)
    profit_factor: float = Field(ge=0)
    sharpe: float
    max_drawdown: float = Field(ge=0, le=1)
    sortino: float = 0.0
    avg_trade: float = 0.0
    exposure: float = Field(0.0, ge=0, le=1)
    total_return: float = 0.0


def exposure(intervals: Iterable[tuple[float, float]], span_seconds: float) -> float:
    """Share of the period with a position open: the union of [entry, exit] intervals (epoch s)."""
    total, end = 0.0, -math.inf
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return min(1.0, total / span_seconds) if span_seconds > 0 else 0.0


def normalised_weights(weights: dict[str, float]) -> dict[str, float]:
    clamped = {k: max(0.0, float(w)) for k, w in weights.items()}
    total = sum(clamped.values())
    if total <= 0:
        raise ValueError("selection weights are all zero or negative")
    return {k: w / total for k, w in clamped.items()}


def composite_score(metrics: dict[str, float], cfg: SelectionConfig) -> float:
    score = 0.0
    for name, w in normalised_weights(dict(cfg.weights)).items():
        rng = cfg.ranges[name]
        n = min(1.0, max(0.0, (float(metrics[name]) - rng.lo) / (rng.hi - rng.lo)))
        score += -w * n if name == "max_drawdown" else w * n
    return score


@dataclass(frozen=True)
class Ranked:
    symbol: str
    tf: str
    score: float
    eligible: bool
    reason: str
    metrics: dict[str, float]


def rank(rows: Iterable[dict[str, Any]], cfg: SelectionConfig, min_trades: int | None = None) -> list[Ranked]:
    """Rows of {symbol, tf, metrics...} ranked best first; ineligible rows (too few trades) last."""
    floor = cfg.min_trades if min_trades is None else min_trades
    out = []
    for row in rows:
        m = {k: v for k, v in row.items() if k not in ("symbol", "tf")}
        ok = m["trades"] >= floor
        out.append(Ranked(row["symbol"], row.get("tf", ""), composite_score(m, cfg), ok,
                          "ok" if ok else f"{counted(m['trades'], 'trade')} < min_trades {floor}", m))
    return sorted(out, key=lambda r: (not r.eligible, -r.score, r.symbol, r.tf))


def top_k(ranked: Sequence[Ranked], k: int) -> list[Ranked]:
    """The best eligible row per symbol, k symbols at most."""
    chosen: dict[str, Ranked] = {}
    for r in ranked:
        if r.eligible and r.symbol not in chosen and len(chosen) < k:
            chosen[r.symbol] = r
    return list(chosen.values())


@dataclass(frozen=True)
class ActiveSet:
    symbols: tuple[str, ...]
    generated_at: str
    criteria: dict[str, Any] = field(default_factory=dict)
    timeframes: tuple[str, ...] = ()
    # When the last outcome the ranking read ended (ISO; None: not known, as for --metrics): a
    # run that replays bars before it trades a set chosen on their outcome (engine/run/signals.py).
    ranked_until: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"symbols": list(self.symbols), "generated_at": self.generated_at,
                "timeframes": list(self.timeframes), "top_k": self.criteria.get("top_k"),
                "criteria": self.criteria, "ranked_until": self.ranked_until}


def build_active_set(chosen: Sequence[Ranked], cfg: SelectionConfig, top: int, min_trades: int,
                     now: float, ranked_until: str | None = None) -> ActiveSet:
    return ActiveSet(
        tuple(r.symbol for r in chosen),
        utc(now).isoformat(),
        {"top_k": top, "min_trades": min_trades, "weights": normalised_weights(dict(cfg.weights)),
         "ranges": {k: [v.lo, v.hi] for k, v in cfg.ranges.items()}},
        tuple(sorted({r.tf for r in chosen})),
        ranked_until,
    )


def write_active_set(active: ActiveSet, cfg: SelectionConfig, fallback: Path | None = None) -> str:
    """Write the JSON file a fresh run reads (`fallback`, default the spec's fallback_file); returns
    where it went. A run's own copy (kv `state_key`) is the engine's to write: at its start, and
    when it takes `engine select --state`'s set (engine/run/signals.py)."""
    path = fallback or Path(cfg.fallback_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(active.as_dict(), indent=2))
    tmp.replace(path)
    return str(path)


class ActiveSetError(ValueError):
    """What is wrong with an active set's file (or the store's copy), and the hint. `pos` is in
    the file itself (bad JSON); None: the setting that names the file is the place to report."""

    def __init__(self, what: str, hint: str, pos: Pos | None = None) -> None:
        super().__init__(what)
        self.what, self.hint, self.pos = what, hint, pos


def _a_time(v: str) -> str:
    datetime.fromisoformat(v)  # ValueError: pydantic reports it at the key
    return v


class _Recorded(BaseModel):
    """The keys `engine select` writes (ActiveSet.as_dict) that a run reads; others are ignored."""
    model_config = ConfigDict(extra="ignore", strict=True)
    symbols: list[str]
    generated_at: Annotated[str, AfterValidator(_a_time)]  # ISO 8601, as `engine select` writes it
    criteria: dict[str, Any] = {}
    timeframes: list[str] = []
    ranked_until: Annotated[str, AfterValidator(_a_time)] | None = None


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: json.loads keeps the last of two, so a
    hand-edited `"symbols": []` below the real list would silently stop every entry."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen.add(key)
    return dict(pairs)


def _second(text: str, key: str, path: Path) -> Pos:
    """Where `key` is written the second time (the one json.loads would have kept)."""
    quoted = json.dumps(key)
    at = text.find(quoted, text.find(quoted) + 1)
    line = text.count("\n", 0, at) + 1
    return Pos(str(path), line, at - (text.rfind("\n", 0, at) + 1) + 1)


REWRITE = "write it again with `engine select` (e.g. engine select --top-k 5 --out FILE)"


def parse_active_set(data: Any, source: str, pos: Pos | None = None) -> ActiveSet:
    """`data` (from `source`, for the message) as an active set; ActiveSetError when it is not one."""
    try:
        rec = _Recorded.model_validate(data)
    except ValidationError as e:
        wrong = "; ".join(f"`{'.'.join(map(str, x['loc'])) or 'the document'}`: {x['msg'].lower()}"
                          for x in e.errors(include_url=False))
        raise ActiveSetError(f"{source} is not an active set ({wrong}): it needs `symbols` (a list of "
                             "symbols) and `generated_at`", REWRITE, pos) from None
    return ActiveSet(tuple(rec.symbols), rec.generated_at, dict(rec.criteria), tuple(rec.timeframes),
                     rec.ranked_until)


def read_active_set_file(path: Path) -> ActiveSet | None:
    """The active set `engine select` wrote to `path`; None only when nothing is there. A folder,
    an unreadable file, bad JSON (at its line:col) or another shape is an ActiveSetError."""
    if not path.exists():
        return None
    if path.is_dir():
        raise ActiveSetError(f"the active set file {path} is a directory, not a file",
                             "name the JSON file `engine select` writes, e.g. var/active_symbols.json")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ActiveSetError(f"cannot read the active set file {path}: "
                             f"{e.strerror if isinstance(e, OSError) else e}", "make it readable, or " + REWRITE) from None
    if not text.strip():
        raise ActiveSetError(f"the active set file {path} is empty", REWRITE, Pos(str(path), 1, 1))
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as e:
        raise ActiveSetError(f"the active set file {path} is not valid JSON: {e.msg}", REWRITE,
                             Pos(str(path), e.lineno, e.colno)) from None
    except _DuplicateKey as e:
        raise ActiveSetError(f"the active set file {path} has the key `{e}` twice, and which one holds would be a "
                             "guess", "keep one of them, or " + REWRITE, _second(text, str(e), path)) from None
    return parse_active_set(data, f"the active set file {path}", Pos(str(path), 1, 1))


def read_active_set(cfg: SelectionConfig, store: Any = None, fallback: Path | None = None) -> ActiveSet | None:
    """The active set recorded in the store (key `state_key`) or, without a store, in the file
    (`fallback`, default the spec's fallback_file); None when none is recorded there."""
    if store is None:
        return read_active_set_file(fallback or Path(cfg.fallback_file))
    data = store.get_json(cfg.state_key)
    return None if data is None else parse_active_set(data, f"the state store's {cfg.state_key!r}")
