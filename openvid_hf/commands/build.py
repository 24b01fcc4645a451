"""`openvid-hf build`: an original release turned into the published dataset layout (shards, tables, card)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ..release.filters import DEFAULT_MIN_FRAMES, add_filter_arguments
from . import add_command, add_executor_arguments, add_index_cache_argument

if TYPE_CHECKING:
    from ..publish.plan import BuildOptions


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..publish.layout import DEFAULT_OUT_DIR

    parser = add_command(
        subparsers,
        "build",
        run,
        help="turn an original release into shuffled WebDataset shards, metadata tables, a manifest and a card",
        description=(
            "Read an original OpenVid-1M release (a folder or hf://datasets/ORG/NAME) and write the published "
            "layout to OUT_DIR: seeded-shuffled WebDataset shards under data/{train,validation}/{sd,hd}/, "
            "metadata/{split}.parquet, manifest.json and README.md (the dataset card). The mp4 bytes are copied, "
            "never re-encoded. Re-running the same command resumes an interrupted build: finished shards whose "
            "checksum matches are kept, and the result is byte-identical to an uninterrupted build."
        ),
    )
    parser.add_argument("source", metavar="SOURCE", help="release folder or hf://datasets/ORG/NAME")
    parser.add_argument(
        "out_dir",
        metavar="OUT_DIR",
        nargs="?",
        default=DEFAULT_OUT_DIR,
        help=f"output folder, new, empty or an earlier build ({DEFAULT_OUT_DIR}: datasets.load_dataset"
        f"('{DEFAULT_OUT_DIR}') then loads it from here)",
    )
    add_build_arguments(parser, "the Hub repo id the card's loading snippets name (OUT_DIR; push sets it)")


def add_build_arguments(parser: argparse.ArgumentParser, repo_id_help: str | None = None) -> None:
    """What `build` and `publish` share: the plan's settings, the filters and the executor."""
    from ..publish.layout import DEFAULT_SEED, DEFAULT_SHARD_SIZE

    parser.add_argument(
        "--shard-size", default=DEFAULT_SHARD_SIZE, help=f"target shard size, e.g. 500MB, 2GiB ({DEFAULT_SHARD_SIZE})"
    )
    parser.add_argument(
        "--validation-size",
        type=int,
        default=None,
        help="clips held out for validation; 0 for none (1000, at most 1%% of the rows)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of the shuffle ({DEFAULT_SEED})")
    add_executor_arguments(parser)
    if repo_id_help is not None:
        parser.add_argument("--repo-id", default=None, help=repo_id_help)
    parser.add_argument(
        "--min-frames",
        type=int,
        default=DEFAULT_MIN_FRAMES,
        help=f"leave out clips with fewer frames ({DEFAULT_MIN_FRAMES})",
    )
    add_filter_arguments(parser.add_argument_group("filters (bounds are inclusive)"))
    add_index_cache_argument(parser)


def run(args: argparse.Namespace) -> int:
    from ..publish.build import build_dataset

    print(build_dataset(args.source, args.out_dir, build_options(args)).line())
    return 0


def build_options(args: argparse.Namespace) -> BuildOptions:
    """The `BuildOptions` of `add_build_arguments`' arguments."""
    from ..errors import UsageError
    from ..hub import check_repo_id
    from ..publish.plan import BuildOptions, parse_size
    from ..release.filters import ClipFilter

    try:
        shard_size = parse_size(args.shard_size)
    except UsageError as error:
        raise UsageError(f"--shard-size: {error}") from None
    repo_id = check_repo_id(args.repo_id, "--repo-id") if args.repo_id is not None else None
    return BuildOptions(
        shard_size=shard_size,
        validation_size=args.validation_size,
        seed=args.seed,
        num_proc=args.num_proc,
        min_frames=args.min_frames,
        filters=ClipFilter.from_object(args),
        repo_id=repo_id,
        index_cache_dir=args.index_cache,
        executor=args.executor,
        ray_address=args.ray_address,
    )
