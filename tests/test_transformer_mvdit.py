"""MVDiTTransformer3DModel against the original implementation's tensors, and as a diffusers/PEFT citizen."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from peft import LoraConfig

from openvid_hf import MVDiTTransformer3DModel
from openvid_hf.pipelines.transformer_mvdit import spatial_sincos_embedding, temporal_sincos_embedding

# The reference `output` is the original's math in float64 (at most 2.2 in magnitude). This float32 model matches it
# to 7.2e-7 on both samples (measured; the original itself, run in float32, to 7.5e-7). 1e-5 leaves room for another
# CPU's kernels while staying 10x below the smallest semantic error the reference README lists (exact GELU instead of
# tanh: 1e-4; masks, position or timestep embeddings: 0.4 to 5).
REFERENCE_ATOL = 1e-5
SMALL_CONFIG = dict(
    num_attention_heads=4,
    attention_head_dim=8,
    num_layers=2,
    caption_channels=16,
    max_text_length=6,
    sample_size=(4, 4),
    num_frames=2,
)


@pytest.fixture(scope="module")
def reference_model(mvdit_reference):
    return MVDiTTransformer3DModel.from_original_checkpoint(mvdit_reference.state_dict_path, mvdit_reference.config)


def assert_matches_reference(output: torch.Tensor, expected: torch.Tensor) -> None:
    for index in range(len(expected)):
        error = (output[index] - expected[index]).abs().max().item()
        assert error <= REFERENCE_ATOL, f"sample {index}: max abs error {error:.2e} > {REFERENCE_ATOL:.0e}"


def assert_every_parameter_gets_a_gradient(gradients: dict[str, torch.Tensor | None], num_layers: int) -> None:
    """All but the last block's text MLP, whose output the original (and this model) never uses."""
    unused = f"transformer_blocks.{num_layers - 1}.ff_context."
    for name, gradient in gradients.items():
        if name.startswith(unused):
            assert gradient is None, name
        else:
            assert gradient is not None and torch.isfinite(gradient).all() and gradient.abs().sum() > 0, name


def small_model(seed: int = 0, **overrides) -> MVDiTTransformer3DModel:
    """A small model with large random weights, so every module affects the output visibly."""
    torch.manual_seed(seed)
    model = MVDiTTransformer3DModel(**{**SMALL_CONFIG, **overrides})
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.2)
    return model.eval()


def small_inputs(batch_size: int = 2, frames: int = 2, height: int = 4, width: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    mask = torch.ones(batch_size, 6, dtype=torch.long)
    mask[0, 3:] = 0
    return dict(
        hidden_states=torch.randn(batch_size, 4, frames, height, width, generator=generator),
        timestep=torch.tensor([999.0, 10.0][:batch_size]),
        encoder_hidden_states=torch.randn(batch_size, 6, 16, generator=generator),
        encoder_attention_mask=mask,
    )


def test_reference_output_is_reproduced(reference_model, mvdit_reference):
    with torch.no_grad():
        output = reference_model(**mvdit_reference.inputs).sample
    assert output.shape == (2, 8, 4, 8, 8)
    assert_matches_reference(output, mvdit_reference.io["output"])


def test_gradient_checkpointing_gives_the_same_output_and_gradients(reference_model, mvdit_reference):
    """In train mode (where checkpointing applies); the model has no stochastic layers (caption dropout is the
    training loop's job), so both runs are deterministic."""
    results = []
    for checkpointing in (False, True):
        if checkpointing:
            reference_model.enable_gradient_checkpointing()
        reference_model.train()
        reference_model.zero_grad()
        output = reference_model(**mvdit_reference.inputs).sample
        output.square().mean().backward()
        gradients = {name: parameter.grad for name, parameter in reference_model.named_parameters()}
        results.append((output.detach(), gradients))
    reference_model.disable_gradient_checkpointing()
    reference_model.eval()
    (plain, plain_gradients), (checkpointed, checkpointed_gradients) = results
    assert_matches_reference(checkpointed, mvdit_reference.io["output"])
    torch.testing.assert_close(checkpointed, plain, rtol=0, atol=0)
    assert_every_parameter_gets_a_gradient(plain_gradients, num_layers=reference_model.config.num_layers)
    for name, gradient in plain_gradients.items():
        if gradient is not None:
            torch.testing.assert_close(checkpointed_gradients[name], gradient, rtol=1e-5, atol=1e-6, msg=name)


def test_save_pretrained_round_trip_is_bitwise(reference_model, mvdit_reference, tmp_path):
    reference_model.save_pretrained(tmp_path)
    reloaded = MVDiTTransformer3DModel.from_pretrained(tmp_path)
    public = lambda config: {key: value for key, value in config.items() if not key.startswith("_")}  # noqa: E731
    assert public(reloaded.config) == public(reference_model.config)
    with torch.no_grad():
        expected = reference_model(**mvdit_reference.inputs).sample
        output = reloaded(**mvdit_reference.inputs).sample
    assert torch.equal(output, expected)
    assert_matches_reference(output, mvdit_reference.io["output"])
    assert torch.equal(reloaded.null_encoder_hidden_states, mvdit_reference.state_dict["y_embedder.y_embedding"])
    assert not any("pos" in key for key in reloaded.state_dict())


def test_sincos_embeddings_equal_the_original_buffers(mvdit_reference):
    """The reference checkpoint stores the original's buffers; ours are computed and must be the same numbers."""
    state_dict = mvdit_reference.state_dict
    assert torch.equal(spatial_sincos_embedding(64, 4, 4, scale=0.5).float(), state_dict["pos_embed"][0])
    assert torch.equal(temporal_sincos_embedding(64, 4, scale=1.0).float(), state_dict["pos_embed_temporal"][0])


def original_2d_sincos(embed_dim: int, rows: int, cols: int, scale: float) -> np.ndarray:
    """The original's numpy math for a non-square grid: meshgrid with w first, reshape [2, 1, cols, rows]."""
    grid = np.stack(np.meshgrid(np.arange(cols, dtype=np.float32) / scale, np.arange(rows, dtype=np.float32) / scale))
    grid = grid.reshape([2, 1, cols, rows])
    omega = 1.0 / 10000 ** (np.arange(embed_dim // 4, dtype=np.float64) / (embed_dim / 4.0))
    halves = []
    for positions in grid:
        angles = np.einsum("m,d->md", positions.reshape(-1), omega)
        halves.append(np.concatenate([np.sin(angles), np.cos(angles)], axis=1))
    return np.concatenate(halves, axis=1)


@pytest.mark.parametrize(("rows", "cols", "scale"), [(3, 5, 0.5), (6, 2, 1.0), (1, 1, 0.5)])
def test_spatial_embedding_of_non_square_grids_follows_the_original(rows, cols, scale):
    expected = torch.from_numpy(original_2d_sincos(32, rows, cols, scale))
    torch.testing.assert_close(spatial_sincos_embedding(32, rows, cols, scale), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("frames", "height", "width"), [(1, 2, 2), (3, 4, 6), (2, 6, 4)])
def test_any_size_divisible_by_the_patch_runs_with_cached_position_embeddings(frames, height, width):
    model = small_model()
    inputs = small_inputs(frames=frames, height=height, width=width)
    with torch.no_grad():
        first = model(**inputs).sample
        second = model(**inputs).sample
    assert first.shape == (2, 8, frames, height, width)
    assert torch.equal(first, second)
    (key,) = model._position_embeddings_cache
    assert key[:3] == (frames, height // 2, width // 2)
    assert not any("pos" in name for name in model.state_dict())


def test_frames_are_not_interchangeable():
    """The temporal position embedding makes frame order matter (a model without it would be equivariant)."""
    model = small_model()
    inputs = small_inputs(frames=3)
    with torch.no_grad():
        output = model(**inputs).sample
        reversed_inputs = {**inputs, "hidden_states": inputs["hidden_states"].flip(2)}
        reversed_output = model(**reversed_inputs).sample.flip(2)
    assert (output - reversed_output).abs().max() > 1e-3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(hidden_states=torch.randn(2, 4, 2, 5, 4)), "divisible by the patch size"),
        (dict(hidden_states=torch.randn(2, 3, 2, 4, 4)), "hidden_states must be"),
        (dict(encoder_hidden_states=torch.randn(2, 1, 6, 16)), "encoder_hidden_states must be"),
        (dict(encoder_attention_mask=torch.ones(2, 5)), "encoder_attention_mask must be"),
    ],
)
def test_bad_shapes_are_rejected_clearly(change, message):
    with pytest.raises(ValueError, match=message):
        small_model()(**{**small_inputs(), **change})


def test_padding_tokens_do_not_leak_and_a_missing_mask_means_all_tokens():
    model = small_model()
    inputs = small_inputs()
    with torch.no_grad():
        output = model(**inputs).sample
        noisy_padding = inputs["encoder_hidden_states"].clone()
        noisy_padding[0, 3:] = 100 * torch.randn(3, 16)
        padded = model(**{**inputs, "encoder_hidden_states": noisy_padding}).sample
        unmasked = model(**{**inputs, "encoder_attention_mask": None}).sample
        all_ones = model(**{**inputs, "encoder_attention_mask": torch.ones(2, 6)}).sample
    torch.testing.assert_close(padded, output, rtol=0, atol=1e-5)
    torch.testing.assert_close(unmasked, all_ones, rtol=0, atol=0)
    assert (unmasked[0] - output[0]).abs().max() > 1e-3


def test_attention_backends_and_fused_projections_agree():
    model = small_model()
    inputs = small_inputs()
    with torch.no_grad():
        expected = model(**inputs).sample
        model.set_attention_backend("_native_math")
        math_backend = model(**inputs).sample
        model.set_attention_backend("native")
        model.fuse_qkv_projections()
        fused = model(**inputs).sample
    assert len(model.attn_processors) == 3 * model.config.num_layers
    torch.testing.assert_close(math_backend, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fused, expected, rtol=1e-5, atol=1e-5)


def test_meta_device_mvdit_xl_2_has_the_original_parameter_count():
    with torch.device("meta"):
        model = MVDiTTransformer3DModel()
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    assert trainable == 1_073_379_488
    # The learned null caption is a buffer, as in the original: saved, not trained.
    assert [name for name, _ in model.named_buffers()] == ["null_encoder_hidden_states"]
    assert model.null_encoder_hidden_states.shape == (120, 4096)


def test_fresh_model_output_depends_on_its_input():
    """No zero-initialised output layer in `__init__`: diffusers' common tests compare outputs of fresh models."""
    torch.manual_seed(0)
    model = MVDiTTransformer3DModel(**SMALL_CONFIG).eval()
    inputs = small_inputs()
    with torch.no_grad():
        output = model(**inputs).sample
        other = model(**{**inputs, "hidden_states": inputs["hidden_states"].flip(0)}).sample
    assert output.abs().min() > 0
    assert (output - other).abs().max() > 1e-2


def test_initialize_weights_applies_the_original_training_initialisation():
    torch.manual_seed(0)
    model = MVDiTTransformer3DModel(**SMALL_CONFIG)
    assert model.initialize_weights() is model
    with torch.no_grad():
        assert not model(**small_inputs()).sample.any()  # a zero final projection: the original predicts zero
    zero = [model.proj_out]
    for block in model.transformer_blocks:
        zero += [block.attn2.to_out[0], block.attn_temporal.to_out[0]]
    for linear in zero:
        assert not linear.weight.any() and not linear.bias.any()
    self_attention = model.transformer_blocks[0].attn1
    bound = math.sqrt(6 / (32 + 3 * 32))  # xavier bound of the original's fused qkv
    assert bound * 0.9 < self_attention.to_q.weight.abs().max() <= bound
    assert not self_attention.to_q.bias.any()
    assert model.scale_shift_table.abs().sum() > 0


def test_bf16_autocast_forward_and_backward_on_cpu():
    model = small_model().train()
    inputs = small_inputs()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output = model(**inputs).sample
    assert output.dtype == torch.bfloat16
    output.float().square().mean().backward()
    gradients = {name: parameter.grad for name, parameter in model.named_parameters()}
    assert_every_parameter_gets_a_gradient(gradients, num_layers=model.config.num_layers)
    with torch.no_grad():
        full_precision = model.eval()(**inputs).sample
    relative = (output.float() - full_precision).norm() / full_precision.norm()
    assert relative < 0.05


def test_lora_adapter_adds_saves_and_loads_back(tmp_path):
    lora = LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    inputs = small_inputs()
    model = small_model()
    with torch.no_grad():
        base = model(**inputs).sample
    model.add_adapter(lora)
    with torch.no_grad():
        adapted = model(**inputs).sample
        half_scale = model(**inputs, attention_kwargs={"scale": 0.5}).sample
    assert (adapted - base).abs().max() > 1e-3
    assert (half_scale - adapted).abs().max() > 1e-4
    model.save_lora_adapter(tmp_path)

    reloaded = small_model()
    reloaded.load_lora_adapter(tmp_path, prefix=None, weight_name="pytorch_lora_weights.safetensors")
    with torch.no_grad():
        assert torch.equal(reloaded(**inputs).sample, adapted)


def test_pyramid_attention_broadcast_reuses_attention_outputs():
    from diffusers import PyramidAttentionBroadcastConfig

    model = small_model()
    first, second = small_inputs(), small_inputs()
    second["hidden_states"] = second["hidden_states"] + 1
    with torch.no_grad():
        fresh = model(**second).sample
        model.enable_cache(
            PyramidAttentionBroadcastConfig(
                spatial_attention_block_skip_range=2,
                spatial_attention_timestep_skip_range=(0, 1000),
                current_timestep_callback=lambda: 500,
            )
        )
        model(**first)
        cached = model(**second).sample
        model.disable_cache()
        assert torch.equal(model(**second).sample, fresh)
    assert (cached - fresh).abs().max() > 1e-3
