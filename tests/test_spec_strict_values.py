"""Values `engine validate` once passed and `engine run` then crashed on or misread: text for a
boolean or a number (`short_allowed: {crypto_spot: "yes"}` turned spot shorting on), a duration
without a unit (`max_hold: 2` was 2 seconds), an integer beyond 64 bits (the audit log crashed
mid-run), .inf, and a window no data or pandas can hold. Each is an error at its value's
file:line:col with a hint, from validate and, with the same words, from the run."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.cli import main
from engine.diagnostics import SpecError
from engine.spec.loader import load_specs
from strategies.ml.config import EnsembleConfig, load_spec

ROOT = Path(__file__).resolve().parents[1]
NEVER = "to mean never or no limit, write a large value such as 1000000"
DURATION = "write 30s, 15m, 2h, 7d, 1w or a combination such as 1h30m"
BIG = "100000000000000000000000000000"
BIG_MESSAGE = f"`{BIG}` does not fit in a 64-bit integer (at most 9223372036854775807)"
STAGE_1 = "kind: overrides\nscope: stage\nkey: \"1\"\nvalues:\n  kill_modes:\n    max_consecutive_losses: {}\n"

# (file under specs/, old text, new text, text at the value, message, hint)
CASES = [
    ("risk/risk.yaml", "{crypto_spot: false,", "{crypto_spot: \"yes\",", '"yes"',
     "`limits.short_allowed.crypto_spot` must be true or false, not the string `yes`", "write true or false"),
    ("risk/risk.yaml", "{crypto_spot: false,", "{crypto_spot: 1,", "1,",
     "`limits.short_allowed.crypto_spot` must be true or false, not the number `1`", "write true or false"),
    ("risk/risk.yaml", "avoid_weekend_carry: true", "avoid_weekend_carry: \"on\"", '"on"',
     "`limits.avoid_weekend_carry` must be true or false, not the string `on`", "write true or false"),
    ("risk/risk.yaml", "max_concurrent_positions: 8", "max_concurrent_positions: \"8\"", '"8"',
     "`limits.max_concurrent_positions` must be an integer, not the string `8`", "remove the quotes"),
    ("risk/risk.yaml", "trades: 50", "trades: \"50\"", '"50"',
     "`sizing.canary.trades` must be an integer, not the string `50`", "remove the quotes"),
    ("risk/risk.yaml", "max_hold: 2d", "max_hold: 2", "max_hold: |2",
     "`limits.max_hold`: must be a duration, not the number `2`", DURATION),
    ("risk/risk.yaml", "days: 7d", "days: 7", "days: |7",
     "`sizing.canary.days`: must be a duration, not the number `7`", DURATION),
    ("risk/risk.yaml", "friday_close_buffer: 2m", "friday_close_buffer: 120", "120",
     "`limits.friday_close_buffer`: must be a duration, not the number `120`", DURATION),
    ("strategies/seed003.yaml", "{fast_ema_window: 24,", "{fast_ema_window: 10000000000,", "10000000000",
     "`strategies.0.params.fast_ema_window`: `10000000000` is out of bounds: it must be from 1 to 1000000",
     "write an integer from 1 to 1000000, e.g. 24"),
    ("strategies/seed003.yaml", "{fast_ema_window: 24,", "{fast_ema_window: \"24\",", '"24"',
     "`strategies.0.params.fast_ema_window` must be an integer from 1 to 1000000, not the string `24`",
     "remove the quotes"),
    ("strategies/seed003.yaml", "enabled: false", "enabled: \"no\"", '"no"',
     "`strategies.10.enabled` must be true or false, not the string `no`", "write true or false"),
    ("ml/ensemble.yaml", "threshold: 0.6", "threshold: \"0.6\"", '"0.6"',
     "`threshold` must be a number of at least 0.5 and below 1, not the string `0.6`", "remove the quotes"),
    ("kill/kill_modes.yaml", "default: 3\n", f"default: {BIG}\n", BIG,
     f"`parameters.max_consecutive_losses.default`: {BIG_MESSAGE}", NEVER),
    ("overrides/stage_1.yaml", "", STAGE_1.format(BIG), BIG,
     f"`values.kill_modes.max_consecutive_losses`: {BIG_MESSAGE}", NEVER),
    ("overrides/stage_1.yaml", "", STAGE_1.format("1e400"), "1e400",
     "`values.kill_modes.max_consecutive_losses` is .inf, not a finite number", NEVER),
]
IDS = [f"{c[0].split('/')[-1]}:{c[2].strip().splitlines()[-1].strip()[:40]}" for c in CASES]


def edited(tmp: Path, file: str, old: str, new: str) -> tuple[Path, Path]:
    """A copy of specs/ with one edit (a new file when `old` is empty); the tree and the file."""
    tree = tmp / "specs"
    shutil.copytree(ROOT / "specs", tree)
    path = tree / file
    if old:
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))
    else:
        path.write_text(new)
    return tree, path


def at(path: Path, value: str) -> str:
    """`file:line:col` of the first line holding `value` (at its `|` when it has one: `days: |7`)."""
    before, _, after = value.rpartition("|")
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if before + after in line and not line.lstrip().startswith("#"):
            return f"{path}:{n}:{line.index(before + after) + len(before) + 1}"
    raise AssertionError(value)


@pytest.mark.parametrize("file,old,new,value,message,hint", CASES, ids=IDS)
def test_validate_reports_the_value_at_its_line_with_a_hint(tmp_path, file, old, new, value, message, hint) -> None:
    tree, path = edited(tmp_path, file, old, new)
    _, diags = load_specs([tree])
    errors = [d for d in diags if d.severity.name == "ERROR"]
    assert [(str(d.pos), d.message) for d in errors] == [(at(path, value), message)]
    assert hint in errors[0].hint


RUN_CASES = [CASES[0], CASES[5], CASES[8], CASES[13]]


@pytest.mark.parametrize("file,old,new,value,message,hint", RUN_CASES, ids=[IDS[CASES.index(c)] for c in RUN_CASES])
def test_the_run_refuses_it_in_the_same_words(tmp_path, capsys, monkeypatch, file, old, new, value, message,
                                               hint) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("ENGINE_DB_URL", raising=False)
    tree, path = edited(tmp_path, file, old, new)
    code = main(["run", "--stage", "1", "--no-progress", "--specs", str(tree),
                 "--db", str(tmp_path / "e.db"), "--run-dir", str(tmp_path / "run"), "--max-bars", "50"])
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err
    assert f"{at(path, value)}: error" in err and message in err and hint in err


def test_an_ml_spec_the_run_reads_says_what_validate_says(tmp_path) -> None:
    tree, path = edited(tmp_path, "ml/ensemble.yaml", "threshold: 0.6", "threshold: \"0.6\"")
    with pytest.raises(SpecError) as e:
        load_spec("ensemble", EnsembleConfig, tree / "ml")
    _, diags = load_specs([tree])
    assert [str(d) for d in e.value.diagnostics] == [str(d) for d in diags if d.severity.name == "ERROR"]


def test_ml_durations_refuse_a_bare_number_in_the_same_words(tmp_path) -> None:
    tree, path = edited(tmp_path, "ml/filter.yaml", "train: 4w", "train: 4")
    _, diags = load_specs([tree])
    [d] = [d for d in diags if d.severity.name == "ERROR"]
    assert (str(d.pos), d.message, d.hint) == (at(path, "train: |4"), "`walkforward.train`: must be a duration, not the "
                                                "number `4`", DURATION)


def test_the_shipped_specs_still_validate() -> None:
    _, diags = load_specs([ROOT / "specs"])
    assert {d.code for d in diags} <= {"CONTRACT_NO_RATE"}
