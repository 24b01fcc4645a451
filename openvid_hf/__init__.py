"""OpenVid-1M and its MVDiT video diffusion transformer, native to the Hugging Face ecosystem.

Heavy modules (torch, diffusers, datasets) load on first use of the names below, so the CLI starts fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import diffusers_registration

__version__ = "0.1.0"

_LAZY_EXPORTS = {
    "MVDiTTransformer3DModel": "openvid_hf.pipelines",
    "MVDiTPipeline": "openvid_hf.pipelines",
    "MVDiTPipelineOutput": "openvid_hf.pipelines",
    "OpenVid1M": "openvid_hf.dataset_script.openvid_1m",
    "load_release": "openvid_hf.dataset_script.openvid_1m",
    "ClipLoader": "openvid_hf.transforms",
    "OpenVidClipDataset": "openvid_hf.clip_dataset",
    "read_frames": "openvid_hf.video",
    "load_metadata": "openvid_hf.publish",
}

__all__ = ["__version__", *_LAZY_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'openvid_hf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


# diffusers loads `["openvid_hf", "MVDiTTransformer3DModel"]` components once this runs (see the module).
diffusers_registration.install()
