"""`openvid-hf sample`: write a synthetic release in the original OpenVid-1M layout."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from . import add_command


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "sample",
        run,
        help="write a synthetic OpenVid-1M release (real mp4 clips, zip parts, CSVs, planted defects)",
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="folder to create (must be empty)")
    parser.add_argument("--num-videos", type=int, default=40, help="distinct videos, defects included (40)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same bytes (0)")
    parser.add_argument("--hd-fraction", type=float, default=0.25, help="fraction of 1920x1080 HD clips (0.25)")
    parser.add_argument("--clean", action="store_true", help="plant no defects")
    parser.add_argument("--overwrite", action="store_true", help="remove OUT_DIR first if it exists")


def run(args: argparse.Namespace) -> int:
    from ..testing.sample_release import write_sample_release

    if args.overwrite:
        shutil.rmtree(args.out_dir, ignore_errors=True)
    release = write_sample_release(
        args.out_dir, num_videos=args.num_videos, seed=args.seed, hd_fraction=args.hd_fraction, clean=args.clean
    )
    total_bytes = sum(path.stat().st_size for path in release.root.rglob("*") if path.is_file())
    defects = ", ".join(f"{clip.defect}: {clip.video}" for clip in release.clips if clip.defect) or "none"
    print(
        f"wrote {len(release.clips)} videos ({sum(clip.hd for clip in release.clips)} HD) in "
        f"{len(release.archives)} archives to {release.root} ({total_bytes / 1e6:.1f} MB, "
        f"{release.seconds:.1f} s); defects planted: {defects}"
    )
    return 0
