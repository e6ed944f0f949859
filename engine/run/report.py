"""The run directory: report.json, trades.csv, equity.png, journal.jsonl (and the loop's audit.jsonl).

Every key of report.json is documented in docs/run-report.md. The report is
strict JSON: figures that do not exist are null (see engine.run.kpi), never
NaN or infinity. matplotlib and rich are imported inside the functions that
draw, so importing this module stays cheap.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from engine.run.kpi import Kpis, split_kpis, stage_kpis
from engine.run.owner import OWNER_FILE
from engine.run.result import ClosedTrade, DomainResult, RunResult
from engine.run.store_archive import Move, archive, locked_out, put_back, undo
from engine.words import counted
from engine.zones import utc

FORMAT = 1
REPORT, TRADES, EQUITY, AUDIT, JOURNAL = "report.json", "trades.csv", "equity.png", "audit.jsonl", "journal.jsonl"
# What a run writes into its directory (the audit trail's crash tail, the owner file too): what a fresh
# run moves aside.
RUN_FILES = (REPORT, TRADES, EQUITY, JOURNAL, AUDIT, f"{AUDIT}.after-crash", OWNER_FILE)
ARCHIVE_DIR = "archive"
MOVING = f"{ARCHIVE_DIR}.moving"  # in the run directory: a move of its files under way, or cut short
TRADE_COLUMNS = tuple(f.name for f in dataclasses.fields(ClosedTrade))
MIXED = "mixed"  # a domain whose symbols quote in different currencies
SHOWN = 5  # kill events and gate decisions the console lists (report.json has them all)


@dataclasses.dataclass(frozen=True, slots=True)
class RunSetting:
    """What produced a run besides its specs: the run config's environment and the overrides
    that applied, and the currency each domain's money is counted in (a BTC-quoted pair's
    wallet counts BTC, opened at the USD amount converted: engine/run/currency.py)."""

    env: str
    # Absolute, as every path the report names: it is read from elsewhere than the run's folder.
    config: str | None  # the --config file; None: the embedded defaults
    overrides: tuple[str, ...]  # files of the env and stage overrides applied
    quotes: Mapping[str, str | None]  # domain -> quote currency, MIXED, or None when unknown
    # domain -> {"usd_rate", "rate_source"}: the USD rate its wallet was funded at (engine/run/currency.py)
    rates: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    # the symbols the opening wallets cannot trade short of profit (engine/run/preflight.py Untradable.as_dict)
    untradable: tuple[Mapping[str, Any], ...] = ()
    # the holes in the series' traded bars and their partial bars (engine/run/market.py as_dict, partial_bars)
    data_gaps: tuple[Mapping[str, Any], ...] = ()
    partial_bars: tuple[Mapping[str, Any], ...] = ()
    # the spec set's warnings that concern the run, as `engine validate --format json` writes them
    spec_warnings: tuple[Mapping[str, Any], ...] = ()


def run_setting(session: Any, series: Iterable[Any], config: str | None) -> RunSetting:
    """The setting of a run from its session (specs, cfg, stage) and its bar series."""
    from adapters.paper.catalogue import Catalogue

    ro = getattr(session, "rollout", None)  # a promoted run ends in a later stage, whose overrides applied too
    series = list(series)  # read twice: the quotes, then the data notes
    stages = {session.stage, ro.ctx.get("stage", session.stage) if ro is not None else session.stage}
    applied = {("env", session.cfg.env), *(("stage", str(n)) for n in stages)}
    overrides = tuple(sorted(str(Path(o.path).resolve()) for o in session.specs.overrides
                             if (o.scope, o.key) in applied))
    symbols: dict[str, set[str]] = {}
    for s in series:
        symbols.setdefault(s.domain.value, set()).add(s.symbol)
    cat = Catalogue.load()
    currencies = getattr(session, "currencies", {})
    rates = {d.value: {"usd_rate": c.usd_rate, "rate_source": c.source} for d, c in currencies.items()}
    # A domain with no series counts its wallet in the currency it was opened in (USD, as given).
    quotes = {d.value: c.currency for d, c in currencies.items()}
    quotes.update({d: _quote(syms, cat) for d, syms in symbols.items()})
    untradable = tuple(u.as_dict() for u in getattr(session, "untradable", ()))
    config = None if config is None else str(Path(config).resolve())
    return RunSetting(session.cfg.env, config, overrides, quotes, rates, untradable,
                      *_data_setting(session.cfg, series))


def _data_setting(cfg: Any, series: list[Any]) -> tuple[tuple[Mapping[str, Any], ...], ...]:
    """report.json's data_gaps and partial_bars: what the start noted of the series' data."""
    from engine.run.market import partial_bars

    gaps = tuple(g.as_dict() for s in series for g in getattr(s, "gaps", ()))
    partial = tuple(partial_bars(s, cfg.data[s.domain.value].primary) for s in series if getattr(s, "partial", 0))
    return gaps, partial


def _quote(symbols: set[str], cat: Any) -> str | None:
    """The currency the symbols quote in; MIXED when they differ, None when not known."""
    quotes = {_quote_of(s, cat) for s in symbols}
    return MIXED if len(quotes) > 1 else next(iter(quotes), None)


def _quote_of(symbol: str, cat: Any) -> str | None:
    return cat.get(symbol).quote if symbol in cat else None


def archive_run_files(run_dir: Path) -> Move | None:
    """A fresh run starts a new audit trail: the files an earlier run left in `run_dir` move to
    `run_dir/archive/<time>/` (kept, never deleted), so no trail mixes two runs and the report,
    journal and audit of one directory always belong together. All or none, even under SIGKILL:
    the move's record (MOVING) lets the next run undo one cut short (settle_run_files). None when
    there were none."""
    return archive([run_dir / name for name in RUN_FILES], run_dir / ARCHIVE_DIR, run_dir / MOVING)


def restore_run_files(run_dir: Path, moved: Move | None) -> None:
    """Undo archive_run_files for a start that never got going: the files it made go (a fresh
    run's files were all moved aside first, so any there are its own), the earlier run's come back."""
    if moved is not None:
        put_back(moved, run_dir / MOVING)
        return
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)


def settle_run_files(run_dir: Path, store: str) -> str | None:
    """Undo an archiving of `run_dir`'s files that a killed start cut short, when no run writes
    there (the run directory's lock, taken for the moment as `store`'s): one line saying so; None
    when there was none, or a run holds the directory. UnsettledArchive when it cannot be undone."""
    from state.runlock import RunDirInUse, RunDirLock

    record = run_dir / MOVING
    if not record.is_file():
        return None
    try:
        with RunDirLock.acquire(run_dir, store):
            if not record.is_file():
                return None
            move = undo(record)
    except RunDirInUse:  # that run moves the files itself, and puts them back if it must
        return None
    except OSError as e:  # its lock cannot be taken (a read-only directory)
        raise locked_out(record, e) from None
    back = ", ".join(p.name for p in move.moved)
    return (f"a start killed while archiving the run directory {run_dir} left its files split between it and "
            f"{move.dest}: put them back ({back}), so the last run's report and audit trail are together again")


def write_run_dir(result: RunResult, journal: Iterable[Any] = (),
                  setting: RunSetting | None = None) -> dict[str, Path]:
    """Write the report files into result.run_dir; returns {"report"|"trades"|"equity"|"journal"
    |"audit": path}. `journal` is the store's journal (state.models.JournalEntry rows);
    without `setting` the report's environment and quotes are null.

    "audit" is present only when the loop wrote audit.jsonl; report.json says
    `files.audit: null` otherwise, so a missing journal is visible, not silent.
    """
    run_dir = Path(result.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    files = {"trades": write_trades_csv(result.trades, run_dir / TRADES),
             "equity": write_equity_png(result, run_dir / EQUITY, _quotes(setting)),
             "journal": write_journal(journal, run_dir / JOURNAL)}
    audit = run_dir / AUDIT
    if audit.is_file():
        files["audit"] = audit
    report = run_dir / REPORT
    _write_atomic(report, json.dumps(report_dict(result, files, setting), indent=2, allow_nan=False) + "\n")
    return {"report": report, **files}


def write_journal(rows: Iterable[Any], path: Path) -> Path:
    """The store's journal as JSON lines: every rejected signal with its rule and numbers,
    every order intent, venue answer, fill, command and kill event, with time, reason and
    spec hash. It stays with the run directory when the next run archives the database."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(map(_journal_line, rows))
    tmp.replace(path)
    return path


def append_journal(rows: Iterable[Any], path: Path) -> None:
    """Rows journaled after the run directory was written: the `run/finished` mark, which is set
    only once every file of the run is on disk (a run stopped before it resumes to write them)."""
    with open(path, "a", encoding="utf-8") as f:
        f.writelines(map(_journal_line, rows))


def _journal_line(r: Any) -> str:
    return json.dumps({"seq": r.seq, "ts": r.ts, "kind": r.kind, "key": r.key, "reason": r.reason,
                       "spec_hash": r.spec_hash, "payload": r.payload}, default=str) + "\n"


def domain_kpis(result: RunResult) -> dict[str, dict[str, Kpis]]:
    """{domain: {"exploitation": Kpis, "exploration": Kpis}} for every domain of the run."""
    return {d: split_kpis(result.domain_trades(d), result.equity.get(d, []), dr.start_balance)
            for d, dr in result.domains.items()}


def stage_log(result: RunResult) -> list[tuple[float, int, str | None]]:
    """The stages the run went through, (from time, stage, rollout state); one entry for a run that
    never moved."""
    return result.stage_log or [(result.started, result.stage, None)]


def domain_stage_kpis(result: RunResult) -> dict[str, dict[int, Kpis]]:
    """{domain: {stage: Kpis}}: exploitation KPIs per stage the run went through (kpi.stage_kpis)."""
    log = stage_log(result)
    return {d: stage_kpis(result.domain_trades(d), result.equity.get(d, []), dr.start_balance, log)
            for d, dr in result.domains.items()}


def _quotes(setting: RunSetting | None) -> Mapping[str, str | None]:
    return setting.quotes if setting else {}


def _rate(setting: RunSetting | None, domain: str) -> Mapping[str, Any]:
    """The USD rate `domain`'s wallet was funded at, and its source (null when not known)."""
    rate = setting.rates.get(domain) if setting else None
    return rate or {"usd_rate": None, "rate_source": None}


def _rate_of(result: RunResult, elapsed: float | None) -> float | None:
    """This process's bars per second (a resumed run's earlier bars took another process's time);
    None when it processed none (a resume that only wrote the report): no rate, not a rate of 0."""
    done = result.bars - result.resumed_at_bar
    return done / elapsed if done > 0 and elapsed else None


def report_dict(result: RunResult, files: dict[str, Path], setting: RunSetting | None = None) -> dict[str, Any]:
    per_domain, per_stage = domain_kpis(result), domain_stage_kpis(result)
    elapsed = result.finished - result.started
    quotes = _quotes(setting)
    return _clean({
        "format": FORMAT,
        "stage": result.stage,
        "environment": {"env": setting.env, "config": setting.config, "overrides": list(setting.overrides)}
        if setting else None,
        "started": _iso(result.started),
        "finished": _iso(result.finished),
        "elapsed_s": elapsed,
        "bars": result.bars,
        "resumed_at_bar": result.resumed_at_bar,
        "bars_per_second": _rate_of(result, elapsed),
        "replay_s": result.replay_s,
        "replay_bars_per_second": _rate_of(result, result.replay_s),
        "domains": {d: {"mode": dr.mode, "quote": quotes.get(d),
                        **_rate(setting, d),
                        # a USD wallet keeps paper_wallet_usd as written (1000): money is float
                        "start_balance": float(dr.start_balance),
                        "end_balance": float(dr.end_balance), "open_positions": dr.open_positions,
                        "kpis": per_domain[d]["exploitation"].as_dict(),
                        "exploration_kpis": per_domain[d]["exploration"].as_dict(),
                        "kpis_by_stage": {str(n): k.as_dict() for n, k in per_stage[d].items()}}
                    for d, dr in result.domains.items()},
        "stages": [{"stage": n, "from": _iso(t), "state": state} for t, n, state in stage_log(result)],
        "untradable": list(setting.untradable) if setting else None,
        "data_gaps": list(setting.data_gaps) if setting else None,
        "partial_bars": list(setting.partial_bars) if setting else None,
        "spec_warnings": list(setting.spec_warnings) if setting else None,
        "trade_count": len(result.trades),
        "models": _models(result.trades),
        "model_decay": result.model_decay,
        "gate_decisions": _timed(result.gate_decisions),
        "kill_events": _timed(result.kill_events),
        "rejections": dict(sorted(result.rejections.items())),
        "venue_rejections": result.venue_rejections,
        "spec_hashes": dict(sorted(result.spec_hashes.items())),
        "spec_hash": run_spec_hash(result.spec_hashes),
        "final_kill_mode": result.final_kill_mode,
        "final_stage_state": result.final_stage_state,
        "files": {"report": REPORT, "trades": TRADES, "equity": EQUITY, "journal": JOURNAL,
                  "audit": AUDIT if "audit" in files else None},
    })


def run_spec_hash(parts: Mapping[str, str]) -> str:
    """The run's one spec hash, which every journal row carries (engine/run/session.py
    `spec_hash`, of the same parts): sha256 of `NAME:HASH;` for each part in name order, joined,
    its first 16 hex digits."""
    text = "".join(f"{name}:{part};" for name, part in sorted(parts.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _timed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies with `ts` (replay time, epoch seconds in the run and its journal) as ISO 8601 UTC,
    as every time in report.json is."""
    return [{**r, "ts": _iso(r["ts"])} if isinstance(r.get("ts"), (int, float)) else r for r in records]


def _models(trades: list[ClosedTrade]) -> dict[str, dict[str, int]]:
    """Trades per model version that made the decision (exploration trades counted apart)."""
    out: dict[str, dict[str, int]] = {}
    for t in trades:
        if t.model_version:
            m = out.setdefault(t.model_version, {"trades": 0, "exploration": 0})
            m["trades"] += 1
            m["exploration"] += int(t.exploration)
    return dict(sorted(out.items()))


def write_trades_csv(trades: list[ClosedTrade], path: Path) -> Path:
    """One row per trade in exit order; the header is written even with no trade."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(TRADE_COLUMNS)
        for t in sorted(trades, key=lambda t: (t.exit_ts, t.entry_ts)):
            w.writerow(["" if v is None else v for v in dataclasses.astuple(t)])
    return path


def write_equity_png(result: RunResult, path: Path, quotes: Mapping[str, str | None] | None = None) -> Path:
    equity_figure(result, quotes).savefig(path, format="png")
    return path


def equity_figure(result: RunResult, quotes: Mapping[str, str | None] | None = None) -> Any:
    """One panel per domain, each on its own time axis: the bundled domains' data come from
    different years, and one shared axis squeezed each domain's curve into a sliver of it.
    A domain with no curve (no bars in the run) gets no line, only a `no data` label. `quotes`
    labels each panel's money (domain -> currency)."""
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    domains = sorted(result.domains.items())
    fig = Figure(figsize=(10, 1.2 + 2.4 * max(1, len(domains))), dpi=100)
    FigureCanvasAgg(fig)  # no pyplot: no global backend switch, no GUI, thread-safe
    fig.suptitle(f"Stage {result.stage}: equity by domain ({counted(len(result.trades), 'closed trade')})")
    if not domains:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no domain traded in this stage", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    for ax, (domain, dr) in zip(fig.subplots(len(domains), 1, squeeze=False)[:, 0], domains, strict=True):
        curve = result.equity.get(domain)
        trades = sum(1 for t in result.trades if t.domain == domain)
        ax.set_title(_panel_title(domain, dr, curve, trades), loc="left", fontsize=10)
        if curve:
            ax.plot([_dt(ts) for ts, _ in curve], [e for _, e in curve], linewidth=1.2)
            locator = mdates.AutoDateLocator()
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        else:  # a flat line over no time of its own would read as a wallet that sat still while trading
            ax.text(0.5, 0.5, "no bars of this domain in the run", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
        ax.ticklabel_format(axis="y", useOffset=False, style="plain")  # balances, not offsets from 1e3
        unit = _unit((quotes or {}).get(domain))
        ax.set_ylabel(f"equity ({unit})" if unit else "equity")
        ax.grid(True, alpha=0.3)
    ax.set_xlabel("time (UTC)")
    fig.tight_layout()
    return fig


def _panel_title(domain: str, dr: DomainResult, curve: Sequence[tuple[float, float]] | None, trades: int) -> str:
    """`domain (mode)`, its equity from the start balance to the curve's end, its closed trades. The
    curve is marked to market: with positions still open its end is not the wallet's cash, so the
    title says so and gives the cash too."""
    head = f"{domain} ({dr.mode})"
    if not curve:
        return f"{head}: no data, wallet {money(dr.start_balance)}, {counted(trades, 'closed trade')}"
    text = f"{head}: equity {money(dr.start_balance)} -> {money(curve[-1][1])}, {counted(trades, 'closed trade')}"
    if dr.open_positions:
        n = dr.open_positions
        text += f"; {n} position{'s' if n > 1 else ''} open, marked at the last bar (cash {money(dr.end_balance)})"
    return text


def print_kpi_table(result: RunResult, console: Any, setting: RunSetting | None = None) -> None:
    """KPIs per domain (exploration on its own row), then the kill, gate and rejection summary.
    With `setting`, each end balance says its currency."""
    from rich.table import Table

    from engine.console import add_columns

    table = Table(title=f"Stage {result.stage}: {counted(result.bars, 'bar')}, {counted(len(result.trades), 'trade')}")
    add_columns(table, ["domain", "trades", "win rate", "Sharpe", "Sortino", "max DD", "profit factor",
                        "expectancy", "end balance"], left=("domain",))
    stages = domain_stage_kpis(result)
    for domain, split in domain_kpis(result).items():
        dr = result.domains[domain]
        table.add_row(f"{domain} ({dr.mode})", *_kpi_cells(split["exploitation"]),
                      f"{money(dr.end_balance)} {_unit(_quotes(setting).get(domain))}".rstrip())
        if split["exploration"].trades:
            table.add_row("  exploration", *_kpi_cells(split["exploration"]), "", style="dim")
        if len(stages[domain]) > 1:  # a promoted (or demoted) run: each stage's share
            for n, k in stages[domain].items():
                table.add_row(f"  stage {n}", *_kpi_cells(k), "", style="dim")
    console.print(table)
    console.print(f"stage state: [bold]{result.final_stage_state or '?'}[/]   "
                  f"kill mode: [bold]{result.final_kill_mode or '?'}[/]   "
                  f"kill events: {len(result.kill_events)}   gate decisions: {len(result.gate_decisions)}")
    for what, records in (("kill", result.kill_events), ("gate", result.gate_decisions)):
        if len(records) > SHOWN:  # the count above is of them all: say the list is cut
            console.print(f"  (last {SHOWN} of {len(records)} {what} {'events' if what == 'kill' else 'decisions'})")
        for record in records[-SHOWN:]:  # an operator's reason is text, not rich markup
            console.print(f"  {what}: {_brief(record)}", markup=False, highlight=False)
    if result.rejections:
        top = sorted(result.rejections.items(), key=lambda kv: (-kv[1], kv[0]))
        console.print("rejected signals: " + ", ".join(f"{rule} {n}" for rule, n in top)
                      + " (no order sent; journal kind `signal_rejected` has why)")
    if result.venue_rejections:
        console.print(f"orders the venue refused: {result.venue_rejections} (journal kind `rejection` has why)")
    console.print(time_line(result), highlight=False)


def time_line(result: RunResult) -> str:
    """The run's time, the replay loop's share beside it: the progress line timed the loop
    alone, report.json's elapsed_s the whole of it, so both are named (report.json has both)."""
    elapsed = result.finished - result.started
    whole = f"run time: {elapsed:.2f}s with start-up{_speed(_rate_of(result, elapsed))} (report.json elapsed_s)"
    if result.replay_s is None:
        return whole + "; no bar replayed"
    return (f"{whole}; replay loop alone: {result.replay_s:.2f}s{_speed(_rate_of(result, result.replay_s))} "
            "(replay_s)")


def _speed(rate: float | None) -> str:
    return f", {rate:,.0f} bars/s" if rate is not None else ""


def _unit(quote: str | None) -> str:
    """How a domain's money is labelled: its quote currency, '' when not known."""
    return "mixed quotes" if quote == MIXED else quote or ""


def _kpi_cells(k: Kpis) -> list[str]:
    return [str(k.trades), _pct(k.win_rate), _num(k.sharpe), _num(k.sortino), _pct(k.max_dd),
            _num(k.profit_factor), "-" if k.expectancy is None else money(k.expectancy)]


def money(x: float) -> str:
    """An amount to the cent, and one below 1 to 4 significant digits: a wallet counting BTC
    holds 0.07219, which two decimals would show as 0.07 (and its P&L as -0.00)."""
    if x == 0 or not math.isfinite(x) or abs(x) >= 1:
        return f"{x:,.2f}"
    return f"{x:,.{min(3 - math.floor(math.log10(abs(x))), 12)}f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:,.2f}"


def _brief(record: dict[str, Any]) -> str:
    """One line: a value's line breaks (an operator's multi-line reason) would print as more records."""
    return ", ".join(f"{k}={_iso(v) if k == 'ts' and isinstance(v, (int, float)) else ' '.join(str(v).split())}"
                     for k, v in record.items())


def _dt(ts: float) -> datetime:
    return utc(ts)


def _iso(ts: float) -> str:
    return _dt(ts).isoformat()


def _clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats -> null, enums -> value, paths and other objects -> str."""
    if isinstance(value, dict):
        return {str(_clean(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v) for v in value]
    if isinstance(value, Enum):
        return _clean(value.value)
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalars from strategies and models
        return _clean(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _clean(dataclasses.asdict(value))
    return str(value)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
