"""The names of a run's rows in the store's key-value table (Store.put_json / get_json).

One place for them, below the commands: the run writes them (engine/commands/run.py and the
engine/run modules named per key), the operator commands (status, select, promote, move-stop,
kill) and the repairs (engine/run/finished.py) read them. Nothing here imports anything, so
`engine --help` and `engine validate` stay light.
"""
from __future__ import annotations

CHECKPOINT_KEY = "run/checkpoint"
"""The last checkpoint (cursor, clock, stage, books, brackets, ...): what a resume restarts from.
Written by engine/run/checkpoint.py at every checkpoint."""

CONFIG_DIGEST_KEY = "run/config"
"""{dotted config key: hash of its value} of the config the run started with (checkpoint.config_digest):
what a resume's config is checked against. Written by engine/commands/run.py on a fresh start."""

SPECS_KEY = "run/specs"
"""session.spec_hashes of the specs the run started with: its parts, so a resume can name one.
Written by engine/commands/run.py on a fresh start."""

DATA_KEY = "run/data"
"""{"DOMAIN/SYMBOL": market.fingerprint of its series} of the bars the run started with: a resume
replays the same bars or is refused (engine/commands/run.py). Written by engine/commands/run.py on a
fresh start."""

ENGINE_KEY = "run/engine"
"""engine/run/build.py code_digest of the engine that last started or resumed the run: a refused
resume, and the operator commands that suggest one, say when the engine changed since. Written by
engine/commands/run.py at every start and resume, once the resume's checks passed."""

RUN_ID_KEY = "run/id"
"""The run's id (engine/run/owner.py new_run_id), in its run directory's owner file too: a resume
proves the directory still its own by it, a copied or moved store as well. Written by
engine/commands/run.py on a fresh start."""

DIR_KEY = "run/dir"
"""The run's directory as the run was given it (relative: to CONFIG_FILE_KEY's cwd). Written by
engine/commands/run.py at every start and resume."""

CONFIG_FILE_KEY = "run/config_file"
"""{"path": the --config the run, or its last resume, was given (None: none), "specs": its --specs,
both absolute; "cwd": the folder it ran in}: what `engine status` suggests a resume with
(engine/commands/run.py started_with). Written by engine/commands/run.py at every start and resume."""

CLOSING_KEY = "run/closing"
"""true: the run processed its last bar and is taking its last operator commands before it writes
its report. Written by engine/run/loop.py just before that last poll: an operator command posted
after it would never be taken, so `engine kill` & co. refuse it, or withdraw one that raced it
(engine/commands/status.py post_while_open)."""

FINISHED_KEY = "run/finished"
"""{"run_dir": ...}: the run processed its last bar and wrote its report. Written by
engine/commands/run.py once the run's files are written."""

ROUTING_KEY = "run/routing"
"""The running engine's routing (engine/run/optin.py Routing.to_json): what `engine promote` checks a
promotion against, and a resume its routing. Written by engine/run/assemble.py at every start."""

SYMBOLS_KEY = "run/symbols"
"""The symbols the run's series trade (fixed for the run: a promotion loads no data): what
`engine select --state` checks a set against before it posts it. Written by engine/run/assemble.py
at every start."""

MODELS_KEY = "run/ml_models"
"""symbol -> [[tf, version], ...]: the ML models the run started with, which a resume keeps.
Written by engine/run/signals.py."""
