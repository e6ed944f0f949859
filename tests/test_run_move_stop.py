"""`engine move-stop` as the running engine applies it (engine/run/loop.py Runner._move_stop): the
stop reaches each bracket the operator named through the bracket spec, which decides."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from engine.cli import main
from engine.commands import status
from engine.runtime.audit import FanoutSink, ListSink
from engine.spec.contract import MOVE_STOP
from run_support import Checker, Scenario, build, write_env_override
from state.store import Store

SPECS = str(Path(__file__).resolve().parents[1] / "specs")

SC = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=200, seed=1, partial_fill_prob=0.0,
              slippage_bps=0.0, max_hold_s=36000.0, flip_every=10)


@pytest.fixture
def runner(tmp_path: Path):
    """A run stopped at the first row after which a bracket is `protected` (both legs working)."""
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    while not _protected(runner):
        assert runner.bars < SC.bars, "no bracket opened"
        runner.run(limit=runner.bars + 1)
    return runner


def _protected(runner) -> list:
    return [b for b in runner.session.execution.brackets.values() if b.instance.state == "protected"]


def _move(runner, brackets: list[str], stop: float, reason: str = "operator") -> list:
    """Post the command as `engine move-stop` does, let the run take it; its journal rows."""
    ses = runner.session
    ses.store.post_command(MOVE_STOP, {"machine": "bracket", "event": MOVE_STOP, "symbol": "ETH/BTC",
                                       "brackets": brackets, "stop": stop, "reason": reason})
    assert runner.poll_commands()
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    return [e for e in ses.store.journal_entries("command") if e.reason]


def _last_close(runner, b) -> float:
    return runner.session.books[b.domain].marks[b.symbol]


def _bid(runner, b) -> float:
    return runner.session.venue.quote(b.symbol).bid  # where a long's stop triggers


def _tighter(runner, b) -> float:
    """Half-way from the bracket's stop to the bid: tighter, and not one the venue would trigger at once."""
    return round((b.instance.ctx["stop"] + _bid(runner, b)) / 2, 6)


def _venue_stop(runner, b) -> float:
    return runner.session.venue._inner._orders[b.legs["stop_loss"].id].req.price


def test_a_tighter_stop_moves_the_brackets_stop_and_the_venues_stop_leg(runner) -> None:
    [b] = _protected(runner)
    was = b.instance.ctx["stop"]
    assert b.side.value == "buy" and was < _last_close(runner, b)
    new = _tighter(runner, b)
    interp, audit = runner.session.interp, ListSink()
    interp.sink = FanoutSink(interp.sink, audit)
    [row] = _move(runner, [b.id], new, reason="news due")
    assert row.reason == "news due" and row.payload["moved"] == [f"{b.id}: stop {was:g} -> {new:g}"]
    assert b.instance.ctx["stop"] == new and _venue_stop(runner, b) == pytest.approx(new, abs=1e-6)
    [amend] = [e for e in runner.session.store.journal_entries("amend") if e.key == b.legs["stop_loss"].id]
    assert amend.payload["price"] == pytest.approx(new, abs=1e-6)
    [record] = [r for r in audit.records if r.instance_id == b.id and r.event == MOVE_STOP]
    assert record.kind == "transition" and record.reason.endswith("operator: news due"), record.reason
    assert runner.session.kill.state == "normal"  # an operator's command is no fault


def test_a_wider_stop_is_refused_by_the_spec_and_journaled(runner) -> None:
    [b] = _protected(runner)
    was = b.instance.ctx["stop"]
    [row] = _move(runner, [b.id], was * 0.9)
    assert row.payload["moved"] == [] and row.reason == f"not applied: {b.id}: stop may not widen"
    assert b.instance.ctx["stop"] == was and _venue_stop(runner, b) == pytest.approx(was, abs=1e-6)
    [rejection] = [e for e in runner.session.store.journal_entries("rejection") if e.key == b.id]
    assert rejection.reason == "stop may not widen"


@pytest.mark.parametrize("above", [0.0, 0.01])
def test_a_stop_at_or_beyond_the_market_is_refused_by_the_spec(runner, above: float) -> None:
    """Tighter than the stop, but at or above a long's last close: the venue would trigger it at once
    and close the position (an operator's typo). The spec refuses it; the venue's stop leg stays."""
    [b] = _protected(runner)
    was, close = b.instance.ctx["stop"], _last_close(runner, b)
    [row] = _move(runner, [b.id], close * (1 + above))
    assert row.payload["moved"] == [], row.payload
    assert row.reason == f"not applied: {b.id}: stop at or beyond the market price: the venue would trigger it at once"
    assert b.instance.ctx["stop"] == was and _venue_stop(runner, b) == pytest.approx(was, abs=1e-6)
    assert runner.session.kill.state == "normal" and not runner.session.execution.faults


def test_a_stop_inside_the_spread_is_past_the_market(runner) -> None:
    """rev29: the check compared with the last close, not the bid a long's stop triggers on: a stop
    between them was accepted, and the next flat bar stopped the trade out at once."""
    [b] = _protected(runner)
    was, bid, close = b.instance.ctx["stop"], _bid(runner, b), _last_close(runner, b)
    assert was < bid < close
    [row] = _move(runner, [b.id], (bid + close) / 2)
    assert row.reason == f"not applied: {b.id}: stop at or beyond the market price: the venue would trigger it at once"
    assert b.instance.ctx["stop"] == was


def test_a_stop_a_fraction_of_a_tick_short_of_the_market_is_weighed_on_the_grid(runner) -> None:
    """rev30: the check ran on the stop as asked, then the venue rounded it towards the market onto
    the bid itself, and the bracket took that price: a flat bar stopped the trade out."""
    [b] = _protected(runner)
    was, bid = b.instance.ctx["stop"], _bid(runner, b)
    tick = runner.session.venue.catalogue.get(b.symbol).tick
    [row] = _move(runner, [b.id], bid - tick / 3)
    assert row.reason == f"not applied: {b.id}: stop at or beyond the market price: the venue would trigger it at once"
    assert b.instance.ctx["stop"] == was


def test_without_a_quote_nothing_is_sent_and_the_row_says_why(runner, monkeypatch) -> None:
    from adapters.base import VenueError

    [b] = _protected(runner)
    was = b.instance.ctx["stop"]

    def none(symbol: str):
        raise VenueError(f"no market data for {symbol} yet")

    monkeypatch.setattr(runner.session.venue, "quote", none)
    [row] = _move(runner, [b.id], was * 1.001)
    assert row.reason == f"not applied: {b.id}: no price of ETH/BTC yet to check the stop against"
    assert b.instance.ctx["stop"] == was


def test_a_bracket_closed_since_the_operator_saw_it_is_named(runner) -> None:
    [b] = _protected(runner)
    [row] = _move(runner, ["s:ETH/BTC:0:99", b.id], b.instance.ctx["stop"] * 1.001)
    assert row.reason == "operator" and row.payload["not_applied"] == ["s:ETH/BTC:0:99: no longer open"]
    [row] = _move(runner, ["s:ETH/BTC:0:99"], 1.0)[1:]
    assert row.reason == "not applied: s:ETH/BTC:0:99: no longer open"


def test_a_state_without_a_move_stop_transition_says_so_and_is_no_fault(runner) -> None:
    [b] = _protected(runner)
    runner.session.execution.exit(b, "drill")  # flattening: the spec takes no move_stop there
    assert b.instance.state == "flattening"
    [row] = _move(runner, [b.id], b.instance.ctx["stop"])
    assert row.reason.startswith(f"not applied: {b.id}: ") and "move_stop" in row.reason, row.reason
    assert runner.session.kill.state == "normal" and not runner.session.execution.faults


@pytest.mark.parametrize("stop", [None, "41000", float("nan"), True])
def test_a_hand_made_command_without_a_price_is_not_applied(runner, stop) -> None:
    [b] = _protected(runner)
    [row] = _move(runner, [b.id], stop)
    assert row.reason == f"not applied: the command's stop {stop!r} is not a price"


# -- the command line: what `engine move-stop` posts, and when it refuses ----------------------------
def _cli(runner, *argv: str) -> int:
    """`engine move-stop ARGV` on the run's store, as of the run's checkpoint now."""
    runner.checkpoint()
    return main(["move-stop", *argv, "--db", str(runner.session.cfg.db), "--specs", SPECS])


def test_the_command_names_the_open_brackets_and_the_run_moves_their_stop(runner, capsys) -> None:
    [b] = _protected(runner)
    was, new = b.instance.ctx["stop"], _tighter(runner, b)
    with Store.open_readonly(f"sqlite:///{runner.session.cfg.db}") as s:  # what the operator types from
        assert [(x["symbol"], x["stop"]) for x in status.collect(s, {})["brackets"]] == [("ETH/BTC", was)]
    assert _cli(runner, "--symbol", "ETH/BTC", "--stop", str(new), "--reason", "news due") == 0
    out = capsys.readouterr()
    assert f"{b.id} (crypto_spot, buy, `protected`): stop {was:g} -> {new:g}" in out.out and out.err == ""
    assert runner.poll_commands()
    assert b.instance.ctx["stop"] == new and _venue_stop(runner, b) == pytest.approx(new, abs=1e-6)
    [row] = [e for e in runner.session.store.journal_entries("command") if e.reason]
    assert row.reason == "news due" and row.payload["args"]["brackets"] == [b.id]


def test_the_command_warns_of_a_wider_stop_and_the_run_refuses_it_through_the_spec(runner, capsys) -> None:
    [b] = _protected(runner)
    was = b.instance.ctx["stop"]
    assert _cli(runner, "--symbol", "ETH/BTC", "--stop", str(was * 0.9)) == 0  # posted: the saved state may be old
    assert "the `bracket` spec refuses this: stop may not widen" in capsys.readouterr().err
    assert runner.poll_commands() and b.instance.ctx["stop"] == was


def test_the_command_warns_of_a_stop_beyond_the_market_with_the_last_price_it_knows(runner, capsys) -> None:
    [b] = _protected(runner)
    close = _last_close(runner, b)
    assert _cli(runner, "--symbol", "ETH/BTC", "--stop", str(close * 1.01)) == 0
    err = capsys.readouterr().err
    assert f"last price {close:g}) the `bracket` spec refuses this: stop at or beyond the market price" in err, err
    assert runner.poll_commands() and b.instance.ctx["stop"] < close


def test_without_a_last_price_the_command_says_the_engine_checks_the_market(runner, capsys) -> None:
    """A checkpoint without the symbol's mark: the dry run checks what it can (the stop does not
    widen) and says the market check is the engine's."""
    [b] = _protected(runner)
    book = runner.session.books[b.domain]
    close = book.marks.pop(b.symbol)
    try:
        assert _cli(runner, "--symbol", "ETH/BTC", "--stop", str(b.instance.ctx["stop"] * 0.9)) == 0
    finally:
        book.mark(b.symbol, close)
    err = capsys.readouterr().err
    assert "stop may not widen" in err and "holds no price of ETH/BTC: whether the stop is at or beyond the " \
        "market is checked when the engine applies it" in err, err


def test_a_bracket_opened_since_the_checkpoint_is_reached_on_a_running_engine(runner, capsys, monkeypatch) -> None:
    """rev29: a position opened after the last checkpoint (up to `checkpoint_every` bars back) was out
    of reach: `nothing is open on ETH/BTC at the engine's last checkpoint`, though status listed it.
    The command names the checkpoint's time; the running engine adds what it opened after it."""
    [b] = _protected(runner)
    new = _tighter(runner, b)
    runner.checkpoint()
    saved = runner.session.store.get_json(status.CHECKPOINT_KEY)
    saved["brackets"], saved["clock"] = [], b.ts - 1.0  # as a checkpoint from before the bracket opened
    runner.session.store.put_json(status.CHECKPOINT_KEY, saved)
    runner.session.store.commit()
    monkeypatch.setattr("engine.commands.move_stop.running_engine", lambda url: "pid 1")
    assert main(["move-stop", "--symbol", "ETH/BTC", "--stop", str(new), "--db", str(runner.session.cfg.db),
                 "--specs", SPECS]) == 0
    assert "for 0 bracket(s) and each one the engine opened on it since its last checkpoint" in capsys.readouterr().out
    assert runner.poll_commands()
    assert b.instance.ctx["stop"] == new and _venue_stop(runner, b) == pytest.approx(new, abs=1e-6)
    row = _move(runner, [], new, reason="again")[-1]  # nothing named, nothing opened since
    assert row.reason == "not applied: nothing is open on ETH/BTC"


@pytest.mark.parametrize("argv, code, said", [
    (("--symbol", "BTC-PERP", "--stop", "41000"), 1, "nothing is open on BTC-PERP at the engine's last checkpoint"),
    (("--symbol", "ETH/BTC", "--domain", "forex", "--stop", "0.08"), 2, "ETH/BTC trades in crypto_spot, not forex"),
    (("--symbol", "BTCUSDT", "--stop", "41000"), 2, "symbol 'BTCUSDT' is not in the contract catalogue"),
])
def test_the_command_refuses_a_symbol_with_nothing_open_or_unknown(runner, capsys, argv, code, said) -> None:
    assert _cli(runner, *argv) == code
    err = capsys.readouterr().err
    assert err.startswith("engine move-stop: ") and said in err and "Traceback" not in err
    assert not runner.session.store.commands_waiting()


@pytest.mark.parametrize("argv", [("--symbol", "ETH/BTC"), ("--stop", "1"), ("--symbol", "ETH/BTC", "--stop", "-1"),
                                  ("--symbol", "ETH/BTC", "--stop", "inf"), ("--symbol", "ETH/BTC", "--stop", "x")])
def test_usage_errors_exit_2(argv, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["move-stop", *argv])
    assert e.value.code == 2 and "engine move-stop: error:" in capsys.readouterr().err


# -- a crash: the command taken is applied once, never lost -------------------------------------------
POST_AT = 112  # the row after which the operator moves the stop (the checkpoint before it: 100)


def _posting_move(runner) -> None:
    """`engine move-stop` posts a tighter stop for the bracket open at POST_AT (or the first one after)."""
    step = runner.step

    def step_and_post(s, i) -> None:
        step(s, i)
        ses = runner.session
        open_ = [b for b in ses.execution.brackets.values() if b.instance.state == "protected"]
        if runner.bars + 1 >= POST_AT and open_ and not ses.store.commands():
            b = open_[0]
            stop = (b.instance.ctx["stop"] + _last_close(runner, b)) / 2  # tighter, short of the market
            ses.store.post_command(MOVE_STOP, {"machine": "bracket", "event": MOVE_STOP, "symbol": b.symbol,
                                               "brackets": [b.id], "stop": stop, "reason": "operator"})

    runner.step = step_and_post


def _moves(work: Path) -> list:
    with Store.open(path=str(work / "engine.db")) as s:
        return [(e.reason, e.payload["moved"]) for e in s.journal_entries("command") if e.reason]


@pytest.mark.parametrize("after", [False, True])
def test_a_taken_move_stop_survives_a_crash(after: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Killed while it applies the command (before the stop moved, or after the amend reached the
    venue): the resumed run applies it once and ends as an uninterrupted one."""
    import engine.run.loop as loop
    from resume_support import Stopped, finish_run, funded_run, journal_facts, stored_state

    monkeypatch.setattr(loop, "wall", lambda: math.inf)  # commands polled at every row: the same row each run
    overrides = write_env_override(tmp_path / "ovr", wallet=1_000_000.0)
    clean, crashy = tmp_path / "clean", tmp_path / "crashy"
    runner = funded_run(clean, overrides, "batch")
    _posting_move(runner)
    finish_run(runner)
    runner = funded_run(crashy, overrides, "batch")
    _posting_move(runner)
    move = runner._move_stop

    def crashing(args: dict, text: str):
        if after:
            move(args, text)
        raise Stopped

    runner._move_stop = crashing
    with pytest.raises(Stopped):
        runner.run()
    runner.session.store.close()
    runner.session.venue.close()
    finish_run(funded_run(crashy, overrides, "batch", resume=True))
    [(reason, moved)] = _moves(clean)
    assert reason == "operator" and len(moved) == 1 and " -> " in moved[0]
    assert _moves(crashy) == _moves(clean)
    assert stored_state(crashy) == stored_state(clean) and journal_facts(crashy) == journal_facts(clean)


def test_the_bracket_holds_its_legs_at_the_prices_the_venue_works(runner) -> None:
    """rev29: the bracket kept the take-profit it asked for, a fraction of a tick off the venue's
    grid, so status showed a target the venue did not hold. The run puts both exit prices on the
    instrument's grid before sizing, as the venue conforms them: the legs go out as they are worked."""
    venue = runner.session.venue._inner
    for b in _protected(runner):
        for leg, held in (("take_profit", b.instance.ctx["take_profit"]), ("stop_loss", b.instance.ctx["stop"])):
            assert b.legs[leg].request.price == held == venue._orders[b.legs[leg].id].req.price
