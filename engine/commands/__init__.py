"""`engine` subcommands: one module per command, imported only when it runs (see engine/cli.py)."""
