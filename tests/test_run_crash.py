"""SIGKILL the engine at random points of a replay, resume it each time, and
compare the end state with an uninterrupted run: same orders, fills,
positions and audit trail, and no client_order_id twice.

The kill lands wherever the engine happens to be when the signal arrives: the
parent only waits for a random number of heartbeat lines first (no sleeps),
and the engine keeps working while the parent reads. A heartbeat follows each
stepped bar and each quiet stretch applied at once, so kills land mostly where
orders move, and also in the middle of skipping.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = """
durability: {durability}
checkpoint_every: 7
data:
  crypto_spot:
    datasets: [crypto_spot/ETH_BTC-5m]
    primary: 15m
    confirm: 5m
venue: {{partial_fill_prob: 0.3}}
"""
KILLS = 20
PER_START = {"resume", "ml", "kv"}  # what each start journals (a resumed run has more), and state, not facts


def _cmd(work: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", "run", "--stage", "1", "--config", str(work / "run.yaml"),
            "--db", str(work / "engine.db"), "--run-dir", str(work / "run"), "--heartbeat", *extra]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ENGINE_DB_URL"}
    env["OMP_NUM_THREADS"] = "1"
    return env


def _run_to_end(work: Path, *extra: str) -> None:
    done = subprocess.run(_cmd(work, *extra), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def _run_and_kill(work: Path, after_lines: int, *extra: str) -> bool:
    """Start the engine, SIGKILL it after `after_lines` heartbeats; False if it finished first."""
    proc = subprocess.Popen(_cmd(work, *extra), cwd=ROOT, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = 0
    for line in proc.stdout:
        seen += line.startswith("bar ")
        if seen >= after_lines:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
    proc.wait()
    assert proc.returncode == 0, proc.stderr.read()[-3000:]
    return False


def _state(work: Path) -> dict:
    from state.store import Store

    with Store.open(path=str(work / "engine.db")) as store:
        orders = sorted((o.client_order_id, o.symbol, o.side, round(o.qty, 9), o.status, round(o.filled_qty, 9))
                        for o in store.orders())
        fills = sorted((f.fill_id, f.client_order_id, round(f.qty, 9), round(f.price, 12), round(f.fee, 12))
                       for f in store.fills())
        positions = sorted((p.symbol, p.domain, round(p.qty, 9), round(p.avg_price, 12)) for p in store.positions())
        wallets = sorted((w.domain, w.mode, round(w.balance, 6)) for w in store.wallets())
        journal = [(e.kind, e.key, e.payload, e.reason) for e in store.iter_journal() if e.kind not in PER_START]
    # The audit trail too: records a crash left after the last checkpoint are set aside and
    # re-made by the resumed run, so the trail reads as one uninterrupted run's.
    audit = (work / "run" / "audit.jsonl").read_bytes()
    return {"orders": orders, "fills": fills, "positions": positions, "wallets": wallets, "audit": audit,
            "journal": journal}


# batch: facts land with each checkpoint; full: each fact is committed as it happens, so a
# resumed run meets the orders and fills it made after its checkpoint already stored.
@pytest.mark.parametrize("durability", ["batch", "full"])
def test_sigkill_at_random_points_loses_and_duplicates_nothing(durability: str, tmp_path: Path) -> None:
    clean, crashy = tmp_path / "clean", tmp_path / "crashy"
    for work in (clean, crashy):
        work.mkdir()
        (work / "run.yaml").write_text(CONFIG.format(durability=durability))
    _run_to_end(clean)
    expected = _state(clean)
    assert expected["fills"], "the replay must trade, or the comparison proves nothing"

    rng = random.Random(20261121)
    kills = 0
    resume: tuple[str, ...] = ()
    while kills < KILLS:
        if not _run_and_kill(crashy, rng.randint(1, 15), *resume):
            break
        kills += 1
        resume = ("--resume",)
    _run_to_end(crashy, *resume)
    got = _state(crashy)

    assert kills >= KILLS
    ids = [o[0] for o in got["orders"]]
    assert len(ids) == len(set(ids)), "a client_order_id was used twice"
    assert got["audit"], "the run must leave an audit trail"
    assert got == expected
