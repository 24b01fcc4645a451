"""`openvid-hf encode --executor ray` on a real two-node cluster (`ray start` processes on 127.0.0.1): the shards are
encoded on Ray actors, one per node, each loading the encoders once; the latent dataset is byte-identical to a local
encode's (with as many torch threads); and a re-run skips every shard, starting no actor. Paths are given relative
to the driver's folder, which the Ray workers do not run in.

Skipped, saying why, where the Ray extra is not installed (`pip install 'openvid-hf[ray]'`).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch
from latent_inputs import build_source, encode_args
from sample_truth import tree_bytes

from openvid_hf.commands.cli import main
from openvid_hf.testing.ray_cluster import LocalRayCluster
from openvid_hf.testing.tiny_pipeline import tiny_pipeline

#: The process title of a Ray worker hosting an actor (`executors.ray.ActorWorker`).
ACTOR = "ray::ActorWorker"
#: Two shards of sd clips, one of hd clips.
SHARDS = ["--samples-per-shard", "2"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A folder holding the built dataset (`built`) and the tiny pipeline (`model`)."""
    root = tmp_path_factory.mktemp("encode-on-ray")
    build_source(root)
    tiny_pipeline(seed=0).save_pretrained(root / "model")
    return root


def encode_on_ray(cluster: LocalRayCluster, out_dir: str) -> set[int]:
    """`encode built OUT_DIR --executor ray` on `cluster`; the nodes (by index) that hosted an actor meanwhile."""
    argv = encode_args("built", Path(out_dir), "model", *SHARDS, "--executor", "ray", "--ray-address", cluster.address)
    outcome: dict[str, int] = {}
    encoding = threading.Thread(target=lambda: outcome.update(status=main(argv)))
    encoding.start()
    hosts = set()
    while encoding.is_alive():
        hosts |= {index for index, node in enumerate(cluster.nodes) if node.workers_running(ACTOR)}
        time.sleep(0.05)
    encoding.join()
    assert outcome == {"status": 0}
    return hosts


def test_encoding_on_ray_actors_writes_what_a_local_encode_writes_and_a_rerun_skips_everything(
    ray_cluster, inputs, monkeypatch, capsys
):
    monkeypatch.chdir(inputs)
    # One torch thread, like each node's actor: Ray sets an actor's threads to its node's one CPU, and a float32
    # sum split over another number of threads can differ in the last bit.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(encode_args("built", Path("local"), "model", *SHARDS)) == 0
    finally:
        torch.set_num_threads(threads)

    assert encode_on_ray(ray_cluster, "on-ray") == {0, 1}
    assert "3 shards written, 0 reused" in capsys.readouterr().out
    # The same shards and manifest (each card names its own folder).
    local, on_ray = ({**tree_bytes(inputs / name), "README.md": b""} for name in ("local", "on-ray"))
    assert on_ray == local and len([path for path in local if path.endswith(".tar")]) == 3

    # The first run's actors were killed when it ended; their processes exit on their own time.
    deadline = time.monotonic() + 30
    while any(node.workers_running(ACTOR) for node in ray_cluster.nodes) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert encode_on_ray(ray_cluster, "on-ray") == set()
    assert "0 shards written, 3 reused" in capsys.readouterr().out
