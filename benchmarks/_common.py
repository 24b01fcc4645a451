"""What the benchmark scripts share: each measured method runs in a worker process of its own."""

from __future__ import annotations

import json
import subprocess
import sys


def run_in_subprocess(script: str, worker_args: list[str], label: str) -> dict:
    """Run `script --worker ...` and return the JSON object its last line of output prints.

    A process per method keeps one method's memory (peak RSS, allocator caches, imports) out of another's numbers.
    """
    completed = subprocess.run([sys.executable, script, "--worker", *worker_args], capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"{label} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def memory_status_mib(field: str) -> float:
    """`VmRSS` (now) or `VmHWM` (peak) of this process, from /proc/self/status.

    Not `getrusage`'s `ru_maxrss`: Linux carries that over `execve` from the forked parent, so every
    worker would report at least the parent's size.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")
