"""Load and validate OHLCV bars from CSV (.csv, .csv.gz), feather and parquet.

Every frame returned has a UTC DatetimeIndex named `ts` holding each bar's
OPEN time (as in the source files); a bar is known only at `ts + interval`
(see engine.data.bars). Columns are lower-case open/high/low/close/volume,
plus bid/ask (each side's close) when the data has real quotes, and each side's own
open/high/low (bid_open .. ask_low, engine.data.quoted) when it has them. Anything unusable raises
DataError (`file:line:col: error DATA what is wrong`); gaps are warnings in
`df.attrs["warnings"]` (a list of Diagnostic) because markets close.
A CSV's place is its line in the file (the header is line 1, so the first bar is
line 2 unless blank lines come before it: what an editor jumps to); a feather or
parquet file has no lines, so there it is the bar's row, counted from 1. Problems
of the file as a whole (type, columns, no bars) are at line 1.
Naive times are UTC unless a zone is given (`tz`, the CLI's --tz): then they are that
zone's wall clock, DST included, converted to UTC.
"""
from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import math
import re
import zipfile
from contextlib import closing
from datetime import timedelta, timezone, tzinfo
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo, available_timezones

import numpy as np
import pandas as pd

from engine.data.bars import GRID_ORIGIN
from engine.data.errors import DataError, data_warning
from engine.zones import database_name, host_zone
from engine.data.quoted import SIDE_OHLC
from engine.data.timeframes import TimeframeError, infer_tf, parse_tf, tf_name
from engine.diagnostics import Diagnostic, Pos, Severity, closest

OHLC = ("open", "high", "low", "close")
# Preferred first; `unnamed: 0` (a CSV written with its index) is the last resort, because a
# plain row counter there would otherwise read as 1970 epoch seconds.
TIME_COLUMNS = ("ts", "timestamp", "timestamp_utc", "date", "datetime", "time", "open_time", "time_open",
                "opentime", "date_time", "unnamed: 0")
EARLIEST, LATEST = "1990-01-01", "2200-01-01"  # outside this a "timestamp" is a counter or a wrong unit
GAP_FACTOR = 3.0  # a gap wider than this many bar intervals is reported
# A market opens each bar where the last one closed, give or take a gap: the widest step in the
# bundled data is 1.19x (GOOG daily, overnight). A tenfold step is a price in other units (cents,
# pips, a x100 quote) or an unadjusted split, and OHLC sanity cannot see it when the whole bar is
# scaled, so it is refused rather than traded. Within a bar a tenfold range can be real (a
# listing's first minute), so only the step between bars is checked.
JUMP_FACTOR = 10.0
# Where every timeframe's grid starts: bars open at whole multiples of the timeframe after it.
_GRID_WHY = ("the engine resamples on that grid (1d bars open at midnight UTC), so a bar off it would be "
             "merged with later bars")
GRID_HINT = f"{_GRID_WHY}: re-stamp the file to its bars' opens on the grid, or pass the --tf its stamps fit"
_CSV = (".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")
HOUR, DAY, WEEK = pd.Timedelta(hours=1), pd.Timedelta(days=1), pd.Timedelta(days=7)
# A bar's date and its time of day in two columns, as MetaTrader exports them (2024.01.02, 13:05:00).
_DATE_ONLY = r"\d{4}([-./])\d{1,2}\1\d{1,2}"
_TIME_ONLY = r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
_EPOCH = r"[+-]?\d+(?:\.\d*)?"  # a timestamp written as a number (epoch s/ms/us/ns)
DATE_AND_TIME = "date + time"  # how messages name the two columns read as one
_MT_DATE = r"\d{4}\.\d{1,2}\.\d{1,2}"  # MetaTrader's own date format, 2024.01.02
# A fixed offset as --tz takes it: UTC+02:00, UTC+2, UTC-0530. IANA spells UTC+2 Etc/GMT-2, its sign
# reversed, which reads wrong; that name is accepted too, meaning what IANA says.
_FIXED_ZONE = re.compile(r"UTC([+-])(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)
MAX_OFFSET = timedelta(hours=14)  # the widest offset any zone has (Kiribati)
ZONE_EXAMPLES = "an IANA zone name such as Europe/Athens or America/New_York, or a fixed offset such as UTC+02:00"


def bar_line(path: Path, i: int) -> int:
    """Where the bar at 0-based position `i` is: its CSV line, else its row."""
    if not path.name.lower().endswith(_CSV):
        return i + 1
    st = path.stat()
    lines = _csv_lines(str(path), st.st_mtime_ns, st.st_size)
    return lines[i + 1] if i + 1 < len(lines) else i + 2


@lru_cache(maxsize=8)
def _csv_lines(path: str, _mtime: int, _size: int) -> tuple[int, ...]:
    """1-based line on which each record read_csv reads starts (header first): it skips blank ones."""
    return tuple(first for first, _, blank, _ in _records(Path(path)) if not blank)


def _parser_line(path: Path, n: int) -> int:
    """The file line of pandas' "line n": it counts lines, header and blank ones included, but
    not the line breaks inside a quoted field."""
    inside = 0
    for first, spans, _, _ in _records(path):
        if first - inside >= n:
            break
        inside += spans - 1
    return n + inside


def _parse_error(path: Path, text: str) -> DataError:
    """pandas' tokenizer error at the file's line: it says `line N` (lines read, header included) or,
    for a quote never closed, `row N` (records before it, header included)."""
    text = text.strip().removeprefix("Error tokenizing data. C error: ")
    quote = re.search(r"EOF inside string starting at row (\d+)", text)
    if quote:
        line = _parser_line(path, int(quote.group(1)) + 1)
        return DataError(str(path), line, "cannot parse CSV: a quote opened on this line is never closed",
                         "remove the stray quote character, or close the quoted field")
    m = re.search(r"line (\d+)", text)
    line = _parser_line(path, int(m.group(1))) if m else 1
    what = re.sub(r"line \d+", f"line {line}", text)
    return DataError(str(path), line, f"cannot parse CSV: {what}", "every row needs the same number of fields as the header")


def _records(path: Path) -> Iterator[tuple[int, int, bool, int]]:
    """(first line, lines spanned, blank, fields) of each record as csv reads them: a quoted field
    may span lines. Blank is what read_csv skips: a line of nothing but spaces and tabs (other than
    the separator). A row of empty fields (`,,,,,` or `""`) is read, as a bar of missing values."""
    sep, end, last = _separator(path), 0, [""]
    space = " \t\r\n".replace(sep, "")
    with _open_text(str(path)) as f:
        reader = csv.reader(_remembering(f, last), delimiter=sep)
        try:
            for fields in reader:
                spans = reader.line_num - end
                yield end + 1, spans, spans == 1 and not last[0].strip(space), len(fields)
                end = reader.line_num
        except csv.Error as e:  # a field past csv's limit (128 KiB): no bar has one
            raise DataError(str(path), end + 1, f"the record from this line on cannot be read as CSV ({e})",
                            "a field this long is a quote opened and never closed, or bytes that are not text "
                            "(the NUL bytes a crash while writing leaves): repair the file from this line") from None


def _remembering(lines: Iterator[str], last: list[str]) -> Iterator[str]:
    """`lines`, each kept in last[0] as it is read: csv.reader does not give a record's text."""
    for line in lines:
        last[0] = line
        yield line


def _open_text(path: str) -> Any:
    return io.TextIOWrapper(_open_bytes(path), encoding="utf-8", errors="replace", newline="")


def _open_bytes(path: str) -> Any:
    """A CSV's bytes as pandas reads them: decompressed, a zip's only member."""
    name = path.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            members = z.namelist()
            if len(members) != 1:
                raise DataError(path, 1, f"the zip holds {len(members)} files, not one",
                                "zip the bars file alone, or unzip it and import the file itself")
            return io.BytesIO(z.read(members[0]))
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(Path(name).suffix, open)
    return opener(path, "rb")


def _not_utf8(path: Path) -> DataError:
    """Where a CSV stops being UTF-8: the first line holding a byte that does not decode, and its
    character column (the decoder's own position counts bytes from a buffer pandas chose)."""
    with _open_bytes(str(path)) as f:
        for n, raw in enumerate(f, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as e:
                col = len(raw[:e.start].decode("utf-8")) + 1
                how = (f"iconv -f latin1 -t utf-8 {path.name} > utf8-{path.name}" if path.suffix.lower() == ".csv"
                       else "iconv -f latin1 -t utf-8 on the file uncompressed")
                return DataError(str(path), n, f"not UTF-8 text: byte 0x{raw[e.start]:02x} here does not decode",
                                 f"save the file as UTF-8 (a spreadsheet's \"CSV UTF-8\"), or convert it, e.g. {how}",
                                 col=col)
    return DataError(str(path), 1, "not UTF-8 text", "save the file as UTF-8")  # split across a read: no line


def parse_zone(text: str) -> tzinfo:
    """The zone --tz names: an IANA zone (DST included) or a fixed UTC+HH:MM offset. ValueError
    saying what is wrong, with a did-you-mean when a zone's name is close."""
    text = text.strip()
    fixed = _FIXED_ZONE.fullmatch(text)
    if fixed:
        sign, hours, minutes = fixed[1], int(fixed[2]), int(fixed[3] or 0)
        offset = (-1 if sign == "-" else 1) * timedelta(hours=hours, minutes=minutes)
        if minutes >= 60 or abs(offset) > MAX_OFFSET:
            raise ValueError(f"unknown time zone {text!r}: offsets run from UTC-14:00 to UTC+14:00")
        return timezone(offset)
    if why := host_zone(text):
        bare = database_name(text)
        raise ValueError(f"`{text}` is {why}, not a zone of the time zone database: the bars would be stored at other times on "
                         f"another machine; {f'write `{bare}`' if bare else f'give {ZONE_EXAMPLES}'}")
    try:
        return ZoneInfo(text)
    except (ValueError, KeyError, OSError):  # a bad key, no such zone, a folder of zones (Europe)
        raise ValueError(f"unknown time zone {text!r}: {_zone_hint(text)}") from None


def _zone_hint(text: str) -> str:
    if re.fullmatch(r"[+-]\d{1,2}(?::?\d{2})?", text):
        return f"did you mean `UTC{text}`?"
    names = available_timezones()
    by_case = {n.lower(): n for n in names}  # zone names are case-sensitive on Linux, not on macOS
    match = by_case.get(text.lower()) or closest(text, names)
    return f"did you mean `{match}`?" if match else f"give {ZONE_EXAMPLES}"


def load_bars(path: str | Path, symbol: str | None = None, tf: str | None = None,
              gap_factor: float = GAP_FACTOR, tz: str | None = None) -> pd.DataFrame:
    """`tz`: the zone of the file's naive times (parse_zone's spelling); None reads them as UTC."""
    path = Path(path)
    zone = parse_zone(tz) if tz is not None else None
    raw = read_table(path)
    warnings = _metatrader_warning(path, raw) if zone is None else []
    ts = _timestamps(raw, path, zone)
    if "volume" not in raw.columns and "tickvol" in raw.columns:  # MetaTrader's: its <VOL> is 0 off exchanges
        raw = raw.rename(columns={"tickvol": "volume"})
    cols = _numeric_columns(raw, path, [*OHLC, "volume", "bid", "ask", *SIDE_OHLC], required=OHLC)
    df = pd.DataFrame(cols, index=pd.DatetimeIndex(ts, name="ts"))
    _check_order(df.index, path)
    _check_ohlc(df, path)
    _check_jumps(df, path)
    check_sides(df, path)
    interval = _interval(df.index, tf, path)
    _check_weekly(interval, path)
    _check_grid(df.index, interval, path, zone)
    df.attrs.update(symbol=symbol, tf=tf_name(interval) if interval is not None else None,
                    source=str(path), warnings=warnings + _gaps(df.index, interval, gap_factor, path))
    return df


def _metatrader_warning(path: Path, raw: pd.DataFrame) -> list[Diagnostic]:
    """A MetaTrader export read as UTC, when its bars are in the broker's server time: it shows by
    its header (MT5's <DATE>) or its dates (2024.01.02). No other source is warned about: naive
    times are UTC in most exports, and a file's own times cannot tell which zone they are in."""
    dotted = "date" in raw.columns and raw["date"].astype(str).str.strip().str.fullmatch(_MT_DATE).all()
    if not dotted and "<date>" not in _header(path).lower():
        return []
    return [Diagnostic(Pos(str(path), 1, 1), Severity.WARNING, "DATA_TZ",
                       "a MetaTrader export, read as UTC: MetaTrader stamps bars in the broker's server time "
                       "(often UTC+2, UTC+3 in summer), so every bar may be stored hours off",
                       "pass the server's zone: --tz Europe/Athens for a UTC+2/+3 server, --tz UTC+02:00 for "
                       "one without daylight saving, --tz UTC for one that runs on UTC (no warning then)")]


def _interval(index: pd.DatetimeIndex, tf: str | None, path: Path) -> pd.Timedelta | None:
    """The bar interval: `tf` when given, which must be the data's own spacing. infer_tf does not
    let one stray step decide it, so an hourly file with a stray 10:01 bar matches --tf 1h and
    _check_grid refuses that bar at its line (a 1m suggestion would store hourly bars as 1m ones)."""
    inferred = infer_tf(index)
    if not tf:
        return inferred
    try:
        interval = parse_tf(tf)
    except TimeframeError as e:
        raise DataError(str(path), 1, str(e), "pass the data's bar interval") from None
    if inferred is not None and inferred != interval:
        n = int((np.diff(index.asi8) == inferred.value).sum())
        raise DataError(str(path), 1, f"timeframe {tf.strip()} does not match the data: its bars are "
                        f"{tf_name(inferred)} apart ({n} of {len(index) - 1} steps exactly, the rest gaps)",
                        f"use --tf {tf_name(inferred)} (or resample the file first)")
    return interval


def load_bid_ask(bid_path: str | Path, ask_path: str | Path, symbol: str | None = None,
                 tf: str | None = None, tz: str | None = None) -> pd.DataFrame:
    """Merge separate bid and ask bar files: mid OHLC, the closing bid/ask, and each side's own
    open/high/low (see _sides)."""
    _check_two_files(Path(bid_path), Path(ask_path))
    bid = load_bars(bid_path, symbol, tf, tz=tz)
    ask = load_bars(ask_path, symbol, tf, tz=tz)
    if not bid.index.equals(ask.index):
        row = _first_mismatch(bid.index, ask.index)
        raise DataError(str(ask_path), bar_line(Path(ask_path), row),
                        f"timestamp differs from {Path(bid_path).name} at this bar",
                        "bid and ask files must cover the same bars, row for row")
    b, a = bid["close"].to_numpy(), ask["close"].to_numpy()
    crossed = np.flatnonzero(a < b)
    _check_swapped(crossed, len(b), Path(bid_path), Path(ask_path))
    _check_spread(b, a, Path(bid_path), Path(ask_path))
    warnings = list(bid.attrs["warnings"])
    if crossed.size:  # real FXCM bid and ask bars are sampled separately: ~1-2% close crossed
        warnings.append(data_warning(str(ask_path), bar_line(Path(ask_path), int(crossed[0])),
                                     f"{crossed.size} bar(s) close with ask below bid; using the wider side "
                                     "as ask (the quote is never narrowed)", code="DATA_CROSSED"))
    df = (bid[list(OHLC)] + ask[list(OHLC)]) / 2.0
    df["volume"] = bid["volume"] if "volume" in bid else 0.0
    df["bid"], df["ask"] = np.minimum(b, a), np.maximum(b, a)
    for name, values in _sides(bid, ask).items():
        df[name] = values
    df.attrs.update(bid.attrs, warnings=warnings)
    return df


def _sides(bid: pd.DataFrame, ask: pd.DataFrame) -> dict[str, np.ndarray]:
    """Each side's open, high and low. Bid and ask bars are sampled apart (see the crossed-close
    warning), so an open, like a close, can be crossed: the wider side is the ask there, as at the
    close. Each side's high and low are its own, which may cross the other's (they happen at other
    instants), widened only to hold that side's open and close: low <= open, close <= high."""
    b_open, a_open = bid["open"].to_numpy(), ask["open"].to_numpy()
    b_close, a_close = bid["close"].to_numpy(), ask["close"].to_numpy()
    bid_open, ask_open = np.minimum(b_open, a_open), np.maximum(b_open, a_open)
    bid_close, ask_close = np.minimum(b_close, a_close), np.maximum(b_close, a_close)
    return {"bid_open": bid_open,
            "bid_high": np.maximum.reduce([bid["high"].to_numpy(), bid_open, bid_close]),
            "bid_low": np.minimum.reduce([bid["low"].to_numpy(), bid_open, bid_close]),
            "ask_open": ask_open,
            "ask_high": np.maximum.reduce([ask["high"].to_numpy(), ask_open, ask_close]),
            "ask_low": np.minimum.reduce([ask["low"].to_numpy(), ask_open, ask_close])}


def check_sides(df: pd.DataFrame, source: str | Path) -> None:
    """A frame's quotes, when it has any: the closing bid and ask together (check_quotes), and the
    bid/ask open/high/low all six or none, each side a bar (low <= open, close <= high). Nothing
    across the sides' extremes: a bid high above the ask high, or a bid low above the ask low, is
    real (the two extremes happen at other instants)."""
    path = Path(source)
    check_quotes(df, path)
    have = [c for c in SIDE_OHLC if c in df.columns]
    if not have:
        return
    missing = [c for c in (*SIDE_OHLC, "bid", "ask") if c not in df.columns]
    if missing:
        raise DataError(str(path), 1, f"bid/ask columns {', '.join(have)} without {', '.join(missing)}",
                        f"give all of {', '.join(SIDE_OHLC)}, bid and ask (each side's close), or none of them")
    for side in ("bid", "ask"):
        o, h, lo, c = (df[k].to_numpy() for k in (f"{side}_open", f"{side}_high", f"{side}_low", side))
        bad = np.flatnonzero(~((o > 0) & (c > 0) & (lo > 0) & (lo <= np.minimum(o, c)) & (h >= np.maximum(o, c))))
        if bad.size:
            i = int(bad[0])
            raise DataError(str(path), bar_line(path, i),
                            f"{side} sanity: {side}_low <= {side}_open, {side} (its close) <= {side}_high fails "
                            f"or a price is not positive ({side}_open={o[i]:g} {side}_high={h[i]:g} "
                            f"{side}_low={lo[i]:g} {side}={c[i]:g})",
                            "each side's open and close lie within its own low and high, all prices > 0")


def check_quotes(df: pd.DataFrame, path: Path) -> None:
    """The closing bid and ask the paper venue prices from: both or neither, positive, not crossed,
    and touching the bar's range. A quote that fails would fill orders at prices the market never
    showed: a crossed one buys below the mid."""
    have = [c for c in ("bid", "ask") if c in df.columns]
    if len(have) == 1:
        other = "ask" if have == ["bid"] else "bid"
        raise DataError(str(path), 1, f"column `{have[0]}` without `{other}`",
                        "give the closing bid and ask together, or neither (a spread model prices the bars)")
    if not have:
        return
    b, a = df["bid"].to_numpy(), df["ask"].to_numpy()
    lo, h = df["low"].to_numpy(), df["high"].to_numpy()
    checks = ((~((b > 0) & (a > 0)), "a quote is not positive", "bid and ask are prices, > 0"),
              (b > a, "bid is above ask (a crossed quote)", _CROSSED_HINT),
              ((b > h) | (a < lo), "the quote lies outside the bar's low..high",
               "bid <= high and ask >= low: is the quote in another unit or of another market?"),
              # The venue prices a bar's other prices (its open) at the mid less half this spread: a
              # half spread that reaches the bar's low sells at or below zero. Not a bound on how wide
              # a quote may be (a coin at 1 satoshi quotes 1-2, an option wider): on what no fill can be.
              ((a - b) / 2 >= lo, "the quote's half spread reaches the bar's low: a sell priced from it would "
               "be at or below zero", "is a side in other units, shifted by a row, or of another market? "
               "Repair the row"))
    first = [(int(np.flatnonzero(mask)[0]), k) for k, (mask, _, _) in enumerate(checks) if mask.any()]
    if not first:
        return
    i, k = min(first)
    _, what, hint = checks[k]
    raise DataError(str(path), bar_line(path, i), f"{what} (bid={b[i]:g} ask={a[i]:g} low={lo[i]:g} "
                    f"high={h[i]:g})", hint)


_CROSSED_HINT = ("a single file's bid and ask are one snapshot, bid <= ask; bid and ask sampled apart "
                 "are imported as two files (FILE --ask ASK_FILE), which takes the wider side")


def _check_swapped(crossed: np.ndarray, bars: int, bid_path: Path, ask_path: Path) -> None:
    """Most bars crossed is not the few-percent sampling quirk but a bid file given as the ask."""
    if 2 * crossed.size <= bars:
        return
    raise DataError(str(ask_path), bar_line(ask_path, int(crossed[0])),
                    f"{crossed.size} of {bars} bars close with ask below bid",
                    f"the files look swapped: FILE is the bid file and --ask the ask file "
                    f"(try {ask_path.name} --ask {bid_path.name})", code="DATA_CROSSED")


def _check_two_files(bid_path: Path, ask_path: Path) -> None:
    """The bid file given as its own ask would be quotes with no spread: every fill at the bid."""
    if bid_path.exists() and ask_path.exists() and bid_path.samefile(ask_path):
        raise DataError(str(ask_path), 1, f"the ask file is the bid file {bid_path.name} itself",
                        "FILE is the bid bars and --ask the ask bars of the same market: give the ask file "
                        "(or drop --ask: a spread model prices bars without quotes)")


def _check_spread(b: np.ndarray, a: np.ndarray, bid_path: Path, ask_path: Path) -> None:
    """No bar whose ask closes above its bid is no spread anywhere: the same prices twice (a copy
    of the bid file), not an ask file, and every fill at the bid."""
    if (a > b).any():
        return
    raise DataError(str(ask_path), 1, f"no bar of {len(b)} closes with ask above bid ({int((a == b).sum())} close "
                    f"equal to {bid_path.name}'s): the quotes would have no spread anywhere",
                    "give the market's ask bars as --ask (is this file a copy of the bid file?), or drop --ask "
                    "(a spread model prices bars without quotes)")


def first_off_grid(index: pd.DatetimeIndex, interval: pd.Timedelta) -> int | None:
    """0-based position of the first bar whose open is not on the timeframe's grid: whole
    multiples of the interval after GRID_ORIGIN (a 1d bar opens at midnight UTC), the bins of
    engine.data.resample. An off-grid bar would be binned with later bars."""
    off = np.flatnonzero((index.as_unit("ns").asi8 - GRID_ORIGIN.value) % interval.value)
    return int(off[0]) if off.size else None


def grid_message(ts: pd.Timestamp, interval: pd.Timedelta, local: str = "") -> str:
    """What is wrong with an off-grid bar open `ts` (for the loader and the store); `local` is
    how the file wrote it, when that was in another zone."""
    on = ts - (ts - GRID_ORIGIN) % interval
    past = str(ts - on).removeprefix("0 days ")
    return (f"bar time {ts}{local} is not on the {tf_name(interval)} grid: it is {past} after {on}; "
            f"{tf_name(interval)} bars open at whole multiples of {tf_name(interval)} since "
            f"{GRID_ORIGIN:%Y-%m-%d %H:%M} UTC")


def _check_grid(index: pd.DatetimeIndex, interval: pd.Timedelta | None, path: Path, zone: tzinfo | None) -> None:
    i = first_off_grid(index, interval) if interval is not None else None
    if i is None:
        return
    local = f" ({index[i].tz_convert(zone):%Y-%m-%d %H:%M} in {zone})" if zone is not None else ""
    if zone is not None and first_off_grid(_wall(index, zone), interval) is None:
        hint = _zone_grid_hint(index, interval, zone)
    else:
        hint = _session_hint(index) if interval % DAY == pd.Timedelta(0) else GRID_HINT
        hint = _stray_hint(index, interval) if hint is GRID_HINT else hint
    raise DataError(str(path), bar_line(path, i), grid_message(index[i], interval, local), hint)


def _stray_hint(index: pd.DatetimeIndex, interval: pd.Timedelta) -> str:
    """Few bars off a grid the rest are on are stray rows (extra or mis-stamped): the --tf their
    stamps fit would store every other bar as a far shorter one, so only they are to be fixed."""
    off = int(np.count_nonzero((index.as_unit("ns").asi8 - GRID_ORIGIN.value) % interval.value))
    if 2 * off >= len(index):
        return GRID_HINT
    are = "is" if off == 1 else "are"
    return (f"{_GRID_WHY}: {off} of the file's {len(index)} bars {are} off it and the rest on it, so those "
            "are stray rows (extra or mis-stamped): re-stamp or drop them")


def _wall(index: pd.DatetimeIndex, zone: tzinfo) -> pd.DatetimeIndex:
    """The bars' times on `zone`'s clock, as the file wrote them."""
    return index.tz_convert(zone).tz_localize(None).as_unit("ns")


def _zone_grid_hint(index: pd.DatetimeIndex, interval: pd.Timedelta, zone: tzinfo) -> str:
    """Bars on the grid of their own zone (its midnights, its 4h) are that zone's bars: re-stamped
    to the UTC grid they would carry other hours' prices. Bars of a timeframe dividing both the
    interval and the zone's offsets convert onto the grid (at most 1h: a zone's offset changes with
    daylight saving, by an hour, in bars the file does not hold), and the engine builds the rest."""
    offsets = [int(o) for o in np.unique(_wall(index, zone).asi8 - index.asi8)]
    shorter = tf_name(pd.Timedelta(math.gcd(interval.value, HOUR.value, *offsets)))
    tf = tf_name(interval)
    return (f"the bars open on the {tf} grid in {zone} time, which is {' or '.join(map(_utc_offset, offsets))} "
            f"in this file, not on the engine's UTC grid, so re-stamping them would mislabel every bar's prices: "
            f"import the same market's {shorter} bars instead (with the same --tz), from which the engine builds "
            f"{tf} bars on its grid")


def _utc_offset(ns: int) -> str:
    minutes = ns // 60_000_000_000
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'-' if minutes < 0 else '+'}{hours}{f':{rest:02d}' if rest else ''}"


def _check_weekly(interval: pd.Timedelta | None, path: Path) -> None:
    """Weeks on the grid start on Thursdays (1970-01-01's weekday), where resample bins them, and
    no source's weeks do: a Monday-stamped file would be refused with advice to re-stamp it, and
    a re-stamped one would not hold the weeks a run resamples."""
    if interval is not None and interval % WEEK == pd.Timedelta(0):
        raise DataError(str(path), 1, f"weekly bars ({tf_name(interval)}) cannot be imported: the engine's "
                        f"weeks start on Thursday, the weekday of its grid's origin {GRID_ORIGIN:%Y-%m-%d}, "
                        "not on the Monday or Sunday a source's weeks start",
                        "import the daily or intraday bars the weeks were built from")


def _session_hint(index: pd.DatetimeIndex) -> str:
    """Daily bars all stamped at one time of day (two, an hour apart: a daylight-saving shift)
    are a session's days, not UTC days: re-stamping each to midnight would mislabel its prices."""
    times = sorted((index - index.normalize()).unique())
    one_session = 0 < len(times) <= 2 and times[0] > pd.Timedelta(0) and times[-1] - times[0] <= pd.Timedelta(hours=1)
    if not one_session:
        return GRID_HINT
    at = " or ".join(f"{str(t).removeprefix('0 days ')[:5]}" for t in times)
    return (f"every bar is stamped at {at} UTC, a trading session's day (a 17:00 New York close is 22:00 UTC, "
            "21:00 in summer), while the store keeps days that open at midnight UTC, so re-stamping would "
            "mislabel every bar's prices: import the same market's intraday bars (1h, 1m) instead, from which "
            "the engine builds UTC days")


def load_funding(path: str | Path, symbol: str | None = None) -> pd.DataFrame:
    """Funding rates (column `rate`), one row per funding time, floored to the minute."""
    path = Path(path)
    raw = read_table(path)
    ts = _timestamps(raw, path).floor("min")
    rate_col = next((c for c in ("rate", "funding_rate", "open") if c in raw.columns), None)
    if rate_col is None:
        raise DataError(str(path), 1, "no funding rate column", "expected `rate`, `funding_rate` or `open`")
    rate = _numeric_columns(raw.rename(columns={rate_col: "rate"}), path, ["rate"], required=("rate",))
    df = pd.DataFrame(rate, index=pd.DatetimeIndex(ts, name="ts"))
    _check_order(df.index, path)
    df.attrs.update(symbol=symbol, source=str(path), warnings=[])
    return df


def read_table(path: Path) -> pd.DataFrame:
    """The file as a frame with lower-case column names; a datetime index becomes a column.
    A file without a single bar is an error: importing nothing must not look like success."""
    if not path.exists():
        raise DataError(str(path), 1, "file not found", "check the path (bundled data: engine data list --bundled)")
    if path.is_dir():
        raise DataError(str(path), 1, "is a folder, not a bars file", "name a .csv, .feather or .parquet file")
    try:
        df = _read(path)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        df = pd.DataFrame()
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except pd.errors.ParserError as e:
        raise _parse_error(path, str(e)) from None
    except (OSError, ValueError, EOFError, lzma.LZMAError, zipfile.BadZipFile) as e:
        raise DataError(str(path), 1, f"cannot read file: {e}",
                        "is it a complete, uncorrupted CSV/feather/parquet file?") from None
    if df.empty:
        raise DataError(str(path), 1, "no bars: the file has no data rows",
                        "export the bars again; a header alone imports nothing")
    if isinstance(df.index, pd.DatetimeIndex):
        _check_index_column(path, [str(c) for c in df.columns])
        df = df.reset_index(names="ts")
    _check_distinct(path, [str(c) for c in df.columns])
    df.columns = [_column_key(c) for c in df.columns]
    return df


def _column_key(name: object) -> str:
    """A column's name as the loader matches it: `Close`, ` close ` and MetaTrader's <CLOSE> are `close`."""
    return str(name).lstrip("\ufeff").strip().strip("<>").lower()


def _check_distinct(path: Path, columns: list[str]) -> None:
    """Two columns of one name as the loader matches names (`close` and `Close`) are one column to
    it: which holds the bars is a guess, so the file is refused at the second one's header cell."""
    header = _header_fields(path)
    known = set(TIME_COLUMNS) | set(OHLC) | {"volume"}
    if sum(_is_number(h) for h in header) >= 2 and not known & {_column_key(h) for h in header}:
        # a Binance kline file, say: its first line is a bar (a header may name extra columns `1`, `2`)
        raise DataError(str(path), 1, "the first line holds numbers, not column names: the file has no header",
                        "add a header line naming the columns, e.g. timestamp,open,high,low,close,volume "
                        "(extra columns may keep any name)")
    names = header if len(header) == len(columns) else columns  # pandas renames a repeated name `close.1`
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        key = _column_key(name)
        if not key:  # pandas names each empty header cell apart (`unnamed: 3`)
            continue
        if key not in seen:
            seen[key] = i
            continue
        first = names[seen[key]]
        what = (f"the header names column `{name}` twice" if first == name else
                f"columns `{first}` and `{name}` are the same column (names are matched case-insensitively"
                + (")" if first.lower() == name.lower() else ", without spaces and MetaTrader's <>)"))
        raise DataError(str(path), bar_line(path, -1), what,
                        f"rename or drop one of them: the engine reads one `{key}` column and cannot tell "
                        "which of the two is meant", col=_header_col(path, header, i))


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))  # `NaN` and `inf` name columns as well as numbers
    except ValueError:
        return False


def _check_index_column(path: Path, columns: list[str]) -> None:
    """A datetime index is read as column `ts`, so a column of that name is a second bar time."""
    name = next((c for c in columns if _column_key(c) == "ts"), None)
    if name is not None:
        raise DataError(str(path), 1, f"the file's datetime index is read as column `ts` and it has a column "
                        f"`{name}` too (names are matched case-insensitively)",
                        "drop or rename that column, or store the bar time only once")


def _header_fields(path: Path) -> list[str]:
    """A CSV header's names as written (pandas renames a repeat); [] for a feather or parquet file."""
    header = _header(path).lstrip("\ufeff").rstrip("\r\n")
    return next(csv.reader([header], delimiter=_separator(path)), []) if header else []


def _header_col(path: Path, fields: list[str], i: int) -> int:
    """The 1-based character column of header field `i`; 1 when quotes make it a guess."""
    if not fields or '"' in _header(path):
        return 1
    return sum(len(f) + 1 for f in fields[:i]) + 1


def _read(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if name.endswith(_CSV):
        return _read_csv(path)
    if name.endswith((".feather", ".arrow")):
        return pd.read_feather(path)
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    raise DataError(str(path), 1, "unknown file type", "use .csv, .csv.gz, .feather or .parquet")


def _read_csv(path: Path) -> pd.DataFrame:
    """index_col=False: rows with more fields than the header would make read_csv take their
    first field as an index and shift every column's values one to the left. An extra field at
    the rows' end (a trailing comma) is dropped when it is empty in every row, else refused."""
    sep = _separator(path)
    names, extra = _extra_fields(path)
    if names < 2:  # a header read as one column is another separator's file: _no_time_hint says so
        return pd.read_csv(path, sep=sep)
    if extra > 0:
        _check_extra_empty(path, pd.read_csv(path, sep=sep, dtype=str), names, extra)
    return pd.read_csv(path, sep=sep, index_col=False, usecols=range(names) if extra > 0 else None)


def _extra_fields(path: Path) -> tuple[int, int]:
    """The header's fields, and how many more the first row has: read_csv sizes the frame by them."""
    with closing(_records(path)) as records:
        widths = list(islice((width for _, _, blank, width in records if not blank), 2))
    return (widths[0], widths[1] - widths[0]) if len(widths) == 2 else (0, 0)


def _check_extra_empty(path: Path, shifted: pd.DataFrame, names: int, extra: int) -> None:
    """`shifted`: read_csv's frame (as text) with `extra` fields taken as its index, so each row's
    last `extra` fields are its last columns. A value there has no column to go in: refuse its row."""
    tail = shifted.iloc[:, -min(extra, names):].fillna("")
    held = tail.apply(lambda col: col.str.strip() != "").any(axis=1).to_numpy()
    if extra >= names:  # more extra fields than names: some are in the index, not a trailing comma
        held = np.ones(len(tail), dtype=bool)
    if not held.any():
        return
    i = int(np.flatnonzero(held)[0])
    more = "one more field" if extra == 1 else f"{extra} more fields"
    raise DataError(str(path), bar_line(path, i), f"row has {more} than the header ({names} names): "
                    f"{', '.join(map(_show, tail.iloc[i]))} at its end has no column",
                    "the header names fewer columns than the rows hold: name the missing one (a row-number "
                    "column's is a leading comma), or remove the extra field (a trailing separator is read when "
                    "every row has it and nothing after it)")


def _separator(path: Path) -> str:
    """Tabs when the header has tabs and no comma (MetaTrader's export), else commas. Not a
    semicolon: such files often write decimal commas, and _no_time_hint says to convert them."""
    header = _header(path)
    return "\t" if "\t" in header and "," not in header else ","


def _header(path: Path) -> str:
    """A CSV's first line that is not blank; "" for a feather or parquet file."""
    if not path.name.lower().endswith(_CSV):
        return ""
    with _open_text(str(path)) as f:
        return next((line for line in f if line.strip()), "")


def _timestamps(raw: pd.DataFrame, path: Path, zone: tzinfo | None = None) -> pd.DatetimeIndex:
    raw = _joined_date_and_time(raw)
    col = next((c for c in (DATE_AND_TIME, *TIME_COLUMNS) if c in raw.columns), None)
    if col is None:
        raise DataError(str(path), 1, f"no timestamp column among {list(raw.columns)}", _no_time_hint(raw))
    values = raw[col]
    ts = _parse_times(values)
    bad = np.flatnonzero(ts.isna().to_numpy())
    if bad.size:
        _check_forms(values, col, path)
        i = int(bad[0])
        raise DataError(str(path), bar_line(path, i), f"cannot parse timestamp {_show(values.iloc[i])} in column `{col}`",
                        "use ISO 8601 (2024-01-31 13:05:00, UTC unless an offset is given) or epoch s/ms/us/ns")
    _check_convention(values, col, path)
    _check_range(pd.DatetimeIndex(ts), raw, col, path)
    index = pd.DatetimeIndex(ts).as_unit("ns")
    _check_twins(raw, col, index, path)
    return index if zone is None else _in_zone(index, values, col, zone, path)


def _check_forms(values: pd.Series, col: str, path: Path) -> None:
    """A column of both epoch numbers and written-out times is read one way, which garbles the other
    form: refuse at the first row of the rarer form (the likelier slip), saying the two are mixed."""
    present = values.notna().to_numpy()
    epoch = values.astype(str).str.strip().str.fullmatch(_EPOCH).to_numpy(dtype=bool) & present
    written = present & ~epoch
    if not epoch.any() or not written.any():
        return
    tie = epoch.sum() == written.sum()
    rare_epoch = bool(epoch.sum() < written.sum() or (tie and written[np.flatnonzero(present)[0]]))
    rare = epoch if rare_epoch else written
    i, others = int(np.flatnonzero(rare)[0]), int((written if rare_epoch else epoch).sum())
    this, other = (("an epoch number", "written-out times") if rare_epoch else
                   ("a written-out time", "epoch numbers"))
    raise DataError(str(path), bar_line(path, i), f"column `{col}` mixes epoch numbers and written-out times: "
                    f"timestamp {_show(values.iloc[i])} is {this}, while {others} of its {int(present.sum())} "
                    f"timestamps are {other}",
                    "write every timestamp one way: ISO 8601 (2024-01-31 13:05:00) or epoch s/ms/us/ns, not both")


def _in_zone(wall: pd.DatetimeIndex, values: pd.Series, col: str, zone: tzinfo, path: Path) -> pd.DatetimeIndex:
    """Naive times (read as UTC: `wall` holds their wall clock) read in `zone`, in UTC. A time
    the zone skips, or one it has twice that the file's order cannot place, is refused."""
    _check_naive(values, col, zone, path)
    local = wall.tz_localize(None)
    skipped = np.flatnonzero(local.tz_localize(zone, ambiguous=np.zeros(len(local), bool), nonexistent="NaT").isna())
    if skipped.size:
        i = int(skipped[0])
        raise DataError(str(path), bar_line(path, i), f"bar time {local[i]} does not exist in {zone} (its "
                        "clocks skip that hour that day)",
                        f"the file's clock did not skip it, so it is not {zone} time: pass the zone whose "
                        "daylight-saving dates the file follows, or a fixed offset such as UTC+02:00")
    try:  # a sorted file holds a repeated hour twice, the summer one first: pandas places them so
        return local.tz_localize(zone, ambiguous="infer").tz_convert("UTC").as_unit("ns")
    except ValueError:
        twice = local.tz_localize(zone, ambiguous="NaT").isna()
        unplaced = np.flatnonzero(twice & ~local.duplicated(keep=False))
        i = int(unplaced[0] if unplaced.size else np.flatnonzero(twice)[0])
        raise DataError(str(path), bar_line(path, i), f"bar time {local[i]} happens twice in {zone} (its clocks "
                        "go back that day) and the file does not show which of the two it is",
                        "a file in that zone holds the repeated times twice, in order: check --tz, or remove "
                        "this bar") from None


def _check_naive(values: pd.Series, col: str, zone: tzinfo, path: Path) -> None:
    """--tz gives naive times their zone: epoch numbers and times with an offset have one already,
    and which of the two was meant is a guess. (A file mixing them was refused already.)"""
    line = bar_line(path, 0)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        raise DataError(str(path), line, f"timestamps in column `{col}` are epoch numbers, which count from "
                        f"1970-01-01 UTC: --tz {zone} has no local times to read", "drop --tz")
    typed = isinstance(values.dtype, pd.DatetimeTZDtype)
    if typed or (not pd.api.types.is_datetime64_any_dtype(values) and _has_offset(values.iloc[:1])[0]):
        first = f"'{values.iloc[0]}'" if typed else _show(values.iloc[0])
        raise DataError(str(path), line, f"timestamp {first} in column `{col}` has a UTC offset and --tz {zone} "
                        "was given: which one holds is ambiguous",
                        "drop --tz (an offset says its zone), or remove the offsets from the file")


def _joined_date_and_time(raw: pd.DataFrame) -> pd.DataFrame:
    """`date` holding only dates and `time` only times of day (a MetaTrader export) as one bar
    time column: read apart, `date` would be every bar's midnight and `time` today's."""
    if "date" not in raw.columns or "time" not in raw.columns:
        return raw
    date, time = raw["date"].astype(str).str.strip(), raw["time"].astype(str).str.strip()
    if not (date.str.fullmatch(_DATE_ONLY).all() and time.str.fullmatch(_TIME_ONLY).all()):
        return raw
    joined = date.str.replace(r"[./]", "-", regex=True) + " " + time
    return raw.drop(columns=["date", "time"]).assign(**{DATE_AND_TIME: joined})


def _no_time_hint(raw: pd.DataFrame) -> str:
    """A header read as one column is a file separated by something other than commas."""
    names = [str(c) for c in raw.columns]
    sep = next((s for s in (";", "\t", "|") if len(names) == 1 and s in names[0]), None)
    if sep is not None:
        return (f"the header reads as one column: the file looks separated by {sep!r}, not commas; "
                "save it as a comma-separated CSV")
    return f"name it one of {', '.join(TIME_COLUMNS[:5])}"


def _parse_times(values: pd.Series) -> pd.Series:
    """UTC times, NaT where a cell is none; numbers are epoch times of the unit their size says."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return pd.to_datetime(values, unit=_epoch_unit(values), utc=True, errors="coerce")
    return pd.to_datetime(values, utc=True, errors="coerce", format="ISO8601")


# A time of day followed by a UTC offset or zone letter: 00:01:00-05:00, 00:01Z, 00:01:00 +0000, 00:01 UTC,
# and in ISO 8601's basic format too: 20180110T065500+0200, 20180110T0655Z.
_OFFSET = r"(?:\d:\d{2}(?::\d{2})?|t\d{4}(?:\d{2})?)(?:[.,]\d*)?\s*(?:z|utc|gmt|[+-]\d{2}(?::?\d{2})?)$"


def _check_convention(values: pd.Series, col: str, path: Path) -> None:
    """Naive times are read as UTC and offset ones converted, so a file mixing them mixes two
    clocks (its bars jump by the offset): refuse at the first row unlike the first one."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return  # epoch numbers and typed times have one convention
    aware = _has_offset(values)
    flip = np.flatnonzero(aware != aware[0])
    if not flip.size:
        return
    i = int(flip[0])
    first = f"the first ({_show(values.iloc[0])}, line {bar_line(path, 0)})"
    what = (f"has a UTC offset, but {first} has none" if aware[i]
            else f"has no UTC offset (it would be read as UTC), but {first} has one")
    raise DataError(str(path), bar_line(path, i), f"timestamp {_show(values.iloc[i])} in column `{col}` {what}",
                    "give every timestamp an offset, or none (read as UTC): mixed, the bars would jump by the "
                    "offset")


def _has_offset(values: pd.Series) -> np.ndarray:
    return values.astype(str).str.strip().str.contains(_OFFSET, case=False, regex=True).to_numpy(dtype=bool)


def _check_twins(raw: pd.DataFrame, col: str, ts: pd.DatetimeIndex, path: Path) -> None:
    """A second time column that disagrees with the one read: which is the bar time is a guess."""
    for other in (c for c in TIME_COLUMNS[:-1] if c in raw.columns and c != col):
        differ = np.flatnonzero(pd.DatetimeIndex(_parse_times(raw[other])) != ts)  # NaT differs from every time
        if differ.size:
            i = int(differ[0])
            raise DataError(str(path), bar_line(path, i), f"columns `{col}` and `{other}` both look like the bar "
                            f"time and differ here ({_show(raw[col].iloc[i])} vs {_show(raw[other].iloc[i])}): "
                            "which one is meant is ambiguous",
                            f"drop or rename the column that is not the bar time (`{col}` is read when alone)")


def _epoch_unit(values: pd.Series) -> str:
    """Epoch seconds, ms, µs or ns, by magnitude: now is ~1.7e9 s, 1.7e12 ms, 1.7e15 µs, 1.7e18 ns.
    The median's: one row in another unit then reads outside 1990..2200 and is named, not every
    other row (the maximum's unit misread them all)."""
    mid = float(values.abs().median())
    return "s" if mid < 1e11 else "ms" if mid < 1e14 else "us" if mid < 1e17 else "ns"


def _check_range(ts: pd.DatetimeIndex, raw: pd.DataFrame, col: str, path: Path) -> None:
    """Times before 1990 or after 2200 are not market data: a row counter, or a wrong unit."""
    out = np.flatnonzero((ts < pd.Timestamp(EARLIEST, tz="UTC")) | (ts >= pd.Timestamp(LATEST, tz="UTC")))
    if not out.size:
        return
    i = int(out[0])
    others = [c for c in raw.columns if c != col and ("time" in c or "date" in c)]
    hint = (f"column `{others[0]}` looks like the time; name it `timestamp` (or drop `{col}`)" if others
            else "use ISO 8601 times, or epoch seconds/ms/us/ns since 1970")
    when = ts[i]
    day = f"{when:%Y-%m-%d}" if 1 <= when.year <= 9999 else f"in the year {when.year}"  # strftime's range
    raise DataError(str(path), bar_line(path, i), f"timestamp {_show(raw[col].iloc[i])} in column `{col}` is "
                    f"{day}, outside {EARLIEST} .. {LATEST}", hint)


def _show(value: Any) -> str:
    """A cell as the file shows it, not as numpy spells it (np.float64(nan))."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _numeric_columns(raw: pd.DataFrame, path: Path, wanted: list[str],
                     required: tuple[str, ...]) -> dict[str, np.ndarray]:
    missing = [c for c in required if c not in raw.columns]
    if missing:
        raise DataError(str(path), 1, f"missing column(s) {', '.join(missing)} (have {list(raw.columns)})",
                        "column names are matched case-insensitively")
    out: dict[str, np.ndarray] = {}
    for c in wanted:
        if c not in raw.columns:
            continue
        values = pd.to_numeric(raw[c], errors="coerce").to_numpy(dtype="float64")
        if c == "volume" and raw[c].isna().all():
            values = np.zeros(len(values))  # e.g. mark-price files carry an empty volume column
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            raise DataError(str(path), bar_line(path, i), f"`{c}` is missing or not a number ({_show(raw[c].iloc[i])})",
                            "drop or repair the row; bars are never filled in silently")
        out[c] = values
    return out


def check_values(df: pd.DataFrame, path: Path) -> None:
    """The checks of a file's prices, for bars read back from somewhere the import checked once
    (a stored day): a file edited or damaged since would otherwise trade a price of 0, or inf."""
    for c in (*OHLC, "volume", "bid", "ask", *SIDE_OHLC):
        if c in df.columns:
            bad = np.flatnonzero(~np.isfinite(df[c].to_numpy(dtype="float64")))
            if bad.size:
                i = int(bad[0])
                raise DataError(str(path), bar_line(path, i), f"`{c}` is not a number ({df[c].iloc[i]})",
                                "the file was changed after it was imported: import the source file again")
    _check_ohlc(df, path)
    _check_jumps(df, path)
    check_sides(df, path)


def _check_order(index: pd.DatetimeIndex, path: Path) -> None:
    step = np.diff(index.asi8)
    back = np.flatnonzero(step < 0)
    if back.size:
        i = int(back[0]) + 1
        raise DataError(str(path), bar_line(path, i),
                        f"timestamp {index[i]} goes back in time (the bar before is {index[i - 1]})",
                        "sort the file by time")
    dup = np.flatnonzero(step == 0)
    if dup.size:
        i = int(dup[0]) + 1
        raise DataError(str(path), bar_line(path, i), f"duplicate timestamp {index[i]} (same as {_where(path)} "
                        f"{bar_line(path, i - 1)})",
                        "keep one bar per timestamp")


def _check_ohlc(df: pd.DataFrame, path: Path) -> None:
    o, h, lo, c = (df[k].to_numpy() for k in OHLC)
    checks = (
        (~((o > 0) & (h > 0) & (lo > 0) & (c > 0)), "prices must be positive"),
        (lo > np.minimum(o, c), "low is above open or close"),
        (h < np.maximum(o, c), "high is below open or close"),
    )
    # The first bad bar, and its first problem in the order above (a negative open is "not positive").
    first = [(int(np.flatnonzero(mask)[0]), k, what) for k, (mask, what) in enumerate(checks) if mask.any()]
    volume = df["volume"].to_numpy() if "volume" in df else np.zeros(len(df))
    negative = np.flatnonzero(volume < 0)
    if first and (not negative.size or min(first)[0] <= negative[0]):
        i, _, what = min(first)
        raise DataError(str(path), bar_line(path, i), f"OHLC sanity: {what} "
                        f"(open={o[i]:g} high={h[i]:g} low={lo[i]:g} close={c[i]:g})",
                        "low <= open, close <= high and all prices > 0")
    if negative.size:
        i = int(negative[0])
        raise DataError(str(path), bar_line(path, i), f"volume is negative (volume={volume[i]:g})",
                        "a bar's volume is what traded in it, 0 or more (0 when the source has none): "
                        "repair or drop the row")


JUMP_HINT = (f"no market opens {JUMP_FACTOR:g}x away from its last close: a price stored in other units "
             "(cents, pips, a x100 quote) or an unadjusted split; repair the bar, or adjust the series for the split")


def first_jump(df: pd.DataFrame) -> int | None:
    """The position of the first bar whose open is JUMP_FACTOR x the close before it, or
    1/JUMP_FACTOR; None when there is none. Every price must be > 0 (_check_ohlc)."""
    o, c = df["open"].to_numpy(), df["close"].to_numpy()
    jump = np.flatnonzero(np.abs(np.log(o[1:] / c[:-1])) >= np.log(JUMP_FACTOR))
    return int(jump[0]) + 1 if jump.size else None


def moved_by(df: pd.DataFrame, i: int) -> str:
    """How far bar `i` opens from the close before it: `100x`, `1/100 of`."""
    ratio = df["open"].iat[i] / df["close"].iat[i - 1]
    return f"{ratio:.3g}x" if ratio > 1 else f"1/{1 / ratio:.3g} of"


def _check_jumps(df: pd.DataFrame, path: Path) -> None:
    i = first_jump(df)
    if i is None:
        return
    o, c = df["open"].iat[i], df["close"].iat[i - 1]
    raise DataError(str(path), bar_line(path, i), f"price jump: the open is {moved_by(df, i)} the close of the bar "
                    f"before (close={c:g} on {_where(path)} {bar_line(path, i - 1)}, open={o:g})", JUMP_HINT)


def _where(path: Path) -> str:
    return "line" if path.name.lower().endswith(_CSV) else "row"


def _gaps(index: pd.DatetimeIndex, interval: pd.Timedelta | None, factor: float, path: Path) -> list:
    if interval is None or len(index) < 2:
        return []
    step = np.diff(index.asi8)
    limit = interval.value * factor
    return [data_warning(str(path), bar_line(path, int(i) + 1),
                         f"gap of {pd.Timedelta(int(step[i]))} after {index[i]} (> {factor:g} x {tf_name(interval)})")
            for i in np.flatnonzero(step > limit)]


def _first_mismatch(a: pd.DatetimeIndex, b: pd.DatetimeIndex) -> int:
    """0-based position of the first bar that differs (or the first one only the longer has)."""
    n = min(len(a), len(b))
    diff = np.flatnonzero(a.asi8[:n] != b.asi8[:n])
    return int(diff[0]) if diff.size else n
