"""Conversion of original checkpoints: strictness, containers, presets, PixArt-α initialisation, the CLI."""

from __future__ import annotations

import re
from collections import OrderedDict

import pytest
import torch
from safetensors.torch import save_file

from openvid_hf import MVDiTTransformer3DModel
from openvid_hf.commands.cli import main
from openvid_hf.model.convert import convert_original_checkpoint, init_from_pixart_alpha
from openvid_hf.pipelines.original_checkpoint import CheckpointError

# Original modules MVDiT adds to PixArt-α (absent from a PixArt checkpoint).
MVDIT_ONLY_ORIGINAL = re.compile(
    r"^(t_block_y|t_block_temp|t_block_y_temp)\.|\.(attn_temp|mlp_y)\.|scale_shift_table_"
)


class NotATensor:
    """Anything a checkpoint could pickle besides tensors (a config object, an optimizer, ...)."""


@pytest.fixture(scope="module")
def reference_output(mvdit_reference) -> torch.Tensor:
    model = MVDiTTransformer3DModel.from_original_checkpoint(mvdit_reference.state_dict, mvdit_reference.config)
    with torch.no_grad():
        return model(**mvdit_reference.inputs).sample


def output_of(model: MVDiTTransformer3DModel, mvdit_reference) -> torch.Tensor:
    with torch.no_grad():
        return model(**mvdit_reference.inputs).sample


def test_cli_convert_writes_a_model_that_reproduces_the_reference(mvdit_reference, reference_output, tmp_path, capsys):
    out_dir = tmp_path / "converted"
    argv = ["convert", str(mvdit_reference.state_dict_path), str(out_dir)]
    assert main([*argv, "--original-config", str(mvdit_reference.config_path)]) == 0
    assert "wrote MVDiTTransformer3DModel" in capsys.readouterr().out
    model = MVDiTTransformer3DModel.from_pretrained(out_dir / "transformer")
    output = output_of(model, mvdit_reference)
    assert torch.equal(output, reference_output)
    assert (output - mvdit_reference.io["output"]).abs().max() <= 1e-5  # every sample; measured 7.2e-7
    assert model.config.guidance_channels == mvdit_reference.config["cfg_channel"]
    assert not out_dir.with_name("converted.partial").exists()

    assert main([*argv, "--original-config", str(mvdit_reference.config_path)]) == 1
    assert "not empty" in capsys.readouterr().err


def test_cli_reports_bad_arguments_with_exit_2_and_bad_checkpoints_with_exit_1(mvdit_reference, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(mvdit_reference.state_dict_path), str(tmp_path / "a")])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["convert", str(tmp_path / "missing.pt"), str(tmp_path / "b"), "--variant", "16x256x256"])
    assert exit_info.value.code == 2
    assert "missing.pt is not a file" in capsys.readouterr().err

    broken = dict(mvdit_reference.state_dict)
    del broken["blocks.1.mlp.fc2.bias"]
    save_file(broken, tmp_path / "broken.safetensors")
    out_dir = tmp_path / "c"
    argv = ["convert", str(tmp_path / "broken.safetensors"), str(out_dir)]
    assert main([*argv, "--original-config", str(mvdit_reference.config_path)]) == 1
    error = capsys.readouterr().err
    assert "missing key transformer_blocks.1.ff.net.2.bias" in error
    assert not out_dir.exists() and not out_dir.with_name("c.partial").exists()


def test_strict_conversion_lists_every_problem_at_once(mvdit_reference):
    state_dict = dict(mvdit_reference.state_dict)
    state_dict["blocks.0.attn.extra_scale"] = torch.ones(3)
    del state_dict["blocks.0.cross_attn.proj.bias"]
    state_dict["blocks.1.mlp_y.fc1.weight"] = torch.zeros(255, 64)
    state_dict["blocks.0.attn.qkv.bias"] = torch.zeros(190)
    with pytest.raises(CheckpointError) as error:
        convert_original_checkpoint(state_dict, mvdit_reference.config)
    problems = "\n".join(error.value.problems)
    assert len(error.value.problems) == 4, problems
    assert "unconsumed key blocks.0.attn.extra_scale" in problems
    assert "missing key transformer_blocks.0.attn2.to_out.0.bias" in problems
    assert "shape mismatch for transformer_blocks.1.ff_context.net.0.proj.weight" in problems
    assert "blocks.0.attn.qkv.bias: [190] does not split into 3 parts" in problems
    assert isinstance(error.value, ValueError)


def test_a_preset_that_contradicts_the_weights_is_reported(mvdit_reference):
    with pytest.raises(CheckpointError) as error:
        MVDiTTransformer3DModel.from_original_checkpoint(mvdit_reference.state_dict, "16x256x256")
    problems = "\n".join(error.value.problems)
    assert "num_layers=28 but the checkpoint's shapes say 2" in problems
    assert "hidden_size=1152 but the checkpoint's shapes say 64" in problems


@pytest.mark.parametrize(
    ("wrap", "suffix"),
    [
        (lambda state_dict: {"state_dict": state_dict, "epoch": 3}, ".pt"),
        (lambda state_dict: {f"module.{key}": value for key, value in state_dict.items()}, ".pth"),
        # The EMA weights win over the raw ones, which here are a decoy of zeros.
        (
            lambda state_dict: {
                "model": {key: torch.zeros_like(value) for key, value in state_dict.items()},
                "ema": OrderedDict((f"module.{key}", value) for key, value in state_dict.items()),
                "step": 10,
            },
            ".pt",
        ),
    ],
    ids=["state_dict-wrapper", "module-prefix", "ema-container"],
)
def test_checkpoint_containers_are_unwrapped(mvdit_reference, reference_output, tmp_path, wrap, suffix):
    path = tmp_path / f"checkpoint{suffix}"
    torch.save(wrap(dict(mvdit_reference.state_dict)), path)
    model = MVDiTTransformer3DModel.from_original_checkpoint(path, mvdit_reference.config_path)
    assert torch.equal(output_of(model, mvdit_reference), reference_output)


def test_pickles_with_anything_but_tensors_are_refused(mvdit_reference, tmp_path):
    path = tmp_path / "unsafe.pt"
    torch.save({"state_dict": dict(mvdit_reference.state_dict), "config": NotATensor()}, path)
    with pytest.raises(CheckpointError, match="weights_only") as error:
        MVDiTTransformer3DModel.from_original_checkpoint(path, mvdit_reference.config)
    assert "NotATensor" in str(error.value)


def test_unreadable_files_are_reported(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        convert_original_checkpoint(garbage, "16x256x256")
    unknown = tmp_path / "weights.npz"
    unknown.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"unsupported file type '.npz'"):
        convert_original_checkpoint(unknown, "16x256x256")
    with pytest.raises(ValueError, match="original_config is required"):
        convert_original_checkpoint(garbage)


def original_xl_state_dict(depth: int = 28, hidden: int = 1152, caption: int = 4096, tokens: int = 120) -> dict:
    """The key layout of an original MVDiT-XL/2 checkpoint (buffers included), as meta tensors."""
    shapes = {
        "pos_embed": (1, 1024, hidden),
        "pos_embed_temporal": (1, 16, hidden),
        "x_embedder.proj.weight": (hidden, 4, 1, 2, 2),
        "x_embedder.proj.bias": (hidden,),
        "t_embedder.mlp.0.weight": (hidden, 256),
        "t_embedder.mlp.0.bias": (hidden,),
        "t_embedder.mlp.2.weight": (hidden, hidden),
        "t_embedder.mlp.2.bias": (hidden,),
        "y_embedder.y_embedding": (tokens, caption),
        "y_embedder.y_proj.fc1.weight": (hidden, caption),
        "y_embedder.y_proj.fc1.bias": (hidden,),
        "y_embedder.y_proj.fc2.weight": (hidden, hidden),
        "y_embedder.y_proj.fc2.bias": (hidden,),
        "final_layer.scale_shift_table": (2, hidden),
        "final_layer.linear.weight": (32, hidden),
        "final_layer.linear.bias": (32,),
    }
    for name, chunks in (("t_block", 6), ("t_block_y", 6), ("t_block_temp", 3), ("t_block_y_temp", 3)):
        shapes |= {f"{name}.1.weight": (chunks * hidden, hidden), f"{name}.1.bias": (chunks * hidden,)}
    for index in range(depth):
        block = {
            "attn.qkv": (3 * hidden, hidden),
            "attn.proj": (hidden, hidden),
            "attn_temp.qkv": (3 * hidden, hidden),
            "attn_temp.proj": (hidden, hidden),
            "cross_attn.q_linear": (hidden, hidden),
            "cross_attn.kv_linear": (2 * hidden, hidden),
            "cross_attn.proj": (hidden, hidden),
            "mlp.fc1": (4 * hidden, hidden),
            "mlp.fc2": (hidden, 4 * hidden),
            "mlp_y.fc1": (4 * hidden, hidden),
            "mlp_y.fc2": (hidden, 4 * hidden),
        }
        for module, (rows, columns) in block.items():
            shapes[f"blocks.{index}.{module}.weight"] = (rows, columns)
            shapes[f"blocks.{index}.{module}.bias"] = (rows,)
        for table, rows in (("", 6), ("_y", 6), ("_temp", 3), ("_y_temp", 3)):
            shapes[f"blocks.{index}.scale_shift_table{table}"] = (rows, hidden)
    return {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}


@pytest.mark.parametrize(
    ("variant", "space_scale", "sample_size", "guidance_channels"),
    [("16x256x256", 0.5, [32, 32], 3), ("16x512x512", 1.0, [64, 64], 4)],
)
def test_released_variants_convert_from_the_full_size_layout(variant, space_scale, sample_size, guidance_channels):
    model = MVDiTTransformer3DModel.from_original_checkpoint(original_xl_state_dict(), variant)
    config = model.config
    assert (config.num_layers, config.num_attention_heads, config.attention_head_dim) == (28, 16, 72)
    assert (config.caption_channels, config.max_text_length, list(config.patch_size)) == (4096, 120, [1, 2, 2])
    assert (config.space_scale, list(config.sample_size), config.guidance_channels) == (
        space_scale,
        sample_size,
        guidance_channels,
    )
    assert sum(parameter.numel() for parameter in model.parameters()) == 1_073_379_488
    original_type = MVDiTTransformer3DModel.from_original_checkpoint(
        original_xl_state_dict(), {"type": "MVDiT-XL/2", "space_scale": space_scale, "cfg_channel": guidance_channels}
    )
    assert original_type.config.attention_head_dim == 72 and original_type.config.space_scale == space_scale


def pixart_state_dict(mvdit_reference) -> dict[str, torch.Tensor]:
    """A tiny PixArt-α checkpoint: MVDiT's shared modules under PixArt's names, a 2-D patch conv, its pos_embed."""
    pixart = {
        key: value.clone()
        for key, value in mvdit_reference.state_dict.items()
        if not MVDIT_ONLY_ORIGINAL.search(key) and key != "pos_embed_temporal"
    }
    pixart["x_embedder.proj.weight"] = pixart["x_embedder.proj.weight"].squeeze(2)
    return pixart


def test_pixart_alpha_initialisation_loads_shared_modules_and_initialises_the_rest(mvdit_reference, tmp_path):
    pixart = pixart_state_dict(mvdit_reference)
    torch.save({"state_dict": pixart}, tmp_path / "PixArt-tiny.pth")
    torch.manual_seed(0)
    result = init_from_pixart_alpha(tmp_path / "PixArt-tiny.pth", mvdit_reference.config)
    model, expected = result.model, result.model.state_dict()

    mvdit_only = re.compile(r"(adaln_context|adaln_temporal|attn_temporal|ff_context|scale_shift_table_)")
    assert result.initialised == [key for key in expected if mvdit_only.search(key)]
    assert result.loaded == [key for key in expected if not mvdit_only.search(key)]
    assert "null_encoder_hidden_states" in result.loaded and "transformer_blocks.0.attn1.to_q.weight" in result.loaded

    assert torch.equal(model.patch_embedding.weight, pixart["x_embedder.proj.weight"].unsqueeze(2))
    assert torch.equal(model.transformer_blocks[1].attn1.to_v.weight, pixart["blocks.1.attn.qkv.weight"][128:])
    assert torch.equal(model.transformer_blocks[0].attn2.to_out[0].weight, pixart["blocks.0.cross_attn.proj.weight"])
    assert torch.equal(model.proj_out.bias, pixart["final_layer.linear.bias"])
    for block in model.transformer_blocks:
        assert not block.attn_temporal.to_out[0].weight.any() and not block.attn_temporal.to_out[0].bias.any()
        assert block.attn_temporal.to_q.weight.abs().sum() > 0 and not block.ff_context.net[2].bias.any()
        assert block.scale_shift_table_context.abs().sum() > 0
    summary = result.summary()
    assert "transformer_blocks.*.attn_temporal.to_out.0.weight" in summary and "freshly initialised (" in summary

    # The zero-initialised temporal outputs are the only path between frames, so the PixArt-initialised model
    # treats every frame as an image on its own, as the original training starts.
    with torch.no_grad():
        video, captions, timestep = torch.randn(1, 4, 3, 8, 8), torch.randn(1, 12, 32), torch.tensor([500.0])
        together = model(video, timestep, captions).sample
        one_by_one = torch.cat([model(video[:, :, [k]], timestep, captions).sample for k in range(3)], dim=2)
    torch.testing.assert_close(together, one_by_one, rtol=1e-5, atol=1e-5)


def test_pixart_alpha_checkpoints_are_checked_strictly(mvdit_reference, tmp_path, capsys):
    pixart = pixart_state_dict(mvdit_reference)
    pixart["csize_embedder.mlp.0.weight"] = torch.zeros(64, 256)
    del pixart["blocks.1.mlp.fc1.bias"]
    pixart["blocks.0.attn_temp.proj.weight"] = torch.zeros(64, 64)
    with pytest.raises(CheckpointError) as error:
        init_from_pixart_alpha(pixart, mvdit_reference.config)
    problems = "\n".join(error.value.problems)
    assert "unconsumed key csize_embedder.mlp.0.weight" in problems
    assert "missing key transformer_blocks.1.ff.net.0.proj.bias" in problems
    assert "transformer_blocks.0.attn_temporal.to_out.0.weight is MVDiT-only" in problems

    del pixart["csize_embedder.mlp.0.weight"], pixart["blocks.0.attn_temp.proj.weight"]
    pixart["blocks.1.mlp.fc1.bias"] = mvdit_reference.state_dict["blocks.1.mlp.fc1.bias"]
    save_file(pixart, tmp_path / "pixart.safetensors")
    out_dir = tmp_path / "from-pixart"
    argv = ["convert", str(tmp_path / "pixart.safetensors"), str(out_dir), "--pixart-alpha"]
    assert main([*argv, "--original-config", str(mvdit_reference.config_path)]) == 0
    assert "freshly initialised (" in capsys.readouterr().out
    model = MVDiTTransformer3DModel.from_pretrained(out_dir / "transformer")
    assert torch.equal(model.transformer_blocks[0].attn2.to_q.weight, pixart["blocks.0.cross_attn.q_linear.weight"])
