"""A progress bar for `engine run`: bars processed, total, bars/s.

It times the replay loop alone (the bars, operator commands, checkpoints), from entering the
context to leaving it. Start-up before it (data, strategy fits, opening the store) counts in
report.json's `elapsed_s` and `bars_per_second`, not here; these figures are its `replay_s` and
`replay_bars_per_second`. A resumed run's bars before `start` are shown done, not timed.

Disabled: prints nothing but `note`s for the operator (to stderr). On a terminal: a live rich bar, then a final
line. Not on a terminal (CI, a pipe, a log file): no bar, only the final line,
so logs are not flooded with redraws.

`advance` is called once per bar, so it only counts; rich hears about it at most
every `total / 1000` bars (the refresh thread redraws a few times a second anyway).
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any


class RunProgress:
    def __init__(self, total: int | None, enabled: bool = True, *, console: Any = None,
                 description: str = "bars", clock: Callable[[], float] = time.perf_counter,
                 start: int = 0) -> None:
        self.total = total
        self.enabled = enabled
        self.description = description
        self.start = start  # done by the saved run a resume continues: another process's time
        self.bars = start
        self._clock = clock
        self._console = console
        self._started: float | None = None
        self._finished: float | None = None
        self._pushed = 0
        self._step = max(1, (total or 0) // 1000)
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> "RunProgress":
        self._started = self._clock()
        if self.enabled:
            from rich.console import Console

            self._console = self._console or Console()
            if self._console.is_terminal:
                self._progress = _live_bar(self._console)
                self._task = self._progress.add_task(self.description, total=self.total, completed=self.start)
                self._progress.start()
        return self

    def advance(self, n: int = 1) -> None:
        self.bars += n
        if self._progress is not None and self.bars - self._pushed >= self._step:
            self._progress.update(self._task, completed=self.bars)
            self._pushed = self.bars

    def note(self, text: str) -> None:
        """A line for the operator above the bar (stderr with no bar: --no-progress, a pipe)."""
        if self._console is not None and self.enabled:
            self._console.print(text, highlight=False, markup=False)
        else:
            print(text, file=sys.stderr, flush=True)

    @property
    def elapsed(self) -> float:
        if self._started is None:
            return 0.0
        end = self._finished if self._finished is not None else self._clock()
        return end - self._started

    @property
    def rate(self) -> float | None:
        """Bars this process replayed per second since the context was entered; None before any
        time has passed or any bar was replayed (as report.json's rates)."""
        elapsed, done = self.elapsed, self.bars - self.start
        return done / elapsed if elapsed > 0 and done > 0 else None

    def summary(self) -> str:
        rate = self.rate
        of = f"/{self.total:,}" if self.total is not None else ""
        speed = f"{rate:,.0f} bars/s" if rate is not None else "- bars/s"
        resumed = f", {self.bars - self.start:,} of them" if self.start else ""
        return f"{self.description}: {self.bars:,}{of}{resumed} replayed in {self.elapsed:.2f}s ({speed}, replay loop only)"

    def __exit__(self, *exc: object) -> None:
        self._finished = self._clock()
        if self._progress is not None:
            self._progress.update(self._task, completed=self.bars)
            self._progress.stop()
        if self.enabled:
            self._console.print(self.summary(), highlight=False)


def _live_bar(console: Any) -> Any:
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn,
                               TaskProgressColumn, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)
    from rich.text import Text

    class BarsPerSecond(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("- bars/s" if speed is None else f"{speed:,.0f} bars/s", style="cyan")

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TaskProgressColumn(), BarsPerSecond(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=False)
