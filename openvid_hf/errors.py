"""Errors the CLI turns into one clear line instead of a traceback."""


class OpenVidError(Exception):
    """Bad input (a file, a row, a repository) that the user can fix; exit status 1."""


class UsageError(OpenVidError):
    """A bad command-line argument; exit status 2, like argparse's own errors."""
