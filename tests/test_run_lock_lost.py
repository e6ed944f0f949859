"""A run that loses its store's run lock (a PostgreSQL session ended by a server restart or an
idle timeout) fails closed: another engine could now start on the store, so this one opens no
more risk. The kill machine goes close-only with the reason; exits still pass."""
from __future__ import annotations

from pathlib import Path

from run_support import Checker, Scenario, build, write_env_override

FLIPPING = Scenario(stage=1, datasets=("crypto_spot/ETH_BTC-5m",), offset=0, bars=400, seed=5, partial_fill_prob=0.0,
                    slippage_bps=0.0, max_hold_s=1e12, flip_every=6)
LOST = "the store's run lock is lost: its connection failed (OperationalError)"


def test_a_lost_run_lock_makes_the_run_close_only(tmp_path: Path) -> None:
    runner = build(FLIPPING, tmp_path / "run", write_env_override(tmp_path / "overrides0", wallet=1_000_000.0), Checker())
    ses, asked = runner.session, []
    runner.skip_quiet = False  # step every bar: the poll that finds the loss comes on a given bar

    def lost() -> str:
        asked.append(runner.bars)
        return LOST if runner.bars >= 200 else ""

    runner.lock_lost = lost
    runner.run()
    assert ses.kill.state == "close_only" and ses.kill.ctx["tripped_by"] == f"fault: {LOST}"
    assert asked[-1] >= 200 and runner.lock_lost is None, "asked until the loss, then no more"
    journal = ses.store.journal_entries()
    [fault] = [e for e in journal if e.kind == "fault"]
    assert fault.reason == LOST
    entries = [e for e in journal if e.kind == "intent" and e.payload["role"] == "entry"]
    assert entries and all(e.seq < fault.seq for e in entries), "no entry after the lock was lost"
    ses.store.close()
