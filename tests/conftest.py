"""Test-wide settings: pin native threads (2 shared cores; spinning threads made
xgboost and PPO 8-38x slower here) and keep hypothesis deterministic."""
import atexit
import os
import shutil
import signal
import tempfile
from pathlib import Path

from engine.threads import pin_threads

pin_threads()
# Temporary files (tmp_path, tempfile, the engine subprocesses the tests start) on tmpfs where
# there is one: `durability: full` fsyncs every fact, 5x the run time of a resume test on a
# disk, and no test can observe an fsync (none cuts power; a SIGKILLed process's writes
# survive in the page cache either way). An explicit TMPDIR is kept.
# Only a roomy one: a container's /dev/shm is often 64 MiB, and the suite's runs write more.
SHM, SHM_ROOM = Path("/dev/shm"), 2 << 30
if ("TMPDIR" not in os.environ and SHM.is_dir() and os.access(SHM, os.W_OK)
        and shutil.disk_usage(SHM).free >= SHM_ROOM):
    os.environ["TMPDIR"] = str(SHM)
    tempfile.tempdir = None  # gettempdir() reads TMPDIR again
# engine validate's result cache: never the developer's var/cache from inside the suite; removed
# at exit (on tmpfs a leftover holds memory).
if "ENGINE_CACHE_DIR" not in os.environ:
    os.environ["ENGINE_CACHE_DIR"] = tempfile.mkdtemp(prefix="engine-cache-")
    atexit.register(shutil.rmtree, os.environ["ENGINE_CACHE_DIR"], True)
# A developer's .env (engine/envfile.py: the engine reads the one in the folder it runs in, the
# repo root for most tests) must not reach the suite's runs: python-dotenv's switch turns it off,
# for the engine processes the tests start too. tests/test_env_file.py turns it back on.
os.environ["PYTHON_DOTENV_DISABLED"] = "1"
# The Ctrl-C tests need Python's SIGINT handler, here and in the engines they start; a suite
# started in the background by a shell without job control (`make test &` in a script)
# inherits SIGINT ignored, which exec passes on to every child: restore it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

settings.register_profile("ci", derandomize=True, deadline=None, max_examples=60, database=None)
# New draws each seed (`--hypothesis-profile=hunt --hypothesis-seed=N`): the ci profile's are
# always the same, so it never meets what they miss. Each test keeps its own example count.
settings.register_profile("hunt", deadline=None, max_examples=60, database=None)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def loose(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The invariants env with a wallet every domain can trade (tests/run_support.py)."""
    from run_support import write_env_override

    return write_env_override(tmp_path_factory.mktemp("loose"), wallet=1_000_000.0)


@pytest.fixture(scope="session")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, plus kill limits a few hundred bars can breach."""
    from run_support import TIGHT_KILL, write_env_override

    return write_env_override(tmp_path_factory.mktemp("tight"), wallet=1_000_000.0, values=TIGHT_KILL)


@pytest.fixture
def at_root(monkeypatch: pytest.MonkeyPatch) -> None:
    """The repo root as the working folder, no ENGINE_DB_URL or live opt-in (tests/cli_support.py);
    a module asks for it with `pytestmark = pytest.mark.usefixtures("at_root")`."""
    from cli_support import at_root as chdir_and_unset

    chdir_and_unset(monkeypatch)


# `engine select`'s default output, which a fresh run from the repo root reads (specs/ml/selection.yaml
# fallback_file): tests that run the engine there as a user does then trade only its set. A clean
# clone has none; a developer's checkout may, and its failures should say why.
ACTIVE_SET = Path(__file__).resolve().parents[1] / "var" / "active_symbols.json"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if ACTIVE_SET.exists():
        terminalreporter.write_line(
            f"note: {ACTIVE_SET} exists (written by `engine select`): the tests that run the engine from the repo "
            "root limit entries to its set, and some fail with ACTIVE_SET; move it aside to run the suite as a "
            "clean clone does", yellow=True)
