"""`engine tune`: block cross-validation of a strategy entry's `tune:` grid on the bars a run
fits on, and --write, which sets the winners in the spec and changes nothing else."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.cli import main
from engine.commands import tune as tune_cmd
from engine.spec import rewrite
from engine.spec.rewrite import ChangedMeanwhile, NotInPlace, copy_values
from engine.spec.validation import check_specs

ROOT = Path(__file__).resolve().parents[1]
PERP = "crypto_perp/BTC-PERP-1m"  # the one default data set every shipped candidate scores on
LINE_48H = "    params: {fast_ema_window: 48, slow_ema_multiplier: 4, vol_window: 720, target_vol: 0.2}\n"


def spec_tree(tmp: Path, old: str = "", new: str = "") -> Path:
    tree = Path(shutil.copytree(ROOT / "specs", tmp / "specs"))
    if old:
        path = tree / "strategies" / "seed003.yaml"
        text = path.read_text()
        assert text.count(old) == 1
        path.write_text(text.replace(old, new))
    return tree


def strategy_file(tree: Path) -> Path:
    return tree / "strategies" / "seed003.yaml"


def tune(tree: Path, *args: str) -> int:
    return main(["tune", "--specs", str(tree), *args])


def test_the_table_names_the_winner_and_nothing_is_written_without_write(tmp_path, capsys):
    tree = spec_tree(tmp_path)
    before = strategy_file(tree).read_bytes()
    assert tune(tree, "--entry", "emavol_48h", "--data", PERP) == 0
    out = capsys.readouterr().out
    assert "emavol_48h (EmaVolStrategy): mean pearson score per candidate" in out
    assert "emavol_48h: slow_ema_multiplier 4 -> 6" in out and "pass --write" in out
    assert strategy_file(tree).read_bytes() == before


def test_write_changes_the_winning_value_alone_and_a_second_run_finds_it_set(tmp_path, capsys):
    tree = spec_tree(tmp_path)
    before = strategy_file(tree).read_text()
    assert tune(tree, "--entry", "emavol_48h", "--data", PERP, "--write") == 0
    assert "emavol_48h.params.slow_ema_multiplier 4 -> 6" in capsys.readouterr().out
    after = strategy_file(tree).read_text()
    assert after == before.replace(LINE_48H, LINE_48H.replace("multiplier: 4,", "multiplier: 6,"))
    assert [d for d in check_specs([tree])[1] if d.severity.name == "ERROR"] == []
    assert tune(tree, "--entry", "emavol_48h", "--data", PERP, "--write") == 0
    assert "unchanged, the spec's params already win" in capsys.readouterr().out
    assert strategy_file(tree).read_text() == after


def test_each_data_set_weighs_the_same_in_the_choice(tmp_path, capsys):
    """On ETH/BTC's in-sample bars emavol_48h fits on few splits beyond multiplier 2: 6, best on
    BTC-PERP, must not win because ETH/BTC's poor score for it rests on 3 splits of 12."""
    tree = spec_tree(tmp_path)
    assert tune(tree, "--entry", "emavol_48h", "--data", PERP, "crypto_spot/ETH_BTC-5m") == 0
    assert "emavol_48h: slow_ema_multiplier 4 -> 2" in capsys.readouterr().out


def test_a_data_set_too_short_for_the_blocks_is_left_out_and_said(tmp_path, capsys):
    tree = spec_tree(tmp_path)
    assert tune(tree, "--entry", "emavol_24h", "--data", PERP, "forex/GBPUSD-1m") == 0
    out = capsys.readouterr().out
    assert "forex/GBPUSD-1m: left out: 252 in-sample 1h bars, fewer than the 2 blocks of 168 bars" in out
    assert tune(tree, "--data", "forex/GBPUSD-1m") == 1
    assert "no data set has enough in-sample bars" in capsys.readouterr().err


@pytest.mark.parametrize("args, code, said", [
    (["--entry", "nope"], 2, "--entry nope: no such entry in"),
    (["--entry", "wedthu"], 1, "--entry wedthu: no `tune:` grid in"),
    (["--data", "forex/EURUSD-1h"], 2, "--data forex/EURUSD-1h: not a data set of the run config"),
    (["--config", "none.yaml"], 2, "--config none.yaml: no such file"),
])
def test_bad_arguments_are_one_line(tmp_path, capsys, args, code, said):
    assert tune(spec_tree(tmp_path), *args) == code
    err = capsys.readouterr().err
    assert err.startswith(f"engine tune: {said}") and "Traceback" not in err


def test_a_spec_folder_that_cannot_be_written_is_one_line_and_the_file_is_kept(tmp_path, capsys, monkeypatch):
    tree = spec_tree(tmp_path)
    before = strategy_file(tree).read_bytes()

    def refused(dir: str, **_: object) -> None:  # a read-only folder (this test may run as root)
        raise PermissionError(13, "Permission denied", dir)

    monkeypatch.setattr(rewrite.tempfile, "mkstemp", refused)
    assert tune(tree, "--entry", "emavol_48h", "--data", PERP, "--write") == 1
    err = capsys.readouterr().err
    assert err == f"engine tune: cannot use {strategy_file(tree).parent}: Permission denied\n"
    assert strategy_file(tree).read_bytes() == before


def test_a_spec_without_grids_says_how_to_add_one(tmp_path, capsys):
    tree = spec_tree(tmp_path)
    path = strategy_file(tree)
    path.write_text("".join(line for line in path.read_text().splitlines(True) if "    tune: " not in line))
    assert tune(tree) == 1
    assert "has a `tune:` grid: add one to an entry" in capsys.readouterr().err


@pytest.mark.parametrize("old, new, where, said", [
    ("tune: {slow_ema_multiplier: [2, 3, 4, 6]}   #", "tune: {slow_ema_multiplier: [2, 1, 4]}   #",
     ":32:", "`strategies.0.tune.slow_ema_multiplier.1`: `1` is out of bounds: it must be above 1"),
    ("tune: {slow_ema_multiplier: [2, 3, 4, 6]}   #", "tune: {slow_ema_multiplier: [2, '3']}   #",
     ":32:", "must be a number above 1"),
    ("tune: {slow_ema_multiplier: [2, 3, 4, 6]}   #", "tune: {slow_ema_multipler: [2]}   #",
     ":32:", "did you mean `slow_ema_multiplier`?"),
    ("tune: {slow_ema_multiplier: [2, 3, 4, 6]}   #", "tune: {slow_ema_multiplier: []}   #",
     ":32:", "`strategies.0.tune.slow_ema_multiplier`"),
    ("tune: {slow_ema_multiplier: [2, 3, 4, 6]}   #", "tune: {alpha: [0.2, 0.5]}   #",
     ":28:", "emavol_24h: tuned parameter(s) alpha not set in `params`"),
    ("tune: {slow_ema_multiplier: [2, 3, 4, 6]}   #", "tune: {}   #",
     ":28:", "emavol_24h: `tune:` names no candidates"),
    ("  seed: 0\n", "  seed: -1\n", ":23:", "`tuning.seed`: `-1` is out of bounds"),
    ("  scorer: pearson ", "  scorer: spearman ", ":24:", "`tuning.scorer`"),
])
def test_a_bad_grid_or_tuning_fails_validation_at_its_line(tmp_path, old, new, where, said):
    tree = spec_tree(tmp_path, old, new)
    errors = [d for d in check_specs([tree])[1] if d.severity.name == "ERROR"]
    assert len(errors) == 1 and said in errors[0].message + (errors[0].hint or "")
    assert f"seed003.yaml{where}" in f"{Path(errors[0].pos.file).name}:{errors[0].pos.line}:"


def test_grids_without_a_tuning_section_fail_validation(tmp_path):
    tree = spec_tree(tmp_path)
    path = strategy_file(tree)
    text = path.read_text()
    start, end = text.index("tuning:\n"), text.index("strategies:\n")
    path.write_text(text[:start] + text[end:])
    errors = [d for d in check_specs([tree])[1] if d.severity.name == "ERROR"]
    assert len(errors) == 1 and "carry `tune:` grids but the file has no `tuning:` section" in errors[0].message


# -- engine.spec.rewrite: the decision alone lands in the file -----------------------------------
def test_copy_values_replaces_the_value_text_only(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("a: {p: 4, q: 5}  # kept\nb:\n  - 7\n  -   8.50\n")
    path.chmod(0o640)
    copy_values(path, path.read_bytes(), [(("a", "q"), ("b", 1)), (("b", 0), ("a", "p"))], check=lambda _: None)
    assert path.read_text() == "a: {p: 4, q: 8.50}  # kept\nb:\n  - 4\n  -   8.50\n"
    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("move", [(("y", "p"), ("z", 0)),   # an alias: writing it would edit the anchor
                                  (("x",), ("z", 0)),       # the anchor itself: its aliases would change
                                  (("z", 1), ("y", "p")),   # copying from an alias
                                  (("w", "k"), ("z", 0)),   # a value a merge key brings in
                                  (("o", "k"), ("z", 0)),   # a value inside an aliased mapping
                                  (("n", "k"), ("z", 0))])  # ... and inside the mapping it aliases
def test_copy_values_refuses_what_is_not_written_in_place(tmp_path, move):
    path = tmp_path / "s.yaml"
    text = ("x: &a 4\ny: {p: *a, q: 5}\nz: [1, 2]\nm: &m {k: 1}\nw: {<<: *m, j: 2}\n"
            "n: &n {k: 3}\no: *n\n")
    path.write_text(text)
    with pytest.raises(NotInPlace):
        copy_values(path, path.read_bytes(), [move], check=lambda _: None)
    assert path.read_text() == text


@pytest.mark.parametrize("text, written", [
    ("a: {p: , q: 5}\nb: [7]\n", "a: {p: 7 , q: 5}\nb: [7]\n"),  # a null written as nothing
    ("a:\n  p:\n  q: 5\nb: [7]\n", "a:\n  p: 7\n  q: 5\nb: [7]\n"),
    ("a: {p: ~}\nb: [7]\n", "a: {p: 7}\nb: [7]\n"),
    ("a:\n  p:\n    4\nb: [7]\n", "a:\n  p:\n    7\nb: [7]\n"),  # the value on the line after its key
])
def test_copy_values_writes_into_odd_but_valid_places(tmp_path, text, written):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    copy_values(path, path.read_bytes(), [(("a", "p"), ("b", 0))], check=lambda _: None)
    assert path.read_text() == written


def test_copy_values_writes_a_linked_file_where_the_link_points(tmp_path):
    shared = tmp_path / "shared.yaml"
    shared.write_text("a: 1\nb: 2\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(shared)
    copy_values(link, link.read_bytes(), [(("a",), ("b",))], check=lambda _: None)
    assert link.is_symlink() and shared.read_text() == "a: 2\nb: 2\n"


def test_copy_values_leaves_the_file_when_the_check_refuses_the_new_text(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("a: 1\nb: 2\n")

    def refuse(new: Path) -> None:
        assert new.read_text() == "a: 2\nb: 2\n" and new.parent == tmp_path
        raise ValueError("no")

    with pytest.raises(ValueError):
        copy_values(path, path.read_bytes(), [(("a",), ("b",))], check=refuse)
    assert path.read_text() == "a: 1\nb: 2\n" and sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


def test_copy_values_refuses_a_file_edited_since_it_was_read(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("a: 1\nb: 2\n")
    read = path.read_bytes()
    path.write_text("a: 1\nb: 3\n")
    with pytest.raises(ChangedMeanwhile):
        copy_values(path, read, [(("a",), ("b",))], check=lambda _: None)
    assert path.read_text() == "a: 1\nb: 3\n"


def test_values_and_data_sets_are_shown_as_written():
    assert [tune_cmd._value(v) for v in (4.0, 0.2, 24, True, False, None)] == ["4", "0.2", "24", "true", "false",
                                                                              "null"]
    assert tune_cmd._column("mean crypto_spot/ETH_BTC-5m") == "ETH_BTC-5m"
    assert tune_cmd._column("mean store:ETH/BTC@5m") == "store:ETH/BTC@5m" and tune_cmd._column("n") == "n"


def test_a_config_without_data_sets_says_so(tmp_path, capsys):
    config = tmp_path / "cfg.yaml"
    config.write_text("data:\n" + "".join(f"  {d}: {{datasets: []}}\n" for d in
                                          ("crypto_spot", "crypto_perp", "forex")))
    assert tune(spec_tree(tmp_path), "--config", str(config)) == 1
    assert "the run config names no data sets" in capsys.readouterr().err
