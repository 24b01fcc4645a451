"""`python -m openvid_hf.testing.hub --root DIR [--port PORT]`: serve until SIGINT/SIGTERM, endpoint printed first."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from .lifecycle import HubServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m openvid_hf.testing.hub",
        description="Serve a local Hugging Face Hub-compatible test double (not a production server).",
    )
    parser.add_argument(
        "--root", type=Path, required=True, help="folder holding the repositories (created if missing)"
    )
    parser.add_argument("--port", type=int, default=0, help="port of the endpoint (default: a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, got {args.port}")
    try:
        args.root.mkdir(parents=True, exist_ok=True)
        server = HubServer(args.root, host=args.host, port=args.port).start()
    except OSError as error:
        parser.error(f"cannot serve from {args.root} on {args.host}:{args.port}: {error}")
    stopped = threading.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: stopped.set())
    print(server.endpoint, flush=True)
    print(f"repositories in {args.root}; LFS storage at {server.storage_endpoint}; Ctrl-C stops", file=sys.stderr)
    try:
        while not stopped.wait(timeout=1):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
