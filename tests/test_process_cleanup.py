"""A killed `openvid-hf build --num-proc 2` leaves no process behind: workers and resource tracker end with it."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads the process table from /proc")

#: A process: its pid and its start time (clock ticks since boot), so a reused pid is not mistaken for it.
Process = tuple[int, int]


def process_table() -> dict[Process, tuple[int, str]]:
    """Every live process -> its parent pid and state, read from /proc/*/stat."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rpartition(")")[2].split()
        table[(int(stat.parent.name), int(fields[19]))] = (int(fields[1]), fields[0])
    return table


def descendants(pid: int) -> set[Process]:
    table = process_table()
    found: set[Process] = set()
    parents = {pid}
    while parents:
        children = {process for process, (ppid, _) in table.items() if ppid in parents} - found
        found |= children
        parents = {child for child, _ in children}
    return found


def alive(processes: set[Process]) -> set[Process]:
    """Those of `processes` still running (a zombie waiting to be reaped has ended)."""
    table = process_table()
    return {process for process in processes if process in table and table[process][1] != "Z"}


def command_line(process: Process) -> str:
    try:
        return Path(f"/proc/{process[0]}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_sigkilled_build_leaves_no_process(sample_release, tmp_path):
    out_dir = tmp_path / "out"
    command = [sys.executable, "-m", "openvid_hf", "build", str(sample_release.root), str(out_dir)]
    build = subprocess.Popen(
        [*command, "--num-proc", "2", "--shard-size", "50KB"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_DISABLE_XET": "1"},
    )
    seen: set[Process] = set()
    try:
        # Kill once both workers are writing shards: the build is mid-way, as when the OOM killer strikes.
        deadline = time.monotonic() + 120
        workers: set[Process] = set()
        while len(workers) < 2 or not any((out_dir / "data").rglob("*.tar")):
            assert build.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline, "the build's workers never started writing"
            seen |= descendants(build.pid)
            workers = {process for process in seen if "spawn_main" in command_line(process)}
            time.sleep(0.005)
        seen |= descendants(build.pid)
        assert any("resource_tracker" in command_line(process) for process in seen)
        build.send_signal(signal.SIGKILL)
        assert build.wait() == -signal.SIGKILL

        deadline = time.monotonic() + 10
        while alive(seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = alive(seen)
        assert not left, f"alive after the build was killed: {[command_line(process) for process in left]}"
    finally:
        build.kill()
        build.wait()
        for pid, _ in alive(seen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
