"""`openvid-hf build` throughput against a plain copy of the same bytes, measured in the same run.

Writes a release in the original layout (three stored zip parts, the two CSVs) whose clips are real H.264 mp4
files of about 3.5 MB, then times, in alternation:

- copy: `shutil.copyfile` of every file of the release into a new folder (the floor any build pays: the bytes
  read once and written once);
- build: `openvid_hf.publish.build.build_dataset` end to end (planning, `--num-proc` worker processes started, reading
  each member, probing its header, hashing it, writing the tar shards and hashing them, then the metadata,
  manifest and card), for each `--num-proc` asked.

Each is timed with the release's files evicted from the page cache first (`posix_fadvise(DONTNEED)`: the source
is read from disk, as in a real build of terabytes) and on a warm page cache (where the copy is a kernel memory
copy and the build is bound by its two SHA-256 passes: the clip's, a contract field, and the shard's, for the
manifest). Throughput is bytes written per second (the release's bytes for the copy, the shards' bytes for the
build); the goal is a build at least 0.5x the copy rate with `--num-proc 2`. For context it also prints the
machine's SHA-256 rate on one core and the fixed cost of a build (a 3-clip release: planning, starting the
worker processes, the card), which a build of terabytes does not notice, and the cost of probing one clip's header:
`video.decoding.probe_video` (the mp4's index boxes) beside `av.open`, which decodes a frame to probe the stream.

Run: `python benchmarks/bench_build.py` (one to two minutes on 2 cores); `--clips`, `--repeat`, `--num-proc 1 2`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

CACHE_STATES = ("cold", "warm")
PARTS = 3
DISTINCT_CLIPS = 6
FRAME_SIZE = (640, 360)
FRAMES = 24
TINY_CLIPS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=1000, help="clips in the release (1000, about 3.5 GB)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each method; the best is kept (2)")
    parser.add_argument("--num-proc", type=int, nargs="+", default=[1, 2], help="build processes to time (1 2)")
    parser.add_argument("--shard-size", default="100MB", help="build shard size (100MB)")
    args = parser.parse_args()
    os.environ["TQDM_DISABLE"] = "1"  # the table is the output; progress bars would bury it

    with tempfile.TemporaryDirectory(prefix="bench_build_") as workdir:
        workdir = Path(workdir)
        started = time.perf_counter()
        release = write_release(workdir / "release", args.clips)
        release_bytes = sum(path.stat().st_size for path in release.rglob("*") if path.is_file())
        seconds = time.perf_counter() - started
        print(f"wrote a {release_bytes / 1e6:.0f} MB release of {args.clips} clips in {seconds:.0f} s")
        print(f"SHA-256 on one core: {sha256_rate():.0f} MB/s")
        print(probe_costs(next(release.glob("*.zip"))))
        tiny = write_release(workdir / "tiny", TINY_CLIPS)
        timed_build(tiny, workdir / "tiny-build", 1, args)  # the imports a first build pays
        fixed = ", ".join(
            f"--num-proc {num_proc} {timed_build(tiny, workdir / 'tiny-build', num_proc, args)[0]:.1f} s"
            for num_proc in args.num_proc
        )
        print(f"fixed cost (a {TINY_CLIPS}-clip build): {fixed}")

        timings: dict[tuple[str, str], list[tuple[float, int]]] = {}
        for _ in range(args.repeat):
            for cache in CACHE_STATES:
                if cache == "cold":
                    evict(release)
                timings.setdefault((cache, "copy"), []).append((copy_tree(release, workdir / "copy"), release_bytes))
                shutil.rmtree(workdir / "copy")
                for num_proc in args.num_proc:
                    if cache == "cold":
                        evict(release)
                    run = timed_build(release, workdir / "build", num_proc, args)
                    timings.setdefault((cache, f"build --num-proc {num_proc}"), []).append(run)
    print_table(timings)


def timed_build(release: Path, out_dir: Path, num_proc: int, args: argparse.Namespace) -> tuple[float, int]:
    """Seconds of one build and the bytes of its shards; the output is removed afterwards."""
    from openvid_hf.publish.build import build_dataset
    from openvid_hf.publish.plan import BuildOptions, parse_size

    options = BuildOptions(
        shard_size=parse_size(args.shard_size),
        validation_size=0,
        num_proc=num_proc,
        index_cache_dir=out_dir.parent / "index-cache",
    )
    started = time.perf_counter()
    summary = build_dataset(release, out_dir, options)
    seconds = time.perf_counter() - started
    shutil.rmtree(out_dir)
    return seconds, sum(entry.bytes for entry in summary.manifest.shards)


def sha256_rate(size: int = 256 << 20) -> float:
    data = os.urandom(size)
    started = time.perf_counter()
    hashlib.sha256(data).digest()
    return size / (time.perf_counter() - started) / 1e6


def probe_costs(archive: Path, runs: int = 200) -> str:
    """Microseconds to probe one clip's header: `probe_video`, and PyAV's `av.open` (which decodes a frame)."""
    import av

    from openvid_hf.video.decoding import probe_video

    with zipfile.ZipFile(archive) as listing:
        clip = listing.read(listing.namelist()[0])

    def pyav_probe(data: bytes) -> tuple:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            return stream.codec_context.width, stream.codec_context.height, stream.frames, stream.average_rate

    costs = {}
    for name, probe in (("probe_video", probe_video), ("av.open", pyav_probe)):
        probe(clip)
        started = time.perf_counter()
        for _ in range(runs):
            probe(clip)
        costs[name] = (time.perf_counter() - started) / runs * 1e6
    return (
        f"header probe of a {len(clip) / 1e6:.1f} MB clip: probe_video {costs['probe_video']:.0f} us, "
        f"av.open {costs['av.open']:.0f} us ({costs['av.open'] / costs['probe_video']:.0f}x)"
    )


def write_release(root: Path, clips: int) -> Path:
    """The original layout: zip parts holding the mp4s under a folder, OpenVid-1M.csv and OpenVidHD.csv."""
    from openvid_hf.testing.sample_release import SampleClip, encode_h264, write_csvs

    rng = np.random.default_rng(0)
    payloads = [
        encode_h264(
            (rng.integers(0, 256, (FRAME_SIZE[1], FRAME_SIZE[0], 3), dtype=np.uint8) for _ in range(FRAMES)), 24
        )
        for _ in range(DISTINCT_CLIPS)
    ]
    rows = [
        SampleClip(
            f"clip{index:06d}.mp4",
            f"Clip {index}.",
            *FRAME_SIZE,
            24,
            FRAMES,
            5.0,
            10.0,
            0.95,
            "static",
            index % 4 == 0,
        )
        for index in range(clips)
    ]
    root.mkdir(parents=True)
    for part in range(PARTS):
        with zipfile.ZipFile(root / f"OpenVid_part{part}.zip", "w", compression=zipfile.ZIP_STORED) as archive:
            for index in range(part, clips, PARTS):
                archive.writestr(f"OpenVid_part{part}/{rows[index].video}", payloads[index % DISTINCT_CLIPS])
    write_csvs(root, rows)
    return root


def copy_tree(source: Path, destination: Path) -> float:
    started = time.perf_counter()
    for path in sorted(source.rglob("*")):
        target = destination / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return time.perf_counter() - started


def evict(root: Path) -> None:
    """Drop the files under `root` from the page cache (flushed first: only clean pages can be dropped)."""
    for path in root.rglob("*"):
        if path.is_file():
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(descriptor)


def print_table(timings: dict[tuple[str, str], list[tuple[float, int]]]) -> None:
    rates = {key: max(size / seconds for seconds, size in runs) / 1e6 for key, runs in timings.items()}
    print(f"{'page cache':<11} {'method':<22} {'best MB/s':>10} {'x copy':>8}")
    for (cache, method), rate in rates.items():
        print(f"{cache:<11} {method:<22} {rate:>10.0f} {rate / rates[cache, 'copy']:>8.2f}")


if __name__ == "__main__":
    main()
