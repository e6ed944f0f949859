"""A run config's mistakes get one error each, saying what the key takes, with a hint (rev24 docs
review: a union's members gave two errors that contradicted each other, an enum's keys no
did-you-mean, an empty value no hint, and a misspelt domain false errors about what it lacked)."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.diagnostics import SpecError
from engine.run.config import load_config


def _diags(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as err:
        load_config(path)
    return [d.text().replace(f"{path}:", "run.yaml:") for d in err.value.diagnostics]


def test_a_value_no_member_of_a_union_takes_is_one_error_naming_every_choice(tmp_path: Path) -> None:
    assert _diags(tmp_path, "ml:\n  enabled: maybe\n") == [
        "run.yaml:2:12: error SCHEMA_TYPE `ml.enabled` must be true or false, or `auto`, not the string `maybe`\n"
        "    hint: write true or false, or `auto`"]
    assert _diags(tmp_path, "ml:\n  enabled: autoo\n")[0].endswith("hint: did you mean `auto`?")


def test_a_misspelt_domain_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    [d] = _diags(tmp_path, "venue:\n  slippage_bps: {crypto_spt: 5}\n")
    assert d.startswith("run.yaml:2:18: error SCHEMA_VALUE key `crypto_spt`") and "did you mean `crypto_spot`?" in d


def test_a_key_with_nothing_after_it_is_told_so(tmp_path: Path) -> None:
    [d] = _diags(tmp_path, "runs_dir:\n")
    assert "must be a string, not nothing (null)" in d and "hint: write the value after the colon" in d


def test_nothing_is_said_inside_a_mapping_whose_key_is_refused(tmp_path: Path) -> None:
    """The defaults of `crypto_spot` would have given the misspelt entry its `confirm`."""
    [d] = _diags(tmp_path, "data:\n  crypto_spott:\n    primary: 15m\n")
    assert d.startswith("run.yaml:2:3: error SCHEMA_VALUE key `crypto_spott`") and "did you mean `crypto_spot`?" in d


def test_a_refused_key_s_value_is_not_an_error_of_its_own(tmp_path: Path) -> None:
    """`datasets` under `data` is the mistake; that its string is not a domain's mapping is not another."""
    assert _diags(tmp_path, "data:\n  datasets: crypto_spot/BTCUSDT-5m\n") == [
        "run.yaml:2:3: error SCHEMA_VALUE key `datasets`: `datasets` is not one of crypto_spot, crypto_perp, "
        "forex, forex_options\n"
        "    hint: `datasets` belongs under `data.<crypto_spot|crypto_perp|forex|forex_options>`: move it there"]


@pytest.mark.parametrize(("text", "hint"), [
    ("datasets: [crypto_spot/BTCUSDT-5m]\n",  # a near name here (`data`) says less than the exact one there
     "`datasets` belongs under `data.<crypto_spot|crypto_perp|forex|forex_options>`: move it there"),
    ("execution:\n  durability: full\n", "`durability` belongs at the top level: move it there"),
    ("ml:\n  deadband: 0.1\n", "`deadband` belongs under `strategy`: move it there"),
    ("ml:\n  enabledd: true\n", "did you mean `enabled`?"),  # in no other place: the near name here
])
def test_a_key_at_the_wrong_depth_is_told_where_it_belongs(tmp_path: Path, text: str, hint: str) -> None:
    [d] = _diags(tmp_path, text)
    assert "error SCHEMA_UNKNOWN_KEY" in d and d.endswith(f"hint: {hint}")
