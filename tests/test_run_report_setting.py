"""report.json says which environment produced a run (the config's env, its file, the overrides
applied) and what currency each domain's money is in: a BTC-quoted pair's wallet counts BTC,
which the report and the KPI table used to leave unlabelled (docs: USD)."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from engine.domain import Domain
from engine.run.report import RunSetting, print_kpi_table, run_setting, write_run_dir
from engine.run.session import load_specset
from test_run_report import T0, result, trade

ROOT = Path(__file__).resolve().parents[1]


def _series(*pairs: tuple[Domain, str]) -> list[SimpleNamespace]:
    return [SimpleNamespace(domain=d, symbol=s) for d, s in pairs]


def test_the_setting_names_the_env_the_overrides_applied_and_each_domains_quote(monkeypatch) -> None:
    """The files as absolute paths (rev29: as given, `specs/...` read from the run's folder named
    nothing there)."""
    monkeypatch.chdir(ROOT)
    session = SimpleNamespace(cfg=SimpleNamespace(env="bench"), stage=2, specs=load_specset(["specs"]))
    setting = run_setting(session, _series((Domain.CRYPTO_SPOT, "ETH/BTC"), (Domain.CRYPTO_SPOT, "LTC/BTC"),
                                           (Domain.CRYPTO_PERP, "BTC-PERP"), (Domain.FOREX, "USD/JPY"),
                                           (Domain.FOREX, "EUR/USD")), "run.yaml")
    assert (setting.env, setting.config) == ("bench", str(ROOT / "run.yaml"))
    assert list(setting.overrides) == [str(ROOT / "specs" / "overrides" / n) for n in ("env_bench.yaml", "stage_2.yaml")]
    assert dict(setting.quotes) == {"crypto_spot": "BTC", "crypto_perp": "USD", "forex": "mixed"}


def test_report_json_records_the_environment_and_quotes(tmp_path: Path) -> None:
    setting = RunSetting("paper", None, ("specs/overrides/env_paper.yaml",), {"crypto_spot": "BTC"})
    report = json.loads(write_run_dir(result(tmp_path, [trade(1, T0 + 1)]), setting=setting)["report"].read_text())
    assert report["environment"] == {"env": "paper", "config": None, "overrides": ["specs/overrides/env_paper.yaml"]}
    assert report["domains"]["crypto_spot"]["quote"] == "BTC"
    documented = set(re.findall(r"`([a-z_.]+)`", (ROOT / "docs" / "run-report.md").read_text()))
    assert {"environment", "environment.env", "environment.config", "environment.overrides", "quote"} <= documented
    assert "(USD)" not in (ROOT / "docs" / "run-report.md").read_text()


def test_the_kpi_table_labels_each_end_balance_with_its_quote(tmp_path: Path) -> None:
    out = io.StringIO()
    setting = RunSetting("paper", None, (), {"crypto_spot": "BTC"})
    print_kpi_table(result(tmp_path, [trade(30, T0 + 1)]), Console(file=out, width=160), setting)
    assert "1,030.00 BTC" in out.getvalue() and "$" not in out.getvalue()


def test_a_promoted_run_names_the_overrides_of_the_stage_it_reached() -> None:
    session = SimpleNamespace(cfg=SimpleNamespace(env="paper"), stage=1, specs=load_specset([str(ROOT / "specs")]),
                              rollout=SimpleNamespace(ctx={"stage": 2}))
    setting = run_setting(session, _series((Domain.CRYPTO_SPOT, "ETH/BTC")), None)
    assert [Path(p).name for p in setting.overrides] == ["env_paper.yaml", "stage_2.yaml"]


def test_a_domain_with_no_series_is_labelled_with_its_wallets_currency() -> None:
    """Forex opened but not traded (no dataset, or none of its series traded): its wallet counts
    USD as given, and the report said `quote: null` beside `usd_rate: 1.0`."""
    from engine.run.currency import USD, WalletCurrency

    session = SimpleNamespace(cfg=SimpleNamespace(env="paper"), stage=3, specs=load_specset([str(ROOT / "specs")]),
                              currencies={Domain.CRYPTO_SPOT: WalletCurrency("BTC", 13853.0, "usd_rates"),
                                          Domain.FOREX: WalletCurrency(USD, 1.0, "trades no instrument")})
    setting = run_setting(session, _series((Domain.CRYPTO_SPOT, "ETH/BTC")), None)
    assert setting.quotes["crypto_spot"] == "BTC" and setting.quotes["forex"] == "USD"
