"""MVDiTPipeline: text to video with MVDiT (OpenVid-1M, arXiv 2407.02371) as a diffusers pipeline.

T5 encodes the prompt (120 tokens with mask); MVDiT denoises video latents with classifier-free guidance on its noise
channels only, the learned null caption standing in for the unconditional prompt; the SD VAE decodes every frame on
its own. The default scheduler reproduces the original IDDPM sampler with learned variance.

This file imports only torch, diffusers and transformers, so it can be published to a Hub repository as remote code.
Its size is diffusers' convention: one self-contained file per pipeline (prompts, checks, latents, guidance, the
loop, decoding), which is also what a remote-code repository ships.
"""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers.callbacks import MultiPipelineCallbacks, PipelineCallback
from diffusers.models import AutoencoderKL
from diffusers.pipelines.pipeline_utils import DiffusionPipeline
from diffusers.schedulers import DDPMParallelScheduler, DDPMScheduler, KarrasDiffusionSchedulers
from diffusers.utils import BaseOutput, logging, replace_example_docstring
from diffusers.utils.torch_utils import randn_tensor
from diffusers.video_processor import VideoProcessor
from transformers import T5EncoderModel, T5TokenizerFast

from .caption_cleaning import clean_caption as clean_caption_text
from .publishing import ModelCardArgument, publish, resolve_model_card
from .registration import register_with_diffusers
from .remote_code import write_remote_code
from .transformer_mvdit import MVDiTTransformer3DModel

logger = logging.get_logger(__name__)

#: The original sampler (`openvid/schedulers/iddpm`, 1000 linear betas, learned-range variance, no clipping) as a
#: `DDPMScheduler`. With `set_timesteps(100)`, linspace spacing keeps the original's respaced timesteps, and diffusers
#: derives each step's beta and posterior variance bounds from `alphas_cumprod` at consecutive kept timesteps, as the
#: respaced process does. Checked against the original's tensors in `tests/test_scheduler.py`.
DEFAULT_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 1e-4,
    "beta_end": 0.02,
    "beta_schedule": "linear",
    "variance_type": "learned_range",
    "clip_sample": False,
    "prediction_type": "epsilon",
    "timestep_spacing": "linspace",
}
#: Frame rate of the videos the original inference configs write (`fps = 24 // 3`): MVDiT's training clips.
DEFAULT_FPS = 8
#: What `save_pretrained(..., push_to_hub=True, **kwargs)` takes in `kwargs`, as diffusers' does.
PUSH_ARGUMENTS = ("repo_id", "commit_message", "private", "token", "create_pr")
#: Schedulers that sample with the model's learned variance; every other scheduler gets the noise channels only.
LEARNED_VARIANCE_SCHEDULERS = (DDPMScheduler, DDPMParallelScheduler)
OUTPUT_TYPES = ("np", "pt", "pil", "latent")

EXAMPLE_DOC_STRING = """
    Examples:
        ```py
        >>> import torch
        >>> from diffusers.utils import export_to_video
        >>> from openvid_hf import MVDiTPipeline

        >>> pipe = MVDiTPipeline.from_pretrained("ORG/MVDiT-16x512x512", torch_dtype=torch.float16).to("cuda")
        >>> prompt = "A golden retriever runs along a beach at sunset, waves rolling in, camera tracking"
        >>> video = pipe(prompt, num_frames=16, height=512, width=512, guidance_scale=7.0).frames[0]
        >>> export_to_video(video, "retriever.mp4", fps=8)
        ```
"""


# Copied from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion.retrieve_timesteps
def retrieve_timesteps(
    scheduler,
    num_inference_steps: int | None = None,
    device: str | torch.device | None = None,
    timesteps: list[int] | None = None,
    sigmas: list[float] | None = None,
    **kwargs,
):
    r"""
    Calls the scheduler's `set_timesteps` method and retrieves timesteps from the scheduler after the call. Handles
    custom timesteps. Any kwargs will be supplied to `scheduler.set_timesteps`.

    Args:
        scheduler (`SchedulerMixin`):
            The scheduler to get timesteps from.
        num_inference_steps (`int`):
            The number of diffusion steps used when generating samples with a pre-trained model. If used, `timesteps`
            must be `None`.
        device (`str` or `torch.device`, *optional*):
            The device to which the timesteps should be moved to. If `None`, the timesteps are not moved.
        timesteps (`list[int]`, *optional*):
            Custom timesteps used to override the timestep spacing strategy of the scheduler. If `timesteps` is passed,
            `num_inference_steps` and `sigmas` must be `None`.
        sigmas (`list[float]`, *optional*):
            Custom sigmas used to override the timestep spacing strategy of the scheduler. If `sigmas` is passed,
            `num_inference_steps` and `timesteps` must be `None`.

    Returns:
        `tuple[torch.Tensor, int]`: A tuple where the first element is the timestep schedule from the scheduler and the
        second element is the number of inference steps.
    """
    if timesteps is not None and sigmas is not None:
        raise ValueError("Only one of `timesteps` or `sigmas` can be passed. Please choose one to set custom values")
    if timesteps is not None:
        accepts_timesteps = "timesteps" in set(inspect.signature(scheduler.set_timesteps).parameters.keys())
        if not accepts_timesteps:
            raise ValueError(
                f"The current scheduler class {scheduler.__class__}'s `set_timesteps` does not support custom"
                f" timestep schedules. Please check whether you are using the correct scheduler."
            )
        scheduler.set_timesteps(timesteps=timesteps, device=device, **kwargs)
        timesteps = scheduler.timesteps
        num_inference_steps = len(timesteps)
    elif sigmas is not None:
        accept_sigmas = "sigmas" in set(inspect.signature(scheduler.set_timesteps).parameters.keys())
        if not accept_sigmas:
            raise ValueError(
                f"The current scheduler class {scheduler.__class__}'s `set_timesteps` does not support custom"
                f" sigmas schedules. Please check whether you are using the correct scheduler."
            )
        scheduler.set_timesteps(sigmas=sigmas, device=device, **kwargs)
        timesteps = scheduler.timesteps
        num_inference_steps = len(timesteps)
    else:
        scheduler.set_timesteps(num_inference_steps, device=device, **kwargs)
        timesteps = scheduler.timesteps
    return timesteps, num_inference_steps


def default_scheduler() -> DDPMScheduler:
    """A new scheduler that reproduces the original IDDPM sampler (100 steps in the released configs)."""
    return DDPMScheduler(**DEFAULT_SCHEDULER_CONFIG)


@dataclass
class MVDiTPipelineOutput(BaseOutput):
    r"""Output of `MVDiTPipeline`.

    Args:
        frames (`np.ndarray`, `torch.Tensor` or `list[list[PIL.Image.Image]]`):
            One video per prompt and `num_videos_per_prompt`: `np` `[B, T, H, W, 3]` floats in [0, 1], `pt`
            `[B, T, 3, H, W]`, `pil` lists of frames, or the final latents `[B, 4, T, H/8, W/8]` for `latent`.
            `diffusers.utils.export_to_video(frames[0], "video.mp4", fps=8)` writes one.
    """

    frames: torch.Tensor | np.ndarray | list[list[PIL.Image.Image]]


class MVDiTPipeline(DiffusionPipeline):
    r"""Text-to-video generation with MVDiT, the diffusion transformer trained on OpenVid-1M.

    Args:
        tokenizer (`T5TokenizerFast`, *optional*): T5 tokenizer (DeepFloyd/t5-v1_1-xxl in the original).
        text_encoder (`T5EncoderModel`, *optional*): T5 encoder; without it (and the tokenizer) pass `prompt_embeds`.
        vae (`AutoencoderKL`): Image VAE applied to every frame (stabilityai/sd-vae-ft-ema in the original).
        transformer (`MVDiTTransformer3DModel`): The denoiser; holds the learned null caption used for guidance.
        scheduler (`KarrasDiffusionSchedulers`): `DDPMScheduler` with `DEFAULT_SCHEDULER_CONFIG` reproduces the
            original sampler. DDIM, DPM-Solver and others work on the noise channels (leave their `variance_type`
            unset: DPM-Solver's learned-variance mode assumes 3 image channels).
    """

    model_cpu_offload_seq = "text_encoder->transformer->vae"
    _optional_components = ["tokenizer", "text_encoder"]
    _callback_tensor_inputs = ["latents", "prompt_embeds", "negative_prompt_embeds"]

    def __init__(
        self,
        tokenizer: T5TokenizerFast | None,
        text_encoder: T5EncoderModel | None,
        vae: AutoencoderKL,
        transformer: MVDiTTransformer3DModel,
        scheduler: KarrasDiffusionSchedulers,
    ) -> None:
        super().__init__()
        register_with_diffusers()  # so `model_index.json` records the transformer's library, not its module path
        self.register_modules(
            tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer, scheduler=scheduler
        )
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1) if vae is not None else 8
        self.video_processor = VideoProcessor(vae_scale_factor=self.vae_scale_factor)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs: Any) -> MVDiTPipeline:
        """`DiffusionPipeline.from_pretrained`, once diffusers knows where the transformer class comes from."""
        register_with_diffusers()
        return super().from_pretrained(pretrained_model_name_or_path, **kwargs)

    # Saving --------------------------------------------------------------------------------------------------------

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        safe_serialization: bool = True,
        variant: str | None = None,
        max_shard_size: int | str | None = None,
        push_to_hub: bool = False,
        *,
        remote_code: bool = False,
        model_card: ModelCardArgument = None,
        **kwargs: Any,
    ) -> None:
        r"""Save every component and `model_index.json`, with the model card and, optionally, this pipeline's code.

        Args:
            remote_code (`bool`, defaults to `False`):
                Also copy this pipeline's modules into the folder and point `model_index.json` at them, so
                `DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)` loads it without openvid-hf.
            model_card (`ModelCard`, `str` or `dict`, *optional*):
                Written as `README.md`. A dict holds the fields of openvid-hf's card (`repo_id`, `base_model`,
                `datasets`, `license`, `training`); with openvid-hf installed its card is written by default, its
                `repo_id` being the folder (or the repository pushed to). See `publishing.py`.
            push_to_hub (`bool`, defaults to `False`):
                Then upload the folder as one commit; `kwargs` as in diffusers (`repo_id`, defaulting to the
                folder's name, `token`, `private`, `commit_message`, `create_pr`).
            safe_serialization, variant, max_shard_size: As in `DiffusionPipeline.save_pretrained`.
        """
        unexpected = set(kwargs) - set(PUSH_ARGUMENTS if push_to_hub else ())
        if unexpected:
            raise TypeError(f"save_pretrained() got unexpected keyword arguments {sorted(unexpected)}")
        repo_id = kwargs.pop("repo_id", None) or Path(save_directory).name
        card = resolve_model_card(
            self, model_card, repo_id=repo_id if push_to_hub else str(save_directory), remote_code=remote_code
        )
        super().save_pretrained(
            save_directory, safe_serialization=safe_serialization, variant=variant, max_shard_size=max_shard_size
        )
        if remote_code:
            write_remote_code(self, save_directory)
        if card is not None:
            Path(save_directory, "README.md").write_text(str(card), encoding="utf-8", newline="")
        if push_to_hub:
            publish(
                save_directory,
                repo_id,
                commit_message=kwargs.get("commit_message"),
                private=kwargs.get("private"),
                token=kwargs.get("token"),
                create_pr=kwargs.get("create_pr", False),
            )

    def push_to_hub(
        self,
        repo_id: str,
        commit_message: str | None = None,
        private: bool | None = None,
        token: str | None = None,
        create_pr: bool = False,
        safe_serialization: bool = True,
        variant: str | None = None,
        *,
        remote_code: bool = False,
        model_card: ModelCardArgument = None,
    ) -> str:
        r"""Upload the pipeline as `save_pretrained` writes it, as one commit; returns the commit URL.

        The card's `repo_id` is `repo_id`; `remote_code` and `model_card` are as in `save_pretrained`, the other
        arguments as in `DiffusionPipeline.push_to_hub`.
        """
        card = resolve_model_card(self, model_card, repo_id=repo_id, remote_code=remote_code)
        with tempfile.TemporaryDirectory() as folder:
            self.save_pretrained(
                folder,
                safe_serialization=safe_serialization,
                variant=variant,
                remote_code=remote_code,
                model_card=card,
            )
            return publish(
                folder, repo_id, commit_message=commit_message, private=private, token=token, create_pr=create_pr
            )

    # Prompts -------------------------------------------------------------------------------------------------------

    def encode_prompt(
        self,
        prompt: str | list[str] | None,
        negative_prompt: str | list[str] | None = None,
        do_classifier_free_guidance: bool = True,
        num_videos_per_prompt: int = 1,
        device: torch.device | None = None,
        prompt_embeds: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        negative_prompt_attention_mask: torch.Tensor | None = None,
        clean_caption: bool = True,
        max_sequence_length: int = 120,
        null_prompt_embeds: torch.Tensor | None = None,
        dtype: torch.dtype | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        r"""T5 hidden states and masks of the prompts and of the unconditional input, repeated per video.

        Needs only the tokenizer and text encoder (or `prompt_embeds`), so prompts can be encoded with the
        transformer offloaded or absent. Without a negative prompt, the unconditional input is the learned null
        caption with each prompt's own mask, as in the original sampler: `null_prompt_embeds` (`[L, C]` or
        `[B, L, C]`) when given, else the transformer's `null_encoder_hidden_states`; with neither, the negative
        outputs are `None` and `__call__` pairs the prompts with the transformer's null caption itself. The negative
        outputs are `None` without guidance too.

        Args:
            dtype (`torch.dtype`, *optional*): dtype of the returned embeddings; by default the transformer's, else
                the text encoder's, else that of `prompt_embeds`.

        Returns:
            `(prompt_embeds, prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask)`.
        """
        device = device or self._execution_device
        dtype = dtype or self._embeddings_dtype(prompt_embeds)
        if prompt_embeds is None:
            prompt_embeds, prompt_attention_mask = self._t5(prompt, device, clean_caption, max_sequence_length)
        prompt_embeds = prompt_embeds.to(device=device, dtype=dtype)
        prompt_attention_mask = prompt_attention_mask.to(device)

        if not do_classifier_free_guidance:
            negative_prompt_embeds = negative_prompt_attention_mask = None
        elif negative_prompt_embeds is None and negative_prompt is not None:
            negative_prompts = (
                [negative_prompt] * len(prompt_embeds) if isinstance(negative_prompt, str) else negative_prompt
            )
            negative_prompt_embeds, negative_prompt_attention_mask = self._t5(
                negative_prompts, device, clean_caption, max_sequence_length
            )
        elif negative_prompt_embeds is None:
            if null_prompt_embeds is None and getattr(self, "transformer", None) is not None:
                null_prompt_embeds = self.transformer.null_encoder_hidden_states
            if null_prompt_embeds is not None:
                negative_prompt_embeds = null_prompt_embeds.expand(len(prompt_embeds), -1, -1)
                negative_prompt_attention_mask = prompt_attention_mask

        if negative_prompt_embeds is not None:
            negative_prompt_embeds = negative_prompt_embeds.to(device=device, dtype=dtype)
            negative_prompt_attention_mask = negative_prompt_attention_mask.to(device)
            negative_prompt_embeds = negative_prompt_embeds.repeat_interleave(num_videos_per_prompt, dim=0)
            negative_prompt_attention_mask = negative_prompt_attention_mask.repeat_interleave(
                num_videos_per_prompt, dim=0
            )
        prompt_embeds = prompt_embeds.repeat_interleave(num_videos_per_prompt, dim=0)
        prompt_attention_mask = prompt_attention_mask.repeat_interleave(num_videos_per_prompt, dim=0)
        return prompt_embeds, prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask

    def _embeddings_dtype(self, prompt_embeds: torch.Tensor | None) -> torch.dtype:
        """The transformer's dtype (what it computes in), else the text encoder's, else the given embeddings'."""
        for component in (getattr(self, "transformer", None), getattr(self, "text_encoder", None)):
            if component is not None:
                return component.dtype
        if prompt_embeds is None:
            raise ValueError("`prompt_embeds` are required when the pipeline has no text_encoder")
        return prompt_embeds.dtype

    def null_prompt_embeds(
        self, batch_size: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> torch.Tensor:
        """The transformer's learned unconditional caption `[batch_size, max_text_length, caption_channels]`.

        The unconditional input of guidance, and what training substitutes for a dropped caption (with the caption's
        own mask in both cases).
        """
        null = self.transformer.null_encoder_hidden_states
        return null.to(device=device or null.device, dtype=dtype or null.dtype).expand(batch_size, -1, -1)

    def _t5(
        self, prompt: str | list[str], device: torch.device, clean_caption: bool, max_sequence_length: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """T5 last hidden states and mask of `max_sequence_length` tokens (padded; truncated with a warning)."""
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        prompts = [clean_caption_text(text) if clean_caption else text.lower().strip() for text in prompts]
        tokens = self.tokenizer(
            prompts,
            max_length=max_sequence_length,
            padding="max_length",
            truncation=True,
            add_special_tokens=True,
            return_tensors="pt",
        )
        # The untruncated tokenisation only serves the warning: skipped where it is silenced (training's T5 pass).
        if logger.isEnabledFor(logging.WARNING):
            for text, ids in zip(prompts, self.tokenizer(prompts, add_special_tokens=True).input_ids, strict=True):
                if len(ids) > max_sequence_length:
                    removed = self.tokenizer.decode(ids[max_sequence_length - 1 : -1])
                    logger.warning(
                        f"The prompt {text[:60]!r}... is longer than max_sequence_length={max_sequence_length} "
                        f"tokens; this part was truncated: {removed!r}"
                    )
        input_ids, attention_mask = tokens.input_ids.to(device), tokens.attention_mask.to(device)
        hidden_states = self.text_encoder(input_ids, attention_mask=attention_mask).last_hidden_state
        return hidden_states, attention_mask

    # Inputs --------------------------------------------------------------------------------------------------------

    def check_inputs(
        self,
        prompt: str | list[str] | None,
        negative_prompt: str | list[str] | None,
        height: int,
        width: int,
        num_frames: int,
        num_inference_steps: int,
        guidance_scale: float,
        guidance_channels: int | None,
        num_videos_per_prompt: int,
        prompt_embeds: torch.Tensor | None,
        prompt_attention_mask: torch.Tensor | None,
        negative_prompt_embeds: torch.Tensor | None,
        negative_prompt_attention_mask: torch.Tensor | None,
        output_type: str,
        callback_on_step_end_tensor_inputs: Sequence[str],
        decode_chunk_size: int | None,
        max_sequence_length: int,
    ) -> None:
        """Raise `ValueError` naming the argument for anything the pipeline cannot run with."""
        config = self.transformer.config
        patch_t, patch_h, patch_w = config.patch_size
        for name, value, multiple in (
            ("height", height, self.vae_scale_factor * patch_h),
            ("width", width, self.vae_scale_factor * patch_w),
        ):
            if not isinstance(value, int) or value <= 0 or value % multiple:
                raise ValueError(
                    f"`{name}` must be a positive multiple of {multiple} (VAE factor x patch), got {value!r}"
                )
        if not isinstance(num_frames, int) or num_frames <= 0 or num_frames % patch_t:
            raise ValueError(f"`num_frames` must be a positive multiple of {patch_t}, got {num_frames!r}")
        for name, value in (
            ("num_inference_steps", num_inference_steps),
            ("num_videos_per_prompt", num_videos_per_prompt),
            ("max_sequence_length", max_sequence_length),
        ):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
        if decode_chunk_size is not None and (not isinstance(decode_chunk_size, int) or decode_chunk_size <= 0):
            raise ValueError(f"`decode_chunk_size` must be a positive integer or None, got {decode_chunk_size!r}")
        if guidance_channels is not None and not 1 <= guidance_channels <= config.in_channels:
            raise ValueError(
                f"`guidance_channels` must be between 1 and {config.in_channels}, got {guidance_channels}"
            )
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"`output_type` must be one of {OUTPUT_TYPES}, got {output_type!r}")
        unknown = [name for name in callback_on_step_end_tensor_inputs if name not in self._callback_tensor_inputs]
        if unknown:
            raise ValueError(
                f"`callback_on_step_end_tensor_inputs` may only name {self._callback_tensor_inputs}, got {unknown}"
            )
        self._check_prompts(prompt, negative_prompt, prompt_embeds, negative_prompt_embeds)
        self._check_embeds(
            prompt_embeds, prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask
        )
        uses_null_caption = guidance_scale > 1 and negative_prompt is None and negative_prompt_embeds is None
        text_length = max_sequence_length if prompt_embeds is None else prompt_embeds.shape[1]
        if uses_null_caption and text_length != config.max_text_length:
            name = "max_sequence_length" if prompt_embeds is None else "prompt_embeds"
            raise ValueError(
                f"`{name}` gives {text_length} text tokens, but guidance pairs each prompt with the transformer's "
                f"null caption of {config.max_text_length} tokens; they must be equal"
            )
        self._check_scheduler()

    def _check_prompts(
        self,
        prompt: str | list[str] | None,
        negative_prompt: str | list[str] | None,
        prompt_embeds: torch.Tensor | None,
        negative_prompt_embeds: torch.Tensor | None,
    ) -> None:
        if prompt is not None and prompt_embeds is not None:
            raise ValueError("pass either `prompt` or `prompt_embeds`, not both")
        if prompt is None and prompt_embeds is None:
            raise ValueError("pass `prompt` or `prompt_embeds`")
        if negative_prompt is not None and negative_prompt_embeds is not None:
            raise ValueError("pass either `negative_prompt` or `negative_prompt_embeds`, not both")
        for name, value in (("prompt", prompt), ("negative_prompt", negative_prompt)):
            if value is None:
                continue
            if not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
                raise ValueError(f"`{name}` must be a string or a list of strings, got {type(value).__name__}")
        batch_size = len(prompt_embeds) if prompt is None else 1 if isinstance(prompt, str) else len(prompt)
        if isinstance(negative_prompt, list) and len(negative_prompt) != batch_size:
            raise ValueError(f"`negative_prompt` has {len(negative_prompt)} entries for {batch_size} prompts")
        needs_text_encoder = prompt is not None or negative_prompt is not None
        if needs_text_encoder and (self.tokenizer is None or self.text_encoder is None):
            name = "prompt" if prompt is not None else "negative_prompt"
            raise ValueError(f"`{name}` needs the pipeline's tokenizer and text_encoder; pass embeddings instead")

    def _check_embeds(
        self,
        prompt_embeds: torch.Tensor | None,
        prompt_attention_mask: torch.Tensor | None,
        negative_prompt_embeds: torch.Tensor | None,
        negative_prompt_attention_mask: torch.Tensor | None,
    ) -> None:
        caption_channels = self.transformer.config.caption_channels
        for embeds_name, embeds, mask_name, mask in (
            ("prompt_embeds", prompt_embeds, "prompt_attention_mask", prompt_attention_mask),
            (
                "negative_prompt_embeds",
                negative_prompt_embeds,
                "negative_prompt_attention_mask",
                negative_prompt_attention_mask,
            ),
        ):
            if embeds is None:
                continue
            if embeds.ndim != 3 or embeds.shape[-1] != caption_channels:
                raise ValueError(
                    f"`{embeds_name}` must be [batch, tokens, {caption_channels}], got {list(embeds.shape)}"
                )
            if mask is None:
                raise ValueError(f"`{mask_name}` is required with `{embeds_name}` (1 for real tokens, 0 for padding)")
            if mask.shape != embeds.shape[:2]:
                raise ValueError(
                    f"`{mask_name}` must be {list(embeds.shape[:2])} to match `{embeds_name}`, got {list(mask.shape)}"
                )
        both = prompt_embeds is not None and negative_prompt_embeds is not None
        if both and prompt_embeds.shape != negative_prompt_embeds.shape:
            raise ValueError(
                f"`negative_prompt_embeds` {list(negative_prompt_embeds.shape)} must have the shape of "
                f"`prompt_embeds` {list(prompt_embeds.shape)}"
            )

    def _scheduler_uses_learned_variance(self) -> bool:
        """Whether the scheduler steps with the model's variance channels.

        `from_config` keeps keys a scheduler does not take (DDIM from DDPM's config has a `variance_type`): only
        schedulers with a `variance_type` argument act on it.
        """
        takes_variance_type = "variance_type" in inspect.signature(type(self.scheduler).__init__).parameters
        return takes_variance_type and self.scheduler.config.variance_type in ("learned", "learned_range")

    def _check_scheduler(self) -> None:
        learned_variance = self._scheduler_uses_learned_variance()
        if learned_variance and not isinstance(self.scheduler, LEARNED_VARIANCE_SCHEDULERS):
            raise ValueError(
                f"`scheduler`: {type(self.scheduler).__name__} with variance_type="
                f"{self.scheduler.config.variance_type!r} keeps only 3 channels of the model output; MVDiT predicts "
                f"{self.transformer.config.in_channels} noise channels. Create it with variance_type=None, e.g. "
                f"{type(self.scheduler).__name__}.from_config(pipe.scheduler.config, variance_type=None)"
            )
        if learned_variance and self.transformer.config.out_channels != 2 * self.transformer.config.in_channels:
            raise ValueError(
                "`scheduler` samples with a learned variance, but the transformer predicts none "
                f"(out_channels={self.transformer.config.out_channels}); use a scheduler with a fixed variance"
            )

    def prepare_latents(
        self,
        batch_size: int,
        num_frames: int,
        height: int,
        width: int,
        dtype: torch.dtype,
        device: torch.device,
        generator: torch.Generator | list[torch.Generator] | None,
        latents: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Initial noise `[batch, in_channels, num_frames, height / 8, width / 8]` (or the given `latents`)."""
        shape = (
            batch_size,
            self.transformer.config.in_channels,
            num_frames,
            height // self.vae_scale_factor,
            width // self.vae_scale_factor,
        )
        if latents is not None:
            if tuple(latents.shape) != shape:
                raise ValueError(f"`latents` must be {list(shape)}, got {list(latents.shape)}")
            return latents.to(device=device, dtype=dtype)
        if isinstance(generator, list) and len(generator) != batch_size:
            raise ValueError(
                f"`generator` is a list of {len(generator)} generators, but {batch_size} videos are generated; "
                "pass one generator per video"
            )
        latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        return latents * self.scheduler.init_noise_sigma

    # Denoising -----------------------------------------------------------------------------------------------------

    def guided_model_output(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        prompt_embeds: torch.Tensor,
        prompt_attention_mask: torch.Tensor,
        negative_prompt_embeds: torch.Tensor | None = None,
        negative_prompt_attention_mask: torch.Tensor | None = None,
        guidance_scale: float = 7.0,
        guidance_channels: int | None = None,
        attention_kwargs: dict[str, Any] | None = None,
    ) -> torch.Tensor:
        r"""The transformer's prediction for one step, with classifier-free guidance as in the original sampler.

        The unconditional and conditional inputs go through the transformer in one batch, unconditional half first
        and by keyword, as diffusers' cache hooks (FasterCache) expect, inside the transformer's `"cond_uncond"` cache
        context; the first `guidance_channels` output channels become `uncond + guidance_scale * (cond - uncond)` and
        every other channel (the rest of the noise, the variance values) is the conditional one. Without negative
        embeddings or with `guidance_scale <= 1` the transformer runs once, on the prompts, in the `"cond"` context.

        Returns:
            `[batch, out_channels, frames, height, width]`.
        """
        timestep = torch.as_tensor(timestep, device=latents.device).expand(len(latents))
        if guidance_scale <= 1 or negative_prompt_embeds is None:
            with self.transformer.cache_context("cond"):
                return self.transformer(
                    hidden_states=latents,
                    timestep=timestep,
                    encoder_hidden_states=prompt_embeds,
                    encoder_attention_mask=prompt_attention_mask,
                    attention_kwargs=attention_kwargs,
                    return_dict=False,
                )[0]
        with self.transformer.cache_context("cond_uncond"):
            output = self.transformer(
                hidden_states=torch.cat([latents, latents]),
                timestep=torch.cat([timestep, timestep]),
                encoder_hidden_states=torch.cat([negative_prompt_embeds, prompt_embeds]),
                encoder_attention_mask=torch.cat(
                    [negative_prompt_attention_mask.to(prompt_attention_mask.dtype), prompt_attention_mask]
                ),
                attention_kwargs=attention_kwargs,
                return_dict=False,
            )[0]
        unconditional, conditional = output.chunk(2)
        channels = guidance_channels or self.transformer.config.guidance_channels
        guided = unconditional[:, :channels] + guidance_scale * (
            conditional[:, :channels] - unconditional[:, :channels]
        )
        return torch.cat([guided, conditional[:, channels:]], dim=1)

    def _step_kwargs(self, generator: torch.Generator | list[torch.Generator] | None) -> dict[str, Any]:
        accepted = inspect.signature(self.scheduler.step).parameters
        return {"generator": generator} if "generator" in accepted else {}

    # Decoding ------------------------------------------------------------------------------------------------------

    def decode_latents(self, latents: torch.Tensor, decode_chunk_size: int | None = None) -> torch.Tensor:
        """Decode latents `[B, C, T, h, w]` per frame, `decode_chunk_size` frames a VAE call, to `[B, 3, T, H, W]`."""
        batch_size, _, frames = latents.shape[:3]
        latents = latents.transpose(1, 2).flatten(0, 1).to(self.vae.dtype) / self.vae.config.scaling_factor
        chunk = decode_chunk_size or len(latents)
        decoded = torch.cat([self.vae.decode(part).sample for part in latents.split(chunk)])
        return decoded.unflatten(0, (batch_size, frames)).transpose(1, 2).float()

    # Generation ----------------------------------------------------------------------------------------------------

    @property
    def guidance_scale(self) -> float:
        """The scale the next step guides with; a `callback_on_step_end` may change `_guidance_scale`."""
        return self._guidance_scale

    @property
    def do_classifier_free_guidance(self) -> bool:
        return self._guidance_scale > 1

    @property
    def num_timesteps(self) -> int:
        return self._num_timesteps

    @property
    def current_timestep(self) -> torch.Tensor | None:
        return self._current_timestep

    @property
    def interrupt(self) -> bool:
        return self._interrupt

    @torch.no_grad()
    @replace_example_docstring(EXAMPLE_DOC_STRING)
    def __call__(
        self,
        prompt: str | list[str] | None = None,
        negative_prompt: str | list[str] | None = None,
        height: int = 512,
        width: int = 512,
        num_frames: int = 16,
        num_inference_steps: int = 100,
        timesteps: list[int] | None = None,
        guidance_scale: float = 7.0,
        guidance_channels: int | None = None,
        num_videos_per_prompt: int = 1,
        generator: torch.Generator | list[torch.Generator] | None = None,
        latents: torch.Tensor | None = None,
        prompt_embeds: torch.Tensor | None = None,
        prompt_attention_mask: torch.Tensor | None = None,
        negative_prompt_embeds: torch.Tensor | None = None,
        negative_prompt_attention_mask: torch.Tensor | None = None,
        output_type: str = "np",
        return_dict: bool = True,
        callback_on_step_end: Callable[[DiffusionPipeline, int, torch.Tensor, dict], dict]
        | PipelineCallback
        | MultiPipelineCallbacks
        | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        decode_chunk_size: int | None = None,
        clean_caption: bool = True,
        max_sequence_length: int = 120,
        attention_kwargs: dict[str, Any] | None = None,
    ) -> MVDiTPipelineOutput | tuple:
        r"""Generate videos from text.

        Args:
            prompt (`str` or `list[str]`): The prompts; or pass `prompt_embeds` and `prompt_attention_mask`.
            negative_prompt (`str` or `list[str]`, *optional*): Replaces the learned null caption as the
                unconditional input of guidance.
            height, width (`int`, defaults to 512): Frame size in pixels, multiples of 16 (VAE factor x patch).
            num_frames (`int`, defaults to 16): Frames per video (the VAE works per frame).
            num_inference_steps (`int`, defaults to 100): Denoising steps (the original samples with 100).
            timesteps (`list[int]`, *optional*): Custom descending timesteps instead of `num_inference_steps`.
            guidance_scale (`float`, defaults to 7.0): Classifier-free guidance scale; `<= 1` runs no unconditional
                pass.
            guidance_channels (`int`, *optional*): Leading output channels guidance applies to; by default the
                transformer's `guidance_channels` (3 for the 256px checkpoint, 4 for 512px).
            num_videos_per_prompt (`int`, defaults to 1): Videos per prompt.
            generator (`torch.Generator` or a list, one per video, *optional*): Makes the noise reproducible; a list
                makes each video independent of the others in the batch.
            latents (`torch.Tensor`, *optional*): Initial noise `[B, 4, T, H/8, W/8]`.
            prompt_embeds, prompt_attention_mask (`torch.Tensor`, *optional*): T5 hidden states `[B, L, C]` and their
                mask `[B, L]` (1 = real token), e.g. from `encode_prompt`; the mask is required.
            negative_prompt_embeds, negative_prompt_attention_mask (`torch.Tensor`, *optional*): The same for the
                unconditional input.
            output_type (`str`, defaults to `"np"`): `"np"`, `"pt"`, `"pil"`, or `"latent"` for the final latents.
            return_dict (`bool`, defaults to `True`): Return `MVDiTPipelineOutput` instead of a tuple.
            callback_on_step_end (`Callable`, *optional*): Called after each step as `callback(pipe, step, timestep,
                tensors)` with the tensors named in `callback_on_step_end_tensor_inputs`; the tensors it returns
                replace the pipeline's (e.g. `{"latents": ...}`); it may also set `pipe._guidance_scale`, which the
                next steps guide with.
            callback_on_step_end_tensor_inputs (`Sequence[str]`, defaults to `("latents",)`): Names from
                `_callback_tensor_inputs`.
            decode_chunk_size (`int`, *optional*): Frames the VAE decodes at a time; all at once by default.
            clean_caption (`bool`, defaults to `True`): Normalise prompts as the training captions were (ftfy, bs4).
            max_sequence_length (`int`, defaults to 120): T5 tokens per prompt; must equal the transformer's
                `max_text_length` when the null caption is the unconditional input.
            attention_kwargs (`dict`, *optional*): Passed to the transformer, e.g. `{"scale": 0.8}` for LoRA.

        Examples:

        Returns:
            `MVDiTPipelineOutput` with `frames`, or the tuple `(frames,)`.
        """
        if isinstance(callback_on_step_end, (PipelineCallback, MultiPipelineCallbacks)):
            callback_on_step_end_tensor_inputs = callback_on_step_end.tensor_inputs
        self.check_inputs(
            prompt,
            negative_prompt,
            height,
            width,
            num_frames,
            num_inference_steps,
            guidance_scale,
            guidance_channels,
            num_videos_per_prompt,
            prompt_embeds,
            prompt_attention_mask,
            negative_prompt_embeds,
            negative_prompt_attention_mask,
            output_type,
            callback_on_step_end_tensor_inputs,
            decode_chunk_size,
            max_sequence_length,
        )
        self._guidance_scale = guidance_scale
        self._current_timestep = None
        self._interrupt = False
        device = self._execution_device

        prompt_embeds, prompt_attention_mask, negative_prompt_embeds, negative_prompt_attention_mask = (
            self.encode_prompt(
                prompt,
                negative_prompt,
                do_classifier_free_guidance=self.do_classifier_free_guidance,
                num_videos_per_prompt=num_videos_per_prompt,
                device=device,
                prompt_embeds=prompt_embeds,
                prompt_attention_mask=prompt_attention_mask,
                negative_prompt_embeds=negative_prompt_embeds,
                negative_prompt_attention_mask=negative_prompt_attention_mask,
                clean_caption=clean_caption,
                max_sequence_length=max_sequence_length,
            )
        )
        timesteps, _ = retrieve_timesteps(
            self.scheduler, None if timesteps is not None else num_inference_steps, device, timesteps
        )
        self._num_timesteps = len(timesteps)
        latents = self.prepare_latents(
            len(prompt_embeds), num_frames, height, width, prompt_embeds.dtype, device, generator, latents
        )
        step_kwargs = self._step_kwargs(generator)
        # What the scheduler steps with: noise and variance for a learned-variance DDPM, else the noise channels.
        stepped_channels = None if self._scheduler_uses_learned_variance() else self.transformer.config.in_channels

        with self.progress_bar(total=len(timesteps)) as progress_bar:
            for index, timestep in enumerate(timesteps):
                if self.interrupt:
                    continue
                self._current_timestep = timestep
                model_input = self.scheduler.scale_model_input(latents, timestep)
                model_output = self.guided_model_output(
                    model_input,
                    timestep,
                    prompt_embeds,
                    prompt_attention_mask,
                    negative_prompt_embeds,
                    negative_prompt_attention_mask,
                    guidance_scale=self.guidance_scale,
                    guidance_channels=guidance_channels,
                    attention_kwargs=attention_kwargs,
                )
                latents = self.scheduler.step(
                    model_output[:, :stepped_channels], timestep, latents, **step_kwargs, return_dict=False
                )[0].to(prompt_embeds.dtype)

                if callback_on_step_end is not None:
                    current = {
                        "latents": latents,
                        "prompt_embeds": prompt_embeds,
                        "negative_prompt_embeds": negative_prompt_embeds,
                    }
                    tensors = {name: current[name] for name in callback_on_step_end_tensor_inputs}
                    replaced = callback_on_step_end(self, index, timestep, tensors) or {}
                    latents = replaced.pop("latents", latents)
                    prompt_embeds = replaced.pop("prompt_embeds", prompt_embeds)
                    negative_prompt_embeds = replaced.pop("negative_prompt_embeds", negative_prompt_embeds)
                progress_bar.update()
        self._current_timestep = None

        if output_type == "latent":
            frames = latents
        else:
            video = self.decode_latents(latents, decode_chunk_size)
            frames = self.video_processor.postprocess_video(video, output_type=output_type)
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return MVDiTPipelineOutput(frames=frames)
