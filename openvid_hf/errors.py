"""Errors the CLI turns into one clear line instead of a traceback."""


class OpenVidError(Exception):
    """Bad input (a file, a row, a repository) that the user can fix; exit status 1."""


class UsageError(OpenVidError):
    """A bad command-line argument; exit status 2, like argparse's own errors."""


def first_line(error: BaseException) -> str:
    """A library error's first line, for a one-line message (its type when it says nothing)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
