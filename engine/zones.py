"""Zone names that zoneinfo finds on the machine rather than in the time zone database. A bar
time or a day boundary read in one would move from machine to machine, and a replay with it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

_HOST_ZONES = {
    "localtime": "the machine's own zone",
    "posixrules": "the machine's default rules for POSIX TZ strings",
    "Factory": "the placeholder of a machine with no zone set",
}
_HOST_PREFIXES = {
    "posix/": "a copy of the database some machines install",
    "right/": "a variant counting leap seconds that some machines install",
}


def host_zone(name: str) -> str:
    """What makes `name` depend on the machine, or "" for a database zone."""
    if name in _HOST_ZONES:
        return _HOST_ZONES[name]
    return next((why for prefix, why in _HOST_PREFIXES.items() if name.startswith(prefix)), "")


def database_name(name: str) -> str:
    """The database zone a machine's copy stands for (`posix/Europe/Paris`: `Europe/Paris`), or ""."""
    return name.partition("/")[2] if host_zone(name) and "/" in name else ""


UTC_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def utc(ts: float) -> datetime:
    """The UTC time of `ts` (seconds since the epoch), by arithmetic. datetime.fromtimestamp goes
    through the C library's gmtime, which on a host whose TZ is a `right/` zone counts leap
    seconds: every time read 27 s early, a bar at 07:00 taken for one in hour 6."""
    return UTC_EPOCH + timedelta(seconds=ts)
