"""The `openvid-hf` console script: every subcommand has help, bad arguments exit 2 without a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from openvid_hf.commands.cli import COMMANDS


def console_script() -> str:
    script = Path(sys.executable).with_name("openvid-hf")
    return str(script) if script.exists() else shutil.which("openvid-hf")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([console_script(), *args], capture_output=True, text=True, check=False)


def test_console_script_is_installed_and_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_subcommand_has_help(name):
    result = run_cli(name, "--help")
    assert result.returncode == 0, result.stderr
    assert f"openvid-hf {name}" in result.stdout


@pytest.mark.parametrize(
    "args",
    [[], ["no-such-command"], ["sample"], ["sample", "/tmp/x", "--no-such-flag"]],
)
def test_bad_arguments_exit_2_with_usage(args):
    result = run_cli(*args)
    assert result.returncode == 2
    assert "usage:" in result.stderr and "error:" in result.stderr
    assert "Traceback" not in result.stderr
