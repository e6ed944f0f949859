"""Put a run together: store, venue, interpreter, the stage's machines, market series."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from engine.domain import Domain
from engine.exec.execution import Execution
from engine.exec.ledger import BufferedLedger, StoreLedger
from engine.run import interrupt
from engine.run.config import RunConfig, with_specs
from engine.run.held import HeldFiles
from engine.run.keys import CHECKPOINT_KEY, ROUTING_KEY, SYMBOLS_KEY
from engine.run.loop import Runner
from engine.run.market import data_notes, load_series, partial_bars
from engine.run.optin import Routing
from engine.run.owner import Owner, claim_on_resume, write_owner
from engine.run.report import AUDIT, MOVING, archive_run_files, restore_run_files
from engine.run.signals import active_symbols, build_decider
from engine.run.session import Session, bind_stages, spec_hash
from engine.run.store_archive import settled
from engine.runtime import Interpreter, JsonlSink, ReplayClock
from engine.spec.ir import SpecSet
from state.db import parse_url, store_url


def paper_config(cfg: RunConfig, leverage: dict[str, float]) -> Any:
    """The paper venue's settings: the run's seed, its margin at the risk spec's leverage caps,
    under the run config's `venue` keys (pydantic ValidationError on a bad one). Every account
    starts unfunded: the rollout's apply_stage funds a domain's when it activates the domain."""
    from adapters.paper.config import PaperConfig

    return PaperConfig.model_validate({"seed": cfg.seed, "leverage": leverage, **cfg.venue, "starting_balance": {}})


def paper_venue(cfg: RunConfig, path: Path | None, funding: dict, leverage: dict[str, float],
                resume_at: int | None = None, run_id: str | None = None) -> Any:
    """The paper venue, its margin at the risk spec's leverage caps unless the run config's
    `venue` section sets the venue's own; its file names the run (`run_id`) that made it."""
    from adapters.paper.venue import PaperVenue

    config = paper_config(cfg, leverage)
    if path is None:
        return PaperVenue(config, funding=funding)
    return PaperVenue.open(path, config, funding=funding, resume_at=resume_at, run_id=run_id)


def funding_gaps(series: list, funding: dict[str, list[tuple[float, float]]]) -> list[str]:
    """Notes for perps whose bars no real funding rate covers: their funding is not accrued,
    and the operator must know the P&L lacks it (seed 004 accrues it, live and paper)."""
    out = []
    for s in series:
        if s.domain is not Domain.CRYPTO_PERP or len(s.ts) <= s.start:
            continue
        first, last = s.ts[s.start], s.ts[-1]  # the traded bars (those before s.start only fit the strategy)
        rates = funding.get(s.symbol, [])
        if not rates:
            out.append(f"no funding rates cover {s.symbol}'s bars in the bundled data: its funding is not "
                       "accrued, so its P&L leaves out the funding cost")
        elif rates[0][0] > first or rates[-1][0] < last - 8 * 3600:
            out.append(f"the bundled funding rates of {s.symbol} cover only part of its traded bars: funding "
                       "outside them is not accrued, so its P&L leaves that cost out")
    return out


def assemble(cfg: RunConfig, specs: SpecSet, stage: int, routing: Routing, run_dir: Path, *,
             venue_path: Path | None = None, series: list | None = None, notes: list[str] | None = None,
             resume: bool = False, url: str | None = None, owner: Owner | None = None,
             config: str | None = None, on_started: Callable[[], None] | None = None) -> Runner:
    """A ready-to-run Runner: fresh (the stage activated through the rollout spec), or resumed
    from the store's last checkpoint, on the store at `url` (default: $ENGINE_DB_URL, else the
    config's `db`: state.db.store_url without a --db); `config` is the run config's file, where
    a refused active set points. What a bad config can still refuse once the store is open (the
    ML models, the active set) is checked before anything else is made: the store is closed
    again on a refusal, and neither the run directory nor the venue's file exists yet. `owner`
    names the run in its run directory (engine/run/owner.py). `on_started` runs as the start gets
    through, with the run directory's move record settled, no signal between them (run.py _fresh
    settles the store's move record there)."""
    from adapters.paper.funding import bundled_funding

    cfg = with_specs(cfg, config, specs)  # a no-op for `engine run`, which resolved it before its checks
    risk = specs.extra["risk"]
    notes = notes if notes is not None else []
    series = series if series is not None else stage_series(cfg, routing, risk.brackets.atr_window, notes)
    t0 = min((float(s.ts[s.start]) for s in series), default=0.0) - 1.0
    currencies = _currencies(series, specs, t0)
    clock = ReplayClock(t0)
    hash_ = spec_hash(specs, cfg)
    funding = bundled_funding()
    notes += funding_gaps(series, funding)
    store = _open_store(cfg, url or store_url(None, cfg.db), clock, hash_)
    try:
        saved = _saved(store, stage, resume)
        if saved is not None:
            _check_routable(store, specs, stage, routing)
            clock.set(saved["clock"])
        stages = bind_stages(specs, cfg.env)  # a binding error refuses the run before its directory is made
        decider = build_decider(cfg, specs, stage, series, store, notes, resume=saved is not None, config=config)
        active = active_symbols(cfg, specs, store, notes, resume=saved is not None, config=config,
                                first_decision=t0 + 1.0)
        # A resume whose venue file is gone is refused here, before the run directory is made.
        venue = paper_venue(cfg, venue_path, funding, dict(risk.limits.leverage_caps),
                            saved["venue_calls"] if saved else None, owner.run_id if owner else None)
    except BaseException:
        store.close()
        raise
    with _audit_trail(run_dir, cfg, saved, notes, owner, on_started) as sink:
        interp = Interpreter(clock, sink)
        session = Session(specs, cfg, stage, routing, run_dir, clock, store, venue, interp, stages[stage], notes=notes,
                          stages=stages, currencies=currencies)
        session.held = HeldFiles({"the state store's file": store.file, "the paper venue's file": venue.file})
        runner = Runner(session, series, risk, cfg.strategy)
        _wire(runner, hash_)
        runner.decider = session.decider = decider
        runner.decider.holding = lambda symbol, d: any(b.side.sign == d
                                                       for b in session.execution.open_brackets(symbol))
        runner.active_symbols = active
        store.put_json(ROUTING_KEY, routing.to_json(stage))  # what `engine promote` checks a promotion against
        store.put_json(SYMBOLS_KEY, sorted({s.symbol for s in series}))  # what `engine select --state` checks
        if saved is not None:
            _resume(runner, saved)
        else:
            _start(runner)
        return runner


def _wire(runner: Runner, hash_: str) -> None:
    """The session's ledger (durability "full": each row committed; "batch": at checkpoints) and
    its execution, which reports fills and closes to the runner, and hears the venue's events."""
    session = runner.session
    store, clock, venue = session.store, session.clock, session.venue
    session.ledger = (StoreLedger(store, "paper") if session.cfg.durability == "full"
                      else BufferedLedger(store, "paper", clock.now, hash_))
    session.execution = Execution(session.interp, session.bound["order"], session.bound["bracket"], venue,
                                  session.ledger, clock, multiplier=lambda s: venue.catalogue.get(s).multiplier,
                                  on_closed=runner.on_closed, on_fill=runner.on_fill, on_funding=runner.on_funding,
                                  fill_price_band=runner.risk.limits.fill_price_band)
    venue.on_event = session.execution.on_venue_event


def _resume(runner: Runner, saved: dict) -> None:
    from engine.run import checkpoint

    checkpoint.load(runner, saved)
    runner.session.follow_rollout()
    runner.session.store.journal("resume", "run", {"cursor": saved["cursor"]}, reason="resumed from checkpoint")
    _preflight(runner, journal=False)  # the run journaled them when it started


def _start(runner: Runner) -> None:
    """The kill and rollout machines made, and the stage activated through the rollout spec."""
    session = runner.session
    session.kill = session.interp.create(session.bound["kill_modes"], "kill", host=session)
    session.rollout = session.interp.create(session.bound["rollout"], "rollout", host=session)
    session.follow_rollout()
    session.send(session.rollout, "activate", {"stage": session.stage})  # the stage's books and their gates
    runner.start()
    _preflight(runner, journal=True)
    _journal_data(runner)
    # A Ctrl-C lost while starting is raised inside the audit trail's block, which puts the last
    # run's files back (a resume's is raised at its first poll_commands: nothing to put back).
    interrupt.check()


@contextmanager
def _audit_trail(run_dir: Path, cfg: RunConfig, saved: dict | None, notes: list[str],
                 owner: Owner | None, on_started: Callable[[], None] | None = None) -> Iterator[JsonlSink]:
    """The run's audit trail. A fresh run's is its own: an earlier run's files in run_dir move aside,
    and come back (the new trail gone) when the start does not get through (Ctrl-C, a refusal), so
    that the next run does not archive a start that never ran as if it were a run. The run's owner
    file goes in with its trail (a resume's: engine/run/owner.py claim_on_resume). The move's record
    stays until the start got through (the block ends: assemble returns), so a SIGKILL before is
    undone by the next command too. The store's record (run.py _fresh, through `on_started`) goes
    with it, a signal meanwhile held: a store put back beside the new run's trail could not resume."""
    run_dir.mkdir(parents=True, exist_ok=True)
    moved, archived, sink = None, False, None
    try:  # opened first: a signal the moment held() ends is raised in here, where the files go back
        with interrupt.held():  # the files move all or none: a signal meanwhile is raised below, and puts them back
            moved = archive_run_files(run_dir) if saved is None else None
            archived = True  # else the last run's files are where they were: restore_run_files would delete them
        if moved is not None:
            notes.append(f"the previous run's files in {run_dir} moved to {moved.dest}")
        interrupt.check()
        if owner is not None and saved is None:
            write_owner(run_dir, owner)
        elif owner is not None:
            claim_on_resume(run_dir, owner)
        sink = JsonlSink(run_dir / AUDIT, fsync=cfg.durability == "full")
        if saved is not None and saved.get("audit_offset") is not None:
            sink.resume_at(saved["audit_offset"])
        yield sink
        with interrupt.held():  # both records or neither; a signal now is raised at the run's first check
            if moved is not None:
                settled(run_dir / MOVING)
            if on_started is not None:
                on_started()
    except BaseException:
        if saved is None and archived:
            if sink is not None:
                with suppress(OSError):  # a full disk: the file goes anyway
                    sink.close()
            with interrupt.held():
                restore_run_files(run_dir, moved)
        raise


def _preflight(runner: Runner, journal: bool) -> None:
    """The symbols whose domain's opening wallet cannot size an order the venue takes short of
    profits (engine/run/preflight.py), kept for the start's warnings and report.json."""
    from engine.run.preflight import check

    ses = runner.session
    ses.untradable = check(runner, ses.books, journal)
    ses.opened.clear()  # all checked: a promotion's later wallets are checked as it opens them


def _journal_data(runner: Runner) -> None:
    """A fresh run's journal rows of what its start noted about its data (stage_series): each hole
    in a series' traded bars (kind `data_gap`) and each series with partial bars (`partial_bars`),
    as report.json lists them."""
    ses = runner.session
    for s in runner.series:
        for gap in (g.as_dict() for g in s.gaps):
            ses.ledger.journal("data_gap", s.symbol, gap, reason=f"no bars from {gap['from']} to {gap['to']}")
        if s.partial:
            part = partial_bars(s, ses.cfg.data[s.domain.value].primary)
            ses.ledger.journal("partial_bars", s.symbol, part, reason=f"{s.partial} of {len(s)} {part['tf']} bars "
                               "made from fewer source bars than they span")


def _currencies(series: list, specs: SpecSet, at: float) -> dict:
    """Each domain's wallet currency and USD rate (engine/run/currency.py); a currency with no
    rate refuses the run before anything is opened, naming the risk file the run loaded."""
    from engine.run.currency import NoRate, wallet_currencies
    from engine.run.session import RefusedToStart

    where = specs.extra_pos.get("risk")
    try:
        return wallet_currencies(series, specs.extra["risk"].usd_rates, at,
                                 **({"risk_file": where.file} if where else {}))
    except NoRate as e:
        raise RefusedToStart(str(e)) from None


def _open_store(cfg: RunConfig, url: str, clock: ReplayClock, hash_: str) -> Any:
    """The run's store, its folder made for a SQLite file."""
    from state.store import Store

    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return Store.open(url=url, durability=cfg.durability, clock=clock.now, spec_hash=hash_)


def _saved(store: Any, stage: int, resume: bool) -> dict | None:
    """The checkpoint a resume continues from (None for a fresh run); refused when there is none
    or it is another stage's."""
    if not resume:
        return None
    saved = store.get_json(CHECKPOINT_KEY)
    if saved is None:
        raise FileNotFoundError(f"nothing to resume in {store.url}: start a run without --resume")
    if saved["stage"] != stage:  # `engine run` refuses it first, suggesting the user's command with that stage
        raise FileNotFoundError(f"the saved run is stage {saved['stage']}, not stage {stage}: resume it with "
                                f"--stage {saved['stage']}, or start stage {stage} afresh without --resume")
    return saved


def _check_routable(store: Any, specs: SpecSet, stage: int, routing: Routing) -> None:
    """A resumed run continues in the rollout state it saved (a promotion may have moved it on
    from the start stage): refused when that state has a live leg this start has no opt-in for."""
    from engine.run.session import RefusedToStart

    snap = store.load_snapshots("rollout").get("rollout")
    if snap is None:
        return
    state = snap.data["state"]
    domains = specs.machines["rollout"].states[state].attrs.get("domains", {})
    legs = [d for d, m in routing.state_modes(stage, state, domains).items() if m is None]
    if legs:
        raise RefusedToStart(f"the saved run's rollout is in `{state}`, which trades {', '.join(legs)} live: resume "
                             "it with --paper (live legs on the paper venue) or with the triple opt-in")


def stage_series(cfg: RunConfig, routing: Routing, atr_window: int, notes: list[str]) -> list:
    """The stage's series; one the strategy cannot be fitted on is left out (not traded) with a note."""
    from strategies.base import StrategyError

    out = []
    for name, mode in routing.modes.items():
        if mode == "off":
            continue
        dd = cfg.data[name]
        if not dd.datasets:  # its wallet still opens: say why it stays at its start balance
            notes.append(f"{name} is not traded: the run config gives it no data (data.{name}.datasets is empty)")
        for ds in dd.datasets:
            try:
                out.append(load_series(ds, dd, cfg.strategy, atr_window))
            except StrategyError as e:
                notes.append(f"{ds} is not traded: {e}")
                continue
            notes += data_notes(out[-1], dd.primary, dd.note_gaps_over)
    return out
