"""Shared fixtures: small real inputs made once per session."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def sample_release(tmp_path_factory):
    """A 40-video synthetic release with every planted defect (see `openvid_hf.sample`)."""
    from openvid_hf.sample import write_sample_release

    return write_sample_release(tmp_path_factory.mktemp("release") / "OpenVid-1M", num_videos=40, seed=0)
