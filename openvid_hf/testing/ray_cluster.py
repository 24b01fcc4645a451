"""A real Ray cluster on 127.0.0.1 for tests and benchmarks: a head and worker nodes, each a `ray start` of its own.

Each node has its own temp dir and its own free ports (two clusters on one machine, from two checkouts, do not
meet), `RAY_USAGE_STATS_ENABLED=0` (no network call), and runs in the process group of the `ray start` that
launched it. `kill_node` SIGKILLs one node's group (a machine lost mid-job); `stop` ends exactly the groups this
object started, never another cluster's (`ray stop` would end every Ray process of the machine).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: Seconds a node may take to end on SIGTERM before it gets SIGKILL.
STOP_GRACE = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RayNode:
    """One node: the process group its `ray start` left running, and its temp dir."""

    group: int
    temp_dir: Path
    head: bool

    def processes(self) -> list[int]:
        """The node's processes still running: its daemons (its group) and its workers (their children, each in a
        group of its own); zombies, already dead, left out."""
        table = _process_table()
        daemons = {pid for pid, (_, group) in table.items() if group == self.group}
        return sorted(daemons | {pid for pid, (parent, _) in table.items() if parent in daemons})

    def workers_running(self, title: str) -> list[int]:
        """The node's worker processes whose title (`ray::FUNCTION` while running a task) starts with `title`."""
        found = []
        for pid in self.processes():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(title.encode()):
                    found.append(pid)
        return found


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, process group) of every live process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()  # after the command name
            if fields[0] != "Z":
                table[int(entry.name)] = (int(fields[1]), int(fields[2]))
    return table


class LocalRayCluster:
    """`ray start --head` and `ray start --address` as separate processes; use as a context manager."""

    def __init__(self, cpus_per_node: int = 1, object_store_bytes: int = 100_000_000, env: dict | None = None):
        self.cpus_per_node = cpus_per_node
        self.object_store_bytes = object_store_bytes
        self.env = {**os.environ, **(env or {}), "RAY_USAGE_STATS_ENABLED": "0"}
        self.root = Path(tempfile.mkdtemp(prefix="ovray-"))  # short: Ray's socket paths must fit 107 bytes
        self.port = free_port()
        self.nodes: list[RayNode] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> LocalRayCluster:
        try:
            self.add_node(head=True)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def add_node(self, head: bool = False) -> RayNode:
        """Start a node and wait until `ray start` has it running (it returns once the node has registered)."""
        temp_dir = self.root / f"n{len(self.nodes)}"
        where = (
            ["--head", "--port", str(self.port), "--include-dashboard=false"] if head else ["--address", self.address]
        )
        ports = {
            "--node-manager-port": free_port(),
            "--object-manager-port": free_port(),
            "--metrics-export-port": free_port(),
            "--dashboard-agent-listen-port": free_port(),
            "--dashboard-agent-grpc-port": free_port(),
            "--runtime-env-agent-port": free_port(),
        }
        if head:  # the head's dashboard process runs even without the dashboard, on a port of its own
            ports |= {"--ray-client-server-port": free_port(), "--dashboard-port": free_port()}
        command = [
            str(Path(sys.executable).parent / "ray"),
            "start",
            *where,
            "--node-ip-address",
            "127.0.0.1",
            "--num-cpus",
            str(self.cpus_per_node),
            "--object-store-memory",
            str(self.object_store_bytes),
            "--temp-dir",
            str(temp_dir),
            "--disable-usage-stats",
            *(str(part) for pair in ports.items() for part in pair),
        ]
        # Its own process group: the node's daemons stay in it after `ray start` exits, so it can be ended whole.
        starter = subprocess.Popen(
            command, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, process_group=0, text=True
        )
        node = RayNode(starter.pid, temp_dir, head)
        self.nodes.append(node)
        output, _ = starter.communicate(timeout=120)
        if starter.returncode != 0:
            raise RuntimeError(f"ray start failed ({starter.returncode}):\n{output}")
        return node

    def kill_node(self, node: RayNode) -> None:
        """SIGKILL every process of the node, workers included, as when its machine is lost."""
        for pid in node.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        """End the nodes this cluster started (workers first, the head last), then remove their temp dirs."""
        import shutil

        for node in reversed(self.nodes):
            for pid in node.processes():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE
            while node.processes() and time.monotonic() < deadline:
                time.sleep(0.1)
            self.kill_node(node)
        self.nodes.clear()
        shutil.rmtree(self.root, ignore_errors=True)
