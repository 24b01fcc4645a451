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

import torch
from diffusers import (
    MagCacheConfig,
)

from openvid_hf.pipelines import MVDiTPipeline
from openvid_hf.testing.cache_configs import cache_configs
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


#: How the table names each method's settings (`openvid_hf.testing.cache_configs`).
LABELS = {
    "pyramid_attention_broadcast": "PAB (spatial 2, temporal 3, cross 4)",
    "faster_cache": "FasterCache",
    "first_block_cache": "First Block Cache (threshold 0.2)",
    "mag_cache": "MagCache (calibrated, threshold 0.06)",
    "taylorseer_cache": "TaylorSeer (interval 2, order 1)",
}


def benchmark(rounds: int) -> None:
    pipe = tiny_pipeline()
    expected, _ = generate(pipe)  # warm-up, and the uncached latents every method is compared with
    steps = GENERATION["num_inference_steps"]
    configs = cache_configs(pipe, steps, calibrated_mag_ratios(pipe), mag_max_skip_steps=3)
    configs = {LABELS[method]: config for method, config in configs.items()}
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
