"""`openvid-hf curate` on CPU: clips per second of each weight-free stage on 720p input, and each stage's share.

Writes `--videos` synthetic 1280x720 H.264 videos (25 fps, `--seconds` long, each two shots with a hard cut half
a second after a keyframe, a keyframe every second; textured pans, as `openvid_hf.testing.synthetic_videos` makes
them), so each video gives one stream-copied clip and one re-encoded clip. Then it times, in this process, one
stage at a time over all of them:

- decode (baseline): every frame of every clip decoded to RGB with PyAV, the floor of any stage that would look at
  every frame;
- scenes: PySceneDetect's ContentDetector over each source video plus writing its clips (stream copy or
  re-encode), per source video;
- motion (Farneback and DIS): 8 frame pairs a clip, flow at a shorter side of 256;
- clarity: variance of the Laplacian of 8 frames a clip at a shorter side of 360.

The model stages (CLIP consistency and aesthetics, captions) are not timed: their cost is the model's forward
pass, and the real models cannot be downloaded here; docs/benchmarks.md says what to expect. Each stage's rate is
printed as clips per second, its ratio to the decode baseline, and its share of the weight-free pipeline
(scenes + motion with the default Farneback + clarity).

Run: `python benchmarks/bench_curate.py` (about a minute on 2 cores); `--videos`, `--seconds`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()

    from openvid_hf.curation.clarity import clarity_of
    from openvid_hf.curation.motion import motion_of
    from openvid_hf.curation.scenes import SceneOptions, split_video
    from openvid_hf.testing.synthetic_videos import write_shots
    from openvid_hf.video.decoding import open_video

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        frames = round(args.seconds * 25)
        first = (frames // 2) // 25 * 25 + 12  # the cut falls between keyframes: the second clip is re-encoded
        sources = [
            write_shots(root / f"source{index}.mp4", [first, frames - first], fps=25, gop=25, width=1280, height=720)
            for index in range(args.videos)
        ]
        clips_dir = root / "clips"
        clips_dir.mkdir()

        started = time.perf_counter()
        rows = [row for source in sources for row in split_video(source, source.name, clips_dir, SceneOptions())]
        seconds = {"scenes": time.perf_counter() - started}
        clips = [clips_dir / row["clip"] for row in rows]

        def timed(name, function):
            started = time.perf_counter()
            for clip in clips:
                function(clip)
            seconds[name] = time.perf_counter() - started

        def decode(clip):
            with open_video(clip, backend="pyav") as video:
                video.read(range(video.num_frames))

        timed("decode (baseline)", decode)
        timed("motion (farneback)", lambda clip: motion_of(clip, "farneback"))
        timed("motion (dis)", lambda clip: motion_of(clip, "dis"))
        timed("clarity", clarity_of)

    cuts = ", ".join(f"{sum(row['cut'] == cut for row in rows)} {cut}" for cut in ("copy", "reencode"))
    pipeline = seconds["scenes"] + seconds["motion (farneback)"] + seconds["clarity"]
    print(f"{len(sources)} videos of {args.seconds:g} s at 1280x720 -> {len(clips)} clips ({cuts})")
    print(f"{'stage':<20} {'clips/s':>8} {'x decode':>9} {'share':>7}")
    for name, value in seconds.items():
        share = f"{value / pipeline:6.0%}" if name in ("scenes", "motion (farneback)", "clarity") else "      -"
        ratio = seconds["decode (baseline)"] / value
        print(f"{name:<20} {len(clips) / value:8.2f} {ratio:9.2f} {share:>7}")
    print(f"weight-free pipeline: {len(clips) / pipeline:.2f} clips/s on one process")


if __name__ == "__main__":
    main()
