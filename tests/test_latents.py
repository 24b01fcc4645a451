"""Latent datasets end to end: `openvid-hf encode` from the local Hub, `push`, plain `datasets`, and training from it.

Tiny real components (the tiny pipeline's VAE and T5, 16x16 clips of 2 frames) on the sample release, so the checks
are exact: a latent dataset holds the posterior and embeddings a training step would compute, training from it gives
the losses training from the videos gives, and a run that does not fit the latents is refused before any work.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from datasets.info import DatasetInfosDict
from huggingface_hub import DatasetCard
from latent_inputs import NUM_CLIPS, build_source, encode_args
from safetensors.torch import load_file
from sample_truth import tree_bytes
from training_runs import run_train, tiny_train_args

from openvid_hf.commands import cli
from openvid_hf.latents.encoders import encode_captions, encode_posterior
from openvid_hf.pipelines import MVDiTPipeline
from openvid_hf.testing.fixtures import REPO_NAMESPACE
from openvid_hf.testing.tiny_pipeline import TINY_HEIGHT, TINY_NUM_FRAMES, tiny_pipeline
from openvid_hf.training.step_log import LOG_FILE, read_step_log
from openvid_hf.video.clips import ClipLoader, ClipTransform, FrameSampler, sample_rng

SUBPROCESS_TIMEOUT = 300
TRANSFORMER_WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build_source(tmp_path_factory.mktemp("latents-source"))


@pytest.fixture(scope="module")
def dataset_repo(built, hub_server) -> str:
    repo_id = f"{REPO_NAMESPACE}/latents-source"
    assert cli.main(["push", str(built), "--repo-id", repo_id]) == 0
    return repo_id


@pytest.fixture(scope="module")
def base_repo(hub_server) -> str:
    repo_id = f"{REPO_NAMESPACE}/latents-base-mvdit"
    tiny_pipeline(seed=0).push_to_hub(repo_id)
    return repo_id


@pytest.fixture(scope="module")
def latents_dir(dataset_repo, base_repo, tmp_path_factory) -> Path:
    """The Hub dataset encoded with the Hub pipeline's encoders, one clip a shard."""
    out_dir = tmp_path_factory.mktemp("latents") / "encoded"
    assert (
        cli.main(encode_args(dataset_repo, out_dir, base_repo, "--samples-per-shard", "1", "--batch-size", "4")) == 0
    )
    return out_dir


@pytest.fixture(scope="module")
def latents_repo(latents_dir, hub_server) -> str:
    repo_id = f"{REPO_NAMESPACE}/latents"
    assert cli.main(["push", str(latents_dir), "--repo-id", repo_id]) == 0
    return repo_id


# Encoding and publishing -------------------------------------------------------------------------------------------


def test_a_pushed_latent_dataset_loads_with_plain_datasets_and_holds_what_training_computes(
    latents_repo, dataset_repo, base_repo, hub_api
):
    assert cli.main(["verify", latents_repo]) == 0
    card = DatasetCard.load(latents_repo, repo_type="dataset")
    features = DatasetInfosDict.from_dataset_card_data(card.data)["default"].features
    assert features["latent_mean.npy"] == datasets.Array4D((4, TINY_NUM_FRAMES, 2, 2), "float32")
    source_commit = hub_api.dataset_info(dataset_repo).sha
    assert source_commit in card.text and "weights" in card.text

    rows = datasets.load_dataset(latents_repo, split="train")
    assert rows.num_rows == NUM_CLIPS and set(rows.features) == {"__key__", "__url__", *features}
    streamed = list(datasets.load_dataset(latents_repo, split="train", streaming=True))
    assert sorted(row["__key__"] for row in streamed) == sorted(rows["__key__"])
    hd = datasets.load_dataset(latents_repo, "hd", split="train")
    assert hd.num_rows == 2 and all(record["hd"] for record in hd["json"])

    # Each sample is what a training step computes from its clip: the same window, the same encoders.
    pipeline = MVDiTPipeline.from_pretrained(base_repo)
    videos = {
        row["__key__"]: row["mp4"]
        for row in datasets.load_dataset(dataset_repo, split="train").cast_column("mp4", datasets.Video(decode=False))
    }
    loader = ClipLoader(FrameSampler(TINY_NUM_FRAMES, 1), ClipTransform(TINY_HEIGHT, flip_probability=0.0))
    for row in streamed:
        key, record = row["__key__"], row["json"]
        clip = loader(videos[key]["bytes"], sample_rng(42, 0, key))
        with torch.no_grad():
            mean, logvar = encode_posterior(pipeline.vae, clip[None])
            embeds, mask = encode_captions(pipeline, [record["caption"]], torch.device("cpu"), 120)
        torch.testing.assert_close(torch.from_numpy(row["latent_mean.npy"]), mean[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(torch.from_numpy(row["latent_logvar.npy"]), logvar[0], rtol=1e-5, atol=1e-6)
        assert record["prompt_length"] == int(mask.sum())
        torch.testing.assert_close(torch.from_numpy(row["prompt_embeds.npy"]), embeds[0, : int(mask.sum())])


def test_re_encoding_is_a_no_op_and_an_interrupted_encode_resumes_to_the_same_bytes(built, tmp_path, capsys):
    model = tmp_path / "model"
    tiny_pipeline(seed=0).save_pretrained(model)
    source = tmp_path / "source"
    shutil.copytree(built, source)
    args = encode_args(str(source), tmp_path / "straight", str(model), "--samples-per-shard", "2")
    assert cli.main(args) == 0
    capsys.readouterr()
    assert cli.main(args) == 0
    assert "0 shards written, 3 reused" in capsys.readouterr().out

    # The HD clips' source shard is cut short: the sd shards are done and kept, the command fails in one line.
    hd_shard = next((source / "data" / "train" / "hd").rglob("*.tar"))
    hidden = hd_shard.with_suffix(".hidden")
    shutil.copyfile(hd_shard, hidden)
    hd_shard.write_bytes(hidden.read_bytes()[:1024])
    interrupted = encode_args(str(source), tmp_path / "resumed", str(model), "--samples-per-shard", "2")
    assert cli.main(interrupted) == 1
    error = capsys.readouterr().err
    assert f"{hd_shard.name}: cannot read bytes" in error and "Traceback" not in error
    assert not (tmp_path / "resumed" / "manifest.json").exists()
    hidden.replace(hd_shard)
    assert cli.main(interrupted) == 0
    assert "1 shards written, 2 reused" in capsys.readouterr().out
    straight, resumed = (
        json.loads((tmp_path / name / "manifest.json").read_text()) for name in ("straight", "resumed")
    )
    assert resumed["shards"] == straight["shards"]


def test_a_subset_encodes_only_the_clips_its_expression_selects_and_the_card_says_which(built, tmp_path):
    model = tmp_path / "model"
    tiny_pipeline(seed=0).save_pretrained(model)
    out_dir = tmp_path / "hd-only"
    assert cli.main(encode_args(str(built), out_dir, str(model), "--where", "hd and aesthetic_score >= 0")) == 0
    rows = datasets.load_dataset(str(out_dir), split="train")
    assert rows.num_rows == 2 and all(record["hd"] for record in rows["json"])
    assert not list((out_dir / "data" / "train").glob("sd/*/*.tar"))
    assert "clips where `hd and aesthetic_score >= 0`" in (out_dir / "README.md").read_text()


def published_files(folder: Path) -> dict[str, bytes]:
    """The shards and the manifest of a latent dataset (its card names where it is, hidden files are not published)."""
    return {path: data for path, data in tree_bytes(folder).items() if not path.startswith((".", "README.md"))}


def repo_files(hub_api, repo_id: str, root: Path) -> dict[str, bytes]:
    return published_files(Path(hub_api.snapshot_download(repo_id, repo_type="dataset", local_dir=root)))


def test_encoding_straight_to_the_hub_leaves_what_encode_then_push_leaves(
    latents_repo, dataset_repo, base_repo, hub_api, tmp_path, capsys
):
    repo_id = f"{REPO_NAMESPACE}/encoded-direct"
    args = encode_args(dataset_repo, None, base_repo, "--samples-per-shard", "1", "--batch-size", "4")
    assert cli.main([*args, "--repo-id", repo_id]) == 0
    assert f"to {repo_id}@main" in capsys.readouterr().out
    assert cli.main(["verify", repo_id]) == 0
    assert repo_files(hub_api, repo_id, tmp_path / "direct") == repo_files(hub_api, latents_repo, tmp_path / "pushed")
    rows = datasets.load_dataset(repo_id, split="train")
    assert rows.num_rows == NUM_CLIPS and "latent_mean.npy" in rows.features


def test_an_interrupted_encode_to_the_hub_resumes_without_sending_finished_shards_again(
    dataset_repo, base_repo, hub_api, hub_server, tmp_path, capsys
):
    repo_id = f"{REPO_NAMESPACE}/encoded-interrupted"
    # float16: other bytes than the other tests' shards (the Hub never stores one object twice, nor counts it).
    settings = ["--samples-per-shard", "1", "--dtype", "float16"]
    args = encode_args(dataset_repo, None, base_repo, *settings, "--repo-id", repo_id)
    with hub_server.fault("lfs-upload", after=2):
        assert cli.main(args) == 1
    error = capsys.readouterr().err
    assert "507" in error and "run the same command again" in error and "Traceback" not in error
    committed = [path for path in hub_api.list_repo_files(repo_id, repo_type="dataset") if path.endswith(".tar")]
    assert len(committed) == 2  # the shards stored before the failure were committed

    with hub_server.recording() as requests:
        assert cli.main(args) == 0
    assert f"{NUM_CLIPS - 2} shards uploaded, 2 already there" in capsys.readouterr().out
    assert len([record for record in requests if record.route == "lfs-upload"]) == NUM_CLIPS - 2
    # What `encode` to a folder writes, but the card (it names where the dataset is).
    assert cli.main(encode_args(dataset_repo, tmp_path / "folder", base_repo, *settings)) == 0
    assert repo_files(hub_api, repo_id, tmp_path / "repo") == published_files(tmp_path / "folder")


def test_encoding_under_accelerate_with_two_processes_writes_the_same_shards(built, latents_dir, base_repo, tmp_path):
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "openvid_hf"]
    argv = encode_args(str(built), tmp_path / "two", base_repo, "--samples-per-shard", "1", "--executor", "accelerate")
    environment = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [*launch, *argv], env=environment, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT
    )
    assert result.returncode == 0, result.stderr[-4000:]
    # Every process wrote its share and the main process the manifest: the shards hold what one process encodes
    # (the same clips and records; floats to rounding, one process computing with one thread and another batch).
    two, one = (json.loads((folder / "manifest.json").read_text()) for folder in (tmp_path / "two", latents_dir))
    assert [(s["path"], s["samples"]) for s in two["shards"]] == [(s["path"], s["samples"]) for s in one["shards"]]
    want, got = (datasets.load_dataset(str(folder), split="train") for folder in (latents_dir, tmp_path / "two"))
    assert got["json"] == want["json"] and got["__key__"] == want["__key__"]
    for column in ("latent_mean.npy", "latent_logvar.npy"):
        np.testing.assert_allclose(np.asarray(got[column]), np.asarray(want[column]), rtol=1e-5, atol=1e-6)


# Training from latents ---------------------------------------------------------------------------------------------


def test_training_from_latents_gives_the_losses_of_training_from_the_videos(
    latents_repo, dataset_repo, base_repo, tmp_path
):
    steps = ["--train_batch_size", "2", "--max_train_steps", "3", "--caption_dropout", "0.3"]
    from_latents = tiny_train_args(base_repo, tmp_path / "latents", *steps, "--latents_dataset", latents_repo)
    from_videos = tiny_train_args(base_repo, tmp_path / "videos", *steps, "--dataset_name", dataset_repo)
    assert run_train(from_latents) == 0
    assert run_train([*from_videos, "--flip_probability", "0"]) == 0
    want, got = (read_step_log(tmp_path / name / LOG_FILE) for name in ("videos", "latents"))
    assert [record["clips"] for record in got] == [record["clips"] for record in want]
    for expected, actual in zip(want, got, strict=True):
        for term in ("loss", "mse", "vb"):
            assert actual[term] == pytest.approx(expected[term], rel=1e-5, abs=1e-7), (expected["step"], term)
    summary = json.loads((tmp_path / "latents" / "training_summary.json").read_text())
    assert summary["steps"] == 3


def test_two_processes_resume_mid_epoch_from_latents_to_the_uninterrupted_weights(latents_repo, base_repo, tmp_path):
    """`accelerate launch` with two CPU processes: 3 clips each a pass; the checkpoint of step 2 is mid-pass."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "openvid_hf.train"]
    environment = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}

    def launch_training(output_dir: Path, *extra: str) -> None:
        argv = tiny_train_args(base_repo, output_dir, "--latents_dataset", latents_repo, "--train_batch_size", "1")
        command = [*launch, *argv, "--max_train_steps", "5", "--checkpointing_steps", "2", *extra]
        result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
        assert result.returncode == 0, result.stderr[-4000:]

    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    launch_training(straight)
    resumed.mkdir()
    shutil.copytree(straight / "checkpoint-2", resumed / "checkpoint-2")
    launch_training(resumed, "--resume_from_checkpoint", "latest")

    want, got = read_step_log(straight / LOG_FILE), read_step_log(resumed / LOG_FILE)
    assert [record["step"] for record in got] == [3, 4, 5]
    assert all(len(record["clips"]) == 2 for record in got)
    assert [record["clips"] for record in got] == [record["clips"] for record in want[2:]]
    for name, tensor in load_file(straight / TRANSFORMER_WEIGHTS).items():
        assert torch.equal(load_file(resumed / TRANSFORMER_WEIGHTS)[name], tensor), name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--num_frames", "4"], "--num_frames 4 (latents: 2)"),
        (["--resolution", "32"], "--resolution 32 (latents: 16)"),
        (["--frame_interval", "2"], "--frame_interval 2 (latents: 1)"),
        (["--flip_probability", "0.5"], "--flip_probability: latents are encoded unflipped"),
        (["--precompute_text_embeddings"], "latents hold their T5 embeddings"),
        (["--dataset_name", "x/y"], "give one of --dataset_name"),
        (["--latents_dataset", "openvid-tests/no-such-latents"], "no such dataset repository"),
        (["--dataset_revision", "no-such-branch"], "no revision 'no-such-branch'"),
    ],
)
def test_latents_that_do_not_fit_the_run_are_refused_naming_the_mismatch(
    latents_repo, base_repo, tmp_path, capsys, change, message
):
    argv = tiny_train_args(base_repo, tmp_path / "out", "--latents_dataset", latents_repo, "--max_train_steps", "1")
    assert run_train([*argv, *change]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_model_with_other_encoders_or_shapes_is_refused(latents_repo, tmp_path, capsys):
    other = tiny_pipeline(seed=1)  # same shapes, other VAE and T5 weights
    other.save_pretrained(tmp_path / "other")
    argv = tiny_train_args(str(tmp_path / "other"), tmp_path / "out", "--latents_dataset", latents_repo)
    assert run_train([*argv, "--max_train_steps", "1"]) == 2
    error = capsys.readouterr().err
    assert (
        "the model's VAE" in error and "the model's text encoder" in error and "is not the one that encoded" in error
    )

    wide = tiny_pipeline(seed=0, caption_channels=48)
    wide.save_pretrained(tmp_path / "wide")
    argv = tiny_train_args(str(tmp_path / "wide"), tmp_path / "out", "--latents_dataset", latents_repo)
    assert run_train([*argv, "--max_train_steps", "1"]) == 2
    assert "the transformer's caption_channels is 48 (latents: 32)" in capsys.readouterr().err


def test_bad_encode_arguments_are_one_clear_line(built, dataset_repo, tmp_path, capsys):
    model = tmp_path / "model"
    tiny_pipeline(seed=0).save_pretrained(model)
    clips = tmp_path / "clips"
    shutil.copytree(built, clips)
    cases = [
        (encode_args(str(built), clips, str(model)), 1, "holds a published dataset of clips"),
        (
            encode_args(str(built), None, str(model), "--repo-id", dataset_repo),
            1,
            "holds a published dataset of clips",
        ),
        ([*encode_args(str(built), tmp_path / "a", str(model))[:-1], "16x32"], 2, "training clips are square"),
        (
            encode_args(str(built), tmp_path / "b", str(model), "--resolution", "12"),
            2,
            "must be a multiple of 16: the VAE's factor 8 times MVDiT's 2x2 patch",
        ),
        (encode_args(str(built), tmp_path / "b", str(model / "text_encoder")), 2, "not an AutoencoderKL"),
        (
            [*encode_args(str(built), tmp_path / "b", str(model)), "--text-encoder", str(model / "vae")],
            2,
            "not a T5 encoder and tokenizer",
        ),
        (encode_args(str(built), built, str(model)), 2, "OUT_DIR is SOURCE"),
        (encode_args(str(built), tmp_path / "c", str(tmp_path / "nowhere")), 2, "no such folder, and not a Hub repo"),
        (encode_args(str(built), tmp_path / "c", "openvid-tests/no-such-model"), 1, "no such model repository on"),
        (encode_args(str(built), tmp_path / "d", str(model), "--where", "aesthetic_score > 100"), 1, "no clip"),
        (encode_args(str(built), None, str(model)), 2, "give OUT_DIR (a folder) or --repo-id ORG/NAME"),
        (encode_args(str(built), tmp_path / "e", str(model), "--repo-id", "org/name"), 2, "one of the two"),
        (encode_args(str(built), tmp_path / "e", str(model), "--private"), 2, "apply to --repo-id"),
        (
            encode_args(str(built), None, str(model), "--repo-id", "org/name", "--executor", "accelerate"),
            2,
            "encode with --executor local or ray",
        ),
        (
            encode_args(str(built), tmp_path / "e", str(model), "--executor", "ray", "--device", "cuda:1"),
            2,
            "Ray gives each actor a GPU of its own; use --device cuda",
        ),
    ]
    for argv, status, message in cases:
        try:
            code = cli.main(argv)
        except SystemExit as exited:
            code = exited.code
        captured = capsys.readouterr()
        assert code == status and message in captured.err and "Traceback" not in captured.err, (argv, captured.err)
    assert not any((tmp_path / name).exists() for name in "abcde")
