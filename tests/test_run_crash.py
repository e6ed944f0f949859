"""SIGKILL the engine at random points of a replay, resume it each time, and
compare the end state with an uninterrupted run: same orders, fills,
positions, wallets, journal and audit trail, the paper venue's own orders, fills,
positions, cash and events, and no client_order_id sent to the venue twice.

The kill lands wherever the engine happens to be when the signal arrives: the
parent only waits for a random number of heartbeat lines first (no sleeps),
and the engine keeps working while the parent reads. A heartbeat follows each
stepped bar and each quiet stretch applied at once, so kills land mostly where
orders move, and also in the middle of skipping.

Random kills seldom land in the narrow windows that matter (of over 40, none fell between
journaling an intent and calling the venue, or between a venue fill and its booking), so
test_sigkill_at_each_window_then_resume_matches_a_clean_run kills at each such window,
placed exactly (tests/crash_points.py), for a few N each, and resumes.

The clean run and the last resume are `engine run` processes of their own (their exit
status counts: tests/crash_points.py runs engine.cli.main as `python -m engine.cli` does);
the runs killed on the way are forked by tests/run_zygote.py, which has
the run's imports loaded already (seconds a start, twenty starts a test).

No duplicate: the engine's order table cannot hold a client_order_id twice (it is unique),
and the paper venue answers a repeated one as a duplicate, so neither shows an order sent
twice. Every process here has crash_points' tap on the venue: each submission the venue
heard is a row in its own file (written in its own commits), which must name each order once.
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from crash_points import TAP_TABLE
from run_support import SPOT_RUN

ROOT = Path(__file__).resolve().parents[1]
KILLS = 20
STALL_S = 120  # one start of a few hundred bars takes seconds
PER_START = {"resume", "ml", "kv"}  # what each start journals (a resumed run has more), and state, not facts


def _argv(work: Path, *extra: str) -> list[str]:
    return ["run", "--stage", "1", "--config", str(work / "run.yaml"), "--db", str(work / "engine.db"),
            "--run-dir", str(work / "run"), "--heartbeat", *extra]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ENGINE_DB_URL"}
    env["OMP_NUM_THREADS"] = "1"
    return env


def _run_to_end(work: Path, *extra: str) -> None:
    """`engine run` to its end, in a process of its own, the venue tapped (crash_points `none`)."""
    done = subprocess.run([sys.executable, str(ROOT / "tests/crash_points.py"), "none", "0", "--",
                           *_argv(work, *extra)], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _work(folder: Path, durability: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.yaml").write_text(SPOT_RUN.format(durability=durability))
    return folder


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory):
    """The uninterrupted run's end state in a durability, run once per module (and worker)."""
    states: dict[str, dict] = {}

    def state(durability: str) -> dict:
        if durability not in states:
            work = _work(tmp_path_factory.mktemp(f"clean-{durability}"), durability)
            _run_to_end(work)
            s = states[durability] = _state(work)
            assert s["fills"] and s["wallets"], "the replay must trade, or the comparison proves nothing"
            # The tap saw each order the venue holds (accepted or refused) sent once: it counts.
            assert s["venue_submits"] == [(o[0], 1) for o in s["venue_orders"]], s["venue_submits"]
        return states[durability]

    return state


@pytest.fixture
def zygote(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, IO[str]]]:
    """tests/run_zygote.py, and the file its children's stderr goes to."""
    with open(tmp_path / "stderr", "a+") as err:  # appending: reading it moves no writer's offset
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests/run_zygote.py")], cwd=ROOT, env=_env(),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
        yield proc, err
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0


def _run_and_kill(zygote: tuple[subprocess.Popen, IO[str]], work: Path, after_lines: int, *extra: str) -> bool:
    """Start the engine, SIGKILL it after `after_lines` heartbeats; False if it finished first."""
    status = _start(zygote, _argv(work, *extra), after_lines)
    if status not in (-signal.SIGKILL, 0):
        zygote[1].seek(0)
        raise AssertionError(f"the engine ended with status {status}: {zygote[1].read()[-3000:]}")
    return status == -signal.SIGKILL


def _start(zygote: tuple[subprocess.Popen, IO[str]], request: list[str] | dict, after_lines: int = 0) -> int:
    """Start the engine through the zygote (`request`: its protocol's line) and return its exit status;
    with `after_lines`, the parent SIGKILLs it after that many heartbeats. A start that has not
    ended after STALL_S fails the test (the watchdog kills the zygote and its child) instead of
    stalling the suite."""
    proc, _ = zygote
    proc.stdin.write(json.dumps(request) + "\n")
    proc.stdin.flush()
    pid = int(proc.stdout.readline().removeprefix("pid "))
    watchdog = threading.Timer(STALL_S, lambda: [_kill(p) for p in (pid, proc.pid)])
    watchdog.start()
    seen, tail = 0, collections.deque(maxlen=5)
    try:
        for line in proc.stdout:
            tail.append(line)
            if line.startswith("exit "):  # the child has ended: killed, or done before the kill landed
                return int(line.split()[1])
            if not line.startswith("bar "):
                continue
            seen += 1
            if seen == after_lines:  # once: a second kill could reach a reaped child's pid, reused
                _kill(pid)  # unreaped, the pid is still that engine's; reaped, it ended first: `exit` follows
    finally:
        watchdog.cancel()
    raise AssertionError(f"the zygote ended before its child (stalled {STALL_S}s?); last lines {list(tail)!r}")


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _state(work: Path) -> dict:
    from state.store import Store

    with Store.open(path=str(work / "engine.db")) as store:
        orders = sorted((o.client_order_id, o.symbol, o.side, round(o.qty, 9), o.status, round(o.filled_qty, 9))
                        for o in store.orders())
        fills = sorted((f.fill_id, f.client_order_id, round(f.qty, 9), round(f.price, 12), round(f.fee, 12))
                       for f in store.fills())
        positions = sorted((p.symbol, p.domain, round(p.qty, 9), round(p.avg_price, 12)) for p in store.positions())
        # Exactly: the one credit a crash could lose is a fee's, ~1e-6 of the BTC wallet.
        wallets = sorted((w.domain, w.mode, w.balance, w.realized_pnl) for w in store.wallets())
        journal = [(e.kind, e.key, e.payload, e.reason) for e in store.iter_journal() if e.kind not in PER_START]
    # The audit trail too: records a crash left after the last checkpoint are set aside and
    # re-made by the resumed run, so the trail reads as one uninterrupted run's.
    audit = (work / "run" / "audit.jsonl").read_bytes()
    return {"orders": orders, "fills": fills, "positions": positions, "wallets": wallets, "audit": audit,
            "journal": journal, **_venue(work)}


def _open(path: Path) -> contextlib.closing[sqlite3.Connection]:
    """A file the run wrote (sqlite3.connect would make a missing one, and a resume then meet it)."""
    assert path.is_file(), f"the run left no {path.name}"
    return contextlib.closing(sqlite3.connect(path))


def _venue(work: Path) -> dict:
    """The paper venue's side, from its own file (adapters/paper/persist.py): its orders, fills,
    positions, cash and events, and how often it heard each client_order_id submitted (the tap)."""
    with _open(work / "paper-venue.db") as db:
        def rows(sql: str) -> list[tuple]:
            return db.execute(sql).fetchall()

        return {
            # bars_worked only as "worked yet": a quiet bar on a resting order is not written
            # (PaperVenue._work_one, _skip_bars), so the file's count trails the venue's in memory,
            # and a restarted venue counts on from the file's. Only 0 or not changes what it does.
            "venue_orders": rows("SELECT client_order_id, seq, status, active_at, reason, filled_qty, bars_worked > 0, "
                                 "triggered, updated_ts, request FROM orders ORDER BY client_order_id"),
            "venue_fills": rows("SELECT fill_id, client_order_id, body FROM fills ORDER BY fill_id"),
            "venue_positions": rows("SELECT symbol, body FROM positions ORDER BY symbol"),
            "venue_cash": rows("SELECT domain, cash FROM balances ORDER BY domain"),
            "venue_events": rows("SELECT ts, kind, symbol, detail FROM events ORDER BY seq"),
            "venue_submits": rows(f"SELECT client_order_id, COUNT(*) FROM {TAP_TABLE} GROUP BY client_order_id "
                                  "ORDER BY client_order_id")}


def _killed_state(work: Path) -> tuple[dict[str, str], set[str]]:
    """Right after a kill: the engine store's orders (client_order_id: status), and the ids the venue
    holds or heard submitted."""
    with _open(work / "engine.db") as db:
        stored = dict(db.execute("SELECT client_order_id, status FROM orders").fetchall())
    with _open(work / "paper-venue.db") as db:
        held = {c for (c,) in db.execute(f"SELECT client_order_id FROM orders UNION SELECT client_order_id FROM "
                                         f"{TAP_TABLE}")}
    return stored, held


def _write_ahead(work: Path) -> None:
    """Durability full: an intent is committed before the venue hears of it, so after any kill the
    venue holds no order the store has no intent of."""
    stored, held = _killed_state(work)
    assert held <= set(stored), f"the venue has orders with no intent stored (write-ahead): {held - set(stored)}"


def _differences(got: dict, expected: dict) -> list[str]:
    """What `got` lacks or has more of than the clean run's `expected`, key by key (none: equal)."""
    resent = {order: n for order, n in got["venue_submits"] if n > 1}
    found = [f"sent to the venue more than once: {resent}"] if resent else []
    for key, want in expected.items():
        have = got[key]
        if have == want:
            continue
        if isinstance(want, list):
            lost = [r for r in want if r not in have]
            more = [r for r in have if r not in want]
            found.append(f"{key} differ: missing {lost[:3]!r}, extra {more[:3]!r}" if lost or more
                         else f"{key} differ in order")
        else:
            found.append(f"{key} differ")
    return found


# batch: facts land with each checkpoint; full: each fact is committed as it happens, so a
# resumed run meets the orders and fills it made after its checkpoint already stored.
@pytest.mark.parametrize("durability", ["batch", "full"])
def test_sigkill_at_random_points_loses_and_duplicates_nothing(durability: str, tmp_path: Path, zygote,
                                                                 clean) -> None:
    expected = clean(durability)
    crashy = _work(tmp_path / "crashy", durability)

    rng = random.Random(20261121)
    kills = 0
    resume: tuple[str, ...] = ()
    while kills < KILLS:
        if not _run_and_kill(zygote, crashy, rng.randint(1, 15), *resume):
            break
        kills += 1
        if durability == "full":
            _write_ahead(crashy)
        resume = ("--resume",)
    assert kills >= KILLS, f"the replay ran to its end after {kills} kills: too short for {KILLS}"
    _run_to_end(crashy, *resume)
    got = _state(crashy)

    assert got["audit"], "the run must leave an audit trail"
    assert not _differences(got, expected)


# The windows a crash must survive (tests/crash_points.py), at the Nth time the run passes each: the
# first, and later ones, after a checkpoint and mid-trade. Each is a run killed there, then resumed
# to its end. The replay sends 13 orders and books 9 fills, each with a wallet credit (its fee, and
# any realised P&L); a point the other durability never passes (Store.record_fill: full only;
# Store.write_batch with fills: batch only) is left out there.
WINDOWS = {
    "full": [("after-intent", 1), ("after-intent", 5), ("after-submit", 1), ("after-submit", 3),
             ("before-book", 1), ("before-book", 4), ("after-record-fill", 1), ("after-record-fill", 3),
             ("after-record-fill", 6), ("before-venue-ack", 3)],
    "batch": [("after-intent", 1), ("after-intent", 5), ("after-submit", 3), ("before-book", 1),
              ("before-book", 4), ("after-write-batch", 1), ("after-write-batch", 3), ("before-venue-ack", 3)],
}


@pytest.mark.parametrize("durability", ["batch", "full"])
def test_sigkill_at_each_window_then_resume_matches_a_clean_run(durability: str, tmp_path: Path, zygote,
                                                                 clean) -> None:
    expected = clean(durability)
    intents = [key for kind, key, *_ in expected["journal"] if kind == "intent"]  # in the order they were sent
    problems: dict[str, list[str]] = {}
    for point, n in WINDOWS[durability]:
        work = _work(tmp_path / f"{point}-{n}", durability)
        status = _start(zygote, {"argv": _argv(work), "kill": [point, n]})
        assert status == -signal.SIGKILL, f"{point} {n}: the run was not killed there (status {status}): " \
                                          "the replay no longer passes that window N times"
        # Where the kill landed: the Nth order is journaled and the venue has not heard of it yet, or
        # the venue took it and the engine has not read the answer (its stored status is still the intent's).
        stored, held = _killed_state(work)
        if point in ("after-intent", "after-submit"):
            order = intents[n - 1]
            if point == "after-intent":
                assert order not in held, f"{point} {n}: the venue heard of {order} before its intent was journaled"
            else:
                assert order in held, f"{point} {n}: the venue does not hold {order}, which it took"
            if durability == "full":
                assert stored.get(order) == "intent", f"{point} {n}: {order} is stored as {stored.get(order)}"
        if durability == "full":
            _write_ahead(work)
        status = _start(zygote, _argv(work, "--resume"))
        if status != 0:
            zygote[1].seek(0)
            raise AssertionError(f"{point} {n}: the resume ended with status {status}: {zygote[1].read()[-3000:]}")
        found = _differences(_state(work), expected)
        if found:
            problems[f"{point} {n}"] = found
    assert not problems, "killed there and resumed, the run ends unlike an uninterrupted one:\n" + "\n".join(
        f"{where}: {'; '.join(what)}" for where, what in problems.items())
