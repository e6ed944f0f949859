"""SIGKILL the engine at random points of a replay, resume it each time, and
compare the end state with an uninterrupted run: same orders, fills,
positions and audit trail, and no client_order_id twice.

The kill lands wherever the engine happens to be when the signal arrives: the
parent only waits for a random number of heartbeat lines first (no sleeps),
and the engine keeps working while the parent reads. A heartbeat follows each
stepped bar and each quiet stretch applied at once, so kills land mostly where
orders move, and also in the middle of skipping.

The clean run and the last resume are `python -m engine.cli run` processes (their exit
status counts); the runs killed on the way are forked by tests/run_zygote.py, which has
the run's imports loaded already (seconds a start, twenty starts a test).
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
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
    done = subprocess.run([sys.executable, "-m", "engine.cli", *_argv(work, *extra)], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


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
    """Start the engine, SIGKILL it after `after_lines` heartbeats; False if it finished first.
    A start that has not ended after STALL_S fails the test (the watchdog kills the zygote and
    its child) instead of stalling the suite."""
    proc, err = zygote
    proc.stdin.write(json.dumps(_argv(work, *extra)) + "\n")
    proc.stdin.flush()
    pid = int(proc.stdout.readline().removeprefix("pid "))
    watchdog = threading.Timer(STALL_S, lambda: [_kill(p) for p in (pid, proc.pid)])
    watchdog.start()
    seen, tail = 0, collections.deque(maxlen=5)
    try:
        for line in proc.stdout:
            tail.append(line)
            if line.startswith("exit "):  # the child has ended: killed, or done before the kill landed
                err.seek(0)
                assert int(line.split()[1]) in (-signal.SIGKILL, 0), err.read()[-3000:]
                return int(line.split()[1]) == -signal.SIGKILL
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
            "journal": journal}


# batch: facts land with each checkpoint; full: each fact is committed as it happens, so a
# resumed run meets the orders and fills it made after its checkpoint already stored.
@pytest.mark.parametrize("durability", ["batch", "full"])
def test_sigkill_at_random_points_loses_and_duplicates_nothing(durability: str, tmp_path: Path, zygote) -> None:
    clean, crashy = tmp_path / "clean", tmp_path / "crashy"
    for work in (clean, crashy):
        work.mkdir()
        (work / "run.yaml").write_text(SPOT_RUN.format(durability=durability))
    _run_to_end(clean)
    expected = _state(clean)
    assert expected["fills"], "the replay must trade, or the comparison proves nothing"

    rng = random.Random(20261121)
    kills = 0
    resume: tuple[str, ...] = ()
    while kills < KILLS:
        if not _run_and_kill(zygote, crashy, rng.randint(1, 15), *resume):
            break
        kills += 1
        resume = ("--resume",)
    assert kills >= KILLS, f"the replay ran to its end after {kills} kills: too short for {KILLS}"
    _run_to_end(crashy, *resume)
    got = _state(crashy)

    ids = [o[0] for o in got["orders"]]
    assert len(ids) == len(set(ids)), "a client_order_id was used twice"
    assert got["audit"], "the run must leave an audit trail"
    assert got == expected
