"""`accelerate launch -m openvid_hf.train ARGS`: the same program as `openvid-hf train ARGS`, once per process."""

from __future__ import annotations

import sys

from .commands.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
