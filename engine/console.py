"""The console every command prints its tables on (a run's KPI table too, engine/run/report.py).

Piped or logged output has no screen to fit, yet rich assumes 80 columns there and
cuts table cells short ("998.…"): a balance or a KPI must never lose digits. Off a
terminal the console is as wide as the widest table needs; on a terminal it keeps the
terminal's width, and `fold` columns wrap a cell onto a second line instead of
cutting it.
"""
from __future__ import annotations

from typing import Any

TABLE_WIDTH = 140  # the widest table (engine train's walk-forward metrics) fits


def console() -> Any:
    from rich.console import Console

    out = Console()
    if not out.is_terminal:
        out.width = max(out.width, TABLE_WIDTH)
    return out


def add_columns(table: Any, names: list[str], *, left: tuple[str, ...] = ()) -> None:
    """Numbers right-aligned, the names in `left` left-aligned; no cell is ever cut short."""
    for name in names:
        table.add_column(name, justify="left" if name in left else "right", overflow="fold")
