"""Training-clip loading: the original loader's full decode against decoding only the sampled frames.

Generates OpenVid-like clips (5-10 s, 720p and 1080p, 24-30 fps, a keyframe every 1-2 s, textured
content of a few Mbit/s), draws the original's 16 frames of a random 48-frame window per clip, and times
each method on the same clips and indices, each method and resolution in its own process so that peak
RSS is the method's own:

- original: what `torchvision.io.read_video` did (PyAV decodes the whole clip to RGB, frames stacked
  into one tensor), then the 16 frames are indexed out;
- torchcodec / decord / pyav: `openvid_hf.video.decoding.read_frames` with that backend (seek, decode the window);
- torchcodec + transform: `ClipLoader`'s whole per-sample work (decode, then `ClipTransform` to
  16x256x256 float), still against the original's decode alone.

Run: `python benchmarks/bench_loader.py` (about two minutes on 2 cores); `--clips` sets clips per
resolution, `--repeat` passes over them.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import memory_status_mib, run_in_subprocess

RESOLUTIONS = {"720p": (1280, 720), "1080p": (1920, 1080)}
METHODS = ("original", "torchcodec", "decord", "pyav", "torchcodec + transform")
NUM_FRAMES, FRAME_INTERVAL = 16, 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=3, help="clips per resolution (default 3)")
    parser.add_argument("--repeat", type=int, default=2, help="timed passes over the clips (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker, json.loads(args.plan.read_text()))))
        return

    with tempfile.TemporaryDirectory(prefix="bench_loader_") as workdir:
        started = time.perf_counter()
        plans = {name: write_clips(Path(workdir), name, size, args) for name, size in RESOLUTIONS.items()}
        print(f"generated {args.clips} clips per resolution in {time.perf_counter() - started:.0f} s")
        results = {}
        for resolution, plan in plans.items():
            plan_path = Path(workdir) / f"{resolution}.json"
            plan_path.write_text(json.dumps(plan))
            results[resolution] = {method: run_method(method, plan_path) for method in METHODS}
    print_table(results, plans)


def write_clips(workdir: Path, resolution: str, size: tuple[int, int], args: argparse.Namespace) -> dict:
    """Encode `args.clips` clips at `size`; the plan lists each file with the indices every method reads."""
    from openvid_hf.testing.sample_release import SampleClip, encode_h264
    from openvid_hf.video.clips import FrameSampler, sample_rng

    rng = random.Random(f"{args.seed}:{resolution}")
    sampler = FrameSampler(NUM_FRAMES, FRAME_INTERVAL)
    clips = []
    for number in range(args.clips):
        fps = rng.choice((24, 25, 30))
        num_frames = round(rng.uniform(5.0, 10.0) * fps)
        clip = SampleClip(f"{resolution}_{number}.mp4", "", *size, fps, num_frames, 5.0, 5.0, 1.0, "static", True)
        path = workdir / clip.video
        path.write_bytes(encode_h264(textured_frames(clip, args.seed), fps, gop=round(fps * rng.uniform(1.0, 2.0))))
        indices = sampler(num_frames, sample_rng(args.seed, 0, clip.video))
        clips.append({"path": str(path), "indices": indices, "num_frames": num_frames, "fps": fps})
    return {"clips": clips, "repeat": args.repeat}


def textured_frames(clip, seed: int):
    """`sample.clip_frames` plus a drifting smooth texture, so the encoder spends bits like on real footage."""
    from openvid_hf.testing.sample_release import clip_frames

    rng = np.random.default_rng(seed)
    cell, drift = 16, (2, 3)
    rows = (clip.height + drift[0] * clip.num_frames) // cell + 2
    columns = (clip.width + drift[1] * clip.num_frames) // cell + 2
    coarse = rng.integers(-21, 22, size=(rows, columns, 3), dtype=np.int16)
    texture = coarse.repeat(cell, axis=0).repeat(cell, axis=1)
    for index, frame in enumerate(clip_frames(clip, seed)):
        top, left = drift[0] * index, drift[1] * index
        window = texture[top : top + clip.height, left : left + clip.width]
        yield np.clip(frame + window, 0, 255).astype(np.uint8)


def run_method(method: str, plan_path: Path) -> dict:
    return run_in_subprocess(__file__, [method, "--plan", str(plan_path)], method)


def run_worker(method: str, plan: dict) -> dict:
    """Time `method` over the plan's clips (one untimed warm-up clip first); report clips/s and memory."""
    load = clip_function(method)
    start_rss = memory_status_mib("VmRSS")
    first = plan["clips"][0]
    load(Path(first["path"]).read_bytes(), first["indices"])
    clips = plan["clips"] * plan["repeat"]
    started = time.perf_counter()
    for clip in clips:
        load(Path(clip["path"]).read_bytes(), clip["indices"])
    elapsed = time.perf_counter() - started
    peak_rss = memory_status_mib("VmHWM")
    return {"clips_per_s": len(clips) / elapsed, "peak_rss_mib": peak_rss, "start_rss_mib": start_rss}


def clip_function(method: str):
    """What one training sample costs with `method`: mp4 bytes and indices in, the clip tensor out."""
    import torch

    if method == "original":
        import io

        import av

        def load(data: bytes, indices: list[int]) -> torch.Tensor:
            with av.open(io.BytesIO(data)) as container:
                frames = [frame.to_rgb().to_ndarray() for frame in container.decode(video=0)]
            return torch.as_tensor(np.stack(frames)).permute(0, 3, 1, 2)[indices]

        return load

    from openvid_hf.video.clips import ClipTransform
    from openvid_hf.video.decoding import read_frames

    backend = method.split(" ")[0]
    transform = ClipTransform(256) if method.endswith("transform") else None
    rng = random.Random(0)

    def load(data: bytes, indices: list[int]) -> torch.Tensor:
        frames = read_frames(data, indices, backend)
        return transform(frames, rng) if transform else frames

    return load


def print_table(results: dict, plans: dict) -> None:
    print()
    print(
        f"Loading {NUM_FRAMES} frames of a random {NUM_FRAMES * FRAME_INTERVAL}-frame window per clip "
        f"(ratios against the original's full decode, same clips and indices, same run)"
    )
    header = (
        f"{'clips':<6} {'method':<24} {'clips/s':>8} {'speed':>7} "
        f"{'peak RSS MiB':>13} {'memory':>7} {'above start MiB':>16}"
    )
    print(header)
    print("-" * len(header))
    for resolution, by_method in results.items():
        clips = plans[resolution]["clips"]
        seconds = sum(clip["num_frames"] / clip["fps"] for clip in clips) / len(clips)
        label = f"{resolution}"
        baseline = by_method["original"]
        for method, result in by_method.items():
            speed = result["clips_per_s"] / baseline["clips_per_s"]
            memory = result["peak_rss_mib"] / baseline["peak_rss_mib"]
            above = result["peak_rss_mib"] - result["start_rss_mib"]
            print(
                f"{label:<6} {method:<24} {result['clips_per_s']:>8.2f} {speed:>6.1f}x "
                f"{result['peak_rss_mib']:>13.0f} {memory:>6.2f}x {above:>16.0f}"
            )
            label = ""
        print(f"{'':<6} ({len(clips)} clips, {seconds:.1f} s on average)")


if __name__ == "__main__":
    main()
