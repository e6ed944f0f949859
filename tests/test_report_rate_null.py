"""report.json's `bars_per_second` is null when this process processed no bars: a resume whose
saved run had done its last bar only writes the report, and its rate read 0.0, as if it had
run at no speed (docs/run-report.md: null for a zero-length run)."""
from __future__ import annotations

from pathlib import Path

from engine.run.report import report_dict
from engine.run.result import RunResult

T0 = 1_704_067_200.0


def test_a_resume_that_processed_no_bar_has_no_rate() -> None:
    run = RunResult(stage=1, run_dir=Path("run"), started=T0, finished=T0 + 2.0, bars=500, domains={})
    run.resumed_at_bar = 500  # every bar was processed before this process resumed it
    assert report_dict(run, {})["bars_per_second"] is None


def test_a_fresh_run_of_no_bars_has_no_rate() -> None:
    run = RunResult(stage=1, run_dir=Path("run"), started=T0, finished=T0 + 2.0, bars=0, domains={})
    assert report_dict(run, {})["bars_per_second"] is None
