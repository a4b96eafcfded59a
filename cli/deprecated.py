"""Flags kept under an old name: hidden from --help, they set the new flag and say so in one line."""

from __future__ import annotations

import argparse
import sys
from typing import Any


class DeprecatedAlias(argparse.Action):
    """``--old`` as a hidden alias of the store-true flag ``--new`` (``dest``): sets it and prints
    ``note: --old is deprecated; use --new`` on stderr."""

    def __init__(self, option_strings: list[str], dest: str, **kw: Any) -> None:
        kw.setdefault("help", argparse.SUPPRESS)
        super().__init__(option_strings, dest, nargs=0, **kw)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"note: {option_string} is deprecated; use --{self.dest.replace('_', '-')}", file=sys.stderr)
        setattr(namespace, self.dest, True)


def add_exclusive(parser: argparse.ArgumentParser, help: str) -> None:
    """``--exclusive`` (never two runs on one GPU at once) and its old name ``--no-sharing``."""
    parser.add_argument("--exclusive", action="store_true", help=help)
    parser.add_argument("--no-sharing", action=DeprecatedAlias, dest="exclusive")
