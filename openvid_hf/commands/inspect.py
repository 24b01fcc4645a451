"""`openvid-hf inspect`: what an original OpenVid-1M release holds, and every row or video a load would skip."""

from __future__ import annotations

import argparse
import json

from ..release.filters import DEFAULT_MIN_FRAMES
from . import add_command, add_executor_arguments, add_index_cache_argument


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(
        subparsers,
        "inspect",
        run,
        help="count the CSV rows, HD rows and videos of an original release and list what a load would skip",
        description=(
            "Read an original OpenVid-1M release (a folder or hf://datasets/ORG/NAME) the way the loading "
            "script's config does, and report CSV rows, HD rows, videos found and every skipped item with its "
            "reason (missing, not_in_csv, undecodable, too_short, unsafe_name)."
        ),
    )
    parser.add_argument("source", metavar="SOURCE", help="release folder or hf://datasets/ORG/NAME")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a report")
    parser.add_argument(
        "--config", default="default", help="the loading script's config to check: default, hd or metadata (default)"
    )
    parser.add_argument(
        "--min-frames",
        type=int,
        default=DEFAULT_MIN_FRAMES,
        help=f"report clips with fewer frames as too_short ({DEFAULT_MIN_FRAMES})",
    )
    parser.add_argument(
        "--no-probe", action="store_true", help="read no video bytes: skips undecodable and too_short checks"
    )
    add_index_cache_argument(parser)
    add_executor_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..release.archives import default_index_cache_dir
    from ..release.inspect import inspect_release

    result = inspect_release(
        args.source,
        config=args.config,
        min_frames=args.min_frames,
        read_videos=not args.no_probe,
        index_cache_dir=args.index_cache or default_index_cache_dir(),
        executor=args.executor,
        num_proc=args.num_proc,
        ray_address=args.ray_address,
    )
    skipped = result["skipped"]
    if args.json:
        payload = {key: result[key] for key in ("rows", "hd_rows", "videos")}
        payload["skipped"] = [skip.to_json() for skip in skipped]
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    print(f"{args.source} ({args.config} config)")
    print(f"  OpenVid-1M.csv rows: {result['rows']}")
    print(f"  OpenVidHD.csv rows:  {result['hd_rows']}")
    print(f"  videos found:        {result['videos']}")
    print(f"  skipped:             {len(skipped)}")
    width = max((len(skip.reason) for skip in skipped), default=0)
    for skip in skipped:
        print(f"    {skip.reason:<{width}}  {skip.video}  ({skip.detail})")
    print(result["summary"])
    return 0
