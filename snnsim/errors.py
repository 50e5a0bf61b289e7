"""Errors that the CLI turns into one line on stderr and exit code 2."""


class SnnsimError(Exception):
    """Base class: a problem with the user's input, reported without a traceback."""


class ConfigError(SnnsimError, ValueError):
    """A setting is invalid. The message names the setting (as its CLI flag) and what is accepted."""

    def __init__(self, field: str, message: str):
        self.field = field
        flag = "--" + field.replace("_", "-")
        super().__init__(f"{flag}: {message}")


class DataError(SnnsimError, ValueError):
    """An input data file is missing, unreadable or malformed."""


class ResultError(SnnsimError, ValueError):
    """A result file is missing, incomplete or inconsistent."""
