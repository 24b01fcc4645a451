# Copied verbatim from huggingface/diffusers at commit 58eb52c0803ea9af3abec60841c2a093bdf1f951,
# tests/pipelines/testing_utils/__init__.py (https://github.com/huggingface/diffusers/blob/58eb52c0803ea9af3abec60841c2a093bdf1f951/tests/pipelines/testing_utils/__init__.py).
# Copyright The HuggingFace Team. Licensed under the Apache License, Version 2.0
# (http://www.apache.org/licenses/LICENSE-2.0). Test-only helper of openvid-hf; not modified below this header.

from .cache import (
    CacheTesterMixin,
    FasterCacheTesterMixin,
    FirstBlockCacheTesterMixin,
    MagCacheTesterMixin,
    PyramidAttentionBroadcastTesterMixin,
    TaylorSeerCacheTesterMixin,
)
from .common import BasePipelineTesterConfig, PipelineTesterMixin
from .lora import LoraMemoryTesterMixin, LoraTesterMixin, UNetLoraTesterMixin
from .memory import (
    GroupOffloadTesterMixin,
    LayerwiseCastingTesterMixin,
    MemoryTesterMixin,
    PipelineOffloadTesterMixin,
)
from .utils import (
    check_qkv_fused_layers_exist,
    check_qkv_fusion_matches_attn_procs_length,
    check_qkv_fusion_processors_exist,
    check_same_shape,
)


__all__ = [
    "BasePipelineTesterConfig",
    "PipelineTesterMixin",
    "LoraTesterMixin",
    "LoraMemoryTesterMixin",
    "UNetLoraTesterMixin",
    "MemoryTesterMixin",
    "PipelineOffloadTesterMixin",
    "GroupOffloadTesterMixin",
    "LayerwiseCastingTesterMixin",
    "CacheTesterMixin",
    "PyramidAttentionBroadcastTesterMixin",
    "FasterCacheTesterMixin",
    "FirstBlockCacheTesterMixin",
    "TaylorSeerCacheTesterMixin",
    "MagCacheTesterMixin",
    "check_qkv_fused_layers_exist",
    "check_qkv_fusion_matches_attn_procs_length",
    "check_qkv_fusion_processors_exist",
    "check_same_shape",
]
