"""A flatten that cannot complete is re-sent every `flatten_retry` (specs/kill/kill_modes.yaml), at
most once per bar (docs/spec-format.md, timers), for as long as it takes, and the operator is told
once: on 15-minute bars a 2-minute retry used to journal two identical notices every bar
("kill: flatten overdue, re-sending" and the re-entered state's "kill: flatten all, manual").

The close is refused here as the venue refuses a dust close under its minimum notional (docs/
engine-run.md): the position stays open, so the kill switch stays in `flatten_all`."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from adapters.base import ReportStatus, VenueReport
from engine.domain import Domain, Position
from engine.runtime import ListSink
from engine.runtime.audit import FanoutSink
from run_support import Checker, Scenario, build, write_env_override

SC = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=200, seed=1, partial_fill_prob=0.0,
              slippage_bps=0.0, max_hold_s=1e9, flip_every=8)
BARS = 12  # stepped with the flatten overdue; each is 15 minutes, the retry 2


class RefusesCloses(Checker):
    """The invariant checker; once `refusing`, the venue refuses every market close (an exit)."""

    refusing = False

    def refuse(self, venue) -> None:
        inner = venue.submit

        def submit(req):
            if self.refusing and req.role.value == "exit":
                self.event(f"venue.submit {req.client_order_id} refused: below the minimum notional")
                return VenueReport(req.client_order_id, ReportStatus.REJECTED, reason="below the minimum notional",
                                   refused=True)
            return inner(req)

        venue.submit = submit


def _stuck_flatten(tmp_path: Path):
    """A run with a position open, a flatten whose close the venue refuses, and BARS bars after it;
    returns the session, the journal rows and the audit records from the flatten on."""
    checker = RefusesCloses()
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), checker)
    ses = runner.session
    checker.refuse(ses.venue)
    while not any(b.instance.has_tag("position_open") for b in ses.execution.brackets.values()):
        assert runner.bars < 150, "the flips open a position"
        runner.run(limit=runner.bars + 1)
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    seq = max(r.seq for r in ses.store.iter_journal())
    tap = ListSink()
    ses.interp.sink = FanoutSink(ses.interp.sink, tap)
    checker.refusing = True
    ses.store.post_command("flatten")  # what `engine kill --mode flatten` posts
    runner.poll_commands()
    runner.run(limit=runner.bars + BARS)
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    return ses, [r for r in ses.store.iter_journal() if r.seq > seq], tap.records


def test_an_overdue_flatten_is_retried_every_bar_and_announced_once(tmp_path: Path) -> None:
    ses, rows, audit = _stuck_flatten(tmp_path)
    assert ses.kill.state == "flatten_all" and ses.flatten_pending, "the refused close left the position open"
    notices = Counter(r.reason for r in rows if r.kind == "notify" and r.key == ses.kill.id)
    assert notices == {"kill: flatten all, manual": 1,
                       "kill: flatten overdue, re-sending until the venues report flat": 1}, notices
    # Fail closed: never stop trying. One re-send per bar, each a transition record that counts the
    # re-sends before it, each relayed to the bracket as a kill_flatten again.
    retries = [r for r in audit if r.machine == "kill_modes" and r.event == "flatten_overdue"]
    assert [r.kind for r in retries] == ["transition"] * BARS
    assert [r.guard_inputs["ctx.flatten_retries"] for r in retries] == list(range(BARS))
    assert ses.kill.ctx["flatten_retries"] == BARS
    relayed = [r for r in audit if r.machine == "bracket" and r.event == "kill_flatten"]
    assert len(relayed) == BARS + 1
    # report.json's kill_events list every kill-switch change: the flatten once, never a re-send.
    assert [(e["from"], e["to"], e["reason"]) for e in ses.kill_events] == [("normal", "flatten_all", "operator")]


def test_a_flatten_filled_at_the_next_open_is_done_before_its_retry_falls_due(tmp_path: Path) -> None:
    """The closes fill at the next bar's open, at the instant they were sent; the 2-minute retry
    falls due inside that bar. It used to fire first (timers ran at the bar's close, before its
    open's fills), so every flatten re-sent its closes and told the operator it was overdue."""
    checker = RefusesCloses()
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), checker)
    ses = runner.session
    while not any(b.instance.has_tag("position_open") for b in ses.execution.brackets.values()):
        assert runner.bars < 150, "the flips open a position"
        runner.run(limit=runner.bars + 1)
    tap = ListSink()
    ses.interp.sink = FanoutSink(ses.interp.sink, tap)
    ses.store.post_command("flatten")
    runner.poll_commands()
    runner.run(limit=runner.bars + 1)
    assert (ses.kill.state, ses.flatten_pending, ses.venue.positions()) == ("halted", False, [])
    kill = [r.event for r in tap.records if r.machine == "kill_modes" and r.kind == "transition"]
    assert kill == ["manual_flatten", "flattened"], kill


def test_each_retry_re_sends_the_refused_close_and_the_journal_says_so_once(tmp_path: Path) -> None:
    """The bracket in `flattening` re-sends the close the venue refused at each kill_flatten
    (specs/orders/bracket.yaml): one order a retry, one rejection row and one fault for them all."""
    ses, rows, _ = _stuck_flatten(tmp_path)
    [b] = [b for b in ses.execution.brackets.values() if b.instance.state == "flattening"]
    assert len(b.exits) == BARS + 1, "the retries did not re-send the refused close"
    refusals = [r for r in rows if r.kind == "rejection" and r.reason.startswith("venue refused the close")]
    faults = [r for r in rows if r.kind == "fault" and "refused the exit" in r.reason]
    assert (len(refusals), len(faults)) == (1, 1)


def test_a_flatten_is_not_done_while_the_venue_holds_units_no_bracket_owns(tmp_path: Path) -> None:
    """With no bracket left, the venue's own positions decide: units the engine never heard of
    keep the flatten pending (re-sent, announced) instead of a halt that leaves them unprotected.
    A mutation that skipped the venue's check survived the suite."""
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    runner.run(limit=3)
    assert not ses.execution.brackets
    stray = Position("ETH/BTC", Domain.CRYPTO_SPOT, 0.5, 0.05)
    ses.venue.positions = lambda: [stray]  # what the venue reports: not flat
    ses.store.post_command("flatten")
    runner.poll_commands()
    runner.run(limit=runner.bars + 2)
    assert (ses.kill.state, ses.flatten_pending) == ("flatten_all", True)
    ses.venue.positions = lambda: []  # flat at last: the flatten is done
    runner.run(limit=runner.bars + 2)
    assert (ses.kill.state, ses.flatten_pending) == ("halted", False)



def test_a_flatten_still_working_at_the_last_row_is_said_not_left_silent(tmp_path: Path) -> None:
    """rev28: a series that ended with a position open left the run in `flatten_all` for good,
    re-sending, with nothing on the console or in the journal saying the flatten never finished."""
    checker = RefusesCloses()
    runner = build(SC, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), checker)
    ses = runner.session
    checker.refuse(ses.venue)
    while not any(b.instance.has_tag("position_open") for b in ses.execution.brackets.values()):
        runner.run(limit=runner.bars + 1)
    checker.refusing = True
    ses.store.post_command("flatten")
    runner.poll_commands()
    runner.run()  # to the last row, the close refused throughout
    ses.ledger.flush(ses.books.values(), ses.execution.orders.values())
    [row] = ses.store.journal_entries("flatten_unfinished")
    [held] = ses.venue.positions()
    assert (row.key, row.payload["qty"]) == (held.symbol, held.qty) and ses.kill.state == "flatten_all"
    assert "the flatten did not finish: ETH/BTC (crypto_spot) is still" in row.reason
    assert "so no bar is left to fill its close on" in row.reason


TWO = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m", "crypto_spot/LTC_BTC-5m"), offset=0, bars=200, seed=1,
               partial_fill_prob=0.0, slippage_bps=0.0, max_hold_s=1e9, flip_every=8)


def test_a_flatten_of_two_symbols_filled_at_the_next_open_is_done_before_its_retry(tmp_path: Path) -> None:
    """rev34: with two symbols the first's row fired the timers due in the bar (the 2-minute retry)
    before the second's row filled its close at the same open: each such flatten was told overdue
    and re-sent. Every open of a bar time now comes before any of its rows' timers."""
    runner = build(TWO, tmp_path, write_env_override(tmp_path / "ovr", wallet=1000.0), Checker())
    ses = runner.session
    while "LTC/BTC" not in {b.symbol for b in ses.execution.brackets.values() if b.instance.has_tag("position_open")}:
        assert runner.bars < 380, "the flips open a position in the second symbol"
        runner.run(limit=runner.bars + 1)
    while runner.timeline.ts[runner.bars] == runner.timeline.ts[runner.bars - 1]:
        runner.run(limit=runner.bars + 1)  # to a bar time's first row: the flatten is sent at its close
    tap = ListSink()
    ses.interp.sink = FanoutSink(ses.interp.sink, tap)
    ses.store.post_command("flatten")
    runner.poll_commands()
    runner.run(limit=runner.bars + 2)  # the next bar time: both symbols' rows
    assert (ses.kill.state, ses.flatten_pending, ses.venue.positions()) == ("halted", False, [])
    kill = [r.event for r in tap.records if r.machine == "kill_modes" and r.kind == "transition"]
    assert kill == ["manual_flatten", "flattened"], kill
