"""Progress of long steps: tqdm's bar on a terminal, periodic plain lines in a log, nothing when disabled."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time

import pytest

#: Twelve steps of 0.1 s with a line at most every 0.25 s.
COUNTING = """
import time
from openvid_hf.progress import progress_bar

for _ in progress_bar(range(12), desc="Counting", unit=" steps"):
    time.sleep(0.1)
"""
LINE = re.compile(r"Counting: (\d+)/12 \[\d\d:\d\d<[^,]*, +[\d.?]+ steps/s\]")


def run_python(code: str, *, stderr: int | None = subprocess.PIPE, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, "TQDM_MININTERVAL": "0.25", **env},
        timeout=120,
        check=True,
    )


def test_log_gets_periodic_plain_lines():
    started = time.monotonic()
    output = run_python(COUNTING).stderr.decode()
    seconds = time.monotonic() - started

    assert "\r" not in output and "\x1b" not in output
    lines = output.splitlines()
    counts = [int(LINE.fullmatch(line)[1]) for line in lines]
    assert counts[0] == 0 and counts[-1] == 12
    assert counts == sorted(set(counts))  # no line repeated
    assert 3 <= len(lines) <= seconds / 0.25 + 2


def test_terminal_gets_the_bar():
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # tqdm sizes its bar to fit
    command = [sys.executable, "-c", COUNTING]
    process = subprocess.Popen(command, stderr=follower, env={**os.environ, "TQDM_MININTERVAL": "0.25"})
    os.close(follower)
    output = b""
    try:
        while chunk := _read(leader):
            output += chunk
    finally:
        os.close(leader)
        assert process.wait(timeout=120) == 0
    assert b"\r" in output and b"12/12" in output


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # Linux reports the end of a pseudo-terminal whose other side is closed as EIO
        return b""


def test_disabled_progress_prints_nothing():
    assert run_python(COUNTING, HF_HUB_DISABLE_PROGRESS_BARS="1").stderr == b""


@pytest.mark.timeout(300)
def test_sample_shows_progress_over_videos(tmp_path):
    command = [sys.executable, "-m", "openvid_hf", "sample", str(tmp_path / "release"), "--num-videos", "4"]
    result = subprocess.run(
        [*command, "--clean", "--hd-fraction", "0"],
        capture_output=True,
        env={**os.environ, "TQDM_MININTERVAL": "0.2"},
        timeout=240,
        check=True,
    )
    log = result.stderr.decode()
    assert "\r" not in log and "\x1b" not in log
    assert log.startswith("Encoding videos: 0/4 [") and "Encoding videos: 4/4 [" in log
    assert result.stdout.decode().startswith("wrote 4 videos")
