"""Shared by the data-store tests: an `engine data import` killed mid-swap, for a subprocess."""

# `engine data import FILE --store ROOT` for LTC/BTC 5m, SIGKILLed right after it swapped in its
# second file: run as `python -c KILLED_IMPORT FILE ROOT`.
KILLED_IMPORT = """
import os, signal, sys
from engine.cli import main
replace, swapped = os.replace, []
def replace_then_die(src, dst):
    replace(src, dst)
    swapped.append(dst)
    if len(swapped) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
os.replace = replace_then_die
main(["data", "import", sys.argv[1], "--symbol", "LTC/BTC", "--tf", "5m", "--store", sys.argv[2]])
"""


def recorded_commands(monkeypatch) -> list:
    """The re-run command each ParquetStore.write of the test is given (what a killed import's
    completion runs), kept in the list returned; the writes still happen."""
    from engine.data.store import ParquetStore

    commands: list = []
    write = ParquetStore.write

    def keep(self, df, symbol, tf, label="open", command=None):
        commands.append(command)
        return write(self, df, symbol, tf, label, command)

    monkeypatch.setattr(ParquetStore, "write", keep)
    return commands
