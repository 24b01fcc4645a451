"""MVDiT, the multi-modal video diffusion transformer of OpenVid-1M (arXiv 2407.02371), as a diffusers model.

Each block runs, per frame, joint self-attention over [video tokens ‖ text tokens] (MMSA); temporal attention
along the frames over both modalities (MMTA); cross-attention from each frame's video tokens to that frame's
text tokens (MHCA); and separate modulated MLPs for video and text. The math follows the original code
(`openvid/models/mvdit/mvdit.py`) exactly; `from_original_checkpoint` (`convert_mvdit.py`) maps its checkpoints
onto this module.

This file imports only torch and diffusers (and `convert_mvdit`, only when converting), so it can be published to a
Hub repository as remote code. Its size is diffusers' convention: one file per model (embeddings, attention
processors, block, model).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.hooks._helpers import TransformerBlockMetadata, TransformerBlockRegistry
from diffusers.loaders import PeftAdapterMixin
from diffusers.models.attention import AttentionMixin, AttentionModuleMixin, FeedForward
from diffusers.models.attention_dispatch import dispatch_attention_fn
from diffusers.models.cache_utils import CacheMixin
from diffusers.models.embeddings import (
    PixArtAlphaTextProjection,
    TimestepEmbedding,
    Timesteps,
    get_1d_sincos_pos_embed_from_grid,
)
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils.peft_utils import apply_lora_scale
from diffusers.utils.torch_utils import maybe_allow_in_graph
from torch import nn

# Module-name patterns for diffusers' cache methods. Their defaults cannot tell MVDiT's attentions apart (every one
# lives under `transformer_blocks`): per frame joint self-attention is `attn1` (spatial), attention along the frames
# `attn_temporal`, cross-attention `attn2`. PAB and FasterCache search them with `re.search`, TaylorSeer with
# `re.fullmatch`.
MVDIT_SPATIAL_ATTENTION_IDENTIFIERS: tuple[str, ...] = (r"^transformer_blocks\.\d+\.attn1$",)
MVDIT_TEMPORAL_ATTENTION_IDENTIFIERS: tuple[str, ...] = (r"^transformer_blocks\.\d+\.attn_temporal$",)
MVDIT_CROSS_ATTENTION_IDENTIFIERS: tuple[str, ...] = (r"^transformer_blocks\.\d+\.attn2$",)
MVDIT_TAYLORSEER_CACHE_IDENTIFIERS: tuple[str, ...] = (r"transformer_blocks\.\d+\.(attn1|attn_temporal|attn2)",)


def spatial_sincos_embedding(embed_dim: int, rows: int, cols: int, scale: float) -> torch.Tensor:
    """2-D sin-cos embedding of a `rows` x `cols` patch grid, tokens in row-major order, as float64 `[rows*cols, D]`.

    As in the original (PixArt's `get_2d_sincos_pos_embed`), the first half of the channels encodes the column and
    the second half the row, and positions are `index / scale` computed in float32.
    """
    column = (torch.arange(cols, dtype=torch.float32) / scale).repeat(rows)
    row = (torch.arange(rows, dtype=torch.float32) / scale).repeat_interleave(cols)
    half = embed_dim // 2
    return torch.cat(
        [
            get_1d_sincos_pos_embed_from_grid(half, column.double(), output_type="pt"),
            get_1d_sincos_pos_embed_from_grid(half, row.double(), output_type="pt"),
        ],
        dim=1,
    )


def temporal_sincos_embedding(embed_dim: int, frames: int, scale: float) -> torch.Tensor:
    """1-D sin-cos embedding of `frames` positions `index / scale` (float64), as float64 `[frames, D]`."""
    positions = torch.arange(frames, dtype=torch.float64) / scale
    return get_1d_sincos_pos_embed_from_grid(embed_dim, positions, output_type="pt")


def _modulate(hidden_states: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return hidden_states * (1 + scale) + shift


class MVDiTAttnProcessor:
    """Multi-head attention through diffusers' dispatcher (`set_attention_backend` picks the kernel).

    `attention_mask` is a boolean mask broadcastable to `[batch, heads, queries, keys]`, True where a key may be
    attended to; the original's additive -1e9 in a float32 softmax gives these keys exactly zero weight too.
    """

    _attention_backend = None

    def __call__(
        self,
        attn: MVDiTAttention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if attn.fused_projections and encoder_hidden_states is None:
            query, key, value = attn.to_qkv(hidden_states).chunk(3, dim=-1)
        elif attn.fused_projections:
            query = attn.to_q(hidden_states)
            key, value = attn.to_kv(encoder_hidden_states).chunk(2, dim=-1)
        else:
            context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
            query, key, value = attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)

        query, key, value = (tensor.unflatten(-1, (attn.heads, -1)) for tensor in (query, key, value))
        hidden_states = dispatch_attention_fn(
            query, key, value, attn_mask=attention_mask, backend=self._attention_backend
        )
        hidden_states = hidden_states.flatten(2, 3).type_as(query)
        hidden_states = attn.to_out[0](hidden_states)
        return attn.to_out[1](hidden_states)


class MVDiTAttention(nn.Module, AttentionModuleMixin):
    """Attention with biased q/k/v/out projections and no q/k normalisation (the original's three attentions)."""

    _default_processor_cls = MVDiTAttnProcessor
    _available_processors = [MVDiTAttnProcessor]

    def __init__(
        self, dim: int, heads: int, is_cross_attention: bool = False, processor: MVDiTAttnProcessor | None = None
    ) -> None:
        super().__init__()
        self.heads = heads
        self.is_cross_attention = is_cross_attention
        self.use_bias = True
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.set_processor(processor if processor is not None else self._default_processor_cls())

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.processor(self, hidden_states, encoder_hidden_states, attention_mask)


#: The block's modulation arguments, in the order of the model's adaLN projections.
_MODULATION_ARGUMENTS = ("modulation", "modulation_context", "modulation_temporal", "modulation_context_temporal")


def register_block_metadata() -> None:
    """Tell diffusers' block registry where an MVDiT block's hidden states and text states are.

    First Block Cache and MagCache find them there: MVDiT blocks take and return `(hidden_states,
    encoder_hidden_states)`. `MVDiTTransformer3DModel.enable_cache` calls this; call it before applying those hooks
    directly. Not done at import because the registry imports every diffusers transformer the first time it is used.
    """
    TransformerBlockRegistry.register(
        MVDiTTransformerBlock,
        TransformerBlockMetadata(return_hidden_states_index=0, return_encoder_hidden_states_index=1),
    )


def _modulation_terms(table: torch.Tensor, modulation: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Split `table [k, D] + modulation [B, k, D]` into k tensors `[B, 1, 1, D]` that broadcast over frames/tokens."""
    return (table + modulation).unsqueeze(2).unsqueeze(2).unbind(1)


@maybe_allow_in_graph
class MVDiTTransformerBlock(nn.Module):
    """One MVDiT block on video tokens `[B, T, S, D]` and per-frame text tokens `[B, T, L, D]`.

    The layer norms have no affine parameters, so one module per position serves both modalities; the modulation
    tables, adaLN inputs and MLPs are separate for video and text ("context").
    """

    def __init__(self, dim: int, num_attention_heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=False)
        self.attn1 = MVDiTAttention(dim, num_attention_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=False)
        self.attn_temporal = MVDiTAttention(dim, num_attention_heads)
        self.attn2 = MVDiTAttention(dim, num_attention_heads, is_cross_attention=True)
        self.norm3 = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=False)
        inner_dim = int(dim * mlp_ratio)
        self.ff = FeedForward(dim, inner_dim=inner_dim, activation_fn="gelu-approximate")
        self.ff_context = FeedForward(dim, inner_dim=inner_dim, activation_fn="gelu-approximate")
        self.scale_shift_table = nn.Parameter(torch.randn(6, dim) / dim**0.5)
        self.scale_shift_table_context = nn.Parameter(torch.randn(6, dim) / dim**0.5)
        self.scale_shift_table_temporal = nn.Parameter(torch.randn(3, dim) / dim**0.5)
        self.scale_shift_table_context_temporal = nn.Parameter(torch.randn(3, dim) / dim**0.5)

    def forward(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        modulation: torch.Tensor,
        modulation_context: torch.Tensor,
        modulation_temporal: torch.Tensor,
        modulation_context_temporal: torch.Tensor,
        joint_attention_mask: torch.Tensor,
        encoder_attention_mask: torch.Tensor,
        temporal_pos_embed: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        batch_size, frames, video_tokens, _ = hidden_states.shape
        text_tokens = encoder_hidden_states.shape[2]
        shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp = _modulation_terms(
            self.scale_shift_table, modulation
        )
        c_shift_msa, c_scale_msa, c_gate_msa, c_shift_mlp, c_scale_mlp, c_gate_mlp = _modulation_terms(
            self.scale_shift_table_context, modulation_context
        )
        shift_tmp, scale_tmp, gate_tmp = _modulation_terms(self.scale_shift_table_temporal, modulation_temporal)
        c_shift_tmp, c_scale_tmp, c_gate_tmp = _modulation_terms(
            self.scale_shift_table_context_temporal, modulation_context_temporal
        )

        # 1. MMSA: per frame, joint self-attention over [video ‖ text], padded text tokens masked out as keys.
        joint = torch.cat(
            [
                _modulate(self.norm1(hidden_states), shift_msa, scale_msa),
                _modulate(self.norm1(encoder_hidden_states), c_shift_msa, c_scale_msa),
            ],
            dim=2,
        )
        attn_output = self.attn1(joint.flatten(0, 1), attention_mask=joint_attention_mask)
        attn_output = attn_output.unflatten(0, (batch_size, frames))
        hidden_states = hidden_states + gate_msa * attn_output[:, :, :video_tokens]
        encoder_hidden_states = encoder_hidden_states + c_gate_msa * attn_output[:, :, video_tokens:]

        # 2. MMTA: every video and text token position attends along the frames (no mask).
        joint = torch.cat(
            [
                _modulate(self.norm2(hidden_states), shift_tmp, scale_tmp),
                _modulate(self.norm2(encoder_hidden_states), c_shift_tmp, c_scale_tmp),
            ],
            dim=2,
        )
        joint = joint.transpose(1, 2).flatten(0, 1)
        if temporal_pos_embed is not None:
            joint = joint + temporal_pos_embed
        attn_output = self.attn_temporal(joint).unflatten(0, (batch_size, video_tokens + text_tokens)).transpose(1, 2)
        hidden_states = hidden_states + gate_tmp * attn_output[:, :, :video_tokens]
        encoder_hidden_states = encoder_hidden_states + c_gate_tmp * attn_output[:, :, video_tokens:]

        # 3. MHCA: each frame's video tokens attend to that frame's text tokens (no norm, no gate).
        attn_output = self.attn2(
            hidden_states.flatten(0, 1),
            encoder_hidden_states=encoder_hidden_states.flatten(0, 1),
            attention_mask=encoder_attention_mask,
        )
        hidden_states = hidden_states + attn_output.unflatten(0, (batch_size, frames))

        # 4. Modulated MLPs, one per modality.
        hidden_states = hidden_states + gate_mlp * self.ff(_modulate(self.norm3(hidden_states), shift_mlp, scale_mlp))
        encoder_hidden_states = encoder_hidden_states + c_gate_mlp * self.ff_context(
            _modulate(self.norm3(encoder_hidden_states), c_shift_mlp, c_scale_mlp)
        )
        return hidden_states, encoder_hidden_states


class MVDiTTransformer3DModel(ModelMixin, ConfigMixin, AttentionMixin, PeftAdapterMixin, CacheMixin):
    r"""The MVDiT video diffusion transformer of OpenVid-1M.

    Args:
        in_channels (`int`, defaults to 4): Latent channels of the input.
        out_channels (`int`, defaults to 8): Output channels: the predicted noise, then (when twice `in_channels`)
            the learned-variance values.
        patch_size (`tuple[int, int, int]`, defaults to `(1, 2, 2)`): Patch size over (frames, height, width).
        num_attention_heads (`int`, defaults to 16): Heads of every attention.
        attention_head_dim (`int`, defaults to 72): Channels per head; the width is heads x head dim.
        num_layers (`int`, defaults to 28): Number of MVDiT blocks.
        mlp_ratio (`float`, defaults to 4.0): Hidden width of the MLPs relative to the model width.
        caption_channels (`int`, defaults to 4096): Channels of the text-encoder hidden states (T5-XXL).
        max_text_length (`int`, defaults to 120): Tokens of the learned null caption (the prompt length).
        space_scale (`float`, defaults to 1.0): Spatial positions are `index / space_scale` (0.5 for 256px).
        time_scale (`float`, defaults to 1.0): Temporal positions are `index / time_scale`.
        sample_size (`tuple[int, int]`, defaults to `(64, 64)`): Default latent height and width (any size whose
            height and width divide by the patch works; position embeddings follow the input).
        num_frames (`int`, defaults to 16): Default number of latent frames.
        guidance_channels (`int`, defaults to 4): Leading output channels that classifier-free guidance applies to
            (the original `cfg_channel`: 3 for the 256px checkpoint, 4 for the 512px one).
    """

    _supports_gradient_checkpointing = True
    _no_split_modules = ["MVDiTTransformerBlock"]
    _repeated_blocks = ["MVDiTTransformerBlock"]
    _skip_layerwise_casting_patterns = ["patch_embedding", "time_embedding", "adaln", "norm"]

    @register_to_config
    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 8,
        patch_size: tuple[int, int, int] = (1, 2, 2),
        num_attention_heads: int = 16,
        attention_head_dim: int = 72,
        num_layers: int = 28,
        mlp_ratio: float = 4.0,
        caption_channels: int = 4096,
        max_text_length: int = 120,
        space_scale: float = 1.0,
        time_scale: float = 1.0,
        sample_size: tuple[int, int] = (64, 64),
        num_frames: int = 16,
        guidance_channels: int = 4,
    ) -> None:
        super().__init__()
        dim = num_attention_heads * attention_head_dim
        patch_size = tuple(patch_size)

        self.patch_embedding = nn.Conv3d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.time_proj = Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embedding = TimestepEmbedding(256, dim)
        self.adaln = nn.Linear(dim, 6 * dim)
        self.adaln_context = nn.Linear(dim, 6 * dim)
        self.adaln_temporal = nn.Linear(dim, 3 * dim)
        self.adaln_context_temporal = nn.Linear(dim, 3 * dim)
        self.caption_projection = PixArtAlphaTextProjection(caption_channels, dim, act_fn="gelu_tanh")
        # The learned unconditional caption (original `y_embedder.y_embedding`): T5-space hidden states that
        # stand in for a prompt in classifier-free guidance and caption dropout. A buffer, as in the original.
        self.register_buffer(
            "null_encoder_hidden_states", torch.randn(max_text_length, caption_channels) / caption_channels**0.5
        )

        self.transformer_blocks = nn.ModuleList(
            [MVDiTTransformerBlock(dim, num_attention_heads, mlp_ratio) for _ in range(num_layers)]
        )

        self.norm_out = nn.LayerNorm(dim, eps=1e-6, elementwise_affine=False)
        self.scale_shift_table = nn.Parameter(torch.randn(2, dim) / dim**0.5)
        self.proj_out = nn.Linear(dim, math.prod(patch_size) * out_channels)

        self.gradient_checkpointing = False
        self._position_embeddings_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    @classmethod
    def from_original_checkpoint(
        cls,
        checkpoint: str | os.PathLike | Mapping[str, Any],
        original_config: str | os.PathLike | Mapping[str, Any] | None = None,
        torch_dtype: torch.dtype | None = None,
        **overrides: Any,
    ) -> MVDiTTransformer3DModel:
        """Convert a checkpoint of the original implementation (NJU-PCALab/OpenVid-1M), strictly.

        Args:
            checkpoint: A `.pt`/`.pth` file (read with `torch.load(weights_only=True)`), a `.safetensors` file, or
                a loaded state dict; `state_dict`/EMA containers and `module.` prefixes are unwrapped.
            original_config: A preset (`"16x256x256"`, `"16x512x512"`: MVDiT-XL/2 as released), or the original
                constructor's arguments as a dict or `.json` file. Shapes fill in what they tell.
            torch_dtype: dtype of the converted weights; by default the checkpoint's.
            overrides: Values of this model's config that win over both (e.g. `guidance_channels=3`).

        Raises:
            `CheckpointError` (a `ValueError`) listing every problem of the checkpoint at once; `ImportError` in a
            remote-code copy of this class, which ships without the conversion (install openvid-hf).
        """
        # `from . import`, on use: diffusers' remote-code loader wants the module of every `from .module import` in a
        # component's folder, and a component ships as one file (docs/model.md).
        from . import convert_mvdit

        return convert_mvdit.convert_checkpoint(cls, checkpoint, original_config, torch_dtype=torch_dtype, **overrides)

    @torch.no_grad()
    def initialize_weights(self) -> MVDiTTransformer3DModel:
        """Apply the original's training initialisation in place; call it before training from scratch.

        `__init__` leaves PyTorch's default initialisation, so a fresh model's output depends on every module (as
        diffusers' common tests and cache checks need). The original instead starts training from Xavier-uniform
        linears with zero biases (its q/k/v and k/v are one fused matrix each, so their bound is that of the fused
        shape), normal(0.02) for the timestep, adaLN and caption projections, and zeros for the cross-attention and
        temporal-attention outputs and the final projection, so that a new block starts as the identity on the video
        stream and the model predicts zero. Returns the model.
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, MVDiTAttention):
                fused = (
                    (module.to_k, module.to_v)
                    if module.is_cross_attention
                    else (module.to_q, module.to_k, module.to_v)
                )
                bound = math.sqrt(6.0 / (fused[0].in_features + sum(linear.out_features for linear in fused)))
                for linear in fused:
                    nn.init.uniform_(linear.weight, -bound, bound)
        nn.init.xavier_uniform_(self.patch_embedding.weight.view(self.patch_embedding.weight.shape[0], -1))
        for linear in (
            self.time_embedding.linear_1,
            self.time_embedding.linear_2,
            self.adaln,
            self.adaln_context,
            self.adaln_temporal,
            self.adaln_context_temporal,
            self.caption_projection.linear_1,
            self.caption_projection.linear_2,
        ):
            nn.init.normal_(linear.weight, std=0.02)
        zero_initialised = [self.proj_out]
        for block in self.transformer_blocks:
            zero_initialised += [block.attn2.to_out[0], block.attn_temporal.to_out[0]]
        for linear in zero_initialised:
            nn.init.zeros_(linear.weight)
            nn.init.zeros_(linear.bias)
        return self

    def enable_cache(self, config: Any) -> None:
        """diffusers' `CacheMixin.enable_cache`, with MVDiT's block registered for the block-level caches."""
        register_block_metadata()
        super().enable_cache(config)

    def _position_embeddings(
        self, frames: int, rows: int, cols: int, device: torch.device, dtype: torch.dtype
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Spatial `[rows*cols, D]` and temporal `[frames, D]` sin-cos embeddings for this input size, cached."""
        key = (frames, rows, cols, device, dtype)
        cached = self._position_embeddings_cache.get(key)
        if cached is None:
            dim = self.config.num_attention_heads * self.config.attention_head_dim
            spatial = spatial_sincos_embedding(dim, rows, cols, self.config.space_scale)
            temporal = temporal_sincos_embedding(dim, frames, self.config.time_scale)
            cached = (spatial.to(device=device, dtype=dtype), temporal.to(device=device, dtype=dtype))
            self._position_embeddings_cache[key] = cached
        return cached

    @apply_lora_scale("attention_kwargs")
    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None = None,
        attention_kwargs: dict[str, Any] | None = None,
        return_dict: bool = True,
    ) -> Transformer2DModelOutput | tuple[torch.Tensor]:
        """Predict noise (and variance values) for video latents.

        Args:
            hidden_states (`torch.Tensor` `[B, C, T, H, W]`): Noisy latents; T, H, W divisible by the patch size.
            timestep (`torch.Tensor` `[B]` or scalar): Diffusion timesteps (0..999, may be fractional).
            encoder_hidden_states (`torch.Tensor` `[B, L, caption_channels]`): Text-encoder hidden states, or
                `null_encoder_hidden_states` expanded to the batch for the unconditional branch.
            encoder_attention_mask (`torch.Tensor` `[B, L]`, *optional*): 1 (or True) for real tokens, 0 for
                padding. `None` means every token is real. A caption with no real token attends to all of them.
            attention_kwargs (`dict`, *optional*): `{"scale": s}` scales the LoRA layers for this call (pass it by
                keyword).
            return_dict (`bool`, defaults to `True`): Return a `Transformer2DModelOutput` instead of a tuple.

        Returns:
            `Transformer2DModelOutput` whose `sample` is `[B, out_channels, T, H, W]`.
        """
        output = self._denoise(hidden_states, timestep, encoder_hidden_states, encoder_attention_mask)
        if not return_dict:
            return (output,)
        return Transformer2DModelOutput(sample=output)

    def _denoise(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        batch_size, frames, rows, cols = self._check_inputs(
            hidden_states, encoder_hidden_states, encoder_attention_mask
        )
        video_tokens, text_tokens = rows * cols, encoder_hidden_states.shape[1]

        hidden_states = self.patch_embedding(hidden_states).flatten(3).permute(0, 2, 3, 1)
        spatial_pos_embed, temporal_pos_embed = self._position_embeddings(
            frames, rows, cols, hidden_states.device, hidden_states.dtype
        )
        hidden_states = (hidden_states + spatial_pos_embed).contiguous()

        timestep = torch.as_tensor(timestep, device=hidden_states.device).expand(batch_size)
        temb = self.time_embedding(self.time_proj(timestep).to(hidden_states.dtype))
        temb_activated = F.silu(temb)
        modulations = [
            projection(temb_activated).unflatten(1, (-1, temb.shape[-1]))
            for projection in (self.adaln, self.adaln_context, self.adaln_temporal, self.adaln_context_temporal)
        ]

        # Text tokens: projected once, then repeated per frame (each frame's copy evolves separately).
        encoder_hidden_states = self.caption_projection(encoder_hidden_states)
        encoder_hidden_states = encoder_hidden_states.unsqueeze(1).expand(-1, frames, -1, -1)

        if encoder_attention_mask is None:
            text_mask = torch.ones(batch_size, text_tokens, dtype=torch.bool, device=hidden_states.device)
        else:
            text_mask = encoder_attention_mask.to(device=hidden_states.device, dtype=torch.bool)
            text_mask = text_mask | ~text_mask.any(dim=1, keepdim=True)
        joint_mask = torch.cat([text_mask.new_ones(batch_size, video_tokens), text_mask], dim=1)
        joint_mask = joint_mask.repeat_interleave(frames, dim=0)[:, None, None, :]
        cross_mask = text_mask.repeat_interleave(frames, dim=0)[:, None, None, :]

        for index, block in enumerate(self.transformer_blocks):
            block_inputs = {
                "hidden_states": hidden_states,
                "encoder_hidden_states": encoder_hidden_states,
                **dict(zip(_MODULATION_ARGUMENTS, modulations, strict=True)),
                "joint_attention_mask": joint_mask,
                "encoder_attention_mask": cross_mask,
                "temporal_pos_embed": temporal_pos_embed if index == 0 else None,
            }
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                hidden_states, encoder_hidden_states = self._gradient_checkpointing_func(block, *block_inputs.values())
            else:
                hidden_states, encoder_hidden_states = block(**block_inputs)

        shift, scale = (self.scale_shift_table + temb.unsqueeze(1)).unsqueeze(1).chunk(2, dim=2)
        hidden_states = self.proj_out(_modulate(self.norm_out(hidden_states), shift, scale))

        patch_t, patch_h, patch_w = self.config.patch_size
        hidden_states = hidden_states.reshape(batch_size, frames, rows, cols, patch_t, patch_h, patch_w, -1)
        hidden_states = hidden_states.permute(0, 7, 1, 4, 2, 5, 3, 6)
        return hidden_states.reshape(batch_size, -1, frames * patch_t, rows * patch_h, cols * patch_w)

    def _check_inputs(
        self,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_attention_mask: torch.Tensor | None,
    ) -> tuple[int, int, int, int]:
        """Validate shapes; return batch size and the patch grid (frames, rows, columns)."""
        if hidden_states.ndim != 5 or hidden_states.shape[1] != self.config.in_channels:
            raise ValueError(
                f"hidden_states must be [batch, {self.config.in_channels}, frames, height, width], "
                f"got {list(hidden_states.shape)}"
            )
        batch_size, _, *size = hidden_states.shape
        if any(length % patch for length, patch in zip(size, self.config.patch_size, strict=True)):
            raise ValueError(
                f"hidden_states frames, height, width {size} must be divisible by the patch size "
                f"{list(self.config.patch_size)}"
            )
        if encoder_hidden_states.ndim != 3 or encoder_hidden_states.shape[0] != batch_size:
            raise ValueError(
                f"encoder_hidden_states must be [{batch_size}, tokens, {self.config.caption_channels}], "
                f"got {list(encoder_hidden_states.shape)}"
            )
        if encoder_attention_mask is not None and encoder_attention_mask.shape != encoder_hidden_states.shape[:2]:
            raise ValueError(
                f"encoder_attention_mask must be {list(encoder_hidden_states.shape[:2])} (batch, tokens), "
                f"got {list(encoder_attention_mask.shape)}"
            )
        frames, rows, cols = (length // patch for length, patch in zip(size, self.config.patch_size, strict=True))
        return batch_size, frames, rows, cols
