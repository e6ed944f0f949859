"""What a mistake in a spec or run config reads like: at the bad value, with the real bounds and a
hint that leads to a valid value, never a suggestion of the very name that was written. Also the
exits QA found wrong (an empty folder to validate, diff of an invalid spec) and the README's tour."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.commands.validate import validate
from engine.diagnostics import Diagnostic, SpecError

ROOT = Path(__file__).resolve().parents[1]
KILL = "kill/kill_modes.yaml"


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    return tmp_path / "specs"


def edit(specs: Path, rel: str, old: str, new: str) -> str:
    path = specs / rel
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return str(path)


def errors(specs: Path, file: str) -> list[Diagnostic]:
    return [d for d in validate([str(specs)])[0] if d.pos.file == file and d.severity.value == "error"]


def test_a_bad_duration_is_reported_at_its_value_and_the_timer_hint_is_not_itself(specs: Path) -> None:
    file = edit(specs, KILL, "    default: 15m\n", "    default: 15 minutes\n")
    bounds, timer = errors(specs, file)
    assert (bounds.code, bounds.pos.line, bounds.pos.col) == ("PARAM_BOUNDS", 26, 14)
    assert bounds.hint and "15m" in bounds.hint
    assert timer.code == "TIMER_BOUNDS" and "did you mean" not in (timer.hint or "")
    assert "`15 minutes`" in timer.message and f"{file}:24:3" in (timer.hint or "")


@pytest.mark.parametrize("value, message, hint", [
    ("5", "`5` is out of bounds: it must be from 0.001 to 0.5", "write a fraction from 0.001 to 0.5, e.g. 0.2"),
    ("five", "must be a fraction from 0.001 to 0.5, not the string `five`", "e.g. 0.2"),
    ('"5%"', "not the string `5%`", "write 0.05 for 5% (a fraction from 0.001 to 0.5)"),
])
def test_a_bad_parameter_value_states_the_specs_bounds(specs: Path, value: str, message: str, hint: str) -> None:
    file = edit(specs, KILL, "    default: 0.05\n    min: 0.001", f"    default: {value}\n    min: 0.001")
    [d] = errors(specs, file)
    assert (d.code, d.pos.line, d.pos.col) == ("PARAM_BOUNDS", 39, 14)
    assert message in d.message and d.hint and hint in d.hint


ROLLOUT = "rollout/rollout.yaml"


def test_inverted_bounds_are_their_own_error_not_a_range_no_value_fits(specs: Path) -> None:
    file = edit(specs, ROLLOUT, "    default: 0.25\n    min: 0.10\n    max: 1\n", "    default: 0.25\n    min: 0.9\n    max: 0.5\n")
    [d] = errors(specs, file)
    assert (d.code, d.pos.line, d.pos.col) == ("PARAM_BOUNDS", 37, 10)
    assert d.message == "`rollout.exploration_max_chop` has `min` 0.9 above `max` 0.5: no value fits"
    assert d.hint and "swap them" in d.hint and "from 0.9 to 0.5" not in str(d)


def test_a_negative_duration_override_is_one_message(specs: Path) -> None:
    """PARAM_BOUNDS said `-5m` is not a duration while TIMER_BOUNDS said it is -300s."""
    file = edit(specs, "overrides/stage_2.yaml", "cooldown: 30m", "cooldown: -5m")
    found = [d for d in validate([str(specs)])[0] if d.severity.value == "error"]
    assert [(d.code, d.pos.file, d.message) for d in found] == [
        ("PARAM_BOUNDS", file, "`kill_modes.cooldown` `-5m` is not a duration")]


@pytest.mark.parametrize("value, code, message", [
    ("0", "PARAM_BOUNDS", "must be a duration, not the number `0`"),
    ("45d", "TIMER_BOUNDS", "timer delay of `confirm_stage_2`, `confirm_stage_3`, `confirm_stage_4`, "
     "`confirm_stage_5` and `confirm_options_live` is 45d (default of `params.confirmation_timeout`)"),
])
def test_one_timer_shared_by_five_states_is_one_finding(specs: Path, value: str, code: str, message: str) -> None:
    """The rollout's confirmation states share one `after` (a YAML alias): one position, one error."""
    edit(specs, ROLLOUT, "    default: 24h\n", f"    default: {value}\n")
    [d] = [d for d in validate([str(specs)])[0] if d.severity.value == "error"]
    assert d.code == code and message in d.message


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


@pytest.mark.parametrize("text, message, hint", [
    ("execution: {trading_enabled: yes please}", "must be true or false, not the string `yes please`",
     "write true or false"),
    ("checkpoint_every: 0", "`0` is out of bounds: it must be at least 1", "write an integer of at least 1"),
    ("seed: five", "`seed` must be an integer of at least 0, not the string `five`", "write an integer"),
    ("strategy: {fit_fraction: 5%}", "not the string `5%`", "write 0.05 for 5%"),
    ("data: {crypto_spot: {primary: 15}}", "must be a string, not the number `15`", "5m, 15m, 1h"),
    # the live switch and the rest took any value pydantic could coerce: "yes", "on", 1 armed live trading
    ('execution: {trading_enabled: "yes"}', "must be true or false, not the string `yes`", "write true or false"),
    ("execution: {trading_enabled: 1}", "must be true or false, not the number `1`", "write true or false"),
    ("checkpoint_every: true", "not the boolean `true`", "write an integer of at least 1"),
    ('seed: "7"', "`seed` must be an integer of at least 0, not the string `7`", "remove the quotes"),
])
def test_a_bad_run_config_value_gets_its_bounds_and_a_valid_value(at_root: None, tmp_path: Path, text: str,
                                                                  message: str, hint: str) -> None:
    from engine.run.config import load_config

    config = tmp_path / "c.yaml"
    config.write_text(text + "\n")
    with pytest.raises(SpecError) as e:
        load_config(config, strategy=False)
    [d] = e.value.diagnostics
    assert message in d.message and d.hint and hint in d.hint, d.text()
    assert "quote it" not in d.hint


def test_a_misspelt_rate_key_is_reported_with_did_you_mean(specs: Path) -> None:
    file = edit(specs, "risk/risk.yaml", "    usd: 13853\n    source:", "    usd: 13853\n    sorce:")
    unknown = [d for d in errors(specs, file) if d.code == "SCHEMA_UNKNOWN_KEY"]
    assert [(d.message, d.hint) for d in unknown] == [("unknown key `sorce`", "did you mean `source`?")]


def test_validate_of_a_folder_without_specs_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "notes.txt").write_text("no spec here")
    rc = main(["validate", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert f"{tmp_path} holds no spec files" in err and "hint: " in err


def test_diff_of_a_spec_that_fails_the_lint_exits_1(specs: Path, capsys: pytest.CaptureFixture) -> None:
    new = edit(specs, KILL, "target: cooldown", "target: cooldwn")
    rc = main(["diff", str(ROOT / "specs" / KILL), new])
    out, err = capsys.readouterr()
    assert rc == 1 and out == ""
    assert "UNRESOLVED_STATE target `cooldwn`" in err and "did you mean `cooldown`?" in err


def test_diff_of_a_lone_valid_spec_still_compares(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Alone, a spec's references to other files (catalogue actions, gates, an override's machines)
    are unknown, not errors."""
    for rel in ("rollout/rollout.yaml", "overrides/stage_2.yaml", "orders/bracket.yaml"):
        lone = tmp_path / Path(rel).name
        lone.write_bytes((ROOT / "specs" / rel).read_bytes())
        assert main(["diff", str(ROOT / "specs" / rel), str(lone)]) == 0, capsys.readouterr().err


def test_the_readme_tour_quotes_what_validate_prints(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"Try a typo in a target\s+state \(`(target: \w+)`\).*?```\n(.*?)```", readme, re.S)
    assert block, "the README's validate tour moved: update this test"
    typo, quoted = block.group(1), [line.strip() for line in block.group(2).splitlines() if line.strip()]
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    edit(tmp_path / "specs", KILL, "target: cooldown", typo)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "validate", "--no-cache", "specs"], cwd=tmp_path,
                          capture_output=True, text=True, env=env, timeout=120)
    printed = [line.strip() for line in done.stdout.splitlines()]
    assert done.returncode == 1 and [q for q in quoted if q not in printed] == [], done.stdout


def test_a_run_config_that_is_not_utf8_is_an_error_at_its_first_bad_byte(at_root: None, tmp_path: Path) -> None:
    """It was `--config FILE: cannot read it ('utf-8' codec can't decode ...)`, exit 2, no line:col, no hint."""
    from engine.run.config import load_config

    config = tmp_path / "c.yaml"
    config.write_bytes("seed: 7\nnote: caf\xe4\n".encode("latin-1"))
    with pytest.raises(SpecError) as e:
        load_config(config, strategy=False)
    [d] = e.value.diagnostics
    assert d.text().startswith(f"{config}:2:10: error YAML_SYNTAX file is not valid UTF-8") and d.hint


@pytest.mark.parametrize("key, shown, word", [
    ("1.5", "1.5", "the number `1.5`"), ("null", "null", "nothing (null)"),
    ("2024-01-01", "2024-01-01", "the date `2024-01-01`"), ("true", "true", "the boolean `true`"),
])
def test_a_key_yaml_reads_as_no_string_is_reported_at_the_key_as_written(specs: Path, key: str, shown: str,
                                                                          word: str) -> None:
    """Pydantic names a float, null or date key by its repr and a boolean one as 1: the error went
    to the enclosing `events:` line and read "key `events` ... not a mapping" for a date."""
    file = edit(specs, KILL, "events:\n  trade_closed:", f"events:\n  {key}: {{}}\n  trade_closed:")
    line = Path(file).read_text().splitlines().index(f"  {key}: {{}}") + 1
    (d,) = errors(specs, file)
    assert (d.code, d.pos.line, d.pos.col) == ("SCHEMA_TYPE", line, 3)
    assert d.message == f"key `{shown}` must be a string, not {word}"


def test_a_key_written_a_level_too_high_is_told_where_it_belongs(specs: Path) -> None:
    line = next(x for x in (specs / "risk/risk.yaml").read_text().splitlines(True) if x.startswith("  max_hold:"))
    file = edit(specs, "risk/risk.yaml", line, "")
    (specs / "risk/risk.yaml").write_text((specs / "risk/risk.yaml").read_text() + line.lstrip())
    unknown = [d for d in errors(specs, file) if d.code == "SCHEMA_UNKNOWN_KEY"]
    assert [(d.message, d.hint) for d in unknown] == [
        ("unknown key `max_hold`", "`max_hold` belongs under `limits`: move it there")]
