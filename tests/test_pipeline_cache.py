"""diffusers' cache methods on MVDiTPipeline: each one skips work, stays close to the uncached video, and goes away.

The work a run does is counted as the multiply-adds of every `nn.Linear` in the transformer (inputs times output
features): a cache that skips an attention, a block or the unconditional half of the batch lowers it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from diffusers.hooks.pyramid_attention_broadcast import _PYRAMID_ATTENTION_BROADCAST_HOOK

from openvid_hf import MVDiTPipeline
from openvid_hf.testing.cache_configs import cache_configs
from openvid_hf.testing.tiny_pipeline import TINY_HEIGHT, TINY_NUM_FRAMES, TINY_WIDTH, tiny_pipeline

STEPS = 20
SAMPLE = dict(height=TINY_HEIGHT, width=TINY_WIDTH, num_frames=TINY_NUM_FRAMES, num_inference_steps=STEPS)
# Relative error (norm of the difference over the norm of the uncached latents) each cache stays under. Measured:
# PAB 2.7e-5, FasterCache 7.2e-5, First Block Cache 1.5e-3, MagCache 1.4e-4, TaylorSeer 5.5e-5.
MAX_RELATIVE_ERROR = 1e-2


@pytest.fixture(scope="module")
def pipe() -> MVDiTPipeline:
    return tiny_pipeline()


def count_work(pipe: MVDiTPipeline) -> tuple[list[int], Callable[[], None]]:
    """A counter of the transformer's linear multiply-adds, and the function that stops counting."""
    total = [0]

    def add(module: torch.nn.Linear, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        total[0] += args[0].numel() * module.out_features

    handles = [
        module.register_forward_hook(add)
        for module in pipe.transformer.modules()
        if isinstance(module, torch.nn.Linear)
    ]
    return total, lambda: [handle.remove() for handle in handles]


def generate(pipe: MVDiTPipeline) -> tuple[torch.Tensor, int]:
    total, stop = count_work(pipe)
    try:
        latents = pipe(
            "a cat running on the beach at sunset",
            **SAMPLE,
            generator=torch.Generator().manual_seed(0),
            output_type="latent",
        ).frames
    finally:
        stop()
    return latents, total[0]


@pytest.fixture(scope="module")
def uncached(pipe) -> tuple[torch.Tensor, int]:
    return generate(pipe)


@pytest.mark.parametrize(
    "method",
    ["pyramid_attention_broadcast", "faster_cache", "first_block_cache", "mag_cache", "taylorseer_cache"],
)
def test_each_cache_skips_work_and_stays_close(pipe, uncached, method):
    expected, full_work = uncached
    pipe.transformer.enable_cache(cache_configs(pipe, STEPS)[method])
    try:
        cached, work = generate(pipe)
    finally:
        pipe.transformer.disable_cache()
    assert work < 0.8 * full_work, f"{method} did {work / full_work:.0%} of the uncached work"
    assert not torch.equal(cached, expected)
    relative = ((cached - expected).norm() / expected.norm()).item()
    assert relative < MAX_RELATIVE_ERROR, f"{method}: relative error {relative:.2e}"
    assert torch.equal(generate(pipe)[0], expected)  # disabled: the uncached computation again


def test_pyramid_attention_broadcast_tells_spatial_temporal_and_cross_attention_apart(pipe):
    pipe.transformer.enable_cache(cache_configs(pipe, STEPS)["pyramid_attention_broadcast"])
    try:
        skip_ranges = {
            name.rsplit(".", 1)[-1]: module._diffusers_hook.get_hook(
                _PYRAMID_ATTENTION_BROADCAST_HOOK
            ).block_skip_range
            for name, module in pipe.transformer.named_modules()
            if name.endswith(("attn1", "attn_temporal", "attn2"))
        }
    finally:
        pipe.transformer.disable_cache()
    assert skip_ranges == {"attn1": 2, "attn_temporal": 3, "attn2": 4}


def test_faster_cache_skips_the_unconditional_half_of_the_batch(pipe):
    """FasterCache finds the guidance batch by keyword and assumes it unconditional first: the pipeline's order."""
    batch_sizes = []
    block = pipe.transformer.transformer_blocks[0]
    handle = block.register_forward_hook(
        lambda module, args, kwargs, output: batch_sizes.append(len(kwargs["hidden_states"])), with_kwargs=True
    )
    pipe.transformer.enable_cache(cache_configs(pipe, STEPS)["faster_cache"])
    try:
        generate(pipe)
    finally:
        pipe.transformer.disable_cache()
        handle.remove()
    assert len(batch_sizes) == STEPS
    assert batch_sizes[0] == 2 and 1 in batch_sizes
