"""Reading a score-selected subset: `load_subset` (byte ranges) against streaming every shard and filtering.

Writes a clean synthetic release (`--clips` SD clips), builds it (`openvid-hf build`, 1 MB shards) and pushes it
to the local Hub (`openvid_hf.testing.hub`), then for 1 %, 5 % and 25 % of the clips selected by aesthetic score
reads the selected samples both ways, each from a fresh Hugging Face cache:

- stream + filter: `load_dataset(repo, split="train", streaming=True).filter(score >= t)`, the plain way;
- load_subset: `openvid_hf.load_subset(repo, "aesthetic_score >= t")`.

Both leave the mp4 undecoded (`Video(decode=False)`), so the numbers are the reading alone; one unmeasured pass
of each comes first (imports, first calls). Bytes are every
response body the local Hub sent during the run (its request log: metadata, API calls, shard ranges); "needed" is
the selected members' bytes plus the metadata table. Run: `python benchmarks/bench_subset.py` (2-3 minutes on 2
cores, most of it writing the clips; `--clips 400` halves that, with fixed per-call costs weighing more).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

FRACTIONS = (0.01, 0.05, 0.25)
REPO_ID = "bench/openvid-subset"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=800, help="clips of the synthetic release (default 800)")
    args = parser.parse_args()

    from openvid_hf.publish.build import build_dataset
    from openvid_hf.publish.plan import BuildOptions
    from openvid_hf.testing.hub import HubServer
    from openvid_hf.testing.hub_clients import point_clients_at
    from openvid_hf.testing.sample_release import write_sample_release

    with tempfile.TemporaryDirectory(prefix="bench_subset_") as workdir, HubServer(Path(workdir) / "hub") as server:
        root = Path(workdir)
        started = time.perf_counter()
        release = write_sample_release(root / "release", num_videos=args.clips, seed=1, hd_fraction=0.0, clean=True)
        build_dataset(release.root, root / "built", BuildOptions(shard_size=1_000_000, validation_size=0))
        with point_clients_at(server.endpoint, token="bench", home=root / "home-push"):
            from huggingface_hub import HfApi

            HfApi().create_repo(REPO_ID, repo_type="dataset")
            HfApi().upload_folder(repo_id=REPO_ID, repo_type="dataset", folder_path=root / "built")
        print(f"wrote, built and pushed {args.clips} clips in {time.perf_counter() - started:.0f} s")

        import pyarrow.parquet as pq

        table = pq.read_table(root / "built" / "metadata" / "train.parquet").to_pylist()
        metadata_bytes = (root / "built" / "metadata" / "train.parquet").stat().st_size
        scores = sorted((row["aesthetic_score"] for row in table), reverse=True)
        # One unmeasured pass of each method first: imports and first-call costs are not a method's reading time.
        for method in ("stream + filter", "load_subset"):
            with point_clients_at(server.endpoint, token="bench", home=root / f"home-warm-{method[:6]}"):
                measure(server, method, scores[0])
        rows = []
        for number, fraction in enumerate(FRACTIONS):
            threshold = scores[max(1, round(fraction * len(scores))) - 1]
            selected = [row for row in table if row["aesthetic_score"] >= threshold]
            needed = sum(row["json_size"] + row["mp4_size"] for row in selected) + metadata_bytes
            results = {}
            for method in ("stream + filter", "load_subset"):
                with point_clients_at(server.endpoint, token="bench", home=root / f"home-{number}-{method[:6]}"):
                    results[method] = measure(server, method, threshold)
                assert results[method]["clips"] == len(selected), (method, results[method], len(selected))
            rows.append((fraction, len(selected), needed, results))
    print_table(rows)


def measure(server, method: str, threshold: float) -> dict:
    """Clips, seconds and bytes the local Hub sent for reading the clips with `aesthetic_score >= threshold`."""
    import datasets

    from openvid_hf import load_subset
    from openvid_hf.schema import RECORD_COLUMN, VIDEO_COLUMN

    raw_video = datasets.Video(decode=False)
    with server.recording() as requests:
        started = time.perf_counter()
        if method == "load_subset":
            stream = load_subset(REPO_ID, f"aesthetic_score >= {threshold!r}")
        else:
            stream = datasets.load_dataset(REPO_ID, split="train", streaming=True)
            stream = stream.filter(lambda row: row[RECORD_COLUMN]["aesthetic_score"] >= threshold)
        clips = sum(1 for _ in stream.cast_column(VIDEO_COLUMN, raw_video))
        seconds = time.perf_counter() - started
    return {"clips": clips, "seconds": seconds, "bytes": sum(request.body_bytes for request in requests)}


def print_table(rows: list) -> None:
    print(
        f"{'selected':>9} {'clips':>6} {'needed MB':>10} | {'stream+filter MB':>16} {'clips/s':>8} | "
        f"{'load_subset MB':>14} {'clips/s':>8} {'/ needed':>9} | {'fewer bytes':>11} {'faster':>7}"
    )
    for fraction, clips, needed, results in rows:
        stream, subset = results["stream + filter"], results["load_subset"]
        print(
            f"{fraction:>9.0%} {clips:>6} {needed / 1e6:>10.2f} | {stream['bytes'] / 1e6:>16.2f} "
            f"{clips / stream['seconds']:>8.1f} | {subset['bytes'] / 1e6:>14.2f} {clips / subset['seconds']:>8.1f} "
            f"{subset['bytes'] / needed:>8.3f}x | {stream['bytes'] / subset['bytes']:>10.1f}x "
            f"{stream['seconds'] / subset['seconds']:>6.1f}x"
        )


if __name__ == "__main__":
    main()
