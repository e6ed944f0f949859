"""Client order ids: hash(strategy, symbol, ts, nonce), stable across versions (a resumed run and
the venue's records must agree), however the hash is computed."""
from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from engine.domain import client_order_id, order_id, order_id_prefix


def test_the_id_of_a_known_intent_never_changes():
    assert client_order_id("sma", "EUR/USD", 1492592400.5, "sma:EUR/USD:1492592400:3/2") == "sc-aebb396c56c6a6c0d416fcf7"


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)))  # encodable


@given(_TEXT, _TEXT, st.floats(0, 4e9), st.integers(0, 10**6) | _TEXT)
def test_an_id_from_the_shared_prefix_is_the_id_of_the_whole_key(strategy, symbol, ts, nonce):
    raw = f"{strategy}|{symbol}|{ts:.6f}|{nonce}".encode()
    expected = "sc-" + hashlib.sha256(raw).hexdigest()[:24]
    prefix = order_id_prefix(strategy, symbol, ts)
    assert client_order_id(strategy, symbol, ts, nonce) == expected
    assert order_id(prefix, nonce) == expected and order_id(prefix, nonce) == expected  # the prefix is not consumed
