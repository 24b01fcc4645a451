"""diffusers' cache methods on MVDiTPipeline: speed-up and error against the uncached pipeline, same run, same seed.

The pipeline is the CPU demo's (`openvid_hf.testing.tiny_pipeline`: tiny T5, VAE and a 2-block MVDiT of width 32)
generating what the demo generates (64x64, 16 frames, 20 IDDPM steps, guidance 7). Each round generates the latents
uncached and then with every cache method, alternating, and each method's best time over the rounds is reported, so
the uncached baseline is measured in the same process under the same conditions. Time is the process's CPU time
(`time.process_time`, all threads), not wall time: on a shared machine other processes' load makes wall times of the
same run vary tenfold, while the CPU time a run needs varies far less. The error is the largest absolute difference
of the final latents from the uncached ones, also relative to the largest uncached value. MagCache's ratios are
calibrated on the uncached run first (its `calibrate=True` mode), as its documentation says.

Run: `python benchmarks/bench_cache.py` (about a minute on 2 cores; `--rounds` to change). The demo model is tiny
(width 32): T5, the VAE and Python overhead take a large share of each step, so these ratios say little about
MVDiT-XL/2, where the transformer dominates; they show each method's effect end to end on the demo's run.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import time
from typing import Any

import torch
from diffusers import (
    FasterCacheConfig,
    FirstBlockCacheConfig,
    MagCacheConfig,
    PyramidAttentionBroadcastConfig,
    TaylorSeerCacheConfig,
)

from openvid_hf.pipelines import MVDiTPipeline
from openvid_hf.pipelines.transformer_mvdit import (
    MVDIT_CROSS_ATTENTION_IDENTIFIERS,
    MVDIT_SPATIAL_ATTENTION_IDENTIFIERS,
    MVDIT_TAYLORSEER_CACHE_IDENTIFIERS,
    MVDIT_TEMPORAL_ATTENTION_IDENTIFIERS,
)
from openvid_hf.testing.tiny_pipeline import tiny_pipeline

PROMPT = "a red car driving through a forest at sunset"
GENERATION = dict(height=64, width=64, num_frames=16, num_inference_steps=20, guidance_scale=7.0)


def generate(pipe: MVDiTPipeline) -> tuple[torch.Tensor, float]:
    start = time.process_time()
    latents = pipe(PROMPT, **GENERATION, generator=torch.Generator().manual_seed(0), output_type="latent").frames
    return latents, time.process_time() - start


def calibrated_mag_ratios(pipe: MVDiTPipeline) -> list[float]:
    """Run MagCache's calibration mode once; it prints the ratios of this model and schedule as a Python list."""
    steps = GENERATION["num_inference_steps"]
    pipe.transformer.enable_cache(MagCacheConfig(calibrate=True, num_inference_steps=steps))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        generate(pipe)
    pipe.transformer.disable_cache()
    ratios = next(line for line in printed.getvalue().splitlines() if line.startswith("[") and line.endswith("]"))
    return ast.literal_eval(ratios)


def cache_configs(pipe: MVDiTPipeline, mag_ratios: list[float]) -> dict[str, Any]:
    """Settings of the diffusers documentation's examples, with MVDiT's module names where a method needs them."""
    steps = GENERATION["num_inference_steps"]

    def timestep() -> torch.Tensor:
        return pipe.current_timestep

    return {
        "PAB (spatial 2, temporal 3, cross 4)": PyramidAttentionBroadcastConfig(
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
        "FasterCache": FasterCacheConfig(
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
        "First Block Cache (threshold 0.2)": FirstBlockCacheConfig(threshold=0.2),
        "MagCache (calibrated, threshold 0.06)": MagCacheConfig(
            mag_ratios=mag_ratios, num_inference_steps=steps, threshold=0.06, max_skip_steps=3, retention_ratio=0.2
        ),
        "TaylorSeer (interval 2, order 1)": TaylorSeerCacheConfig(
            cache_interval=2,
            disable_cache_before_step=3,
            max_order=1,
            taylor_factors_dtype=torch.float32,
            cache_identifiers=list(MVDIT_TAYLORSEER_CACHE_IDENTIFIERS),
        ),
    }


def benchmark(rounds: int) -> None:
    pipe = tiny_pipeline()
    expected, _ = generate(pipe)  # warm-up, and the uncached latents every method is compared with
    configs = cache_configs(pipe, calibrated_mag_ratios(pipe))
    best = dict.fromkeys(["uncached", *configs], float("inf"))
    errors: dict[str, float] = {}
    for _ in range(rounds):
        latents, seconds = generate(pipe)
        assert torch.equal(latents, expected)
        best["uncached"] = min(best["uncached"], seconds)
        for name, config in configs.items():
            pipe.transformer.enable_cache(config)
            latents, seconds = generate(pipe)
            pipe.transformer.disable_cache()
            best[name] = min(best[name], seconds)
            errors[name] = (latents - expected).abs().max().item()
    scale = expected.abs().max().item()
    print(f"demo pipeline: uncached {best['uncached']:.2f} CPU s (best of {rounds}); latents up to {scale:.0f}")
    print(f"| {'method':<38} | speed-up | max abs error | relative to max |")
    print(f"|{'-' * 40}|---------:|--------------:|----------------:|")
    for name in configs:
        speed_up = best["uncached"] / best[name]
        print(f"| {name:<38} | {speed_up:7.2f}x | {errors[name]:13.2e} | {errors[name] / scale:15.1e} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {GENERATION}")
    benchmark(args.rounds)


if __name__ == "__main__":
    main()
