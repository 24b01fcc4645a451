"""diffusers' own pipeline test mixins run on MVDiTPipeline, in both styles diffusers has.

- current: `tests/pipelines/testing_utils/` (pytest classes configured by `BasePipelineTesterConfig`);
- older: `tests/pipelines/test_pipelines_common.py` (`PipelineTesterMixin` on `unittest.TestCase`, and its cache
  mixins), which most diffusers pipelines still use.

The helper files are diffusers', verbatim, in `tests/diffusers_testing/` (commit and licence in each header). The
components are the tiny real ones of `openvid_hf.testing.tiny_pipeline` (T5 tokenizer and encoder, AutoencoderKL,
MVDiT; built offline), with the default scheduler, the original IDDPM sampler.

Settings that differ from the mixins' defaults, and why:
- MVDiT is a video pipeline: it takes `num_videos_per_prompt` (diffusers' video pipelines' name), not
  `num_images_per_prompt`, and has no `cross_attention_kwargs` (it takes `attention_kwargs`, as diffusers' DiT
  pipelines do);
- the cache configs name MVDiT's attentions (`MVDIT_*_IDENTIFIERS`): diffusers' defaults (`transformer_blocks`) would
  treat the temporal attention as spatial.
- `ReturnNameVisitor`, which `test_encode_prompt_works_in_isolation` uses to name `encode_prompt`'s outputs, looks
  the pipeline class up in `diffusers.pipelines`, where in-tree pipelines live: a fixture puts MVDiTPipeline there.

Skips: the mixins' own decorators and conditions skip accelerator-only tests (offloading, float16, device maps) on a
machine without one, and `num_images_per_prompt`, attention slicing and xformers, which this pipeline does not offer
(`test_attention_slicing = test_xformers_attention = False`, as in diffusers' DiT pipelines). Skipped here, with
PixArt-α's reason (same optional components, same skip in diffusers' own tests): `test_save_load_optional_components`
drops the tokenizer and text encoder and then still passes `prompt`; dropping them is covered by
`test_encode_prompt_works_in_isolation` (and `test_pipeline_mvdit.py`). The older style's TaylorSeer and MagCache
mixins are not repeated: they test the same hooks, the same way, as the current style's mixins of the same name,
which run here (with 12 steps instead of 50, see `CACHE_INFERENCE_STEPS`).
"""

from __future__ import annotations

import logging
import unittest
from collections.abc import Iterator
from typing import Any

import diffusers
import pytest
import torch
from diffusers import FasterCacheConfig, PyramidAttentionBroadcastConfig
from diffusers_testing.pipelines import test_pipelines_common as older
from diffusers_testing.pipelines.pipeline_params import (
    TEXT_TO_IMAGE_BATCH_PARAMS,
    TEXT_TO_IMAGE_CALLBACK_CFG_PARAMS,
    TEXT_TO_IMAGE_PARAMS,
)
from diffusers_testing.pipelines.testing_utils import (
    BasePipelineTesterConfig,
    FasterCacheTesterMixin,
    FirstBlockCacheTesterMixin,
    MagCacheTesterMixin,
    MemoryTesterMixin,
    PipelineTesterMixin,
    PyramidAttentionBroadcastTesterMixin,
    TaylorSeerCacheTesterMixin,
)

from openvid_hf import MVDiTPipeline
from openvid_hf.pipelines.transformer_mvdit import (
    MVDIT_SPATIAL_ATTENTION_IDENTIFIERS,
    MVDIT_TAYLORSEER_CACHE_IDENTIFIERS,
    MVDIT_TEMPORAL_ATTENTION_IDENTIFIERS,
)
from openvid_hf.testing.tiny_pipeline import TINY_HEIGHT, TINY_NUM_FRAMES, TINY_WIDTH, tiny_components

PARAMS = TEXT_TO_IMAGE_PARAMS - {"cross_attention_kwargs"}
OPTIONAL_PARAMS = frozenset(
    [
        "num_inference_steps",
        "num_videos_per_prompt",
        "generator",
        "latents",
        "output_type",
        "return_dict",
        "callback_on_step_end",
        "callback_on_step_end_tensor_inputs",
    ]
)
PAB_CONFIG = {
    "spatial_attention_block_skip_range": 2,
    "spatial_attention_timestep_skip_range": (100, 800),
    "spatial_attention_block_identifiers": MVDIT_SPATIAL_ATTENTION_IDENTIFIERS,
}
FASTER_CACHE_CONFIG = {
    "spatial_attention_block_skip_range": 2,
    "spatial_attention_timestep_skip_range": (-1, 901),
    "spatial_attention_block_identifiers": MVDIT_SPATIAL_ATTENTION_IDENTIFIERS,
    "temporal_attention_block_identifiers": MVDIT_TEMPORAL_ATTENTION_IDENTIFIERS,
    "unconditional_batch_skip_range": 2,
    "attention_weight_callback": lambda _: 0.5,
    "tensor_format": "BCFHW",
}
# TaylorSeer and MagCache run 12 steps instead of the mixins' 50 (which take a minute each on 2 cores), with their
# step settings scaled to match: caching starts after step 3 instead of 10.
CACHE_INFERENCE_STEPS = 12
TAYLORSEER_CACHE_CONFIG = {
    "cache_interval": 2,
    "disable_cache_before_step": 3,
    "max_order": 1,
    "taylor_factors_dtype": torch.bfloat16,
    "cache_identifiers": list(MVDIT_TAYLORSEER_CACHE_IDENTIFIERS),
}
MAG_CACHE_CONFIG = {
    "threshold": 0.06,
    "max_skip_steps": 3,
    "retention_ratio": 0.2,
    "num_inference_steps": CACHE_INFERENCE_STEPS,
    "mag_ratios": torch.ones(CACHE_INFERENCE_STEPS),
}


SKIP_OPTIONAL_COMPONENTS = "Test is already covered through encode_prompt isolation."


@pytest.fixture(autouse=True)
def pipeline_in_diffusers_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(diffusers.pipelines, "MVDiTPipeline", MVDiTPipeline, raising=False)


@pytest.fixture(autouse=True)
def restore_pipeline_logger_level() -> Iterator[None]:
    """Some mixin tests silence the pipeline module's logger and leave it so; other tests expect its warnings."""
    logger = logging.getLogger(MVDiTPipeline.__module__)
    level = logger.level
    yield
    logger.setLevel(level)


def dummy_components(num_layers: int = 2) -> dict[str, Any]:
    return tiny_components(seed=0, num_layers=num_layers)


def dummy_inputs(generator: torch.Generator, output_type: str) -> dict[str, Any]:
    return {
        "prompt": "a cat running on the beach at sunset",
        "generator": generator,
        "num_inference_steps": 2,
        "guidance_scale": 6.0,
        "height": TINY_HEIGHT,
        "width": TINY_WIDTH,
        "num_frames": TINY_NUM_FRAMES,
        "output_type": output_type,
    }


# Current style -------------------------------------------------------------------------------------------------------


class MVDiTPipelineTesterConfig(BasePipelineTesterConfig):
    pipeline_class = MVDiTPipeline
    required_input_params_in_call_signature = PARAMS
    batch_input_params = TEXT_TO_IMAGE_BATCH_PARAMS
    callback_cfg_params = TEXT_TO_IMAGE_CALLBACK_CFG_PARAMS
    optional_input_params = OPTIONAL_PARAMS
    output_shape = (TINY_NUM_FRAMES, 3, TINY_HEIGHT, TINY_WIDTH)

    def get_dummy_components(self, num_layers: int = 2) -> dict[str, Any]:
        return dummy_components(num_layers)

    def get_dummy_inputs(self) -> dict[str, Any]:
        return dummy_inputs(self.get_generator(0), "pt")


class TestMVDiTPipeline(MVDiTPipelineTesterConfig, PipelineTesterMixin):
    @pytest.mark.skip(reason=SKIP_OPTIONAL_COMPONENTS)
    def test_save_load_optional_components(self):
        pass


class TestMVDiTPipelineMemory(MVDiTPipelineTesterConfig, MemoryTesterMixin):
    pass


class TestMVDiTPipelinePyramidAttentionBroadcast(MVDiTPipelineTesterConfig, PyramidAttentionBroadcastTesterMixin):
    PAB_CONFIG = PAB_CONFIG


class TestMVDiTPipelineFasterCache(MVDiTPipelineTesterConfig, FasterCacheTesterMixin):
    FASTER_CACHE_CONFIG = FASTER_CACHE_CONFIG


class TestMVDiTPipelineFirstBlockCache(MVDiTPipelineTesterConfig, FirstBlockCacheTesterMixin):
    pass


class TestMVDiTPipelineTaylorSeerCache(MVDiTPipelineTesterConfig, TaylorSeerCacheTesterMixin):
    TAYLORSEER_CACHE_CONFIG = TAYLORSEER_CACHE_CONFIG

    def test_taylorseer_cache_inference(self, expected_atol: float = 0.1):
        self._test_cache_inference(self._get_cache_config(), CACHE_INFERENCE_STEPS, expected_atol=expected_atol)


class TestMVDiTPipelineMagCache(MVDiTPipelineTesterConfig, MagCacheTesterMixin):
    MAG_CACHE_CONFIG = MAG_CACHE_CONFIG

    def test_mag_cache_inference(self, expected_atol: float = 0.1):
        self._test_cache_inference(self._get_cache_config(), CACHE_INFERENCE_STEPS, expected_atol=expected_atol)


# Older style ---------------------------------------------------------------------------------------------------------


class TestMVDiTPipelineOlderMixins(
    older.PipelineTesterMixin,
    older.PyramidAttentionBroadcastTesterMixin,
    older.FasterCacheTesterMixin,
    older.FirstBlockCacheTesterMixin,
    unittest.TestCase,
):
    pipeline_class = MVDiTPipeline
    params = PARAMS
    batch_params = TEXT_TO_IMAGE_BATCH_PARAMS
    callback_cfg_params = TEXT_TO_IMAGE_CALLBACK_CFG_PARAMS
    required_optional_params = OPTIONAL_PARAMS
    test_attention_slicing = False
    test_xformers_attention = False
    pab_config = PyramidAttentionBroadcastConfig(**PAB_CONFIG)
    faster_cache_config = FasterCacheConfig(**FASTER_CACHE_CONFIG)

    def get_dummy_components(self, num_layers: int = 2) -> dict[str, Any]:
        return dummy_components(num_layers)

    def get_dummy_inputs(self, device: str | torch.device, seed: int = 0) -> dict[str, Any]:
        return dummy_inputs(torch.Generator("cpu").manual_seed(seed), "np")

    @unittest.skip(SKIP_OPTIONAL_COMPONENTS)
    def test_save_load_optional_components(self):
        pass
