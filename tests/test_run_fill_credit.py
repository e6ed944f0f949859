"""A fill and everything booked for it land together (durability `full`): a crash between the
fill's row and its wallet credit must not lose the credit for good, as a resumed run finds the
fill stored (idempotent by fill id) and books nothing for it. And whatever the durability, the
store ends with the same order rows, each in its final machine state."""
from __future__ import annotations

from pathlib import Path

import pytest

from run_support import write_env_override
from resume_support import finish_run, funded_run


class Killed(BaseException):
    """The process ends here, as a SIGKILL ends it: a BaseException, which no machine action's
    error handling turns into a fault."""


@pytest.fixture(scope="module")
def overrides(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_env_override(tmp_path_factory.mktemp("specs"), wallet=1_000_000.0)


@pytest.fixture(scope="module")
def clean(overrides: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The uninterrupted run in each durability."""
    works = {}
    for durability in ("batch", "full"):
        work = works[durability] = tmp_path_factory.mktemp(durability)
        finish_run(funded_run(work, overrides, durability))
    return works


def _books(work: Path) -> dict:
    """Wallets and positions, exactly (a fee-sized credit is ~1e-6 of a BTC wallet), and each fill's
    credits."""
    from state.store import Store

    with Store.open(path=str(work / "engine.db")) as store:
        credits: dict[str, int] = {}
        for c in store.journal_entries(kind="credit"):
            credits[c.reason] = credits.get(c.reason, 0) + 1
        return {"wallets": sorted((w.domain, w.mode, w.balance, w.realized_pnl) for w in store.wallets()),
                "positions": sorted((p.symbol, p.domain, p.qty, p.avg_price, p.realized_pnl)
                                    for p in store.positions()),
                "fills": sorted(f.fill_id for f in store.fills()), "credits": credits}


def _killing_at_credit(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Killed just before the n-th fill's wallet credit is written: after the fill's own row."""
    from state.store import Store

    credit, seen = Store.credit, [0]

    def killing_credit(self, domain, mode, amount, reason, **kw):
        if reason.startswith("fill "):
            seen[0] += 1
            if seen[0] == n:
                raise Killed
        return credit(self, domain, mode, amount, reason, **kw)

    monkeypatch.setattr(Store, "credit", killing_credit)


@pytest.mark.parametrize("n", [11, 40])  # after the checkpoints at rows 50 and 150
def test_a_kill_between_a_fill_and_its_credit_loses_no_money(n: int, overrides: Path, clean: dict[str, Path],
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = funded_run(tmp_path, overrides, "full")
    with monkeypatch.context() as patch:
        _killing_at_credit(patch, n)
        with pytest.raises(Killed):
            runner.run()
    runner.session.store.close()
    runner.session.venue.close()
    resumed = funded_run(tmp_path, overrides, "full", resume=True)
    finish_run(resumed)
    got, expected = _books(tmp_path), _books(clean["full"])
    assert got == expected
    assert set(got["credits"].values()) == {1} and len(got["credits"]) >= n, "one credit for each fill"
    # The in-memory book (report.json's end balance) agrees with the store's wallet.
    books = {b.domain.value: b.balance for b in resumed.session.books.values()}
    assert {d: bal for d, _, bal, _ in got["wallets"] if d in books} == books


def test_full_and_batch_store_the_same_final_orders(clean: dict[str, Path]) -> None:
    """Same orders table whatever the durability, each order in its final machine state (a
    cancel is answered while the order is still leaving ACCEPTED); and `full` journals no row per
    order per checkpoint for its machine state: the snapshots and the audit trail hold those."""
    from state.store import Store

    tables = {}
    for durability, work in clean.items():
        with Store.open(path=str(work / "engine.db")) as store:
            tables[durability] = [{k: v for k, v in o.model_dump().items() if k != "id"} for o in store.orders()]
            assert not store.journal_entries(kind="order")
    assert tables["batch"] == tables["full"]
    final = {(o["status"], o["machine_state"]) for o in tables["full"] if o["status"] in ("filled", "canceled")}
    assert final == {("filled", "FILLED"), ("canceled", "CANCELED")}
