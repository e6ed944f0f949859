"""The ML specs `engine train ml` and `engine select` read: the file an option names, else
specs/ml/NAME.yaml in the folder the command runs in, as `engine run` reads its --specs
(default specs/) there. Never the engine checkout's copy: an edit to the folder's own spec
would be validated, then ignored, and the next run would refuse the model trained under it."""
from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from engine.suggest import DEFAULT_SPECS

M = TypeVar("M", bound=BaseModel)


def ml_spec(path: str | None, name: str, model: type[M], option: str) -> M:
    """The `kind` spec `path` names (`option` gave it), else specs/ml/NAME.yaml here; a missing
    default is a CommandError (exit 2) that names the option, SpecError for a bad file."""
    from engine.commands.status import USAGE, CommandError
    from engine.spec.shipped import elsewhere
    from strategies.ml.config import load_model

    file = Path(path) if path is not None else Path(DEFAULT_SPECS) / "ml" / f"{name}.yaml"
    if path is None and not file.is_file():
        hint = elsewhere(file) or f"give {option} FILE"
        raise CommandError(f"{file}: no such file, the default {option} (read from the folder the command runs in, "
                           f"as `engine run` reads specs/)\n    hint: {hint}", USAGE)
    return load_model(file, model)
