"""`openvid-hf curate --executor ray` on a real two-node cluster (`ray start` processes on 127.0.0.1): the CPU
stages run as Ray tasks and the model stages on Ray actors, one per node, on both nodes; the work folder and the
release are byte-identical to a local run's (with as many torch threads); a re-run on Ray resumes, recomputing
nothing; and a GPU asked of a cluster without one is one clear line.

Skipped, saying why, where the Ray extra is not installed (`pip install 'openvid-hf[ray]'`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sample_truth import tree_bytes

from openvid_hf.commands.cli import main
from openvid_hf.testing.ray_cluster import LocalRayCluster, RayNode
from openvid_hf.testing.synthetic_videos import camera_frames, write_shots, write_video

#: Process titles of Ray's workers: running a task (`executors.ray.run_item`), and hosting an actor.
TASK, ACTOR = "ray::run_item", "ray::ActorWorker"


@pytest.fixture(scope="module")
def raw_videos(tmp_path_factory) -> Path:
    """Three shots (clips copied and re-encoded), a pan, and an undecodable file: 4 clips and a skip."""
    folder = tmp_path_factory.mktemp("raw")
    write_shots(folder / "shots.mp4", [30, 25, 25], gop=30)
    write_video(folder / "pan.mp4", camera_frames("pan_left", 20, speed=2.0, seed=6))
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(3000))
    return folder


def curate_locally(args: list[str]) -> None:
    """`curate ARGS` here, its models on one torch thread like the cluster's actors: each node has one CPU, and Ray
    sets an actor's threads to its CPUs. On CPU a sum split over another number of threads can differ in the last
    bit."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["curate", *args]) == 0
    finally:
        torch.set_num_threads(threads)


def curate_on_ray(cluster: LocalRayCluster, args: list[str], victim: RayNode | None = None) -> dict[str, set[int]]:
    """`curate ARGS --executor ray` on `cluster`, watching its nodes: which ones (by index) ran a task, and which
    hosted an actor. The `victim` node is killed (daemons and workers) as soon as its actor is busy with a batch."""
    seen: dict[str, set[int]] = {TASK: set(), ACTOR: set()}
    outcome: dict[str, int] = {}
    command = ["curate", *args, "--executor", "ray", "--ray-address", cluster.address]
    curating = threading.Thread(target=lambda: outcome.update(status=main(command)))
    curating.start()
    while curating.is_alive():
        for index, node in enumerate(cluster.nodes):
            for title, nodes in seen.items():
                if node.workers_running(title):
                    nodes.add(index)
        if victim is not None and victim.workers_running(f"{ACTOR}.run"):
            cluster.kill_node(victim)
            victim = None
        time.sleep(0.05)
    curating.join()
    assert outcome == {"status": 0}
    return seen


@pytest.fixture(scope="module")
def local_release(raw_videos, every_stage_args, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "release"
    curate_locally([str(raw_videos), str(out), *every_stage_args])
    return out


@pytest.fixture(scope="module")
def ray_release(ray_cluster, raw_videos, every_stage_args, tmp_path_factory) -> tuple[Path, dict[str, set[int]]]:
    out = tmp_path_factory.mktemp("on-ray") / "release"
    return out, curate_on_ray(ray_cluster, [str(raw_videos), str(out), *every_stage_args])


def test_tasks_and_actors_run_on_both_nodes(ray_release):
    _, seen = ray_release
    assert seen == {TASK: {0, 1}, ACTOR: {0, 1}}


def test_a_ray_curation_is_byte_identical_to_a_local_one(ray_release, local_release):
    out, _ = ray_release
    on_ray, local = tree_bytes(out), tree_bytes(local_release)
    assert on_ray == local
    assert "data/train/OpenVid-1M.csv" in local and len([path for path in local if path.endswith(".parquet")]) > 8


def test_a_rerun_on_ray_resumes_and_recomputes_nothing(ray_cluster, ray_release, raw_videos, every_stage_args):
    out, _ = ray_release
    before = tree_bytes(out)
    seen = curate_on_ray(ray_cluster, [str(raw_videos), str(out), *every_stage_args])
    assert seen == {TASK: set(), ACTOR: set()}
    assert tree_bytes(out) == before


def test_a_gpu_asked_of_a_cluster_without_one_is_one_clear_line(ray_cluster, ray_release, raw_videos, capsys):
    out, _ = ray_release
    args = ["curate", str(raw_videos), str(out), "--steps", "consistency", "--clip-model", "openvid-tests/unloaded"]
    args += ["--device", "cuda", "--executor", "ray", "--ray-address", ray_cluster.address]
    assert main(args) == 1
    error = capsys.readouterr().err
    assert error.splitlines()[-1].startswith("openvid-hf curate: error: the Ray cluster has no GPU; add GPU nodes")
    assert "Traceback" not in error


@pytest.mark.slow
def test_a_node_lost_mid_stage_hands_its_batches_to_the_other_actors(
    ray_cluster, raw_videos, every_stage_args, tmp_path
):
    """A third node joins and is SIGKILLed while its actor scores a batch (one clip a batch, so every node has an
    actor): the other actors score its batches, and the result is byte-identical to a local run."""
    one_clip_batches = [*every_stage_args, "--batch-size", "1"]
    curate_locally([str(raw_videos), str(tmp_path / "local"), *one_clip_batches])
    victim = ray_cluster.add_node()
    curate_on_ray(ray_cluster, [str(raw_videos), str(tmp_path / "ray"), *one_clip_batches], victim=victim)
    assert not victim.processes()
    assert tree_bytes(tmp_path / "ray") == tree_bytes(tmp_path / "local")
