"""Exit codes are an API (documented in the README)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1  # an unexpected internal error
    USAGE = 2  # bad arguments, models.toml or dataset
    RUN_FAILED = 3  # at least one run failed to load (missing weights, crash, unsupported)
    INTERRUPTED = 130  # Ctrl-C
