"""`openvid-hf curate`: raw videos to a release in the original OpenVid-1M layout (docs/curation.md)."""

from __future__ import annotations

import argparse

from . import add_command, add_executor_arguments


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from ..curation.options import DEFAULT_BATCH_SIZE, STEPS, ModelOptions

    defaults = ModelOptions()
    parser = add_command(
        subparsers,
        "curate",
        run,
        help="cut, score, filter and caption raw videos into a release in the original OpenVid-1M layout",
        description=(
            "Curate the videos in INPUT (a folder or an fsspec URL) with the OpenVid-1M pipeline: scene cuts, "
            "motion score and camera motion, clarity, temporal consistency, aesthetics and captions, then the "
            "filters. OUT becomes a release in the original layout (zip parts, OpenVid-1M.csv, the HD copy) that "
            "inspect and build read. Work and per-clip results stay in OUT/.curation: a re-run skips finished "
            "work, so new --thresholds recompute nothing. With --executor ray the CPU stages run as Ray tasks and "
            "the model stages on Ray actors, one per GPU (--device cuda) or per node (--device cpu)."
        ),
    )
    parser.add_argument("input", metavar="INPUT", help="folder or fsspec URL of videos")
    parser.add_argument("out_dir", metavar="OUT", help="output release folder (created; re-use it to resume)")
    add_executor_arguments(parser)
    parser.add_argument(
        "--device", default="cpu", help="torch device of the model stages: cpu, cuda, cuda:1; on Ray cpu or cuda (cpu)"
    )
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"comma-separated scoring steps after the scene cuts ({','.join(STEPS)})",
    )
    parser.add_argument(
        "--skip-model-stages",
        action="store_true",
        help="run only the stages without model weights (cuts, motion, camera motion, clarity)",
    )
    parser.add_argument(
        "--thresholds", default=None, help="NAME=VALUE,... over the defaults, 'none' turns one off (docs/curation.md)"
    )
    parser.add_argument("--flow", choices=("farneback", "dis"), default="farneback", help="optical flow (farneback)")
    parser.add_argument("--clip-model", default=defaults.clip_model, help="CLIP of temporal consistency")
    parser.add_argument("--aesthetic-model", default=defaults.aesthetic_model, help="CLIP of the aesthetic score")
    parser.add_argument("--aesthetic-head", default=defaults.aesthetic_head, help="ORG/NAME/FILE of the predictor")
    parser.add_argument("--caption-model", default=defaults.caption_model, help="video captioning model")
    parser.add_argument("--caption-prompt", default=defaults.caption_prompt, help="what the captioner is asked")
    parser.add_argument(
        "--caption-frames", type=int, default=defaults.caption_frames, help="frames the captioner sees per clip"
    )
    parser.add_argument("--max-new-tokens", type=int, default=defaults.caption_max_new_tokens, help="caption length")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="clips per model batch")


def run(args: argparse.Namespace) -> int:
    from ..curation.filters import Thresholds
    from ..curation.options import MODEL_STEPS, CurateOptions, ModelOptions
    from ..curation.pipeline import curate
    from ..errors import UsageError

    if min(args.num_proc, args.batch_size, args.caption_frames, args.max_new_tokens) < 1:
        raise UsageError("--num-proc, --batch-size, --caption-frames and --max-new-tokens must be at least 1")
    steps = tuple(step.strip() for step in args.steps.split(",") if step.strip())
    if args.skip_model_stages:
        steps = tuple(step for step in steps if step not in MODEL_STEPS)
    models = ModelOptions(
        clip_model=args.clip_model,
        aesthetic_model=args.aesthetic_model,
        aesthetic_head=args.aesthetic_head,
        caption_model=args.caption_model,
        caption_prompt=args.caption_prompt,
        caption_max_new_tokens=args.max_new_tokens,
        caption_frames=args.caption_frames,
        device=args.device,
        batch_size=args.batch_size,
    )
    options = CurateOptions(
        steps=steps,
        thresholds=Thresholds.parse(args.thresholds),
        flow=args.flow,
        models=models,
        num_proc=args.num_proc,
        executor=args.executor,
        ray_address=args.ray_address,
    )
    summary = curate(args.input, args.out_dir, options)
    for drop in summary.drops:
        print(f"  dropped {drop.line()}")
    for item in summary.failed:
        print(f"  skipped {item['reason']:<18} {item['video']}  ({item['detail']})")
    print(summary.line())
    return 0
