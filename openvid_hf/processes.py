"""Worker processes that die with their parent, so a killed job (SIGKILL, the OOM killer) leaves no orphan behind.

A pool's initializer calls `die_with_parent(parent_pid)` in each worker. On Linux the kernel sends the worker
SIGKILL when its parent ends (`prctl(PR_SET_PDEATHSIG)`), even while the worker is stuck in native code;
elsewhere a daemon thread in the worker polls `os.getppid()` and exits when the parent is gone. Once the workers
are gone, multiprocessing's resource tracker, whose pipe only the parent and the workers hold, ends by itself.

Linux signals when the *thread* that started the worker ends: start pools from the thread that uses them (as
`ProcessPoolExecutor` does when it is used from one thread).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

#: `PR_SET_PDEATHSIG` of <linux/prctl.h>.
_PR_SET_PDEATHSIG = 1
#: How often the fallback watchdog checks the parent, in seconds.
WATCHDOG_INTERVAL = 0.5


def die_with_parent(parent_pid: int) -> None:
    """End this process when `parent_pid`, its parent, ends (at once if it already has)."""
    if not _kill_on_parent_death():
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="die-with-parent", daemon=True).start()
    # The parent may have ended before the kernel was asked to watch it.
    if os.getppid() != parent_pid:
        os._exit(1)


def _kill_on_parent_death() -> bool:
    """Ask Linux for SIGKILL when the parent ends; False where that is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        process = ctypes.CDLL(None)  # the running program, libc included
        return process.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(WATCHDOG_INTERVAL)
    os._exit(1)
