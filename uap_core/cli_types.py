"""The command line's argument types: each parses an option's text and runs the library's own check on it.

A refusal becomes an ``argparse.ArgumentTypeError`` carrying the check's message, so ``--xi 0`` fails at parse
time, with status 2, saying what was expected, before any work starts.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from .checks import check_delta, check_number, check_positive_int, check_seed, check_xi, describe


def check_output_dir(path: object, name: str = "--out") -> Path:
    """A folder that exists or can be created, and can be written to; checked before any work is done.

    Nothing is left behind: the nearest existing ancestor must be a folder where a file can be written.
    """
    if not isinstance(path, (str, os.PathLike)) or str(path).strip() == "" or "\x00" in str(path):
        raise ValueError(f"{name} must be the path of a folder, got {describe(path)}")
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{name} must be a folder (existing or new), got {str(folder)!r}, which is a file")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{name} must be a folder that can be created, got {str(folder)!r}: {existing} is a file")
    try:  # a real write, since permission bits do not tell for root or read-only file systems
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise ValueError(f"{name} must be a folder you can write to, got {str(folder)!r}: {error}") from None
    return folder


def option_type(kind: type, check: Callable[[object, str], object]) -> Callable[[str], object]:
    """An argparse ``type``: parse the text as ``kind``, then ``check`` it.

    A refusal becomes an ``argparse.ArgumentTypeError`` carrying the check's own message, which
    argparse prints after the option's name (``argument --batch-size: value must be a whole number
    >= 1, got 0``) before exiting with status 2.
    """

    def convert(text: str) -> object:
        try:
            value = kind(text)
        except ValueError:
            value = text  # the check refuses a string, saying what was expected
        try:
            return check(value, "value")
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = kind.__name__
    return convert


POSITIVE_INT = option_type(int, check_positive_int)
SEED = option_type(int, check_seed)
XI = option_type(float, check_xi)
DELTA = option_type(float, check_delta)
FINITE = option_type(float, check_number)
POSITIVE = option_type(float, partial(check_number, low=0, low_open=True))
NONNEGATIVE = option_type(float, partial(check_number, low=0))
