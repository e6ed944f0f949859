"""Crash-safe state store: orders, fills, positions, wallets, machine snapshots,
an append-only journal, KPI snapshots, the operator control channel and a small
key-value table, on SQLite (WAL) by default or any SQLAlchemy URL.

Import `state.store` lazily (inside functions): sqlmodel is heavy, and
`engine validate` / `engine --help` must not pay for it. This package's
__init__ therefore imports nothing.
"""
