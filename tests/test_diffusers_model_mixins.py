"""diffusers' own model test mixins (tests/models/testing_utils of huggingface/diffusers) run on MVDiT.

The mixins are diffusers' files, verbatim, in `tests/diffusers_testing/` (commit and licence in each header). The
model is a tiny MVDiT with PyTorch's default initialisation: its output depends on every module (no zero-initialised
projection), so output comparisons in these suites compare something.

Every skip comes from the mixins' own decorators and conditions, for reasons a diffusers maintainer gives on a CPU:
tests that need an accelerator (CPU and group offloading, device maps, float16/bfloat16 inference, layerwise casting
inference, multi-GPU parallelism) skip without one and run unchanged on a GPU; the `_keep_in_fp32_modules` tests
skip because MVDiT keeps no module in float32. The old-style `ModelTesterMixin` of
tests/models/test_modeling_common.py is gone at this commit (it became `tests/models/testing_utils/common.py`, run
here), so there is no second model suite to run.
"""

from __future__ import annotations

import pytest
import torch
from diffusers_testing.models.testing_utils import (
    AttentionTesterMixin,
    BaseModelTesterConfig,
    FasterCacheTesterMixin,
    FirstBlockCacheTesterMixin,
    LayerwiseCastingTesterMixin,
    LoraTesterMixin,
    MagCacheTesterMixin,
    MemoryTesterMixin,
    ModelTesterMixin,
    PyramidAttentionBroadcastTesterMixin,
    TaylorSeerCacheTesterMixin,
    TrainingTesterMixin,
)
from diffusers_testing.testing_utils import torch_device

from openvid_hf import MVDiTTransformer3DModel
from openvid_hf.pipelines.transformer_mvdit import (
    MVDIT_SPATIAL_ATTENTION_IDENTIFIERS,
    MVDIT_TAYLORSEER_CACHE_IDENTIFIERS,
    MVDIT_TEMPORAL_ATTENTION_IDENTIFIERS,
)

BATCH, FRAMES, SIZE, TOKENS, CAPTION_CHANNELS = 2, 2, 4, 6, 16


class MVDiTTesterConfig(BaseModelTesterConfig):
    @property
    def model_class(self) -> type[MVDiTTransformer3DModel]:
        return MVDiTTransformer3DModel

    @property
    def main_input_name(self) -> str:
        return "hidden_states"

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (8, FRAMES, SIZE, SIZE)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (4, FRAMES, SIZE, SIZE)

    def get_init_dict(self) -> dict:
        return {
            "num_attention_heads": 2,
            "attention_head_dim": 8,
            "num_layers": 2,
            "caption_channels": CAPTION_CHANNELS,
            "max_text_length": TOKENS,
            "sample_size": (SIZE, SIZE),
            "num_frames": FRAMES,
        }

    def get_dummy_inputs(self, batch_size: int = BATCH) -> dict[str, torch.Tensor]:
        generator = torch.Generator("cpu").manual_seed(0)
        mask = torch.ones(batch_size, TOKENS, dtype=torch.long)
        mask[0, TOKENS // 2 :] = 0
        return {
            "hidden_states": torch.randn(batch_size, 4, FRAMES, SIZE, SIZE, generator=generator).to(torch_device),
            "timestep": torch.tensor([999.0, 10.0] * (batch_size // 2) + [500.0] * (batch_size % 2)).to(torch_device),
            "encoder_hidden_states": torch.randn(batch_size, TOKENS, CAPTION_CHANNELS, generator=generator).to(
                torch_device
            ),
            "encoder_attention_mask": mask.to(torch_device),
        }


class TestMVDiTModel(MVDiTTesterConfig, ModelTesterMixin):
    pass


class TestMVDiTAttention(MVDiTTesterConfig, AttentionTesterMixin):
    pass


class TestMVDiTMemory(MVDiTTesterConfig, MemoryTesterMixin):
    pass


class TestMVDiTLayerwiseCasting(MVDiTTesterConfig, LayerwiseCastingTesterMixin):
    pass


class TestMVDiTTraining(MVDiTTesterConfig, TrainingTesterMixin):
    def test_gradient_checkpointing_is_applied(self):
        super().test_gradient_checkpointing_is_applied(expected_set={"MVDiTTransformer3DModel"})


class TestMVDiTLoRA(MVDiTTesterConfig, LoraTesterMixin):
    pass


class TestMVDiTPyramidAttentionBroadcast(MVDiTTesterConfig, PyramidAttentionBroadcastTesterMixin):
    PAB_CONFIG = {
        "spatial_attention_block_skip_range": 2,
        "spatial_attention_block_identifiers": MVDIT_SPATIAL_ATTENTION_IDENTIFIERS,
        "temporal_attention_block_skip_range": 2,
        "temporal_attention_block_identifiers": MVDIT_TEMPORAL_ATTENTION_IDENTIFIERS,
    }


class TestMVDiTFasterCache(MVDiTTesterConfig, FasterCacheTesterMixin):
    FASTER_CACHE_CONFIG = {
        "spatial_attention_block_skip_range": 2,
        "spatial_attention_timestep_skip_range": (-1, 901),
        "spatial_attention_block_identifiers": MVDIT_SPATIAL_ATTENTION_IDENTIFIERS,
        "temporal_attention_block_identifiers": MVDIT_TEMPORAL_ATTENTION_IDENTIFIERS,
        "tensor_format": "BCFHW",
    }


class TestMVDiTFirstBlockCache(MVDiTTesterConfig, FirstBlockCacheTesterMixin):
    pass


class TestMVDiTMagCache(MVDiTTesterConfig, MagCacheTesterMixin):
    pass


class TestMVDiTTaylorSeerCache(MVDiTTesterConfig, TaylorSeerCacheTesterMixin):
    TAYLORSEER_CACHE_CONFIG = {
        "cache_interval": 3,
        "disable_cache_before_step": 1,
        "max_order": 1,
        "cache_identifiers": list(MVDIT_TAYLORSEER_CACHE_IDENTIFIERS),
    }


def test_the_mixins_see_a_model_whose_output_is_not_zero():
    """The reason the suites above can fail: a fresh model's output is neither zero nor independent of its input."""
    config = MVDiTTesterConfig()
    torch.manual_seed(0)
    model = MVDiTTransformer3DModel(**config.get_init_dict()).to(torch_device).eval()
    inputs = config.get_dummy_inputs()
    with torch.no_grad():
        output = model(**inputs).sample
        shifted = model(**{**inputs, "hidden_states": inputs["hidden_states"] + 1}).sample
    assert output.abs().mean() > 1e-2
    assert (output - shifted).abs().max() > 1e-2
    with pytest.raises(AssertionError):
        torch.testing.assert_close(output, torch.zeros_like(output))
