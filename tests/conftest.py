"""Shared fixtures: small real inputs made once per session."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = ["openvid_hf.testing.fixtures"]


@pytest.fixture(scope="session")
def sample_release(tmp_path_factory):
    """A 40-video synthetic release with every planted defect (see `openvid_hf.testing.sample_release`)."""
    from openvid_hf.testing.sample_release import write_sample_release

    return write_sample_release(tmp_path_factory.mktemp("release") / "OpenVid-1M", num_videos=40, seed=0)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """`../shared/reference/` beside the checkout (or `$OPENVID_HF_REFERENCE_DIR`): the original's tensors."""
    beside_checkout = Path(__file__).resolve().parents[2] / "shared" / "reference"
    root = Path(os.environ.get("OPENVID_HF_REFERENCE_DIR", beside_checkout))
    if not (root / "README.md").is_file():
        pytest.skip(f"reference tensors of the original implementation not found in {root}")
    return root


@pytest.fixture(scope="session")
def mvdit_reference(reference_dir):
    """One forward pass of the original tiny MVDiT: its config, state dict, inputs and outputs."""
    from safetensors.torch import load_file

    io = load_file(reference_dir / "mvdit_tiny.io.safetensors")
    return SimpleNamespace(
        root=reference_dir,
        config_path=reference_dir / "mvdit_tiny.json",
        config=json.loads((reference_dir / "mvdit_tiny.json").read_text()),
        state_dict_path=reference_dir / "mvdit_tiny.reference_state_dict.safetensors",
        state_dict=load_file(reference_dir / "mvdit_tiny.reference_state_dict.safetensors"),
        io=io,
        inputs={
            "hidden_states": io["x"],
            "timestep": io["timestep"],
            "encoder_hidden_states": io["y"][:, 0],
            "encoder_attention_mask": io["mask"],
        },
    )


@pytest.fixture(scope="session")
def iddpm_reference(reference_dir) -> dict:
    """The original IDDPM sampler's steps and training-loss terms (`iddpm_100.safetensors`)."""
    from safetensors.torch import load_file

    return load_file(reference_dir / "iddpm_100.safetensors")


@pytest.fixture(scope="session")
def curation_models(hub_api, tmp_path_factory) -> dict[str, str]:
    """Repo ids of the tiny CLIP (with the aesthetic head files) and the tiny captioner on the local Hub."""
    from openvid_hf.testing.tiny_curation_models import upload_tiny_curation_models

    return upload_tiny_curation_models(hub_api, tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def every_stage_args(curation_models) -> list[str]:
    """`curate` options running every stage with the tiny models, bounds set to keep the short test clips."""
    clip, captioner = curation_models["clip"], curation_models["captioner"]
    return [
        *("--flow", "dis", "--clip-model", clip, "--aesthetic-model", clip),
        *("--aesthetic-head", f"{clip}/head.safetensors", "--caption-model", captioner),
        *("--caption-frames", "2", "--max-new-tokens", "4", "--batch-size", "2"),
        *("--thresholds", "min_seconds=0.4,min_aesthetic_score=none,max_temporal_consistency_score=none"),
    ]


@pytest.fixture(scope="module")
def ray_cluster(hub_server):
    """A real Ray cluster of two nodes with one CPU each, `ray start` processes on 127.0.0.1, for one test module.

    Started after the Hub server, so its workers inherit HF_ENDPOINT and HF_TOKEN as a real cluster's workers
    inherit their credentials; it notices a lost node within seconds, not its default 30 s (the head reads the
    health-check settings). Skipped, saying why, where the Ray extra is not installed.
    """
    pytest.importorskip("ray", reason="the Ray extra is not installed: pip install 'openvid-hf[ray]'")
    from openvid_hf.testing.ray_cluster import LocalRayCluster

    fast_failure_detection = {"RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "3"}
    with LocalRayCluster(env=fast_failure_detection) as cluster:
        cluster.add_node()
        nodes = list(cluster.nodes)
        yield cluster
    assert not [node.processes() for node in nodes if node.processes()]  # nothing of the cluster is left
