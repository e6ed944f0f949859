"""Funding schedules for the paper venue from the bundled real funding-rate files."""
from __future__ import annotations


def bundled_funding() -> dict[str, list[tuple[float, float]]]:
    """{symbol: [(epoch seconds, rate), ...]} for every bundled funding dataset."""
    from engine.data import bundled

    out: dict[str, list[tuple[float, float]]] = {}
    for d in bundled.DATASETS.values():
        if d.loader == "funding":
            df = bundled.load(d.name)
            out[d.symbol] = list(zip((df.index.asi8 / 1e9).tolist(), df["rate"].tolist(), strict=True))
    return out
