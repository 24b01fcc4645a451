"""diffusers code for MVDiT (installed as `openvid_hf.pipelines`).

These modules import only torch, diffusers and transformers, never `openvid_hf`, so the same files can be
published to a Hub repository as remote code. Names load on first use: importing one module never imports the others.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MVDiTTransformer3DModel": "transformer_mvdit",
    "MVDiTPipeline": "pipeline_mvdit",
    "MVDiTPipelineOutput": "pipeline_mvdit",
    "DEFAULT_SCHEDULER_CONFIG": "pipeline_mvdit",
    "DEFAULT_FPS": "pipeline_mvdit",
    "default_scheduler": "pipeline_mvdit",
    "clean_caption": "caption_cleaning",
    "register_with_diffusers": "registration",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
