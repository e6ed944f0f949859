"""Every bar of a time opens before that time's timers fire (Runner._open_ahead): with several
symbols, the first row of a bar time runs the later rows' opens. A checkpoint may fall between
the two rows, so the rows already opened are checkpointed, and a resumed venue expects each
symbol's own open from its log (PaperVenue.works_at_open): a run stopped there and resumed ends
as an uninterrupted one."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from resume_support import Stopped, finish_run, stop_when, stored_state
from run_support import ENV, _flips, base_config, full_series, specset, window, write_env_override

DATASETS = ("crypto_spot/ETH_BTC-5m", "crypto_spot/LTC_BTC-5m")


@pytest.fixture(scope="module")
def overrides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_env_override(tmp_path_factory.mktemp("specs"), wallet=1000.0)


def two_symbols(work: Path, overrides: Path, durability: str, resume: bool = False):
    """Stage 1 on two spot symbols whose rows share each bar time, a checkpoint after every row,
    each row stepped, on the store and venue files under `work`."""
    from engine.run.assemble import assemble
    from engine.run.optin import route

    specs = specset(str(overrides))
    cfg = base_config().model_copy(update={"db": str(work / "engine.db"), "env": ENV, "seed": 3, "checkpoint_every": 1,
                                           "durability": durability, "venue": {"partial_fill_prob": 0.3}})
    modes = dict(specs.machines["rollout"].states["stage_1"].attrs["domains"])
    routing = route(1, modes, config_enabled=False, live_flag=False, paper_flag=True)
    atr = specs.extra["risk"].brackets.atr_window
    series = [dataclasses.replace(s := window(full_series(name, atr), 0, 160), signal=_flips(len(s), 6, n))
              for n, name in enumerate(DATASETS)]
    runner = assemble(cfg, specs, 1, routing, work / "run", series=series, venue_path=work / "paper-venue.db",
                      resume=resume)
    runner.skip_quiet = False  # every row stepped: a quiet first row is skipped, and its open comes with its row
    return runner


def _stop_at_checkpoint(run) -> None:
    """`run` stopped as a kill would stop it right before the first checkpoint that would save a
    row opened ahead: the venue's file already holds that open, the store's checkpoint does not."""
    checkpoint = run.checkpoint

    def stopping() -> None:
        if run.opened_ahead:
            raise Stopped
        checkpoint()
    run.checkpoint = stopping
    with pytest.raises(Stopped):
        run.run()
    run.session.store.close()
    run.session.venue.close()


@pytest.mark.parametrize("durability", ["batch", "full"])
@pytest.mark.parametrize("stopped_at", ["before its checkpoint", "after its checkpoint"])
def test_a_run_stopped_between_a_bar_time_s_rows_resumes_as_an_uninterrupted_one(
        durability: str, stopped_at: str, overrides: Path, tmp_path: Path) -> None:
    """Stopped after its checkpoint, a flatten is posted: its close of the symbol already opened is
    a market order when that symbol's row comes, which must not open its bar a second time."""
    from state.store import Store

    clean, stopped = tmp_path / "clean", tmp_path / "stopped"
    clean.mkdir(), stopped.mkdir()
    flatten = stopped_at == "after its checkpoint"
    runner = two_symbols(clean, overrides, durability)
    if flatten:
        _flatten_once_opened_ahead(runner)
    finish_run(runner)
    first = two_symbols(stopped, overrides, durability)
    if flatten:  # the checkpoint says which row's open is done
        stop_when(first, lambda: bool(first.opened_ahead))
        with Store.open(path=str(stopped / "engine.db")) as store:
            store.post_command("flatten")  # taken by the resume's first poll, before that row
    else:  # the resumed venue catches up through the open run ahead
        _stop_at_checkpoint(first)
    finish_run(two_symbols(stopped, overrides, durability, resume=True))
    assert stored_state(stopped) == stored_state(clean)
    if flatten:
        with Store.open(path=str(stopped / "engine.db")) as store:
            assert store.journal_entries("command"), "the flatten was applied"


def _flatten_once_opened_ahead(runner) -> None:
    """A flatten posted and taken before the first row whose open an earlier row ran."""
    step, posted = runner.step, []

    def flattening(s, i) -> None:
        if runner.opened_ahead and not posted:
            runner.session.store.post_command("flatten")
            posted.append(runner.poll_commands())
        step(s, i)
    runner.step = flattening
