"""Shared fixtures: small real inputs made once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

pytest_plugins = ["openvid_hf.testing.fixtures"]


@pytest.fixture(scope="session")
def sample_release(tmp_path_factory):
    """A 40-video synthetic release with every planted defect (see `openvid_hf.sample`)."""
    from openvid_hf.sample import write_sample_release

    return write_sample_release(tmp_path_factory.mktemp("release") / "OpenVid-1M", num_videos=40, seed=0)


@pytest.fixture(scope="session")
def mvdit_reference():
    """Tensors of the original MVDiT implementation (`../shared/reference/`, see its README): the ground truth."""
    import json
    from pathlib import Path
    from types import SimpleNamespace

    from safetensors.torch import load_file

    root = Path(__file__).resolve().parents[2] / "shared" / "reference"
    if not (root / "mvdit_tiny.json").is_file():
        pytest.skip(f"reference tensors of the original implementation not found in {root}")
    return SimpleNamespace(
        root=root,
        config_path=root / "mvdit_tiny.json",
        config=json.loads((root / "mvdit_tiny.json").read_text()),
        state_dict_path=root / "mvdit_tiny.reference_state_dict.safetensors",
        state_dict=load_file(root / "mvdit_tiny.reference_state_dict.safetensors"),
        io=load_file(root / "mvdit_tiny.io.safetensors"),
    )
