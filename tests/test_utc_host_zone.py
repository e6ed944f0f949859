"""Replay times are read as UTC by arithmetic, whatever zone the host is set to: on a host whose
TZ is a `right/` zone (leap seconds counted), datetime.fromtimestamp read every time 27 s early,
which moved bars across session hours and refused a resume of unchanged data (rev29)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ZONE = "right/UTC"
PROBE = """
from engine.risk.guards import _utc
from engine.risk.tradingday import TradingDays
from engine.run.market import iso
from strategies.regime import _utc_hour
t = 1516950000.0  # 2018-01-26 07:00:00 UTC
print(_utc_hour(t), iso(t), _utc(t), TradingDays("Europe/London", "07:00").day_of(t))
"""


@pytest.mark.skipif(not Path("/usr/share/zoneinfo", ZONE).is_file(), reason=f"no {ZONE} zone on this host")
def test_times_read_the_same_under_a_leap_second_host_zone() -> None:
    def probe(tz: str | None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "TZ"} | ({"TZ": tz} if tz else {})
        done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    plain = probe(None)
    assert plain.startswith("7 2018-01-26T07:00:00+00:00 2018-01-26T07:00:00Z "), plain
    assert probe(ZONE) == plain
