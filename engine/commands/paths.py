"""Argument types for paths a command takes: one that names nothing is a usage error (exit 2,
as engine/cli.py's table says), reported by argparse before the command imports anything."""
from __future__ import annotations

import argparse
from pathlib import Path


def named(text: str) -> str:
    """A path given a value: an empty one (a shell variable that was never set) would read as the
    current folder, or fall back to the default, and the command would act on what nobody named."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path names nothing (a variable that was never set?): "
                                         "give a path, or leave the option out for its default")
    return text


def existing(text: str) -> str:
    """A file or folder that exists."""
    if not Path(named(text)).exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return text


def existing_file(text: str) -> str:
    """A file that exists (not a folder)."""
    existing(text)
    if Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text}: is a folder; give a file")
    return text
