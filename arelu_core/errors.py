"""Errors a user can cause and fix. The CLI and the app print their message as one line."""


class AReLULabError(Exception):
    """Base class: the message is complete, user-facing and fits on one line."""


class ConfigError(AReLULabError, ValueError):
    """A setting is out of range (unknown activation, lr <= 0, batch 0, ...)."""


class DataUnavailableError(AReLULabError):
    """MNIST is not on disk and could not be downloaded."""


class CheckpointError(AReLULabError):
    """A checkpoint file is missing, corrupt, truncated or not one of ours."""


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The first non-empty line of an exception's message (its type's name when it has none), at most
    `limit` characters: what a user is shown of an unexpected error, never a traceback."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:limit]
