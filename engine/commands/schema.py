"""`engine schema`: JSON Schema of spec documents, for editors' YAML language servers.

VS Code (redhat.vscode-yaml), for example:
    engine schema > .vscode/stagecraft.schema.json
    "yaml.schemas": {".vscode/stagecraft.schema.json": "specs/**/*.yaml"}
"""
from __future__ import annotations

import argparse
import json

KINDS = ("all", "machine", "catalogue", "overrides")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.spec.documents import DOCUMENT_KINDS

    parser.add_argument("--kind", choices=KINDS + tuple(DOCUMENT_KINDS), default="all",
                        help="which documents (default: all, as one schema that switches on `kind`)")


def run(args: argparse.Namespace) -> int:
    from engine.spec.models import json_schema

    print(json.dumps(json_schema(args.kind), indent=2, sort_keys=False))
    return 0
