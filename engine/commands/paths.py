"""Argument types for paths a command reads: one that names nothing is a usage error (exit 2,
as engine/cli.py's table says), reported by argparse before the command imports anything."""
from __future__ import annotations

import argparse
from pathlib import Path


def existing(text: str) -> str:
    """A file or folder that exists."""
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return text


def existing_file(text: str) -> str:
    """A file that exists (not a folder)."""
    existing(text)
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder; give a file")
    return text
