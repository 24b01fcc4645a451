"""Planning and building at scale: the local executor against Ray on two local nodes, measured in the same run.

Writes a synthetic release of N one-frame clips in 186 stored zip parts with the two CSVs
(`openvid_hf.testing.scale_release`: one tiny H.264 mp4's bytes under every name, so writing it is fast), then
times, each in a process of its own (so its peak memory is its own):

- plan: `publish.build.plan_release` from a cold listing cache, the driver's whole share of the work (CSV rows, the
  zips' central directories, the seeded shuffle, the shard assignment), and its peak RSS;
- build, local: `build_dataset` with the local executor and `--num-proc 2`;
- build, Ray: `build_dataset --executor ray` on a cluster of two nodes of one CPU each, started with `ray start` on
  127.0.0.1 (`openvid_hf.testing.ray_cluster`).

It prints clips/s of each build (end to end, and of the shard writing alone, after planning), Ray's ratio to the
local executor, and the driver's peak memory. Goals on a 2-core machine: Ray at 0.8x or more of local, 2,000 or
more clips/s for the local executor, planning 1M rows in under 60 s in under 2 GB.

Run: `python benchmarks/bench_scale.py` (100,000 rows, about two minutes on 2 cores); `--rows 1000000` for the
full count; `--skip-ray` without the Ray extra.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import memory_status_mib, run_in_subprocess

PARTS = 186


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="one-frame clips in the release (100000)")
    parser.add_argument("--shard-size", default="2MB", help="build shard size (2MB: about 500 clips a shard)")
    parser.add_argument("--skip-ray", action="store_true", help="time the local executor only")
    parser.add_argument("--workdir", type=Path, default=None, help="where to write the release (a temp dir)")
    args = parser.parse_args()
    os.environ["TQDM_DISABLE"] = "1"  # the table is the output

    with tempfile.TemporaryDirectory(prefix="bench_scale_", dir=args.workdir) as workdir:
        workdir = Path(workdir)
        from openvid_hf.testing.scale_release import write_scale_release

        started = time.perf_counter()
        release = write_scale_release(workdir / "release", args.rows, PARTS)
        seconds = time.perf_counter() - started
        print(f"wrote a release of {args.rows} one-frame clips in {PARTS} zip parts in {seconds:.0f} s")
        plan = run_in_subprocess(__file__, ["plan", str(release), args.shard_size, str(workdir / "cache")], "plan")
        print(
            f"plan: {plan['seconds']:.1f} s ({args.rows / plan['seconds']:.0f} rows/s), {plan['shards']} shards, "
            f"driver peak RSS {plan['peak_mib']:.0f} MiB"
        )
        runs = {"local --num-proc 2": build(release, workdir, args, "local", None)}
        if not args.skip_ray:
            from openvid_hf.testing.ray_cluster import LocalRayCluster

            with LocalRayCluster(cpus_per_node=1) as cluster:
                cluster.add_node()
                runs["ray, 2 nodes x 1 CPU"] = build(release, workdir, args, "ray", cluster.address)
    print_table(runs)


def build(release: Path, workdir: Path, args: argparse.Namespace, executor: str, address: str | None) -> dict:
    out = workdir / f"build-{executor}"
    worker_args = ["build", str(release), args.shard_size, str(workdir / f"cache-{executor}"), str(out), executor]
    result = run_in_subprocess(__file__, [*worker_args, address or ""], f"build {executor}")
    shutil.rmtree(out)
    return result


def worker(argv: list[str]) -> None:
    """One measurement in this process; prints its JSON as the last line."""
    from openvid_hf.publish.build import build_dataset, plan_release
    from openvid_hf.publish.plan import BuildOptions, parse_size

    task, release, shard_size, cache = argv[:4]
    options = dict(shard_size=parse_size(shard_size), min_frames=1, index_cache_dir=Path(cache))
    started = time.perf_counter()
    if task == "plan":
        _, plan = plan_release(release, BuildOptions(**options))
        result = {"seconds": time.perf_counter() - started, "shards": len(plan.shards)}
    else:
        out, executor, address = argv[4:7]
        options |= dict(num_proc=2, executor=executor, ray_address=address or None)
        summary = build_dataset(release, out, BuildOptions(**options))
        result = {
            "seconds": time.perf_counter() - started,
            "plan_seconds": summary.plan_seconds,
            "clips": summary.manifest.samples,
            "shards": len(summary.manifest.shards),
        }
    print(json.dumps(result | {"peak_mib": memory_status_mib("VmHWM")}))


def print_table(runs: dict[str, dict]) -> None:
    local = next(iter(runs.values()))
    local_rate = local["clips"] / (local["seconds"] - local["plan_seconds"])
    columns = ("clips", "seconds", "clips/s", "writing clips/s", "x local", "driver MiB")
    print(f"{'executor':<24} " + " ".join(f"{name:>{max(8, len(name))}}" for name in columns))
    for name, run in runs.items():
        writing = run["clips"] / (run["seconds"] - run["plan_seconds"])
        print(
            f"{name:<24} {run['clips']:>8} {run['seconds']:>8.1f} {run['clips'] / run['seconds']:>8.0f} "
            f"{writing:>15.0f} {writing / local_rate:>8.2f} {run['peak_mib']:>10.0f}"
        )


if __name__ == "__main__":
    main()
