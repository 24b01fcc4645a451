"""The fine-tuning step of MVDiT-XL/2 at 16x256x256: samples/s and peak GPU memory, with gradient checkpointing.

Each configuration runs what `openvid-hf train` runs for one optimizer step, with the trainer's own functions:
`encode_video` (the SD VAE's encoder, a posterior sample per frame), `drop_captions`, `training_loss` (the hybrid
IDDPM loss) on the transformer prepared by accelerate (bf16 autocast, float32 master weights), AdamW, gradient
clipping and the float32 EMA. Clips arrive decoded on the GPU and the text embeddings are the shape the cache gives
(`--precompute_text_embeddings`: T5 is not run in the loop), so the numbers are the GPU's side of a step; DataLoader
workers decode the next clips meanwhile. Weights are random: the speed and memory of a step do not depend on them.

Baseline: the same step without gradient checkpointing, at the same batch size; the script prints the ratios.
A second row per batch trains from latents (`openvid-hf train --latents_dataset`): the step draws its latents from a
stored posterior (`sample_posterior`) instead of running the VAE encoder, against the checkpointed step from videos;
on a GPU each row also reports its model FLOPs utilisation: 3x the transformer's forward FLOPs a sample (forward and
backward, the recomputation of checkpointing not counted), counted by `torch.utils.flop_counter`, against the card's
dense bf16 peak.

`--end-to-end` (the default on CPU) times `openvid-hf train` itself on the sample release, from its videos and from
its latents (`openvid-hf encode`): same tiny model, batch and steps, in one run, decoding and T5 included.

Run `python benchmarks/bench_train.py` on a GPU (preset `xl`); without one it runs the `tiny` preset and the
end-to-end comparison.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from pathlib import Path

import torch

#: The SD VAE (stabilityai/sd-vae-ft-ema) that MVDiT was trained with: its encoder is part of every step.
SD_VAE_CONFIG = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 256,
    "scaling_factor": 0.18215,
}
PRESETS = {
    "xl": {"variant": "16x256x256", "num_frames": 16, "resolution": 256, "batch_sizes": (4, 8, 16)},
    "tiny": {"variant": None, "num_frames": 2, "resolution": 16, "batch_sizes": (2,)},
}
CAPTION_DROPOUT = 0.1
MAX_GRAD_NORM = 1.0
#: Dense bf16 peak FLOP/s by card (the vendors' data sheets, without sparsity).
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}


def build(preset: str, device: torch.device):
    from diffusers import AutoencoderKL

    from openvid_hf.pipelines import MVDiTTransformer3DModel
    from openvid_hf.pipelines.convert_mvdit import MVDIT_XL_2_VARIANTS
    from openvid_hf.testing.tiny_pipeline import tiny_transformer, tiny_vae

    if preset == "tiny":
        return tiny_transformer().to(device), tiny_vae().to(device)
    with torch.device(device):
        transformer = MVDiTTransformer3DModel(**MVDIT_XL_2_VARIANTS[PRESETS[preset]["variant"]])
        vae = AutoencoderKL(**SD_VAE_CONFIG)
    return transformer, vae


def forward_flops(model: torch.nn.Module, latents: torch.Tensor, text: torch.Tensor, mask: torch.Tensor) -> int:
    """FLOPs of one forward pass of the transformer on this batch (matmuls and attention, as torch counts them)."""
    from torch.utils.flop_counter import FlopCounterMode

    timesteps = torch.zeros(len(latents), dtype=torch.long, device=latents.device)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(latents, timesteps, text, mask)
    return counter.get_total_flops()


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for card, flops in PEAK_BF16_FLOPS.items() if card in name), None)


def run(preset: str, batch_size: int, checkpointing: bool, steps: int, warmup: int, source: str = "videos") -> dict:
    """Time `steps` optimizer steps after `warmup` ones; peak memory over all of them.

    `source`: `videos` runs the VAE encoder on decoded clips each step; `latents` samples the stored posterior.
    """
    from accelerate import Accelerator
    from diffusers.training_utils import EMAModel

    from openvid_hf.latents.encoders import encode_posterior, sample_posterior
    from openvid_hf.pipelines import DEFAULT_SCHEDULER_CONFIG
    from openvid_hf.training.loss import HybridDiffusionLoss
    from openvid_hf.training.trainer import (
        drop_captions,
        encode_video,
        micro_batch_generator,
        trainable_parameters,
        training_loss,
    )

    accelerator = Accelerator(mixed_precision="bf16" if torch.cuda.is_available() else "no")
    device = accelerator.device
    settings = PRESETS[preset]
    transformer, vae = build(preset, device)
    vae.requires_grad_(False).eval().to(dtype=torch.bfloat16 if device.type == "cuda" else torch.float32)
    transformer.train()
    trainable = trainable_parameters(transformer, argparse.Namespace(use_lora=False))
    if checkpointing:
        transformer.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(trainable, lr=2e-5, weight_decay=0.0)
    ema = EMAModel(trainable, decay=0.9999, min_decay=0.9999, foreach=True)
    ema.to(device=device)
    model, optimizer = accelerator.prepare(transformer, optimizer)
    loss_fn = HybridDiffusionLoss.from_scheduler_config(DEFAULT_SCHEDULER_CONFIG).to(device)

    config = transformer.config
    frames, size = settings["num_frames"], settings["resolution"]
    video = torch.rand(batch_size, 3, frames, size, size, device=device) * 2 - 1
    text = torch.randn(batch_size, config.max_text_length, config.caption_channels, device=device)
    mask = torch.zeros(batch_size, config.max_text_length, dtype=torch.long, device=device)
    for row, length in enumerate(torch.linspace(config.max_text_length // 2, config.max_text_length, batch_size)):
        mask[row, : int(length)] = 1

    with torch.no_grad():
        posterior = encode_posterior(vae, video)
    scaling = vae.config.scaling_factor
    flops = 3 * forward_flops(model, sample_posterior(*posterior, scaling, torch.Generator(device)), text, mask)

    def step(index: int) -> float:
        generator = micro_batch_generator(0, 0, index, device)
        with torch.no_grad():
            if source == "latents":
                latents = sample_posterior(*posterior, scaling, generator)
            else:
                latents = encode_video(vae, video, generator)
        hidden_states = drop_captions(text, transformer.null_encoder_hidden_states, CAPTION_DROPOUT, generator)
        terms = training_loss(model, loss_fn, latents, hidden_states, mask, generator)
        accelerator.backward(terms.loss.mean())
        accelerator.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        ema.step(trainable)
        return terms.loss.mean().item()

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for index in range(warmup):
        step(index)
    synchronize()
    started = time.perf_counter()
    for index in range(warmup, warmup + steps):
        loss = step(index)
    synchronize()
    seconds = (time.perf_counter() - started) / steps
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    accelerator.free_memory()
    card_peak = peak_flops(device)
    return {
        "batch_size": batch_size,
        "source": source,
        "gradient_checkpointing": checkpointing,
        "model_flops_per_step": flops,
        "mfu": None if card_peak is None else flops / seconds / card_peak,
        "seconds_per_step": seconds,
        "samples_per_second": batch_size / seconds,
        "peak_memory_gib": None if peak is None else peak / 2**30,
        "loss": loss,
        "trainable_parameters": sum(parameter.numel() for parameter in trainable),
    }


def measure(
    preset: str, batch_size: int, checkpointing: bool, steps: int, warmup: int, source: str = "videos"
) -> dict:
    try:
        return run(preset, batch_size, checkpointing, steps, warmup, source)
    except torch.OutOfMemoryError:
        return {
            "batch_size": batch_size,
            "source": source,
            "gradient_checkpointing": checkpointing,
            "out_of_memory": True,
        }
    finally:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def describe(result: dict) -> str:
    checkpointing = "with" if result["gradient_checkpointing"] else "no  "
    name = f"batch {result['batch_size']:>2}, {checkpointing} checkpointing, from {result['source']:<7}"
    if result.get("out_of_memory"):
        return f"{name}: out of memory"
    memory = "" if result["peak_memory_gib"] is None else f", peak {result['peak_memory_gib']:.1f} GiB"
    mfu = "" if result["mfu"] is None else f", MFU {100 * result['mfu']:.1f} %"
    speed = f"{result['samples_per_second']:.2f} samples/s ({result['seconds_per_step']:.3f} s/step)"
    return f"{name}: {speed}{memory}{mfu}"


def end_to_end(steps: int, batch_size: int, frames: int, resolution: int) -> dict[str, float]:
    """samples/s of `openvid-hf train` on the sample release from its videos and from its latents, in one run: the tiny
    pipeline, on clips of `frames` frames at `resolution` (its transformer takes any multiple of 16)."""
    import tempfile

    from accelerate.state import AcceleratorState, GradientState

    from openvid_hf.commands import cli
    from openvid_hf.testing.sample_release import write_sample_release
    from openvid_hf.testing.tiny_pipeline import tiny_pipeline
    from openvid_hf.training.args import parse_training_args
    from openvid_hf.training.trainer import train

    with tempfile.TemporaryDirectory(prefix="bench-train-") as folder:
        root = Path(folder)
        release = write_sample_release(root / "release", num_videos=16, seed=0, hd_fraction=0.0, clean=True)
        if cli.main(["build", str(release.root), str(root / "built"), "--validation-size", "0"]):
            raise SystemExit("the sample release did not build")
        tiny_pipeline(seed=0).save_pretrained(root / "model")
        sampling = ["--num-frames", str(frames), "--frame-interval", "1", "--resolution", str(resolution)]
        encoders = ["--vae", str(root / "model"), "--text-encoder", str(root / "model")]
        if cli.main(["encode", str(root / "built"), str(root / "latents"), *encoders, *sampling]):
            raise SystemExit("the sample dataset did not encode")
        clip = ["--num_frames", str(frames), "--frame_interval", "1", "--resolution", str(resolution)]
        run_args = [
            *clip,
            "--train_batch_size",
            str(batch_size),
            "--max_train_steps",
            str(steps),
            "--report_to",
            "none",
        ]
        sources = {
            "videos": ["--dataset_name", str(root / "built")],
            "latents": ["--latents_dataset", str(root / "latents")],
        }
        speeds = {}
        for source, data in sources.items():
            output = ["--output_dir", str(root / f"out-{source}"), "--checkpointing_steps", str(steps + 1)]
            model = ["--pretrained_model_name_or_path", str(root / "model")]
            speeds[source] = train(parse_training_args([*model, *data, *run_args, *output])).samples_per_second
            AcceleratorState._reset_state(reset_partial_state=True)
            GradientState._reset_state()
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=tuple(PRESETS), default="xl" if torch.cuda.is_available() else "tiny")
    parser.add_argument("--steps", type=int, default=5, help="timed optimizer steps per configuration (5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (2)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=None, help="per-GPU batch sizes (preset's)")
    parser.add_argument("--output", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument(
        "--end-to-end",
        action=argparse.BooleanOptionalAction,
        default=not torch.cuda.is_available(),
        help="also time openvid-hf train from videos and from latents on the sample release (on CPU)",
    )
    parser.add_argument("--end-to-end-steps", type=int, default=30, help="training steps of each end-to-end run (30)")
    parser.add_argument("--end-to-end-clip", type=int, nargs=2, default=(8, 64), metavar=("FRAMES", "SIZE"))
    args = parser.parse_args()

    from diffusers.utils import logging

    logging.set_verbosity_error()  # diffusers 0.42 warns on any `.to(dtype)` of a model, even with nothing to keep
    torch.backends.cuda.matmul.allow_tf32 = True
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"MVDiT fine-tuning step, preset {args.preset} on {device}; torch {torch.__version__}", flush=True)
    results = []
    for batch_size in args.batch_sizes or PRESETS[args.preset]["batch_sizes"]:
        pair = [measure(args.preset, batch_size, checkpoint, args.steps, args.warmup) for checkpoint in (True, False)]
        for result in pair:
            print(describe(result), flush=True)
        checkpointed, baseline = pair
        if not checkpointed.get("out_of_memory") and not baseline.get("out_of_memory"):
            speed = checkpointed["samples_per_second"] / baseline["samples_per_second"]
            line = f"batch {batch_size}: gradient checkpointing runs at {speed:.2f}x the baseline's samples/s"
            if checkpointed["peak_memory_gib"] is not None:
                memory = checkpointed["peak_memory_gib"] / baseline["peak_memory_gib"]
                line += f" with {memory:.2f}x its peak memory"
            print(line, flush=True)
        results += pair
        from_latents = measure(args.preset, batch_size, True, args.steps, args.warmup, "latents")
        print(describe(from_latents), flush=True)
        if not checkpointed.get("out_of_memory") and not from_latents.get("out_of_memory"):
            speed = from_latents["samples_per_second"] / checkpointed["samples_per_second"]
            print(
                f"batch {batch_size}: from latents at {speed:.2f}x the samples/s from videos (same step)", flush=True
            )
        results.append(from_latents)
    report = {"device": device, "preset": args.preset, "results": results}
    if args.end_to_end:
        frames, size = args.end_to_end_clip
        speeds = end_to_end(args.end_to_end_steps, 4, frames, size)
        ratio = speeds["latents"] / speeds["videos"]
        print(
            f"openvid-hf train, tiny pipeline, {frames}x{size}x{size} clips, batch 4, {args.end_to_end_steps} steps: "
            f"from videos "
            f"{speeds['videos']:.1f} samples/s, from latents {speeds['latents']:.1f} samples/s: {ratio:.2f}x",
            flush=True,
        )
        report["end_to_end"] = speeds
    if args.output is not None:
        args.output.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
