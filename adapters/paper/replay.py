"""The catch-up log: every engine-facing venue call since the engine's last
checkpoint, as (signature, response), committed in the same SQLite transaction
as the state change the call made.

Why: the engine checkpoints every N bars, the venue commits on every change.
After a crash the engine resumes up to N bars behind the venue and, being
deterministic, repeats the same calls. Re-executing them against the newer
venue state would answer differently (bars out of order, duplicate ids), so a
reopened venue answers them from the log instead, then goes live.

Entries are numbered by call (1, 2, ...) across the venue's life. Live entries
wait in memory (`pending`) and reach disk with the next commit the venue makes
anyway: the persisted log is therefore always the calls up to the last
committing one, and the persisted state is the state right after it. Calls
after it changed nothing durable, so re-running them live from that state
gives the same answers (a quote of the same bar is the same quote).
"""
from __future__ import annotations

import json
from collections import deque
from typing import Any, Iterable, Iterator

from adapters.base import ReportStatus, VenueError, VenueEvent, VenueReport
from adapters.paper.model import dump, load_fill, load_quote
from engine.data.quoted import QuotedBar
from engine.domain import Quote

Row = tuple[int, int, str]  # (last call, first call, entries) as stored
_BAR_CALLS = frozenset(("open_bar", "on_bar"))  # a bar in, a list of reports out


def signature(name: str, args: tuple) -> str:
    """The call and all its arguments as text, only ever compared, never parsed. repr is
    exact for floats, stable for str enums and frozen dataclasses, and the cheapest."""
    if name in _BAR_CALLS:  # the hot path: a bar's fields, without the dataclass repr machinery
        b = args[0]
        if b.__class__ is QuotedBar:
            return repr((name, b.symbol, b.ts, b.open, b.high, b.low, b.close, b.volume, b.bid, b.ask, b.bid_open,
                         b.bid_high, b.bid_low, b.ask_open, b.ask_high, b.ask_low))
        return repr((name, b.symbol, b.ts, b.open, b.high, b.low, b.close, b.volume, b.bid, b.ask))
    if name == "quiet_bars":  # (first bar, ts, high, low): the bars are named by the first and their count
        return repr((name, args[0].symbol, args[0].ts, len(args[1])))
    return repr((name, *args))


_QUIET = '{"r": []}'  # most bars change nothing: skip the encoder


def encode(result: Any, events: tuple[VenueEvent, ...]) -> str:
    if not events and result == []:
        return _QUIET
    body: dict[str, Any] = {"x": str(result)} if isinstance(result, VenueError) else {"r": _enc(result)}
    if events:
        body["e"] = [dump_event(e) for e in events]
    return json.dumps(body)


def decode(name: str, text: str) -> tuple[Any, list[VenueEvent]]:
    """(result, events emitted by the call); result is a VenueError when the call raised one."""
    body = json.loads(text)
    events = [VenueEvent(**e) for e in body.get("e", ())]
    if "x" in body:
        return VenueError(body["x"]), events
    r = body["r"]
    if name in _BAR_CALLS:
        return [load_report(d) for d in r], events
    if name == "quote":
        return load_quote(r), events
    if name == "quiet_bars":
        return r, events
    return (None if r is None else load_report(r)), events


def _enc(result: Any) -> Any:
    if isinstance(result, list):
        return [dump_report(r) for r in result]
    if isinstance(result, Quote):
        return dump(result)
    if isinstance(result, int):  # quiet_bars
        return result
    return None if result is None else dump_report(result)


def dump_event(e: VenueEvent) -> dict[str, Any]:
    return {"kind": e.kind, "ts": e.ts, "symbol": e.symbol, "detail": e.detail}


def dump_report(r: VenueReport) -> dict[str, Any]:
    return {"client_order_id": r.client_order_id, "status": r.status.value, "fills": [dump(f) for f in r.fills],
            "reason": r.reason, "ts": r.ts, "clamp": None if r.clamp is None else dump_event(r.clamp),
            "filled_qty": r.filled_qty, "remaining_qty": r.remaining_qty, "refused": r.refused,
            "qty": r.qty, "price": r.price}


def load_report(d: dict[str, Any]) -> VenueReport:
    return VenueReport(**{**d, "status": ReportStatus(d["status"]), "fills": tuple(load_fill(f) for f in d["fills"]),
                          "clamp": None if d["clamp"] is None else VenueEvent(**d["clamp"])})


class CatchUpLog:
    """The log of a durable venue: what to answer from disk, and what to write next.

    One row per commit holds that commit's entries, calls `first`..`last`, as
    lines "signature\nresponse\n...": neither text holds a raw newline (repr and
    JSON escape them), and one insert per commit costs less than one per call."""

    def __init__(self, calls: int, rows: Iterable[Row]):
        self.calls = calls  # calls answered so far: the engine's position in the log
        self.pending: list[tuple[str, tuple, Any, tuple[VenueEvent, ...]]] = []  # calls calls-len+1..calls
        self.replay: deque[tuple[int, str, str]] = deque(e for e in _entries(rows) if e[0] > calls)
        self.diverged = ""
        if self.replay and self.replay[0][0] != calls + 1:
            raise VenueError(f"replay log starts at call {self.replay[0][0]}, the engine resumes after call {calls}: "
                             "the venue lost calls the engine has not checkpointed")

    @property
    def catching_up(self) -> bool:
        return bool(self.replay)

    def next_opens(self, symbol: str) -> bool:
        """Whether the call the log expects next is `open_bar` of `symbol`'s bar: with several
        symbols a bar time's opens may come before its first row's rest (Runner._open_ahead)."""
        return self.replay[0][1].startswith(repr(("open_bar", symbol))[:-1] + ",")

    def record(self, name: str, args: tuple, result: Any, events: tuple[VenueEvent, ...]) -> None:
        # Kept as objects: serialised only if a commit comes before the next ack.
        self.calls += 1
        if isinstance(result, list):  # the caller owns the list it was given
            result = list(result)
        self.pending.append((name, args, result, events))

    def answer(self, name: str, args: tuple) -> tuple[Any, list[VenueEvent]]:
        """The logged response to this call, if it is the call the log expects next."""
        if self.diverged:
            raise VenueError(self.diverged)
        n, want, response = self.replay[0]
        got = signature(name, args)
        if got != want:
            self.diverged = f"replay diverged at call {n}: expected {_short(want)}, got {_short(got)}"
            raise VenueError(self.diverged)
        self.replay.popleft()
        self.calls = n
        return decode(name, response)

    def take(self) -> list[Row]:
        """Pending entries as the row (none or one) of the commit under way."""
        if not self.pending:
            return []
        body = "\n".join(f"{signature(name, args)}\n{encode(result, events)}"
                         for name, args, result, events in self.pending)
        row = (self.calls, self.calls - len(self.pending) + 1, body)
        self.pending = []
        return [row]

    def ack(self, upto: int) -> None:
        if upto > self.calls:
            raise VenueError(f"ack({upto}) is past the {self.calls} calls this venue has answered")
        keep = self.calls - upto
        self.pending = self.pending[len(self.pending) - keep:] if keep < len(self.pending) else self.pending


def _entries(rows: Iterable[Row]) -> Iterator[tuple[int, str, str]]:
    for last, first, body in rows:
        lines = body.split("\n")
        if len(lines) != 2 * (last - first + 1):
            raise VenueError(f"replay log row {first}..{last} is damaged: {len(lines)} lines")
        yield from zip(range(first, last + 1), lines[0::2], lines[1::2], strict=True)


def _short(sig: str, limit: int = 300) -> str:
    return sig if len(sig) <= limit else sig[:limit] + "..."
