"""`engine docs --out` naming a file, or a folder that cannot be made: one line saying so and what
to give instead, exit 2 (a usage error) or 1 (the write failed), never a traceback."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main

SPECS = str(Path(__file__).resolve().parents[1] / "specs")


@pytest.mark.parametrize("check", [False, True])
def test_an_out_that_is_a_file_is_a_usage_error(tmp_path, capsys, check):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    assert main(["docs", SPECS, "--out", str(afile), *(["--check"] if check else [])]) == 2
    err = capsys.readouterr().err
    assert err == (f"engine docs: --out {afile} is a file, not a folder; name the folder the pages go in "
                   "(default docs/specs)\n")
    assert afile.read_text() == "mine"


@pytest.mark.parametrize("under", ["afile/sub", "/proc/nope"])
def test_an_out_that_cannot_be_made_fails_with_one_line(tmp_path, capsys, under):
    (tmp_path / "afile").write_text("mine")
    out = tmp_path / under
    assert main(["docs", SPECS, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"engine docs: cannot write to --out {out}: ") and err.count("\n") == 1
    assert "name a folder you can create and write to" in err
