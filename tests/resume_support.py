"""A perp run that can be stopped as a kill stops it and resumed: what the crash and resume
tests share (funding, journal facts, operator commands)."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from run_support import ENV, Scenario, _flips, base_config, full_series, specset, window

# XRP-PERP 15m bars from 17 Nov 2021, 05:30 for ~3 days: eight 8-hourly real funding rates fall due.
FUNDED = Scenario(stage=3, datasets=("crypto_perp/XRP-PERP-5m",), offset=200, bars=300, seed=12,
                  partial_fill_prob=0.3, slippage_bps=5.0, max_hold_s=48 * 3600.0, flip_every=8)


def funded_run(work: Path, overrides: Path, durability: str, resume: bool = False):
    """FUNDED as `engine run --stage 3 --paper` runs it, on the store and venue files under `work`."""
    from engine.run.assemble import assemble
    from engine.run.optin import route

    specs = specset(str(overrides))
    cfg = base_config().model_copy(update={
        "db": str(work / "engine.db"), "env": ENV, "seed": FUNDED.seed, "checkpoint_every": 50,
        "durability": durability, "venue": {"partial_fill_prob": FUNDED.partial_fill_prob}})
    modes = dict(specs.machines["rollout"].states["stage_3"].attrs["domains"])
    routing = route(3, modes, config_enabled=False, live_flag=False, paper_flag=True)
    [name] = FUNDED.datasets
    s = window(full_series(name, specs.extra["risk"].brackets.atr_window), FUNDED.offset, FUNDED.bars)
    s = dataclasses.replace(s, signal=_flips(len(s), FUNDED.flip_every, FUNDED.seed))
    return assemble(cfg, specs, 3, routing, work / "run", series=[s], venue_path=work / "paper-venue.db",
                    resume=resume)


def stored_state(work: Path) -> dict:
    from state.store import Store

    with Store.open(path=str(work / "engine.db")) as store:
        return {"wallets": sorted((w.domain, round(w.balance, 9)) for w in store.wallets()),
                "positions": sorted((p.symbol, round(p.qty, 9), round(p.realized_pnl, 9)) for p in store.positions()),
                "fills": sorted(f.fill_id for f in store.fills()),
                "funding": sorted((r.key, r.payload["paid"]) for r in store.journal_entries(kind="funding"))}


class Stopped(Exception):
    """The process ends here, as a kill would end it: nothing after this runs."""


def stop_when(run, stop) -> None:
    """`run` run until `stop()` says so before a row (then it raises, as a kill stops it mid-run),
    and its store and venue closed."""
    step = run.step

    def stopping_step(s, i) -> None:
        if stop():
            raise Stopped
        step(s, i)

    run.step = stopping_step
    with pytest.raises(Stopped):
        run.run()
    run.session.store.close()
    run.session.venue.close()


def finish_run(runner) -> None:
    runner.run()
    runner.session.store.close()
    runner.session.venue.close()


PER_START = {"resume", "ml", "kv"}  # what each start journals (a resumed run has more), and state, not facts


def journal_facts(work: Path, upto_checkpoint: bool = False) -> list:
    """The journal's facts (kind, key, payload, reason), in order; or only those up to the last
    checkpoint."""
    from engine.run.keys import CHECKPOINT_KEY
    from state.store import Store

    with Store.open(path=str(work / "engine.db")) as store:
        upto = store.get_json(CHECKPOINT_KEY)["journal_seq"] if upto_checkpoint else math.inf
        return [(e.kind, e.key, e.payload, e.reason) for e in store.iter_journal()
                if e.kind not in PER_START and e.seq <= upto]
