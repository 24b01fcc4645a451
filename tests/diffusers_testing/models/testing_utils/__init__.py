# Copied verbatim from huggingface/diffusers at commit 58eb52c0803ea9af3abec60841c2a093bdf1f951,
# tests/models/testing_utils/__init__.py (https://github.com/huggingface/diffusers/blob/58eb52c0803ea9af3abec60841c2a093bdf1f951/tests/models/testing_utils/__init__.py).
# Copyright The HuggingFace Team. Licensed under the Apache License, Version 2.0
# (http://www.apache.org/licenses/LICENSE-2.0). Test-only helper of openvid-hf; not modified below this header.

from .attention import AttentionBackendTesterMixin, AttentionTesterMixin
from .cache import (
    CacheTesterMixin,
    FasterCacheConfigMixin,
    FasterCacheTesterMixin,
    FirstBlockCacheConfigMixin,
    FirstBlockCacheTesterMixin,
    MagCacheConfigMixin,
    MagCacheTesterMixin,
    PyramidAttentionBroadcastConfigMixin,
    PyramidAttentionBroadcastTesterMixin,
    TaylorSeerCacheConfigMixin,
    TaylorSeerCacheTesterMixin,
)
from .common import BaseModelTesterConfig, ModelTesterMixin
from .compile import TorchCompileTesterMixin
from .ip_adapter import IPAdapterTesterMixin
from .lora import LoraHotSwappingForModelTesterMixin, LoraTesterMixin
from .memory import CPUOffloadTesterMixin, GroupOffloadTesterMixin, LayerwiseCastingTesterMixin, MemoryTesterMixin
from .parallelism import (
    ContextParallelAttentionBackendsTesterMixin,
    ContextParallelTesterMixin,
    TensorParallelTesterMixin,
)
from .quantization import (
    AutoRoundCompileTesterMixin,
    AutoRoundConfigMixin,
    AutoRoundTesterMixin,
    BitsAndBytesCompileTesterMixin,
    BitsAndBytesConfigMixin,
    BitsAndBytesTesterMixin,
    GGUFCompileTesterMixin,
    GGUFConfigMixin,
    GGUFTesterMixin,
    ModelOptCompileTesterMixin,
    ModelOptConfigMixin,
    ModelOptTesterMixin,
    NunchakuLiteCompileTesterMixin,
    NunchakuLiteConfigMixin,
    NunchakuLiteTesterMixin,
    QuantizationCompileTesterMixin,
    QuantizationTesterMixin,
    QuantoCompileTesterMixin,
    QuantoConfigMixin,
    QuantoTesterMixin,
    SDNQCompileTesterMixin,
    SDNQConfigMixin,
    SDNQTesterMixin,
    TorchAoCompileTesterMixin,
    TorchAoConfigMixin,
    TorchAoTesterMixin,
)
from .single_file import SingleFileTesterMixin
from .training import TrainingTesterMixin
from .utils import run_nondeterministic


__all__ = [
    "AttentionBackendTesterMixin",
    "AttentionTesterMixin",
    "AutoRoundConfigMixin",
    "AutoRoundTesterMixin",
    "BaseModelTesterConfig",
    "BitsAndBytesCompileTesterMixin",
    "BitsAndBytesConfigMixin",
    "BitsAndBytesTesterMixin",
    "CacheTesterMixin",
    "ContextParallelTesterMixin",
    "ContextParallelAttentionBackendsTesterMixin",
    "TensorParallelTesterMixin",
    "CPUOffloadTesterMixin",
    "FasterCacheConfigMixin",
    "FasterCacheTesterMixin",
    "FirstBlockCacheConfigMixin",
    "FirstBlockCacheTesterMixin",
    "MagCacheConfigMixin",
    "MagCacheTesterMixin",
    "GGUFCompileTesterMixin",
    "GGUFConfigMixin",
    "GGUFTesterMixin",
    "GroupOffloadTesterMixin",
    "IPAdapterTesterMixin",
    "LayerwiseCastingTesterMixin",
    "LoraHotSwappingForModelTesterMixin",
    "LoraTesterMixin",
    "MemoryTesterMixin",
    "ModelOptCompileTesterMixin",
    "ModelOptConfigMixin",
    "ModelOptTesterMixin",
    "ModelTesterMixin",
    "NunchakuLiteCompileTesterMixin",
    "NunchakuLiteConfigMixin",
    "NunchakuLiteTesterMixin",
    "PyramidAttentionBroadcastConfigMixin",
    "PyramidAttentionBroadcastTesterMixin",
    "TaylorSeerCacheConfigMixin",
    "TaylorSeerCacheTesterMixin",
    "QuantizationCompileTesterMixin",
    "QuantizationTesterMixin",
    "QuantoCompileTesterMixin",
    "QuantoConfigMixin",
    "QuantoTesterMixin",
    "run_nondeterministic",
    "SDNQCompileTesterMixin",
    "SDNQConfigMixin",
    "SDNQTesterMixin",
    "SingleFileTesterMixin",
    "TorchAoCompileTesterMixin",
    "TorchAoConfigMixin",
    "TorchAoTesterMixin",
    "TorchCompileTesterMixin",
    "TrainingTesterMixin",
]
