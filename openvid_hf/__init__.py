"""OpenVid-1M and its MVDiT video diffusion transformer, native to the Hugging Face ecosystem.

The subpackages, bottom to top (docs/architecture.md): `schema`, `errors`, `atomic`, `cards` and `hub` (the data
contract and what every subsystem shares); `video`; `release` (the original release); `publish` (the published
dataset); `model` (checkpoints to diffusers; the diffusers code itself is `pipelines`); `training`; `testing`;
`demo`; `commands` (the CLI). Heavy modules (torch, diffusers, datasets) load on first use of the names below, so
the CLI starts fast. Importing this package changes nothing in other libraries: `register_with_diffusers` is explicit.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY_EXPORTS = {
    "MVDiTTransformer3DModel": "openvid_hf.pipelines",
    "MVDiTPipeline": "openvid_hf.pipelines",
    "MVDiTPipelineOutput": "openvid_hf.pipelines",
    "register_with_diffusers": "openvid_hf.pipelines",
    "OpenVid1M": "openvid_hf.dataset_script.openvid_1m",
    "load_release": "openvid_hf.dataset_script.openvid_1m",
    "ClipLoader": "openvid_hf.video.clips",
    "OpenVidClipDataset": "openvid_hf.training.clip_dataset",
    "read_frames": "openvid_hf.video.decoding",
    "load_metadata": "openvid_hf.publish.metadata",
    "load_subset": "openvid_hf.publish.subset",
    "convert_original_checkpoint": "openvid_hf.model.convert",
}

__all__ = ["__version__", *_LAZY_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _LAZY_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'openvid_hf' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
