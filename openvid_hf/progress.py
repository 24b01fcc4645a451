"""The one progress display of long steps: tqdm's bar on a terminal, a plain line every few seconds in a log.

A bar redraws itself with carriage returns and cursor moves, which a CI log or `| tee` records as one long
garbled line. So when the output is not a terminal, `progress_bar` prints `desc: n/total [elapsed<remaining,
rate]` lines ending in a newline, one at start, at most one every `LINE_INTERVAL` seconds (`TQDM_MININTERVAL`
in the environment overrides it) and one at the end. Both honour `HF_HUB_DISABLE_PROGRESS_BARS` (it is
`huggingface_hub`'s tqdm).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

from huggingface_hub.utils import tqdm

#: Seconds between two progress lines in a log.
LINE_INTERVAL = 10.0
_LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


class _ProgressLines(tqdm):
    """tqdm printing whole lines, at most one every `mininterval` seconds: no carriage return, no cursor movement."""

    _printed: tuple[float, float] | None = None  # when the last line was printed, and its count

    def display(self, msg: str | None = None, pos: int | None = None, force: bool = False) -> bool:
        if msg == "":  # tqdm clearing its bar: a log has nothing to clear
            return False
        now = self._time()
        if not force and self._printed is not None and now - self._printed[0] < self.mininterval:
            return True  # `set_postfix` and `refresh` redraw at will; a log gets its periodic line
        self._printed = (now, self.n)
        self.fp.write(f"{self if msg is None else msg}\n")
        self.fp.flush()
        return True

    def clear(self, nolock: bool = False) -> None:
        """Nothing to clear: lines already printed stay."""

    def close(self) -> None:
        if not self.disable and (self._printed is None or self._printed[1] != self.n):
            self.display(force=True)
        # Closing a bar that stays ends it with a newline; these lines have theirs.
        self.leave = False
        super().close()


def progress_bar(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    """A `tqdm(iterable, **kwargs)` that is a bar on a terminal and periodic plain lines otherwise."""
    stream = kwargs.get("file") or sys.stderr
    if _is_terminal(stream):
        return tqdm(iterable, **kwargs)
    if "TQDM_MININTERVAL" not in os.environ:
        kwargs.setdefault("mininterval", LINE_INTERVAL)
    kwargs.setdefault("miniters", 1)
    kwargs.setdefault("bar_format", _LINE_FORMAT)
    return _ProgressLines(iterable, **kwargs)


def _is_terminal(stream: Any) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
