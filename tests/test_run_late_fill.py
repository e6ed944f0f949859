"""A late entry fill across a resume: a bracket whose machine closed while its late units'
close-out still worked is checkpointed as such, and the resumed run records its trade (with
those units, their exit and its fee) exactly as an uninterrupted run does."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from resume_support import Stopped
from run_support import (ENV, LateReportingVenue, Scenario, _flips, base_config, full_series, specset, window,
                         write_env_override)

# ADA/BTC part fills: an entry's last part fills in the bar its stop fills, reported after the stop's
# fill (see tests/test_run_invariants.py LATE_ENTRY_FILL, the same run without its flatten).
LATE = Scenario(stage=1, datasets=("crypto_spot/ADA_BTC-5m",), offset=74, bars=240, seed=2,
                partial_fill_prob=0.6, slippage_bps=8.0, max_hold_s=48 * 3600.0, flip_every=4)


@pytest.fixture(scope="module")
def overrides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_env_override(tmp_path_factory.mktemp("specs"), wallet=1_000_000.0)


def _assembled(work: Path, overrides: Path, resume: bool = False):
    from engine.run.assemble import assemble
    from engine.run.optin import route

    specs = specset(str(overrides))
    cfg = base_config().model_copy(update={
        "db": str(work / "engine.db"), "env": ENV, "seed": LATE.seed, "checkpoint_every": 50,
        "venue": {"partial_fill_prob": LATE.partial_fill_prob, "slippage_bps": LATE.slippage_bps}})
    modes = dict(specs.machines["rollout"].states["stage_1"].attrs["domains"])
    routing = route(1, modes, config_enabled=False, live_flag=False, paper_flag=True)
    [name] = LATE.datasets
    s = window(full_series(name, specs.extra["risk"].brackets.atr_window), LATE.offset, LATE.bars)
    s = dataclasses.replace(s, signal=_flips(len(s), LATE.flip_every, LATE.seed))
    runner = assemble(cfg, specs, 1, routing, work / "run", series=[s], venue_path=work / "paper-venue.db",
                      resume=resume)
    ses = runner.session
    ses.venue = ses.execution.venue = LateReportingVenue(ses.venue)
    runner.skip_quiet = False  # every row stepped (the same run): the stop below lands on a row
    return runner


def _finish(runner) -> list[dict]:
    runner.run()
    runner.session.store.close()
    runner.session.venue.close()
    return [t.as_dict() for t in runner.trades]


def test_a_trade_waiting_for_its_late_close_out_survives_a_resume(overrides: Path, tmp_path: Path) -> None:
    clean, stopped = tmp_path / "clean", tmp_path / "stopped"
    want = _finish(_assembled(clean, overrides))
    first = _assembled(stopped, overrides)
    ex, step = first.session.execution, first.step

    def crashing_step(s, i) -> None:
        if ex.closing:  # a row after the late fill, before its close-out fills: checkpoint, then die
            first.checkpoint()
            raise Stopped
        step(s, i)

    first.step = crashing_step
    with pytest.raises(Stopped):  # (only once a bracket waits for its close-out)
        first.run()
    first.session.store.close()
    first.session.venue.close()
    got = _finish(_assembled(stopped, overrides, resume=True))
    late = [t for t in want if "late entry fill" in t["exit_reason"]]
    assert late and any(t["client_order_id"] for t in late), "the run must have a late entry fill"
    assert got == want
