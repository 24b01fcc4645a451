"""MVDiTTransformer3DModel's forward against a plain eager implementation of the original's math.

The baseline (`original_eager_forward`) computes what `openvid/models/mvdit/mvdit.py` computes, the way it does:
fused qkv/kv projections, einops-style concatenations and splits of [video ‖ text] per frame, materialised
attention matrices with a float32 softmax and `masked_fill(-1e9)` for the padded caption tokens, and a -1e9
additive bias in the cross-attention. It reads the weights of the same `MVDiTTransformer3DModel`, so both run
the same weights on the same inputs; the script checks their outputs agree before timing.

Each implementation runs in its own process (so peak RSS is its own): one untimed warm-up forward, then
`--repeat` timed forwards under `torch.no_grad()` in float32 on CPU; rounds alternate between the two, and the
best median per implementation is reported. Run: `python benchmarks/bench_transformer.py` (about a minute on
2 cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from _common import memory_status_mib, run_in_subprocess

IMPLEMENTATIONS = ("original eager", "MVDiTTransformer3DModel")
# Small but not tiny: the 512px model's spatial grid (64x64 latents, 1,024 tokens a frame) and a padded
# 64-token caption, on a narrower and shallower network so that a CPU run takes seconds.
CONFIG = dict(
    num_attention_heads=6,
    attention_head_dim=64,
    num_layers=2,
    caption_channels=1024,
    max_text_length=64,
    sample_size=(64, 64),
    num_frames=4,
)
BATCH, FRAMES, SIZE, VALID_TOKENS = 1, 4, 64, 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed forwards per process (default 3)")
    parser.add_argument("--rounds", type=int, default=2, help="processes per implementation, alternating (2)")
    parser.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.repeat, args.output)))
        return

    import torch

    started = time.perf_counter()
    results: dict[str, list[dict]] = {name: [] for name in IMPLEMENTATIONS}
    with tempfile.TemporaryDirectory(prefix="bench_transformer_") as workdir:
        outputs = {}
        for round_index in range(args.rounds):
            for index, name in enumerate(IMPLEMENTATIONS):
                output = Path(workdir) / f"{index}.pt"
                results[name].append(run_implementation(name, args.repeat, output if round_index == 0 else None))
                if round_index == 0:
                    outputs[name] = torch.load(output)
        difference = (outputs[IMPLEMENTATIONS[0]] - outputs[IMPLEMENTATIONS[1]]).abs().max().item()
    if difference > 1e-3:
        raise SystemExit(f"the two implementations disagree (max abs difference {difference:.2e})")
    print_table(results, difference, time.perf_counter() - started)


def run_implementation(name: str, repeat: int, output: Path | None) -> dict:
    worker_args = [name, "--repeat", str(repeat), *(["--output", str(output)] if output is not None else [])]
    return run_in_subprocess(__file__, worker_args, name)


def run_worker(name: str, repeat: int, output: Path | None) -> dict:
    import torch

    model, inputs = build_model_and_inputs()
    forward = model if name == "MVDiTTransformer3DModel" else original_eager_forward(model)
    start_rss = memory_status_mib("VmRSS")
    with torch.no_grad():
        result = forward(**inputs)
        result = result.sample if hasattr(result, "sample") else result
        if output is not None:
            torch.save(result, output)
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            forward(**inputs)
            seconds.append(time.perf_counter() - started)
    return {
        "median_s": statistics.median(seconds),
        "peak_rss_mib": memory_status_mib("VmHWM"),
        "start_rss_mib": start_rss,
        "threads": torch.get_num_threads(),
    }


def build_model_and_inputs():
    """The same weights and inputs in every process: a seeded model whose zero-initialised outputs are made
    small but non-zero, so that every module contributes."""
    import torch

    from openvid_hf import MVDiTTransformer3DModel

    torch.manual_seed(0)
    model = MVDiTTransformer3DModel(**CONFIG).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_(0, 0.02)
    generator = torch.Generator().manual_seed(1)
    mask = torch.zeros(BATCH, CONFIG["max_text_length"], dtype=torch.long)
    mask[:, :VALID_TOKENS] = 1
    inputs = dict(
        hidden_states=torch.randn(BATCH, 4, FRAMES, SIZE, SIZE, generator=generator),
        timestep=torch.full((BATCH,), 500.0),
        encoder_hidden_states=torch.randn(
            BATCH, CONFIG["max_text_length"], CONFIG["caption_channels"], generator=generator
        ),
        encoder_attention_mask=mask,
    )
    return model, inputs


def original_eager_forward(model):
    """The original MVDiT forward as plain eager PyTorch, on `model`'s weights (q/k/v fused back)."""
    import math

    import torch
    import torch.nn.functional as F

    dim = model.config.num_attention_heads * model.config.attention_head_dim
    heads = model.config.num_attention_heads

    def fused(*linears):
        weight = torch.cat([linear.weight for linear in linears]).contiguous()
        return weight, torch.cat([linear.bias for linear in linears]).contiguous()

    def layer_norm(x):
        return F.layer_norm(x, (dim,), eps=1e-6)

    def modulate(x, shift, scale):
        return x * (1 + scale) + shift

    def self_attention(x, qkv, out, mask=None):
        batch, tokens, _ = x.shape
        q, k, v = F.linear(x, *qkv).view(batch, tokens, 3, heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1)
        scores = scores.to(torch.float32)
        if mask is not None:
            scores = scores.masked_fill(mask[:, None, None, :] == 0, -1e9)
        weights = scores.softmax(dim=-1).to(q.dtype)
        return F.linear((weights @ v).transpose(1, 2).reshape(batch, tokens, dim), out.weight, out.bias)

    def cross_attention(x, context, attention, mask):
        batch, tokens, _ = x.shape
        q = attention.to_q(x).view(batch, tokens, heads, -1).transpose(1, 2)
        k, v = (
            F.linear(context, *fused(attention.to_k, attention.to_v)).view(batch, -1, 2, heads, q.shape[-1]).unbind(2)
        )
        bias = torch.zeros(mask.shape, dtype=q.dtype).masked_fill(mask == 0, -1e9)[:, None, None, :]
        scores = (q * q.shape[-1] ** -0.5) @ k.transpose(1, 2).transpose(-2, -1) + bias
        weights = scores.softmax(dim=-1)
        return attention.to_out[0]((weights @ v.transpose(1, 2)).transpose(1, 2).reshape(batch, tokens, dim))

    blocks = [
        (
            block,
            fused(block.attn1.to_q, block.attn1.to_k, block.attn1.to_v),
            fused(block.attn_temporal.to_q, block.attn_temporal.to_k, block.attn_temporal.to_v),
        )
        for block in model.transformer_blocks
    ]

    def forward(hidden_states, timestep, encoder_hidden_states, encoder_attention_mask):
        batch = hidden_states.shape[0]
        x = model.patch_embedding(hidden_states)
        frames, spatial = x.shape[2], x.shape[3] * x.shape[4]
        spatial_pos, temporal_pos = model._position_embeddings(frames, x.shape[3], x.shape[4], x.device, x.dtype)
        x = (x.flatten(2).transpose(1, 2).reshape(batch, frames, spatial, dim) + spatial_pos).reshape(batch, -1, dim)

        half = 128
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        arguments = timestep[:, None].float() * freqs[None]
        t = model.time_embedding(torch.cat([torch.cos(arguments), torch.sin(arguments)], dim=-1))
        modulations = [
            linear(F.silu(t))
            for linear in (model.adaln, model.adaln_context, model.adaln_temporal, model.adaln_context_temporal)
        ]
        y = model.caption_projection(encoder_hidden_states)[:, None]
        tokens = y.shape[2]
        y = y.repeat(1, frames, 1, 1)
        mask = encoder_attention_mask[:, None].repeat(1, frames, 1)

        for index, (block, qkv, qkv_temporal) in enumerate(blocks):
            shift, scale, gate, shift_mlp, scale_mlp, gate_mlp = (
                block.scale_shift_table[None] + modulations[0].reshape(batch, 6, -1)
            ).chunk(6, 1)
            y_shift, y_scale, y_gate, y_shift_mlp, y_scale_mlp, y_gate_mlp = (
                block.scale_shift_table_context[None] + modulations[1].reshape(batch, 6, -1)
            ).chunk(6, 1)
            t_shift, t_scale, t_gate = (
                block.scale_shift_table_temporal[None] + modulations[2].reshape(batch, 3, -1)
            ).chunk(3, 1)
            yt_shift, yt_scale, yt_gate = (
                block.scale_shift_table_context_temporal[None] + modulations[3].reshape(batch, 3, -1)
            ).chunk(3, 1)
            y = y.reshape(batch, frames * tokens, dim)

            joint = torch.cat(
                [
                    modulate(layer_norm(x), shift, scale).reshape(batch, frames, spatial, dim),
                    modulate(layer_norm(y), y_shift, y_scale).reshape(batch, frames, tokens, dim),
                ],
                dim=2,
            )
            joint_mask = torch.cat([torch.ones(batch, frames, spatial), mask.to(x.dtype)], dim=2)
            out = self_attention(
                joint.reshape(batch * frames, -1, dim),
                qkv,
                block.attn1.to_out[0],
                joint_mask.reshape(batch * frames, -1),
            )
            out = out.reshape(batch, frames, -1, dim)
            x = x + gate * out[:, :, :spatial].reshape(batch, -1, dim)
            y = y + y_gate * out[:, :, spatial:].reshape(batch, -1, dim)

            joint = torch.cat(
                [
                    modulate(layer_norm(x), t_shift, t_scale).reshape(batch, frames, spatial, dim),
                    modulate(layer_norm(y), yt_shift, yt_scale).reshape(batch, frames, tokens, dim),
                ],
                dim=2,
            )
            joint = joint.permute(0, 2, 1, 3).reshape(-1, frames, dim)
            if index == 0:
                joint = joint + temporal_pos
            out = self_attention(joint, qkv_temporal, block.attn_temporal.to_out[0])
            out = out.reshape(batch, -1, frames, dim).permute(0, 2, 1, 3)
            x = x + t_gate * out[:, :, :spatial].reshape(batch, -1, dim)
            y = y + yt_gate * out[:, :, spatial:].reshape(batch, -1, dim)

            x_frames = x.reshape(batch * frames, spatial, dim)
            x_frames = x_frames + cross_attention(
                x_frames, y.reshape(batch * frames, tokens, dim), block.attn2, mask.reshape(batch * frames, tokens)
            )
            x = x_frames.reshape(batch, -1, dim)
            x = x + gate_mlp * block.ff(modulate(layer_norm(x), shift_mlp, scale_mlp))
            y = y + y_gate_mlp * block.ff_context(modulate(layer_norm(y), y_shift_mlp, y_scale_mlp))
            y = y.reshape(batch, frames, tokens, dim)

        shift, scale = (model.scale_shift_table[None] + t[:, None]).chunk(2, dim=1)
        x = model.proj_out(modulate(layer_norm(x), shift, scale))
        side = math.isqrt(spatial)
        x = x.reshape(batch, frames, side, side, 1, 2, 2, -1).permute(0, 7, 1, 4, 2, 5, 3, 6)
        return x.reshape(batch, -1, frames, side * 2, side * 2)

    return forward


def print_table(results: dict[str, list[dict]], difference: float, seconds: float) -> None:
    import torch

    best = {name: min(runs, key=lambda run: run["median_s"]) for name, runs in results.items()}
    baseline = best[IMPLEMENTATIONS[0]]
    print(
        f"MVDiT forward, float32 CPU ({baseline['threads']} threads, torch {torch.__version__}): batch {BATCH}, "
        f"{FRAMES}x{SIZE}x{SIZE} latents ({(SIZE // 2) ** 2} tokens a frame), {CONFIG['max_text_length']} caption "
        f"tokens ({VALID_TOKENS} real), width {CONFIG['num_attention_heads'] * CONFIG['attention_head_dim']}, "
        f"{CONFIG['num_layers']} blocks; outputs agree to {difference:.1e}"
    )
    print(
        f"{'implementation':<26}{'forward s':>10}{'speed':>8}{'peak RSS MiB':>14}{'above start MiB':>17}{'memory':>8}"
    )
    print("-" * 83)
    base_extra = baseline["peak_rss_mib"] - baseline["start_rss_mib"]
    for name, run in best.items():
        extra = run["peak_rss_mib"] - run["start_rss_mib"]
        print(
            f"{name:<26}{run['median_s']:>10.3f}{baseline['median_s'] / run['median_s']:>7.2f}x"
            f"{run['peak_rss_mib']:>14.0f}{extra:>17.0f}{extra / base_extra:>7.2f}x"
        )
    print(f"({len(results[IMPLEMENTATIONS[0]])} processes per implementation, {seconds:.0f} s in all)")


if __name__ == "__main__":
    main()
