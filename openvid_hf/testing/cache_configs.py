"""The settings of every diffusers cache method for MVDiT, shared by `tests/test_pipeline_cache.py` and
`benchmarks/bench_cache.py`: diffusers' documented examples, with MVDiT's attention names where a method needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from diffusers import (
    FasterCacheConfig,
    FirstBlockCacheConfig,
    MagCacheConfig,
    PyramidAttentionBroadcastConfig,
    TaylorSeerCacheConfig,
)

from ..pipelines.transformer_mvdit import (
    MVDIT_CROSS_ATTENTION_IDENTIFIERS,
    MVDIT_SPATIAL_ATTENTION_IDENTIFIERS,
    MVDIT_TAYLORSEER_CACHE_IDENTIFIERS,
    MVDIT_TEMPORAL_ATTENTION_IDENTIFIERS,
)

if TYPE_CHECKING:
    from ..pipelines import MVDiTPipeline


def cache_configs(
    pipe: MVDiTPipeline, num_inference_steps: int, mag_ratios: list[float] | None = None, mag_max_skip_steps: int = 2
) -> dict[str, object]:
    """One configuration per diffusers cache method, keyed by `enable_cache`'s method name, with MVDiT's module
    names where a method needs them. `mag_ratios` defaults to no calibration (all 1)."""

    def timestep() -> torch.Tensor:
        return pipe.current_timestep

    return {
        "pyramid_attention_broadcast": PyramidAttentionBroadcastConfig(
            spatial_attention_block_skip_range=2,
            temporal_attention_block_skip_range=3,
            cross_attention_block_skip_range=4,
            spatial_attention_timestep_skip_range=(100, 800),
            temporal_attention_timestep_skip_range=(100, 800),
            cross_attention_timestep_skip_range=(100, 800),
            spatial_attention_block_identifiers=MVDIT_SPATIAL_ATTENTION_IDENTIFIERS,
            temporal_attention_block_identifiers=MVDIT_TEMPORAL_ATTENTION_IDENTIFIERS,
            cross_attention_block_identifiers=MVDIT_CROSS_ATTENTION_IDENTIFIERS,
            current_timestep_callback=timestep,
        ),
        "faster_cache": FasterCacheConfig(
            spatial_attention_block_skip_range=2,
            spatial_attention_timestep_skip_range=(-1, 681),
            temporal_attention_block_skip_range=2,
            temporal_attention_timestep_skip_range=(-1, 681),
            low_frequency_weight_update_timestep_range=(99, 641),
            high_frequency_weight_update_timestep_range=(-1, 301),
            unconditional_batch_skip_range=5,
            unconditional_batch_timestep_skip_range=(-1, 781),
            spatial_attention_block_identifiers=MVDIT_SPATIAL_ATTENTION_IDENTIFIERS,
            temporal_attention_block_identifiers=MVDIT_TEMPORAL_ATTENTION_IDENTIFIERS,
            attention_weight_callback=lambda _: 0.3,
            current_timestep_callback=timestep,
            tensor_format="BCFHW",
        ),
        "first_block_cache": FirstBlockCacheConfig(threshold=0.2),
        "mag_cache": MagCacheConfig(
            mag_ratios=mag_ratios or [1.0] * num_inference_steps,
            num_inference_steps=num_inference_steps,
            threshold=0.06,
            max_skip_steps=mag_max_skip_steps,
            retention_ratio=0.2,
        ),
        "taylorseer_cache": TaylorSeerCacheConfig(
            cache_interval=2,
            disable_cache_before_step=3,
            max_order=1,
            taylor_factors_dtype=torch.float32,
            cache_identifiers=list(MVDIT_TAYLORSEER_CACHE_IDENTIFIERS),
        ),
    }
