"""The one exception family goleak raises; cli.py maps it to a one-line message and exit 2."""
from typing import Optional


class GoleakError(Exception):
    """An error the user can act on. Carries the source and, where known, the line."""

    def __init__(self, message: str, source: Optional[str] = None, line: Optional[int] = None):
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.source is not None:
            where = self.source + (":" + str(self.line) if self.line else "") + ": "
        return where + self.message


class InputError(GoleakError):
    """A source could not be read or holds no goroutine dump."""


class FetchError(InputError):
    """A URL source could not be fetched."""


class UsageError(GoleakError):
    """The command line or a config file asks for something impossible."""
