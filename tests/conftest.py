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
