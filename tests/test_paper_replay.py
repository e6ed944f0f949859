"""The paper venue's catch-up log: killed at any point and resumed from the
engine's last checkpoint, the venue answers the repeated calls from its log and
ends exactly where an uninterrupted run ends."""
from __future__ import annotations

import sqlite3
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import ReportStatus, VenueError, VenueReport
from adapters.paper import PaperConfig, PaperVenue
from adapters.paper.funding import bundled_funding
from adapters.paper.model import dump
from adapters.paper.persist import StateFile
from adapters.paper.pricing import snapshot_id
from engine.data import bundled
from engine.data.bars import iter_bars
from engine.data.quoted import QuotedBar
from engine.domain import OrderRequest, OrderType, Role, Side

FUNDING = bundled_funding()
_ALL_XRP = list(iter_bars(bundled.load("crypto_perp/XRP-PERP-5m")))
_START = next(i for i, b in enumerate(_ALL_XRP) if b.ts >= FUNDING["XRP-PERP"][0][0] - 3600)
XRP = _ALL_XRP[_START:_START + 40]  # crosses a funding time: FUNDING events too
CFG = PaperConfig(partial_fill_prob=0.5, seed=6)  # a seed whose XRP-PERP stream makes partial fills
CHECKPOINT = ("checkpoint",)  # the engine commits its own checkpoint here


def req(coid: str, bar_i: int, side: Side, qty: float, type_=OrderType.MARKET, role=Role.ENTRY,
        price: float | None = None, **kw) -> OrderRequest:
    bar = XRP[bar_i]
    return OrderRequest(coid, "XRP-PERP", side, qty, type_, role, snapshot_id("XRP-PERP", bar.ts), bar.ts,
                        price=price, **kw)


def script() -> list[tuple]:
    """What a deterministic engine would call, checkpoints included; the answers depend on fills."""
    ops: list[tuple] = [("quote", "XRP-PERP"), ("bar", XRP[0]), ("quote", "XRP-PERP"),
                        ("submit", req("a", 0, Side.BUY, 100.0)),
                        ("submit", req("c", 0, Side.BUY, 12.345, OrderType.LIMIT, price=0.5123456))]  # clamped
    ops += [("bar", b) for b in XRP[1:4]] + [CHECKPOINT]
    ops += [("quote", "XRP-PERP"), ("order_status", "a"),
            ("submit", req("tp", 3, Side.SELL, 100.0, OrderType.LIMIT, Role.TAKE_PROFIT, 1.13, parent_id="a")),
            ("submit", req("sl", 3, Side.SELL, 100.0, OrderType.STOP, Role.STOP_LOSS, 1.08, parent_id="a")),
            ("submit", req("a", 3, Side.BUY, 100.0)),  # a duplicate id: the venue's truth
            ("amend", "c", 1.089, None), ("on_bar", XRP[3])]  # time does not go back: a VenueError
    ops += [("bar", b) for b in XRP[4:9]]
    ops += [("cancel", "c"), ("cancel", "nope"), ("order_status", "nope"), ("quote", "ETH/BTC")]
    ops += [("bar", b) for b in XRP[9:15]] + [CHECKPOINT]
    ops += [("bar", b) for b in XRP[15:22]] + [("amend", "tp", None, 60.0), ("quote", "XRP-PERP")]
    ops += [("submit", req("b", 21, Side.SELL, 30.0, OrderType.LIMIT, price=1.12))]
    ops += [("bar", b) for b in XRP[22:30]] + [CHECKPOINT] + [("bar", b) for b in XRP[30:]]
    ops += [("order_status", c) for c in ("a", "b", "c", "tp", "sl")]
    return ops


OPS = script()


def work_bar(v: PaperVenue, bar) -> tuple:
    """A bar as the engine works it (engine/run/loop.py step): open_bar only where it may fill."""
    at_open = v.works_at_open(bar.symbol)
    return at_open, v.open_bar(bar) if at_open else None, v.on_bar(bar)


def call(v: PaperVenue, op: tuple) -> Any:
    try:
        if op[0] == "bar":
            return work_bar(v, op[1])
        return getattr(v, op[0])(*op[1:])
    except VenueError as e:
        return ("VenueError", str(e))
    finally:  # the count works_at_open reads is the one a scan of the working orders makes
        scan: dict[str, int] = {}
        for o in v._open.values():
            if o.req.type is OrderType.MARKET:
                scan[o.req.symbol] = scan.get(o.req.symbol, 0) + 1
        assert {s: n for s, n in v._open.markets.items() if n} == scan


def final_state(v: PaperVenue) -> tuple:
    return v.open_orders(), v.positions(), v.balances(), v.events()


def kill(v: PaperVenue) -> None:
    """SIGKILL: the process dies and nothing the venue holds in memory reaches the disk."""
    v._state.db.close()


def uninterrupted(path: Path) -> tuple[list, tuple, list]:
    hooked: list = []
    v = PaperVenue.open(path, CFG, funding=FUNDING, on_event=hooked.append)
    answers = [v.ack(v.sync()) if op is CHECKPOINT else call(v, op) for op in OPS]
    return answers, final_state(v), hooked


@pytest.fixture(scope="module")
def reference() -> tuple[list, tuple, list]:
    with tempfile.TemporaryDirectory() as d:
        return uninterrupted(Path(d) / "ref.sqlite")


class Engine:
    """A deterministic engine's driving loop: checkpoint = n = venue.sync(); commit (op, n); venue.ack(n)."""

    def __init__(self, path: Path, synced: bool = True):
        self.path, self.synced = path, synced
        self.checkpoint = (0, 0, 0)  # (next op, venue calls, events seen): what the engine's store committed
        self.hooked: list = []  # events the engine's on_event hook recorded
        self.venue = PaperVenue.open(path, CFG, funding=FUNDING, on_event=self.hooked.append)
        self.pos = 0
        self.answers: list[tuple[int, Any]] = []

    def step(self) -> None:
        op, v = OPS[self.pos], self.venue
        self.pos += 1
        if op is not CHECKPOINT:
            self.answers.append((self.pos - 1, call(v, op)))
        elif self.synced:
            self.checkpoint = (self.pos, v.sync(), len(self.hooked))
            v.ack(self.checkpoint[1])
        else:
            self.checkpoint = (self.pos, 0, len(self.hooked))
            v.ack()

    def crash_and_resume(self) -> None:
        kill(self.venue)
        self.pos, calls, seen = self.checkpoint
        del self.hooked[seen:]  # the engine's own record rolls back to its checkpoint too
        resume = calls if self.synced else None
        self.venue = PaperVenue.open(self.path, funding=FUNDING, on_event=self.hooked.append, resume_at=resume)


def run_with_crashes(path: Path, crash_after: list[int], synced: bool) -> Engine:
    """Crash after the given numbers of executed steps (counted over the whole life, replays included)."""
    eng, steps, todo = Engine(path, synced), 0, sorted(crash_after)
    while eng.pos < len(OPS):
        while todo and todo[0] == steps:
            todo.pop(0)
            eng.crash_and_resume()
        eng.step()
        steps += 1
    return eng


def assert_same_as(eng: Engine, reference: tuple[list, tuple, list]) -> None:
    answers, state, hooked = reference
    for i, got in eng.answers:
        assert got == answers[i], f"step {i} {OPS[i][0]}: answered differently after a crash"
    assert final_state(eng.venue) == state
    assert eng.hooked == hooked  # the on_event hook saw each event once, replays included
    assert not eng.venue.catching_up


def test_a_bar_is_one_logged_call_unless_a_market_order_works(tmp_path):
    """open_bar is called (and logged) only on a bar where a market order may fill at the open:
    a quiet bar costs the durable venue one log entry, not two."""
    v = PaperVenue.open(tmp_path / "v.sqlite", PaperConfig(partial_fill_prob=0.0), funding=FUNDING)
    work_bar(v, XRP[0])
    assert v.calls == 1 and not v.works_at_open("XRP-PERP")
    v.quote("XRP-PERP")
    v.submit(req("m", 0, Side.BUY, 10.0))
    assert v.works_at_open("XRP-PERP") and v.calls == 3  # (the query is not logged)
    at_open, opened, _ = work_bar(v, XRP[1])
    assert at_open and [r.status.value for r in opened] == ["filled"] and v.calls == 5
    assert not v.works_at_open("XRP-PERP")
    work_bar(v, XRP[2])
    assert v.calls == 6


def test_catching_up_works_at_open_answers_as_the_first_run_did(tmp_path):
    """While catching up the venue's state is newer than the engine's: the market order has
    filled there. The answer comes from the log, so the resumed engine calls open_bar again."""
    v = PaperVenue.open(tmp_path / "v.sqlite", PaperConfig(partial_fill_prob=0.0), funding=FUNDING)
    work_bar(v, XRP[0])
    v.quote("XRP-PERP")
    v.submit(req("m", 0, Side.BUY, 10.0))
    n = v.sync()
    v.ack(n)
    first = work_bar(v, XRP[1])
    kill(v)
    v = PaperVenue.open(tmp_path / "v.sqlite", funding=FUNDING, resume_at=n)
    assert v.catching_up and v._open.markets.get("XRP-PERP", 0) == 0  # (the state: filled)
    assert work_bar(v, XRP[1]) == first and first[0]
    assert not v.catching_up and not v.works_at_open("XRP-PERP")


def test_the_script_exercises_fills_partials_clamps_funding_and_errors(reference):
    answers, (open_, positions, _, events), _ = reference
    bars = [a for a in answers if isinstance(a, tuple) and a[0] is not None and a[0] != "VenueError"]
    reports = [r for _, opened, rest in bars for r in (opened or []) + rest]
    assert sum(len(r.fills) for r in reports) >= 3 and any(r.status.value == "partially_filled" for r in reports)
    assert any(at_open for at_open, _, _ in bars) and not all(at_open for at_open, _, _ in bars)
    assert {e.kind for e in events} == {"CLAMP", "FUNDING"}
    assert sum(isinstance(a, tuple) and a[0] == "VenueError" for a in answers) == 3
    assert positions or open_


@pytest.mark.parametrize("synced", [True, False], ids=["sync-ack(n)-resume_at", "ack()"])
@pytest.mark.parametrize("k", range(len(OPS) + 1))
def test_a_crash_at_any_step_resumes_to_the_uninterrupted_result(tmp_path, reference, k, synced):
    eng = run_with_crashes(tmp_path / "v.sqlite", [k], synced)
    assert_same_as(eng, reference)


def test_a_crash_inside_the_checkpoint_window_resumes_with_resume_at(tmp_path, reference):
    """Killed after the engine committed its checkpoint but before the venue's ack."""
    eng = Engine(tmp_path / "v.sqlite")
    first = OPS.index(CHECKPOINT)
    while eng.pos < first:
        eng.step()
    eng.pos += 1
    eng.checkpoint = (eng.pos, eng.venue.sync(), len(eng.hooked))  # committed by the engine; ack() never ran
    eng.crash_and_resume()
    assert eng.venue.calls == eng.checkpoint[1] and eng.venue.catching_up is False
    while eng.pos < len(OPS):
        eng.step()
    assert_same_as(eng, reference)


@settings(max_examples=25)
@given(st.lists(st.integers(0, 2 * len(OPS)), min_size=1, max_size=25))
def test_many_crashes_at_random_points_including_during_catch_up(reference, crashes):
    with tempfile.TemporaryDirectory() as d:
        eng = run_with_crashes(Path(d) / "v.sqlite", crashes, synced=True)
        assert_same_as(eng, reference)
        eng.venue.close()


def test_a_checkpoint_taken_while_catching_up_resumes_too(tmp_path, reference):
    eng = Engine(tmp_path / "v.sqlite")
    while eng.pos < len(OPS) - 8:
        eng.step()
    eng.crash_and_resume()
    for _ in range(3):
        eng.step()
    assert eng.venue.catching_up
    eng.checkpoint = (eng.pos, eng.venue.sync(), len(eng.hooked))
    eng.venue.ack(eng.checkpoint[1])
    eng.crash_and_resume()
    assert eng.venue.catching_up
    while eng.pos < len(OPS):
        eng.step()
    assert_same_as(eng, reference)


def test_catch_up_answers_from_the_log_without_changing_state(tmp_path, reference):
    eng = Engine(tmp_path / "v.sqlite")
    while eng.pos < len(OPS) - 8:
        eng.step()
    newest = final_state(eng.venue)
    eng.crash_and_resume()
    assert eng.venue.catching_up and final_state(eng.venue) == newest  # restored, not rolled back
    while eng.venue.catching_up:
        eng.step()
        assert final_state(eng.venue) == newest
    while eng.pos < len(OPS):
        eng.step()
    assert_same_as(eng, reference)


def test_a_divergent_call_fails_closed(tmp_path):
    eng = Engine(tmp_path / "v.sqlite")
    while eng.pos < 12:
        eng.step()
    eng.crash_and_resume()
    v = eng.venue
    assert v.catching_up
    with pytest.raises(VenueError, match=r"replay diverged at call \d+: expected \('quote', 'XRP-PERP'\), "
                                         r"got \('order_status', 'a'\)"):
        v.order_status("a")
    with pytest.raises(VenueError, match="replay diverged"):  # and stays closed, even for the expected call
        v.quote("XRP-PERP")


def test_plain_ack_crash_between_engine_checkpoint_and_ack_fails_closed(tmp_path):
    """Without sync()/resume_at the venue cannot know the engine moved on: it refuses to guess."""
    eng = Engine(tmp_path / "v.sqlite", synced=False)
    first = OPS.index(CHECKPOINT)
    while eng.pos < first:
        eng.step()
    eng.pos += 1
    eng.checkpoint = (eng.pos, 0, len(eng.hooked))  # the engine committed; the venue's ack() never ran
    eng.crash_and_resume()
    answers = [call(eng.venue, op) for op in OPS[eng.pos:] if op is not CHECKPOINT]
    # the first calls may look alike (a quote); the first bar cannot: diverged, and closed from then on
    first = next(i for i, a in enumerate(answers) if isinstance(a, tuple) and "replay diverged" in a[1])
    assert first <= 1 and all("replay diverged" in a[1] for a in answers[first:])


def log_rows(path: Path) -> list[tuple[int, int]]:
    """(first, last) call of each committed row of the catch-up log."""
    with sqlite3.connect(path) as db:
        return db.execute("SELECT first, last FROM replay_log ORDER BY last").fetchall()


def test_ack_clears_the_log(tmp_path):
    path = tmp_path / "v.sqlite"
    v = PaperVenue.open(path, CFG)
    v.on_bar(XRP[0])
    v.quote("XRP-PERP")
    assert v.submit(req("a", 0, Side.BUY, 100.0)).status.value == "accepted"  # a commit: the log goes with it
    assert log_rows(path) == [(1, 3)] and v.calls == 3
    v.ack()
    assert log_rows(path) == [] and v.calls == 3  # at once: a reopen without resume_at must not replay
    v.quote("XRP-PERP")  # commits nothing: its log entry stays in memory
    kill(v)
    w = PaperVenue.open(path)
    assert not w.catching_up and w.calls == 3  # nothing to replay: live at once
    assert w.on_bar(XRP[1])  # the market order fills on this bar, live


def test_ack_n_after_sync_clears_the_log_with_the_next_commit(tmp_path):
    path = tmp_path / "v.sqlite"
    v = PaperVenue.open(path, CFG)
    v.on_bar(XRP[0])
    v.quote("XRP-PERP")
    n = v.sync()
    v.ack(n)
    v.quote("XRP-PERP")  # a quiet call: still no commit
    assert log_rows(path) == [(1, n)]  # no commit of its own...
    v.submit(req("a", 0, Side.BUY, 100.0))
    assert log_rows(path) == [(n + 1, n + 2)]  # ...it rode on this one: only the quote and submit are left
    kill(v)
    w = PaperVenue.open(path, resume_at=n)
    assert w.catching_up and w.quote("XRP-PERP").snapshot_id == snapshot_id("XRP-PERP", XRP[0].ts)
    assert w.submit(req("a", 0, Side.BUY, 100.0)).status.value == "accepted"  # live, it would be a duplicate
    assert not w.catching_up


def test_resume_at_outside_the_log_is_refused(tmp_path):
    path = tmp_path / "v.sqlite"
    v = PaperVenue.open(path, CFG)
    v.on_bar(XRP[0])
    v.ack(v.sync())
    v.on_bar(XRP[1])
    n = v.sync()
    v.close()
    with pytest.raises(VenueError, match="has 1 confirmed and 2 in all"):
        PaperVenue.open(path, resume_at=0)  # older than the acknowledged log
    with pytest.raises(VenueError, match="has 1 confirmed and 2 in all"):
        PaperVenue.open(path, resume_at=n + 1)  # calls the venue never committed: state would be stale


def test_a_resume_without_its_venue_file_is_refused_and_makes_none(tmp_path):
    path = tmp_path / "v.sqlite"
    with pytest.raises(VenueError, match="no venue file"):
        PaperVenue.open(path, CFG, resume_at=3)
    assert list(tmp_path.iterdir()) == []


def test_an_in_memory_venue_keeps_no_log():
    v = PaperVenue(CFG)
    v.on_bar(XRP[0])
    assert v.calls == 0 and v.sync() == 0 and not v.catching_up
    v.ack()
    with pytest.raises(VenueError, match="no market data"):
        v.quote("ETH/BTC")


# -- the log's own checks: what it is asked again must be what it answered ----------------------

def _quoted(b) -> QuotedBar:
    """`b` as a quoted bar: its own side OHLC, a spread of 2e-4 around the mid."""
    sides = dict(bid_open=b.open - 1e-4, bid_high=b.high - 1e-4, bid_low=b.low - 1e-4,
                 ask_open=b.open + 1e-4, ask_high=b.high + 1e-4, ask_low=b.low + 1e-4)
    return QuotedBar(**{**dump(b), "bid": b.close - 1e-4, "ask": b.close + 1e-4, **sides})


def _logged_then_reopened(path: Path, first) -> PaperVenue:
    """A venue that answered on_bar(first), committed it and was killed: reopened at call 0."""
    v = PaperVenue.open(path, CFG)
    v.on_bar(first)
    v.sync()
    kill(v)
    return PaperVenue.open(path, resume_at=0)


@pytest.mark.parametrize("quoted", [False, True], ids=["bar", "quoted bar"])
def test_a_replayed_bar_that_differs_in_any_field_diverges(tmp_path, quoted):
    """Rule (replay.py signature): the log answers a call only if it is the call it logged, every
    argument alike. A bar that differs in any one field (a volume, one side's low: other data
    under the resumed engine) must fail closed, not get the first bar's answer."""
    first = _quoted(XRP[0]) if quoted else XRP[0]
    fields = [f for f in dump(first) if f != "symbol"]
    assert _logged_then_reopened(tmp_path / "same.sqlite", first).on_bar(first) == []  # the same bar: answered
    for i, name in enumerate(fields):
        v = _logged_then_reopened(tmp_path / f"{i}.sqlite", first)
        was = getattr(first, name)
        other = replace(first, **{name: 1.0 if was is None else was + 1e-3})  # (a plain bar's bid, ask: None)
        with pytest.raises(VenueError, match="replay diverged at call 1"):
            v.on_bar(other)
        v.close()


def test_a_replayed_quiet_bars_over_another_stretch_diverges(tmp_path):
    """Rule: quiet_bars is logged by its first bar and the stretch's length; asked again over a
    shorter stretch, the logged count (of the longer one) must not be answered."""
    path, bars = tmp_path / "v.sqlite", XRP[1:11]
    ts, high, low = (np.array([getattr(b, f) for b in bars]) for f in ("ts", "high", "low"))
    v = PaperVenue.open(path, CFG)
    v.on_bar(XRP[0])
    assert v.quiet_bars(bars[0], ts, high, low) == len(bars)
    v.sync()
    kill(v)
    w = PaperVenue.open(path, resume_at=0)
    w.on_bar(XRP[0])
    with pytest.raises(VenueError, match="replay diverged at call 2"):
        w.quiet_bars(bars[0], ts[:5], high[:5], low[:5])


def _two_commits(path: Path) -> None:
    """A venue whose log holds two committed rows, calls 1..3 and 4 (the fill at the open), none acknowledged; killed."""
    v = PaperVenue.open(path, CFG)
    v.on_bar(XRP[0])
    v.quote("XRP-PERP")
    v.submit(req("a", 0, Side.BUY, 100.0))
    work_bar(v, XRP[1])
    assert log_rows(path) == [(1, 3), (4, 4)]
    kill(v)


def test_a_log_missing_its_first_calls_fails_closed(tmp_path):
    """Rule (CatchUpLog): the log must go on from the call the engine resumes after; one that
    starts later lost calls the engine will make again, and answering them live would act twice."""
    path = tmp_path / "v.sqlite"
    _two_commits(path)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM replay_log WHERE last = 3")
    with pytest.raises(VenueError, match="replay log starts at call 4, the engine resumes after call 0"):
        PaperVenue.open(path, resume_at=0)


def test_a_damaged_log_row_fails_closed(tmp_path):
    """Rule (_entries): a row must hold one signature and one response per call it names; a
    truncated row would end the catch-up early and answer the rest live."""
    path = tmp_path / "v.sqlite"
    _two_commits(path)
    with sqlite3.connect(path) as db:
        [(body,)] = db.execute("SELECT body FROM replay_log WHERE last = 3").fetchall()
        db.execute("UPDATE replay_log SET body = ? WHERE last = 3", ("\n".join(body.split("\n")[:4]),))
    with pytest.raises(VenueError, match=r"replay log row 1\.\.3 is damaged: 4 lines"):
        PaperVenue.open(path, resume_at=0)


def test_the_log_keeps_the_answer_given_not_what_the_caller_made_of_it(tmp_path):
    """Rule (CatchUpLog.record): a quiet call's answer waits in memory for the next commit, and
    the engine owns the list it got (it may extend it with the next call's reports): the log must
    replay the list as answered."""
    path = tmp_path / "v.sqlite"
    v = PaperVenue.open(path, CFG)
    answered = v.on_bar(XRP[0])  # changes nothing durable: no commit yet
    assert answered == []
    answered.append(VenueReport("engine-side", ReportStatus.ACCEPTED))  # the engine's list now
    v.quote("XRP-PERP")
    v.submit(req("a", 0, Side.BUY, 100.0))  # the commit that writes the log
    kill(v)
    w = PaperVenue.open(path, resume_at=0)
    assert w.on_bar(XRP[0]) == []


def test_the_venue_file_commits_durably():
    """Rule (persist.py): each commit survives a power cut (WAL with synchronous=FULL; NORMAL may
    lose the last commits, which the engine's checkpoint already counts as made)."""
    with tempfile.TemporaryDirectory() as d:
        st = StateFile(Path(d) / "v.sqlite")
        assert st.rows("PRAGMA journal_mode") == [("wal",)] and st.rows("PRAGMA synchronous") == [(2,)]
        st.close()


def test_ack_n_keeps_the_calls_made_after_n(tmp_path):
    """Rule (CatchUpLog.ack): ack(n) forgets calls up to n only; a call made between the engine's
    sync() and its ack(n) is past its checkpoint, and a resume at n must still find it logged."""
    path = tmp_path / "v.sqlite"
    v = PaperVenue.open(path, CFG)
    v.on_bar(XRP[0])
    n = v.sync()
    v.quote("XRP-PERP")  # after the checkpoint's count, before its ack
    v.ack(n)
    v.submit(req("a", 0, Side.BUY, 100.0))
    assert log_rows(path) == [(n + 1, n + 2)]
    kill(v)
    w = PaperVenue.open(path, resume_at=n)
    assert w.quote("XRP-PERP").snapshot_id == snapshot_id("XRP-PERP", XRP[0].ts)
    assert w.submit(req("a", 0, Side.BUY, 100.0)).status.value == "accepted" and not w.catching_up
