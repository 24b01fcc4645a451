"""`openvid-hf train` end to end on CPU: a tiny pipeline and a built sample dataset pushed to the local Hub.

The runs are short (tiny components, 16x16 clips of 2 frames) but real: clips streamed from the Hub and decoded,
VAE and T5 encoding, the hybrid loss, accelerate checkpoints, the saved and pushed pipeline.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard, hf_hub_download
from safetensors.torch import load_file
from training_runs import run_train, tiny_train_args

from openvid_hf import MVDiTPipeline, MVDiTTransformer3DModel
from openvid_hf.commands import cli
from openvid_hf.testing.fixtures import REPO_NAMESPACE
from openvid_hf.testing.sample_release import write_sample_release
from openvid_hf.testing.tiny_pipeline import TINY_HEIGHT, TINY_NUM_FRAMES, TINY_WIDTH, tiny_pipeline
from openvid_hf.training.args import check_values, parse_training_args
from openvid_hf.training.export import state_dict_sha256
from openvid_hf.training.step_log import LOG_FILE, read_step_log
from openvid_hf.training.trainer import SUMMARY_FILE
from openvid_hf.video.decoding import probe_video

NUM_CLIPS = 4
SUBPROCESS_TIMEOUT = 300
TRANSFORMER_WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def dataset_repo(tmp_path_factory, hub_server) -> str:
    """4 clean clips built with `openvid-hf build` (one shard each, so two ranks get two shards each) and pushed."""
    root = tmp_path_factory.mktemp("train-data")
    release = write_sample_release(root / "release", num_videos=NUM_CLIPS, seed=0, hd_fraction=0.0, clean=True)
    assert cli.main(["build", str(release.root), str(root / "built"), "--shard-size", "20KB"]) == 0
    assert len(list((root / "built" / "data" / "train").rglob("*.tar"))) == NUM_CLIPS
    repo_id = f"{REPO_NAMESPACE}/train-clips"
    assert cli.main(["push", str(root / "built"), "--repo-id", repo_id]) == 0
    return repo_id


@pytest.fixture(scope="module")
def base_repo(hub_server) -> str:
    repo_id = f"{REPO_NAMESPACE}/train-base-mvdit"
    tiny_pipeline(seed=0).push_to_hub(repo_id)
    return repo_id


def train_args(base_repo: str, dataset_repo: str, output_dir: Path, *extra: str) -> list[str]:
    """Arguments of a tiny run on the clips; later `extra` values override earlier ones (argparse keeps the last)."""
    return tiny_train_args(base_repo, output_dir, "--dataset_name", dataset_repo, *extra)


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def last_block_text_mlp(state: dict[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    prefix = f"transformer_blocks.{num_layers - 1}.ff_context."
    return {name: tensor for name, tensor in state.items() if name.startswith(prefix)}


# Fine-tuning from the Hub ------------------------------------------------------------------------------------------


def test_fine_tuning_from_the_hub_overfits_and_publishes_a_pipeline_that_generates(
    base_repo, dataset_repo, hub_api, hub_repo_id, tmp_path
):
    output_dir = tmp_path / "fine-tuned"
    argv = train_args(
        base_repo,
        dataset_repo,
        output_dir,
        *("--train_batch_size", "4", "--max_train_steps", "40", "--checkpointing_steps", "20"),
        *("--use_ema", "--ema_decay", "0.9", "--report_to", "tensorboard"),
        *("--validation_prompts", "A dog runs on the beach", "--validation_steps", "20"),
        *("--validation_num_inference_steps", "2", "--push_to_hub", "--hub_model_id", hub_repo_id),
    )
    assert run_train(argv) == 0

    records = read_step_log(output_dir / LOG_FILE)
    assert [record["step"] for record in records] == list(range(1, 41))
    first, last = mean(r["loss"] for r in records[:10]), mean(r["loss"] for r in records[-10:])
    assert last < 0.6 * first, (first, last)
    keys = [f"{index:09d}" for index in range(NUM_CLIPS)]
    assert all(len(record["clips"]) == 1 and sorted(record["clips"][0]) == keys for record in records)
    assert list((output_dir / "logs").rglob("events.out.tfevents.*"))

    # The saved transformer is the EMA of the trained weights; the last block's unused text MLP is untouched.
    pushed = load_file(hf_hub_download(hub_repo_id, TRANSFORMER_WEIGHTS))
    base = load_file(hf_hub_download(base_repo, TRANSFORMER_WEIGHTS))
    trained = load_file(output_dir / "checkpoint-40" / "model.safetensors")
    ema = torch.load(output_dir / "checkpoint-40" / "custom_checkpoint_1.pkl", weights_only=False)
    config = MVDiTTransformer3DModel.load_config(hub_repo_id, subfolder="transformer")
    frozen = last_block_text_mlp(base, config["num_layers"])
    trainable = [
        name for name, _ in MVDiTTransformer3DModel.from_config(config).named_parameters() if name not in frozen
    ]
    assert len(ema["shadow_params"]) == len(trainable)
    for name, shadow in zip(trainable, ema["shadow_params"], strict=True):
        assert torch.equal(pushed[name], shadow), name
    assert any(not torch.equal(pushed[name], trained[name]) for name in trainable)
    assert any(not torch.equal(pushed[name], base[name]) for name in trainable)
    for name, tensor in frozen.items():
        assert torch.equal(pushed[name], tensor) and torch.equal(trained[name], tensor), name

    files = hub_api.list_repo_files(hub_repo_id)
    assert "validation/final/00.mp4" in files and "validation/step-000020/00.mp4" in files
    assert not [path for path in files if path.startswith("checkpoint-")]
    probe = probe_video(hf_hub_download(hub_repo_id, "validation/final/00.mp4"))
    assert (probe.num_frames, probe.width, probe.height) == (TINY_NUM_FRAMES, TINY_WIDTH, TINY_HEIGHT)

    card = ModelCard.load(hub_repo_id)
    summary = json_file(output_dir / SUMMARY_FILE)
    assert card.data.base_model == base_repo and card.data.datasets == [dataset_repo]
    assert "for 40 steps" in card.text and f"Final training loss: {summary['final_loss']:.4f}" in card.text
    assert summary["final_loss"] == pytest.approx(last)
    assert "A dog runs on the beach" in card.text and 'src="validation/final/00.mp4"' in card.text
    assert "| `learning_rate` | 0.01 |" in card.text and "| `ema_decay` | 0.9 |" in card.text

    pipeline = MVDiTPipeline.from_pretrained(hub_repo_id)
    frames = pipeline(
        "A dog runs on the beach",
        height=TINY_HEIGHT,
        width=TINY_WIDTH,
        num_frames=TINY_NUM_FRAMES,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
    ).frames
    assert frames.shape == (1, TINY_NUM_FRAMES, TINY_HEIGHT, TINY_WIDTH, 3)
    assert np.isfinite(frames).all() and frames.min() >= 0 and frames.max() <= 1


def json_file(path: Path) -> dict:
    import json

    return json.loads(path.read_text())


# Checkpoints -------------------------------------------------------------------------------------------------------


def test_a_resumed_run_repeats_the_uninterrupted_run_exactly(base_repo, dataset_repo, tmp_path, capsys):
    """Stopped after the checkpoint of step 10 (the end of a pass over the data), resumed to step 20."""

    def argv(output_dir: Path, steps: int, *extra: str) -> list[str]:
        return train_args(
            base_repo,
            dataset_repo,
            output_dir,
            *("--train_batch_size", "1", "--gradient_accumulation_steps", "2", "--max_train_steps", str(steps)),
            *("--use_ema", "--ema_decay", "0.8", "--caption_dropout", "0.5", "--dataloader_num_workers", "1"),
            *("--checkpointing_steps", "5", "--checkpoints_total_limit", "2", *extra),
        )

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run_train(argv(straight, 20)) == 0
    assert run_train(argv(resumed, 10)) == 0
    assert sorted(path.name for path in resumed.glob("checkpoint-*")) == ["checkpoint-10", "checkpoint-5"]
    capsys.readouterr()
    assert run_train(argv(resumed, 20, "--resume_from_checkpoint", "latest", "--seed", "7")) == 2
    assert "--seed 7 (checkpoint: 42)" in capsys.readouterr().err
    assert run_train(argv(resumed, 20)) == 2
    assert "holds checkpoints of an earlier run" in capsys.readouterr().err
    assert run_train(argv(resumed, 20, "--resume_from_checkpoint", "latest")) == 0

    expected, actual = read_step_log(straight / LOG_FILE), read_step_log(resumed / LOG_FILE)
    assert [record["step"] for record in actual] == list(range(1, 21))
    for want, got in zip(expected, actual, strict=True):
        assert got["clips"] == want["clips"]
        for term in ("loss", "mse", "vb"):
            assert got[term] == pytest.approx(want[term], rel=1e-6, abs=1e-9), (want["step"], term)
    for output_dir in (straight, resumed):
        assert sorted(path.name for path in output_dir.glob("checkpoint-*")) == ["checkpoint-15", "checkpoint-20"]
    want, got = (load_file(output_dir / TRANSFORMER_WEIGHTS) for output_dir in (straight, resumed))
    assert want.keys() == got.keys()
    for name in want:
        assert torch.equal(got[name], want[name]), name


# Several processes -------------------------------------------------------------------------------------------------


def test_two_processes_train_on_disjoint_clips_to_identical_weights(base_repo, dataset_repo, tmp_path):
    """`accelerate launch -m openvid_hf.train` with two CPU processes (gloo), checkpointing each rank's data."""
    output_dir = tmp_path / "two-processes"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "openvid_hf.train"]
    argv = train_args(base_repo, dataset_repo, output_dir, "--train_batch_size", "1", "--max_train_steps", "6")
    environment = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [*launch, *argv, "--checkpointing_steps", "3"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-4000:]

    records = read_step_log(output_dir / LOG_FILE)
    assert [record["step"] for record in records] == list(range(1, 7))
    assert all(len(record["clips"]) == 2 and len(record["clips"][0]) == 1 for record in records)
    # Each pass over the data splits the shards anew: within a pass the ranks' clips are disjoint and cover all.
    assert [record["epochs"] for record in records] == [[0, 0], [0, 0], [1, 1], [1, 1], [2, 2], [2, 2]]
    for epoch in range(3):
        seen = [{key for r in records if r["epochs"][rank] == epoch for key in r["clips"][rank]} for rank in (0, 1)]
        assert len(seen[0]) == len(seen[1]) == NUM_CLIPS // 2 and not seen[0] & seen[1], (epoch, seen)
        assert seen[0] | seen[1] == {f"{index:09d}" for index in range(NUM_CLIPS)}

    summary = json_file(output_dir / SUMMARY_FILE)
    assert summary["num_processes"] == 2 and summary["distributed_type"] == "DistributedType.MULTI_CPU"
    saved = MVDiTTransformer3DModel.from_pretrained(output_dir / "transformer").state_dict()
    assert summary["weights_sha256"] == [state_dict_sha256(saved)] * 2

    # accelerate writes registered objects from the main process only: it holds every rank's data position.
    process_states = torch.load(output_dir / "checkpoint-6" / "custom_checkpoint_0.pkl", weights_only=False)
    assert process_states["num_processes"] == 2
    assert [(state["step"], state["epoch"]) for state in process_states["processes"]] == [(6, 2), (6, 2)]
    assert [state["loader"]["dataset_state"]["epoch"] for state in process_states["processes"]] == [2, 2]


# Text embeddings, LoRA ---------------------------------------------------------------------------------------------


def test_precomputed_text_embeddings_are_cached_reused_and_train_like_t5(base_repo, dataset_repo, tmp_path):
    cache = tmp_path / "t5-cache"

    def argv(output_dir: Path, *extra: str) -> list[str]:
        return train_args(
            base_repo,
            dataset_repo,
            output_dir,
            *("--train_batch_size", "2", "--max_train_steps", "3", "--caption_dropout", "0.5", *extra),
        )

    precompute = ["--precompute_text_embeddings", "--text_embeddings_cache_dir", str(cache)]
    validation = ["--validation_prompts", "A cat", "--validation_num_inference_steps", "2"]
    assert run_train(argv(tmp_path / "first", *precompute, *validation)) == 0
    first = json_file(tmp_path / "first" / SUMMARY_FILE)["text_embeddings"]
    assert (first["captions"], first["computed"]) == (NUM_CLIPS + 1, NUM_CLIPS + 1)  # the clips' and the prompt
    files = {path: path.stat().st_mtime_ns for path in cache.rglob("*.safetensors")}
    assert len(files) == NUM_CLIPS + 1 and all(path.parent.parent.parent == cache for path in files)
    assert (tmp_path / "first" / "validation" / "final" / "00.mp4").is_file()  # sampled without T5

    assert run_train(argv(tmp_path / "again", *precompute)) == 0
    again = json_file(tmp_path / "again" / SUMMARY_FILE)["text_embeddings"]
    assert (again["captions"], again["computed"], again["folder"]) == (NUM_CLIPS, 0, first["folder"])
    assert {path: path.stat().st_mtime_ns for path in cache.rglob("*.safetensors")} == files

    assert run_train(argv(tmp_path / "live")) == 0
    losses = {
        name: [r["loss"] for r in read_step_log(tmp_path / name / LOG_FILE)] for name in ("first", "again", "live")
    }
    assert losses["again"] == losses["first"]
    assert losses["live"] == pytest.approx(losses["first"], rel=1e-5)


def test_lora_trains_adapters_on_the_attention_projections_only(base_repo, dataset_repo, tmp_path):
    output_dir = tmp_path / "lora"
    # `--filter` keeping every clip: the run reads its clips by byte range (load_subset) and trains the same way.
    extra = ("--use_lora", "--lora_rank", "4", "--train_batch_size", "2", "--max_train_steps", "3")
    extra += ("--filter", "aesthetic_score >= 0 and not hd")
    assert run_train(train_args(base_repo, dataset_repo, output_dir, *extra)) == 0

    saved = load_file(output_dir / TRANSFORMER_WEIGHTS)
    base_model = MVDiTTransformer3DModel.from_pretrained(base_repo, subfolder="transformer")
    base = base_model.state_dict()
    changed = {name for name in base if not torch.equal(saved[name], base[name])}
    projections = ("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight")
    assert changed and all(name.endswith(projections) for name in changed), changed
    base_model.load_lora_adapter(output_dir / "lora", weight_name="pytorch_lora_weights.safetensors", prefix=None)
    base_model.fuse_lora()
    base_model.unload_lora()
    for name, tensor in base_model.state_dict().items():
        torch.testing.assert_close(tensor, saved[name], rtol=1e-5, atol=1e-6, msg=name)


# Arguments and configs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        (["--resolution", "100"], 2, "--resolution 100 must be a positive multiple of 16"),
        (["--dataset_name", f"{REPO_NAMESPACE}/no-such-dataset"], 2, "no dataset repository"),
        (["--pretrained_model_name_or_path", f"{REPO_NAMESPACE}/no-such-model"], 2, "no model repository"),
        (["--push_to_hub", "--hub_model_id", f"{REPO_NAMESPACE}/never"], 1, "no Hugging Face token found"),
        (["--caption_dropout", "1.5"], 2, "--caption_dropout must be within [0, 1]"),
        (["--filter", "beauty > 3"], 2, "unknown column 'beauty'"),
        (["--flip_probability", "-0.1"], 2, "--flip_probability must be within [0, 1]"),
    ],
)
def test_bad_arguments_fail_before_any_heavy_work(
    change, status, message, base_repo, dataset_repo, hub_server, tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    output_dir = tmp_path / "never-written"
    with hub_server.recording() as requests:
        exit_status = run_train([*train_args(base_repo, dataset_repo, output_dir, "--max_train_steps", "1"), *change])
    assert exit_status == status
    assert message in capsys.readouterr().err
    assert not output_dir.exists()
    assert [request.route for request in requests if request.route not in ("repo-info",)] == []


def test_the_shipped_accelerate_configs_load():
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.utils import DistributedType

    folder = Path(__file__).resolve().parents[1] / "configs" / "accelerate"
    expected = {
        "single_gpu": DistributedType.NO,
        "multi_gpu": DistributedType.MULTI_GPU,
        "fsdp": DistributedType.FSDP,
        "deepspeed_zero2": DistributedType.DEEPSPEED,
    }
    for name, distributed_type in expected.items():
        config = load_config_from_file(str(folder / f"{name}.yaml"))
        assert config.distributed_type == distributed_type, name
        assert config.mixed_precision == "bf16", name
    assert load_config_from_file(str(folder / "fsdp.yaml")).fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == (
        "MVDiTTransformerBlock"
    )
    assert load_config_from_file(str(folder / "deepspeed_zero2.yaml")).deepspeed_config["zero_stage"] == 2


def test_the_documented_training_commands_parse():
    """Every `-m openvid_hf.train` / `openvid-hf train` command in the README and docs/training.md is valid."""
    root = Path(__file__).resolve().parents[1]
    commands = []
    for document in ("README.md", "docs/training.md"):
        text = (root / document).read_text(encoding="utf-8")
        for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                for marker in ("openvid_hf.train", "train"):
                    if marker in words and "ARGS" not in words and (marker != "train" or "openvid-hf" in words):
                        commands.append(words[words.index(marker) + 1 :])
                        break
    assert len(commands) >= 3
    for argv in commands:
        args = parse_training_args(argv)
        check_values(args)
