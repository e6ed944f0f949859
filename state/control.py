"""The operator control channel: `engine kill --mode flatten`, typed in another
terminal, posts a row; the running engine takes it on its next tick.

Taking is one UPDATE ... RETURNING on rows not yet consumed, so two takers
(or a taker racing a crash) can never both receive the same command.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import Session

from state.models import ControlRow


@dataclass(frozen=True, slots=True)
class Command:
    id: int
    ts: float
    command: str
    args: dict[str, Any]


def post(session: Session, ts: float, command: str, args: dict[str, Any]) -> int:
    if not command:
        raise ValueError("a command needs a name")
    result = session.execute(insert(ControlRow).values(ts=ts, command=command, args=args))
    return int(result.inserted_primary_key[0])


def withdraw(session: Session, ts: float, command_id: int) -> bool:
    result = session.execute(update(ControlRow).where(ControlRow.id == command_id, ControlRow.consumed_ts.is_(None))
                             .values(consumed_ts=ts))
    return result.rowcount == 1


def take(session: Session, ts: float) -> list[Command]:
    rows = session.execute(
        update(ControlRow)
        .where(ControlRow.consumed_ts.is_(None))
        .values(consumed_ts=ts)
        .returning(ControlRow.id, ControlRow.ts, ControlRow.command, ControlRow.args)
    ).all()
    # RETURNING order is unspecified; operators expect commands in the order typed.
    return sorted((Command(r.id, r.ts, r.command, dict(r.args)) for r in rows), key=lambda c: c.id)
