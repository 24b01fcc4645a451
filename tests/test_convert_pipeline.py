"""`openvid-hf convert --vae/--text-encoder/--remote-code/--push-to-hub`: a full pipeline folder from a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

from openvid_hf import MVDiTPipeline, MVDiTTransformer3DModel
from openvid_hf.commands.cli import main
from openvid_hf.testing.tiny_pipeline import tiny_text_encoder, tiny_tokenizer, tiny_vae


@pytest.fixture(scope="module")
def component_dirs(tmp_path_factory):
    """A T5 folder in the pipeline layout (tokenizer/, text_encoder/) and a VAE folder in the root layout."""
    root = tmp_path_factory.mktemp("components")
    tokenizer = tiny_tokenizer()
    tokenizer.save_pretrained(root / "t5" / "tokenizer")
    tiny_text_encoder(len(tokenizer)).save_pretrained(root / "t5" / "text_encoder")
    tiny_vae().save_pretrained(root / "vae")
    tiny_text_encoder(len(tokenizer)).save_pretrained(root / "t5-no-tokenizer")
    return root


def convert(mvdit_reference, out_dir, *options: str) -> int:
    checkpoint = str(mvdit_reference.state_dict_path)
    return main(["convert", checkpoint, str(out_dir), "--original-config", str(mvdit_reference.config_path), *options])


def test_assembles_a_pipeline_that_loads_and_generates(mvdit_reference, component_dirs, tmp_path, capsys):
    out_dir = tmp_path / "pipeline"
    options = ("--text-encoder", str(component_dirs / "t5"), "--vae", str(component_dirs / "vae"))
    assert convert(mvdit_reference, out_dir, *options) == 0
    assert "wrote MVDiTPipeline" in capsys.readouterr().out
    assert not out_dir.with_name("pipeline.partial").exists()

    index = json.loads((out_dir / "model_index.json").read_text())
    assert index["_class_name"] == "MVDiTPipeline" and index["transformer"] == [
        "openvid_hf",
        "MVDiTTransformer3DModel",
    ]
    card = ModelCard.load(out_dir / "README.md")
    assert card.data.pipeline_tag == "text-to-video" and f'MVDiTPipeline.from_pretrained("{out_dir}")' in card.text

    pipe = MVDiTPipeline.from_pretrained(out_dir)
    expected = MVDiTTransformer3DModel.from_original_checkpoint(
        mvdit_reference.state_dict_path, mvdit_reference.config
    )
    for name, tensor in expected.state_dict().items():
        assert torch.equal(pipe.transformer.state_dict()[name], tensor), name
    assert pipe.scheduler.config.variance_type == "learned_range"
    pipe.set_progress_bar_config(disable=True)
    latents = pipe(
        "a dog swimming in a lake",
        height=16,
        width=16,
        num_frames=2,
        num_inference_steps=2,
        max_sequence_length=mvdit_reference.config["model_max_length"],
        output_type="latent",
    ).frames
    assert latents.shape == (1, 4, 2, 2, 2) and torch.isfinite(latents).all()


def test_remote_code_pushed_to_the_hub(mvdit_reference, component_dirs, tmp_path, hub_repo_id, hub_api, capsys):
    out_dir = tmp_path / "pipeline"
    options = ("--vae", str(component_dirs / "vae"), "--remote-code", "--push-to-hub", hub_repo_id)
    assert convert(mvdit_reference, out_dir, *options) == 0
    assert f"pushed {out_dir} to" in capsys.readouterr().out

    files = set(hub_api.list_repo_files(hub_repo_id))
    assert {"model_index.json", "README.md", "pipeline_mvdit.py", "transformer/transformer_mvdit.py"} <= files
    assert not any(name.startswith(("tokenizer/", "text_encoder/")) for name in files)
    index = json.loads(Path(hub_api.hf_hub_download(hub_repo_id, "model_index.json")).read_text())
    assert index["_class_name"] == ["pipeline_mvdit", "MVDiTPipeline"]
    card = ModelCard.load(hub_repo_id)
    assert f'DiffusionPipeline.from_pretrained("{hub_repo_id}", trust_remote_code=True)' in card.text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--text-encoder", "t5"), "--text-encoder assemble a pipeline, which needs --vae"),
        (("--remote-code",), "--remote-code assemble a pipeline, which needs --vae"),
        (("--vae", "vae", "--push-to-hub", "not a repo!"), "--push-to-hub 'not a repo!'"),
        (("--vae", "absent"), "--vae {root}/absent: cannot load a AutoencoderKL"),
        (("--vae", "t5"), "--vae {root}/t5: no vae (config.json) at its root or in vae/"),
        (("--vae", "vae", "--text-encoder", "t5-no-tokenizer"), "--text-encoder {root}/t5-no-tokenizer: no tokenizer"),
    ],
)
def test_bad_pipeline_options_exit_2_naming_the_option(
    mvdit_reference, component_dirs, tmp_path, capsys, options, message
):
    options = [
        str(component_dirs / option) if option in ("t5", "vae", "absent", "t5-no-tokenizer") else option
        for option in options
    ]
    with pytest.raises(SystemExit) as exit_info:
        convert(mvdit_reference, tmp_path / "out", *options)
    assert exit_info.value.code == 2
    assert message.format(root=component_dirs) in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_a_text_encoder_of_another_width_is_refused(mvdit_reference, component_dirs, tmp_path, capsys):
    narrow = tmp_path / "narrow-t5"
    tokenizer = tiny_tokenizer()
    tokenizer.save_pretrained(narrow)
    encoder = tiny_text_encoder(len(tokenizer))
    type(encoder)(encoder.config.__class__(**{**encoder.config.to_dict(), "d_model": 16})).save_pretrained(narrow)
    with pytest.raises(SystemExit) as exit_info:
        convert(mvdit_reference, tmp_path / "out", "--vae", str(component_dirs / "vae"), "--text-encoder", str(narrow))
    assert exit_info.value.code == 2
    assert "gives 16 channels; the transformer takes 32" in capsys.readouterr().err
