"""Fine-tuning MVDiT from the Hub with accelerate: `openvid-hf train` and `accelerate launch -m openvid_hf.train`.

Each process streams its own part of the published dataset (`OpenVidClipDataset` split by rank, in a
`StatefulDataLoader` of its own), encodes the clips with the frozen VAE (a posterior sample per frame, scaled) and the
captions with the frozen T5 (or reads them from the text-embedding cache), replaces captions by the learned null
caption with probability `--caption_dropout`, and trains the transformer (fp32 master weights, autocast in the
compute dtype) on the original's hybrid IDDPM loss at timesteps drawn uniformly. Decisions: `docs/training.md`.

Its size is earned: this is the one accelerate loop (prepare, resume, step, log, checkpoint, validate, export) and
the small pure functions it is tested through; every part with a job of its own (arguments, loss, text cache,
checkpoints, validation, export, the clip dataset) is a module beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..atomic import write_text
from ..errors import OpenVidError, UsageError
from ..latents.encoders import encode_video, sample_posterior
from .args import check_arguments

if TYPE_CHECKING:
    from accelerate import Accelerator
    from diffusers.training_utils import EMAModel
    from torchdata.stateful_dataloader import StatefulDataLoader

    from ..latents.layout import LatentSettings
    from ..pipelines import MVDiTPipeline, MVDiTTransformer3DModel
    from .loss import HybridDiffusionLoss, LossTerms
    from .row_stream import RowStreamDataset
    from .text_cache import PrecomputeSummary, TextEmbeddingCache

logger = logging.getLogger(__name__)

SUMMARY_FILE = "training_summary.json"
TRACKER_PROJECT = "mvdit-fine-tune"
#: The attention projections LoRA adapts (every attention of every block).
LORA_TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0"]
#: Steps whose mean loss the card reports as the final loss.
FINAL_LOSS_STEPS = 10


@dataclass
class TrainingProgress:
    """Where this process is: optimizer steps done (the same on every process) and its current pass over its data."""

    step: int = 0
    epoch: int = 0


@dataclass
class TrainingResult:
    """What a run did; `seconds` and `samples_per_second` cover the training steps (not loading or saving)."""

    output_dir: Path
    steps: int
    final_loss: float | None
    seconds: float
    samples_per_second: float
    repo_url: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        loss = "n/a" if self.final_loss is None else f"{self.final_loss:.4f}"
        pushed = f", pushed to {self.repo_url}" if self.repo_url else ""
        return (
            f"trained {self.steps} steps in {self.seconds:.1f} s ({self.samples_per_second:.2f} samples/s); "
            f"final loss {loss}; saved to {self.output_dir}{pushed}"
        )


def micro_batch_generator(seed: int, rank: int, index: int, device: torch.device) -> torch.Generator:
    """The generator of one micro-batch's draws (VAE posterior, caption dropout, timesteps, noise).

    Seeded from `(seed, rank, micro-batch index)` alone, so a resumed run draws exactly what an uninterrupted one
    does, whatever else consumed random numbers in between, and no two processes share draws.
    """
    digest = hashlib.sha256(f"{seed}:{rank}:{index}".encode()).digest()
    generator = torch.Generator(device=device)
    generator.manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
    return generator


def drop_captions(
    hidden_states: torch.Tensor, null_caption: torch.Tensor, probability: float, generator: torch.Generator
) -> torch.Tensor:
    """Each caption replaced by the learned null caption with `probability` (masks are kept, as the original did)."""
    dropped = torch.rand(len(hidden_states), generator=generator, device=generator.device) < probability
    return torch.where(dropped[:, None, None], null_caption.to(hidden_states), hidden_states)


def training_loss(
    transformer: torch.nn.Module,
    loss_fn: HybridDiffusionLoss,
    latents: torch.Tensor,
    hidden_states: torch.Tensor,
    attention_mask: torch.Tensor,
    generator: torch.Generator,
) -> LossTerms:
    """The per-sample hybrid loss at timesteps drawn uniformly, for noise drawn from `generator`."""
    timesteps = loss_fn.sample_timesteps(len(latents), generator)
    noise = torch.randn(latents.shape, generator=generator, device=generator.device)
    noisy_latents = loss_fn.add_noise(latents, noise, timesteps)
    model_output = transformer(noisy_latents, timesteps, hidden_states, attention_mask).sample
    return loss_fn(model_output.float(), latents, noisy_latents, noise, timesteps)


def trainable_parameters(transformer: MVDiTTransformer3DModel, args: argparse.Namespace) -> list[torch.nn.Parameter]:
    """Mark what trains (all but the unused last text MLP, or LoRA adapters only); returns those parameters.

    The last block's `ff_context` never reaches the output (as in the original), so it gets no gradient: it is
    frozen, which DDP needs (otherwise `find_unused_parameters=True`) and which keeps it bit-identical.
    """
    if args.use_lora:
        from peft import LoraConfig

        transformer.requires_grad_(False)
        transformer.add_adapter(
            LoraConfig(
                r=args.lora_rank,
                lora_alpha=args.lora_rank,
                init_lora_weights="gaussian",
                target_modules=LORA_TARGET_MODULES,
            )
        )
    else:
        transformer.requires_grad_(True)
        transformer.transformer_blocks[-1].ff_context.requires_grad_(False)
    return [parameter for parameter in transformer.parameters() if parameter.requires_grad]


def clip_batches(
    loader: StatefulDataLoader, dataset: RowStreamDataset, progress: TrainingProgress
) -> Iterator[dict[str, Any]]:
    """This process's batches, pass after pass; `progress.epoch` counts the passes."""
    empty_passes = 0
    while True:
        dataset.set_epoch(progress.epoch)
        yielded = False
        for batch in loader:
            yielded = True
            yield batch
        # A run resumed at the very end of a pass finds it empty once; twice means no data at all.
        empty_passes = 0 if yielded else empty_passes + 1
        if empty_passes == 2:
            raise OpenVidError(
                f"process {dataset.rank} of {dataset.world_size} got no batch of {loader.batch_size} clips from "
                "its part of the dataset: use fewer processes, a smaller --train_batch_size or looser filters"
            )
        progress.epoch += 1


class Trainer:
    """One fine-tuning run built from the parsed arguments: `run()` prepares, trains, saves and pushes."""

    def __init__(self, args: argparse.Namespace, latent_settings: LatentSettings | None = None) -> None:
        """`latent_settings`: what `check_arguments` read of `--latents_dataset` (its scaling factor is used)."""
        self.args = args
        self.accelerator = self._make_accelerator()
        self.progress = TrainingProgress()
        self.text_cache: TextEmbeddingCache | None = None
        self.precompute_summary: PrecomputeSummary | None = None
        self.step_log = None  # the main process's StepLog
        self.ema: EMAModel | None = None
        #: Training from a latent dataset: its settings (scaling factor, shapes), and no encoder is loaded.
        self.latent_settings = latent_settings

    def run(self) -> TrainingResult:
        from .step_log import StepLog

        self._prepare()
        self._resume()
        if self.accelerator.is_main_process:
            self.args.output_dir.mkdir(parents=True, exist_ok=True)
            self.accelerator.init_trackers(TRACKER_PROJECT, config=tracker_config(self.args))
            self.step_log = StepLog(self.args.output_dir, self.progress.step)
        seconds, samples = self._train()
        return self._finish(seconds, samples)

    # Setup -------------------------------------------------------------------------------------------------------

    def _make_accelerator(self) -> Accelerator:
        from accelerate import Accelerator
        from accelerate.utils import DistributedType, ProjectConfiguration, set_seed

        args = self.args
        accelerator = Accelerator(
            gradient_accumulation_steps=args.gradient_accumulation_steps,
            mixed_precision=args.mixed_precision,
            log_with=None if args.report_to == "none" else args.report_to,
            project_config=ProjectConfiguration(
                project_dir=str(args.output_dir), logging_dir=str(args.output_dir / "logs")
            ),
        )
        if args.use_ema and accelerator.distributed_type == DistributedType.FSDP:
            raise UsageError("--use_ema does not work with FSDP (sharded weights); use multi_gpu or deepspeed_zero2")
        # The global RNG only initialises LoRA adapters (identically on every process); training draws are seeded.
        set_seed(args.seed)
        if args.allow_tf32:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        return accelerator

    @property
    def weight_dtype(self) -> torch.dtype:
        return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.accelerator.mixed_precision, torch.float32)

    def _prepare(self) -> None:
        """Models, loss, text, data, optimizer and EMA; prepared by accelerate and registered for checkpoints."""
        from diffusers.training_utils import EMAModel

        from .checkpoints import ProcessStates

        args, accelerator = self.args, self.accelerator
        self.pipeline = self._load_pipeline()
        self.loss_fn = self._loss_fn()
        if args.precompute_text_embeddings:
            self._precompute_text()
        transformer = self.pipeline.transformer
        self.trainable = trainable_parameters(transformer, args)
        if args.gradient_checkpointing:
            transformer.enable_gradient_checkpointing()
        self.dataset, self.loader = self._data()
        optimizer = torch.optim.AdamW(
            self.trainable,
            lr=args.learning_rate,
            betas=(args.adam_beta1, args.adam_beta2),
            weight_decay=args.adam_weight_decay,
            eps=args.adam_epsilon,
        )
        if args.use_ema:
            # A constant decay, as the original (`min_decay = decay` turns off EMAModel's warm-up); fp32 copies.
            self.ema = EMAModel(self.trainable, decay=args.ema_decay, min_decay=args.ema_decay, foreach=True)
            self.ema.to(device=accelerator.device)
        self.model, self.optimizer = accelerator.prepare(transformer, optimizer)
        accelerator.register_for_checkpointing(
            ProcessStates(accelerator, self._process_state, self._restore_process_state)
        )
        if self.ema is not None:
            accelerator.register_for_checkpointing(self.ema)

    def _process_state(self) -> dict[str, Any]:
        return {"step": self.progress.step, "epoch": self.progress.epoch, "loader": self.loader.state_dict()}

    def _restore_process_state(self, state: dict[str, Any]) -> None:
        self.progress.step, self.progress.epoch = state["step"], state["epoch"]
        self.loader.load_state_dict(state["loader"])

    def _resume(self) -> None:
        from .checkpoints import checkpoint_to_resume

        checkpoint = checkpoint_to_resume(self.args)
        if checkpoint is not None:
            self.accelerator.load_state(str(checkpoint))
            if self.ema is not None:  # accelerate loads registered objects on the CPU
                self.ema.to(device=self.accelerator.device)
            logger.info("resumed from %s at step %d", checkpoint, self.progress.step)
        elif self.args.resume_from_checkpoint is not None:
            logger.info("no checkpoint in %s: starting a new run", self.args.output_dir)

    def _load_pipeline(self) -> MVDiTPipeline:
        from .args import PIXELS_PER_PATCH
        from .sources import load_pipeline

        args, device = self.args, self.accelerator.device
        encoders = args.latents_dataset is None
        with self.accelerator.main_process_first():
            pipeline = load_pipeline(args.pretrained_model_name_or_path, args.revision, self.weight_dtype, encoders)
        pipeline.set_progress_bar_config(disable=True)
        config = pipeline.transformer.config
        multiple = pipeline.vae_scale_factor * config.patch_size[1]
        if args.resolution % multiple or args.num_frames % config.patch_size[0]:
            raise UsageError(
                f"--resolution {args.resolution} / --num_frames {args.num_frames} must divide by {multiple} / "
                f"{config.patch_size[0]} for this pipeline (VAE factor x patch; {PIXELS_PER_PATCH} for MVDiT-XL/2)"
            )
        if config.out_channels != 2 * config.in_channels:
            raise OpenVidError(
                f"{args.pretrained_model_name_or_path}: the transformer predicts no variance (out_channels="
                f"{config.out_channels}); the hybrid loss trains noise and learned-range variance"
            )
        for frozen in (pipeline.text_encoder, pipeline.vae):
            if frozen is not None:
                frozen.requires_grad_(False).eval().to(device)
        pipeline.transformer.to(device).train()
        return pipeline

    def _loss_fn(self) -> HybridDiffusionLoss:
        from .loss import HybridDiffusionLoss

        try:
            loss_fn = HybridDiffusionLoss.from_scheduler_config(self.pipeline.scheduler.config)
        except ValueError as error:
            raise OpenVidError(f"{self.args.pretrained_model_name_or_path}: {error}") from error
        return loss_fn.to(self.accelerator.device)

    def _precompute_text(self) -> None:
        """Encode every training caption and validation prompt into the cache, then free T5."""
        from ..release.filters import ClipFilter
        from .sources import training_captions
        from .text_cache import default_cache_dir, precompute_text_embeddings

        args = self.args
        with self.accelerator.main_process_first():
            captions = training_captions(
                args.dataset_name,
                args.dataset_config,
                ClipFilter.from_object(args),
                args.dataset_revision,
                where=args.filter,
            )
        captions = sorted({*captions, *(args.validation_prompts or [])})
        self.text_cache, self.precompute_summary = precompute_text_embeddings(
            self.pipeline,
            captions,
            args.text_embeddings_cache_dir or default_cache_dir(),
            self.accelerator,
            self.pipeline.transformer.config.max_text_length,
            args.text_encoder_batch_size,
        )
        self.pipeline.text_encoder = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def _data(self) -> tuple[RowStreamDataset, StatefulDataLoader]:
        """This process's part of the dataset, in a loader of its own (see docs/video.md: not `accelerate.prepare`)."""
        from torchdata.stateful_dataloader import StatefulDataLoader

        args, accelerator = self.args, self.accelerator
        with accelerator.main_process_first():
            dataset = self._latent_dataset() if args.latents_dataset is not None else self._clip_dataset()
        loader = StatefulDataLoader(
            dataset,
            batch_size=args.train_batch_size,
            num_workers=args.dataloader_num_workers,
            drop_last=True,
            pin_memory=accelerator.device.type == "cuda",
            persistent_workers=args.dataloader_num_workers > 0,
        )
        return dataset, loader

    def _clip_dataset(self) -> RowStreamDataset:
        from ..release.filters import ClipFilter
        from ..video.clips import ClipLoader, ClipTransform, FrameSampler
        from .clip_dataset import OpenVidClipDataset

        args, accelerator = self.args, self.accelerator
        return OpenVidClipDataset(
            args.dataset_name,
            args.dataset_config,
            split="train",
            clip_loader=ClipLoader(
                FrameSampler(args.num_frames, args.frame_interval),
                ClipTransform(args.resolution, flip_probability=args.flip_probability),
                backend=args.video_backend,
            ),
            filters=ClipFilter.from_object(args),
            seed=args.seed,
            rank=accelerator.process_index,
            world_size=accelerator.num_processes,
            revision=args.dataset_revision,
            where=args.filter,
        )

    def _latent_dataset(self) -> RowStreamDataset:
        from ..release.filters import ClipFilter
        from .latent_dataset import OpenVidLatentDataset

        args, accelerator = self.args, self.accelerator
        return OpenVidLatentDataset(
            args.latents_dataset,
            args.dataset_config,
            split="train",
            max_text_length=self.pipeline.transformer.config.max_text_length,
            filters=ClipFilter.from_object(args),
            seed=args.seed,
            rank=accelerator.process_index,
            world_size=accelerator.num_processes,
            revision=args.dataset_revision,
        )

    # Training ----------------------------------------------------------------------------------------------------

    def _text(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """T5 hidden states (float32) and masks of the captions: from the cache when precomputed, else from T5."""
        from .text_cache import encode_captions

        device = self.accelerator.device
        if self.text_cache is not None:
            return self.text_cache.read(captions, device, torch.float32)
        max_length = self.pipeline.transformer.config.max_text_length
        hidden_states, mask = encode_captions(self.pipeline, captions, device, max_length)
        return hidden_states.float(), mask

    def _inputs(
        self, batch: dict[str, Any], generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Latents (a posterior sample, the first draw from `generator`), T5 hidden states and masks of a batch."""
        if self.latent_settings is None:
            latents = encode_video(self.pipeline.vae, batch["video"], generator)
            return latents, *self._text(batch["caption"])
        device = self.accelerator.device
        mean, logvar = batch["latent_mean"].to(device), batch["latent_logvar"].to(device)
        latents = sample_posterior(mean, logvar, self.latent_settings.scaling_factor, generator)
        return latents, batch["prompt_embeds"].to(device), batch["prompt_attention_mask"].to(device)

    def _optimizer_step(self, batches: Iterator[dict[str, Any]]) -> tuple[torch.Tensor, list[str]]:
        """One optimizer step over `--gradient_accumulation_steps` micro-batches: their loss terms `[N, 3]`, keys."""
        args, accelerator = self.args, self.accelerator
        accumulation = args.gradient_accumulation_steps
        null_caption = self.pipeline.transformer.null_encoder_hidden_states
        terms_of_step, keys = [], []
        for micro_batch in range(accumulation):
            batch = next(batches)
            index = self.progress.step * accumulation + micro_batch
            generator = micro_batch_generator(args.seed, accelerator.process_index, index, accelerator.device)
            with accelerator.accumulate(self.model):
                with torch.no_grad():
                    latents, hidden_states, attention_mask = self._inputs(batch, generator)
                hidden_states = drop_captions(hidden_states, null_caption, args.caption_dropout, generator)
                terms = training_loss(self.model, self.loss_fn, latents, hidden_states, attention_mask, generator)
                accelerator.backward(terms.loss.mean())
                if accelerator.sync_gradients and args.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(self.model.parameters(), args.max_grad_norm)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
            terms_of_step.append(torch.stack([terms.loss, terms.mse, terms.vb], dim=1).detach())
            keys.extend(batch["key"])
        if not accelerator.sync_gradients:
            raise RuntimeError("gradient accumulation out of step with accelerate's counter")
        if self.ema is not None:
            self.ema.step(self.trainable)
        return torch.cat(terms_of_step), keys

    def _log_step(self, terms: torch.Tensor, keys: list[str]) -> float:
        """Average the terms over the global batch, log them (step log, trackers); returns the loss."""
        from accelerate.utils import gather_object

        loss, mse, vb = self.accelerator.gather(terms).mean(dim=0).tolist()
        where = gather_object([(self.progress.epoch, keys)])
        learning_rate = self.optimizer.param_groups[0]["lr"]
        if self.step_log is not None:
            self.step_log.append(
                {
                    "step": self.progress.step,
                    "loss": loss,
                    "mse": mse,
                    "vb": vb,
                    "lr": learning_rate,
                    "epochs": [epoch for epoch, _ in where],
                    "clips": [clips for _, clips in where],
                }
            )
        self.accelerator.log({"loss": loss, "mse": mse, "vb": vb, "lr": learning_rate}, step=self.progress.step)
        return loss

    def _train(self) -> tuple[float, int]:
        """Steps up to `--max_train_steps`, with checkpoints and validation; returns the seconds and samples."""
        from ..progress import progress_bar
        from .checkpoints import save_checkpoint

        args, accelerator, progress = self.args, self.accelerator, self.progress
        batches = clip_batches(self.loader, self.dataset, progress)
        first_step, started = progress.step, time.perf_counter()
        bar = progress_bar(
            total=args.max_train_steps,
            initial=progress.step,
            desc="training",
            unit="step",
            disable=not accelerator.is_local_main_process,
        )
        while progress.step < args.max_train_steps:
            terms, keys = self._optimizer_step(batches)
            progress.step += 1
            bar.set_postfix(loss=f"{self._log_step(terms, keys):.4f}")
            bar.update()
            if progress.step % args.checkpointing_steps == 0:
                save_checkpoint(accelerator, args, progress.step)
            # The last step's videos are the final ones (`_finish`).
            last = progress.step == args.max_train_steps
            if args.validation_prompts and progress.step % args.validation_steps == 0 and not last:
                self._validate(f"step-{progress.step:06d}")
        bar.close()
        seconds = time.perf_counter() - started
        per_step = args.train_batch_size * args.gradient_accumulation_steps * accelerator.num_processes
        return seconds, (progress.step - first_step) * per_step

    # Finish ------------------------------------------------------------------------------------------------------

    def _finish(self, seconds: float, samples: int) -> TrainingResult:
        """Final weights (EMA when used), checked equal on every process; final videos; saved and pushed pipeline."""
        from accelerate.utils import DistributedType, gather_object

        from .export import state_dict_sha256

        accelerator = self.accelerator
        # Training is over: release the loader now (its worker processes with it), not whenever gc finds it.
        self.loader = self.dataset = None
        accelerator.wait_for_everyone()
        if self.ema is not None:
            self.ema.copy_to(self.trainable)
        transformer_state = accelerator.get_state_dict(self.model)
        weights = None
        if accelerator.num_processes > 1 and accelerator.distributed_type != DistributedType.FSDP:
            weights = gather_object([state_dict_sha256(accelerator.unwrap_model(self.model).state_dict())])
            if len(set(weights)) != 1:
                raise OpenVidError(f"the processes ended with different weights (SHA-256 per rank: {weights})")
        videos = self._validate("final") if self.args.validation_prompts else []
        result = TrainingResult(
            output_dir=self.args.output_dir,
            steps=self.progress.step,
            final_loss=None,
            seconds=seconds,
            samples_per_second=samples / seconds if seconds > 0 else math.nan,
        )
        if accelerator.is_main_process:
            result.final_loss = self.step_log.mean_loss(FINAL_LOSS_STEPS)
            result.summary = self._summary(result, samples, weights)
            self._export(transformer_state, videos, result)
        accelerator.wait_for_everyone()
        accelerator.end_training()
        return result

    def _validate(self, tag: str) -> list[tuple[str, str]]:
        """Main process: sample the validation prompts with the current weights (the others wait)."""
        from .validation import ValidationSettings, generate_validation_videos

        args, accelerator = self.args, self.accelerator
        videos = []
        if accelerator.is_main_process:
            settings = ValidationSettings(
                prompts=list(args.validation_prompts),
                height=args.resolution,
                width=args.resolution,
                num_frames=args.num_frames,
                num_inference_steps=args.validation_num_inference_steps,
                guidance_scale=args.validation_guidance_scale,
                seed=args.seed,
            )
            videos = generate_validation_videos(
                self.pipeline, settings, args.output_dir, tag, accelerator, self.progress.step, self.text_cache
            )
            logger.info("validation videos of step %d in %s", self.progress.step, args.output_dir / "validation" / tag)
        accelerator.wait_for_everyone()
        return videos

    def _summary(self, result: TrainingResult, samples: int, weights: list[str] | None) -> dict[str, Any]:
        accelerator = self.accelerator
        summary = {
            "steps": result.steps,
            "final_loss": result.final_loss,
            "final_loss_steps": FINAL_LOSS_STEPS,
            "samples": samples,
            "seconds": result.seconds,
            "samples_per_second": result.samples_per_second,
            "num_processes": accelerator.num_processes,
            "distributed_type": str(accelerator.distributed_type),
            "mixed_precision": accelerator.mixed_precision,
            "device": str(accelerator.device),
        }
        if torch.cuda.is_available():
            summary["peak_memory_bytes"] = torch.cuda.max_memory_allocated(accelerator.device)
        if weights is not None:
            summary["weights_sha256"] = weights
        if self.precompute_summary is not None:
            summary["text_embeddings"] = {
                "captions": self.precompute_summary.captions,
                "computed": self.precompute_summary.computed,
                "folder": str(self.precompute_summary.folder),
            }
        return summary

    def _export(
        self, transformer_state: dict[str, torch.Tensor], videos: list[tuple[str, str]], result: TrainingResult
    ) -> None:
        """Main process: save the pipeline and card, the run summary, and push when asked."""
        from .export import (
            card_hyperparameters,
            create_model_repo,
            push_trained_pipeline,
            save_trained_pipeline,
            training_summary,
        )

        args, accelerator = self.args, self.accelerator
        repo_id = str(args.output_dir)
        if args.push_to_hub:
            repo_id = create_model_repo(args.hub_model_id or args.output_dir.resolve().name)
        hyperparameters = card_hyperparameters(args, accelerator.num_processes, accelerator.mixed_precision)
        summary = training_summary(args, result.steps, result.final_loss, hyperparameters, videos)
        transformer = self.pipeline.transformer
        lora_config = transformer.peft_config["default"] if args.use_lora else None
        save_trained_pipeline(args, transformer_state, lora_config, repo_id, summary)
        write_text(args.output_dir / SUMMARY_FILE, json.dumps(result.summary, indent=2) + "\n")
        if args.push_to_hub:
            result.repo_url = push_trained_pipeline(args.output_dir, repo_id, result.steps)


def tracker_config(args: argparse.Namespace) -> dict[str, Any]:
    """The training arguments as the scalar values trackers accept (the CLI's own entries left out)."""
    return {
        name: value if isinstance(value, (int, float, str, bool)) else str(value)
        for name, value in vars(args).items()
        if not callable(value) and not isinstance(value, argparse.ArgumentParser)
    }


def configure_logging() -> None:
    """Progress at INFO from openvid_hf on the main process; warnings and errors only from everything else."""
    import os

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    is_main = int(os.environ.get("RANK", 0)) == 0
    logging.getLogger("openvid_hf").setLevel(logging.INFO if is_main else logging.WARNING)


def train(args: argparse.Namespace) -> TrainingResult:
    """Check the arguments, then fine-tune (see `Trainer`)."""
    return Trainer(args, check_arguments(args)).run()
