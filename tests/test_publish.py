"""`openvid-hf push` and `verify`, and the published dataset read back by plain `datasets` in a fresh process."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import pytest
from huggingface_hub import DatasetCard
from sample_truth import expected_records, tree_bytes

from openvid_hf import load_metadata
from openvid_hf.commands import cli
from openvid_hf.errors import OpenVidError
from openvid_hf.schema import FIELD_NAMES, metadata_table_features, published_features
from openvid_hf.testing.fixtures import REPO_NAMESPACE

PUBLISHED_REPO = f"{REPO_NAMESPACE}/openvid-1m-published"
VALIDATION_SIZE = 13


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("publish")


@pytest.fixture(scope="module")
def built(sample_release, workdir) -> Path:
    """A build into the default OUT_DIR, `openvid-1m` in the working directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(workdir)
        argv = ["build", str(sample_release.root), "--shard-size", "300KB", "--validation-size", str(VALIDATION_SIZE)]
        assert cli.main(argv) == 0
    return workdir / "openvid-1m"


@pytest.fixture(scope="module")
def pushed(built, hub_server):
    """Push with the storage failing after 3 LFS uploads, then again: what each attempt printed and sent."""
    attempts = {}
    with hub_server.fault("lfs-upload", after=3), hub_server.recording() as first:
        attempts["failed"] = run_cli_here(["push", str(built), "--repo-id", PUBLISHED_REPO])
    with hub_server.recording() as second:
        attempts["resumed"] = run_cli_here(["push", str(built), "--repo-id", PUBLISHED_REPO])
    attempts["requests"] = (first, second)
    return attempts


def run_cli_here(argv: list[str]) -> tuple[int, str]:
    """Run the CLI in this process; its exit status and everything it printed."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        status = cli.main(argv)
    return status, output.getvalue()


def run_cli(argv: list[str]) -> tuple[int, str]:
    """Run the CLI in a subprocess (its own environment: the session's Hub server and token)."""
    result = subprocess.run(
        [sys.executable, "-m", "openvid_hf", *argv], capture_output=True, text=True, timeout=300, check=False
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def truth(sample_release) -> dict[str, dict]:
    return expected_records(sample_release)


def test_a_push_that_fails_midway_completes_when_run_again_and_verifies(pushed, built, hub_api, hub_token):
    (failed, failed_output), (resumed, resumed_output) = pushed["failed"], pushed["resumed"]
    assert failed == 1
    assert f"pushing {built} to {PUBLISHED_REPO} failed" in failed_output and "507" in failed_output
    assert "run the same command again" in failed_output
    assert resumed == 0, resumed_output
    assert resumed_output.strip().splitlines()[-1].endswith("verified")
    assert hub_token not in failed_output + resumed_output

    first, second = pushed["requests"]
    stored_before_fault = sum(r.route == "lfs-upload" and r.status == 200 for r in first)
    assert stored_before_fault == 3
    lfs_files = [
        f
        for f in hub_api.list_repo_tree(PUBLISHED_REPO, repo_type="dataset", recursive=True)
        if getattr(f, "lfs", None)
    ]
    assert sum(r.route == "lfs-upload" for r in second) == len(lfs_files) - stored_before_fault


def test_plain_datasets_in_a_fresh_process_loads_exactly_the_release(pushed, built, truth):
    """Hub repo and local folder, both configs, with and without streaming: the contract's rows and types."""
    script = textwrap.dedent(ACCEPTANCE_SCRIPT)
    result = subprocess.run(
        [sys.executable, "-c", script, PUBLISHED_REPO, "openvid-1m"],
        cwd=built.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["imported_openvid_hf"] is False
    targets = (PUBLISHED_REPO, "openvid-1m")
    assert sorted(report["loads"]) == sorted(
        f"{target}|{config}|{streaming}"
        for target in targets
        for config in ("default", "hd")
        for streaming in (False, True)
    )
    expected_features = repr(published_features())
    hd_videos = {video for video, record in truth.items() if record["hd"]}
    for name, loaded in report["loads"].items():
        _target, config, _streaming = name.split("|")
        assert sorted(loaded["splits"]) == ["train", "validation"], name
        assert all(features == expected_features for features in loaded["features"].values()), name
        rows = loaded["rows"]
        by_video = {row["json"]["video"]: row for row in rows}
        assert len(by_video) == len(rows), name  # no clip twice across splits
        assert set(by_video) == (hd_videos if config == "hd" else set(truth)), name
        for video, row in by_video.items():
            assert {field: row["json"][field] for field in FIELD_NAMES if field != "key"} == truth[video], name
            assert row["json"]["key"] == row["key"] and row["mp4_sha256"] == truth[video]["sha256"], name
            assert (row["split"] == "validation") == (int(row["key"]) < VALIDATION_SIZE), name
        for decoded in loaded["decoded"]:
            record = truth[decoded["video"]]
            assert decoded["num_frames"] == record["num_frames"], name
            assert decoded["frame_shape"] == [3, record["height"], record["width"]], name

    ranks = report["ranks"]
    assert not set(ranks[0]) & set(ranks[1]) and ranks[0] and ranks[1]
    assert sorted(ranks[0] + ranks[1]) == sorted(report["train_keys"]) and len(report["train_keys"]) > 20
    resumed = report["resumed"]
    assert resumed["before"] and resumed["after"]
    assert resumed["before"] + resumed["after"] == report["train_keys"]  # no loss, no duplicate, same order


ACCEPTANCE_SCRIPT = """
    import hashlib, json, sys
    import datasets
    from datasets.distributed import split_dataset_by_node

    loads = {}
    for target in sys.argv[1:]:
        for config in ("default", "hd"):
            for streaming in (False, True):
                loaded = datasets.load_dataset(target, config, streaming=streaming)
                entry = loads[f"{target}|{config}|{streaming}"] = {
                    "splits": list(loaded), "features": {}, "rows": [], "decoded": []
                }
                for split, dataset in loaded.items():
                    entry["features"][split] = repr(dataset.features)
                    sample = next(iter(dataset))
                    decoder = sample["mp4"]
                    entry["decoded"].append({
                        "video": sample["json"]["video"],
                        "num_frames": decoder.metadata.num_frames,
                        "frame_shape": list(decoder[0].shape),
                    })
                    for row in dataset.cast_column("mp4", datasets.Video(decode=False)):
                        entry["rows"].append({
                            "split": split,
                            "key": row["__key__"],
                            "json": row["json"],
                            "mp4_sha256": hashlib.sha256(row["mp4"]["bytes"]).hexdigest(),
                        })

    def stream():
        dataset = datasets.load_dataset(sys.argv[1], split="train", streaming=True)
        return dataset.cast_column("mp4", datasets.Video(decode=False))

    train_keys = [row["__key__"] for row in stream()]
    ranks = [[row["__key__"] for row in split_dataset_by_node(stream(), rank=rank, world_size=2)] for rank in (0, 1)]
    dataset, before = stream(), []
    for row in dataset:
        before.append(row["__key__"])
        if len(before) == len(train_keys) // 2:
            state = dataset.state_dict()
            break
    resumed = stream()
    resumed.load_state_dict(state)
    after = [row["__key__"] for row in resumed]
    print(json.dumps({
        "loads": loads,
        "train_keys": train_keys,
        "ranks": ranks,
        "resumed": {"before": before, "after": after},
        "imported_openvid_hf": any(name.split(".")[0] == "openvid_hf" for name in sys.modules),
    }))
"""


def test_the_hub_card_parses_names_the_repository_and_reports_both_configs(pushed):
    card = DatasetCard.load(PUBLISHED_REPO, repo_type="dataset")
    assert card.data.license == "cc-by-4.0"
    assert datasets.get_dataset_config_names(PUBLISHED_REPO) == ["default", "hd"]
    assert f'openvid_hf.load_metadata("{PUBLISHED_REPO}", split="train")' in card.text


def test_load_metadata_reads_the_same_table_from_the_hub_and_the_folder(pushed, built, truth):
    for split in ("train", "validation"):
        remote, local = load_metadata(PUBLISHED_REPO, split=split), load_metadata(built, split=split)
        assert remote.features == local.features == metadata_table_features()
        assert remote.to_list() == local.to_list()
    train = load_metadata(PUBLISHED_REPO)
    selected = train.filter(lambda row: row["aesthetic_score"] >= 5.5)
    assert 0 < len(selected) < len(train)
    assert all(truth[video]["aesthetic_score"] >= 5.5 for video in selected["video"])
    with pytest.raises(OpenVidError, match=r"no metadata/test.parquet"):
        load_metadata(PUBLISHED_REPO, split="test")


def test_verify_names_a_tampered_remote_shard(built, hub_api, hub_repo_id):
    assert run_cli_here(["push", str(built), "--repo-id", hub_repo_id])[0] == 0
    manifest = json.loads((built / "manifest.json").read_text())
    shard = manifest["shards"][3]["path"]
    data = bytearray((built / shard).read_bytes())
    data[700] ^= 0xFF
    hub_api.upload_file(path_or_fileobj=bytes(data), path_in_repo=shard, repo_id=hub_repo_id, repo_type="dataset")
    status, output = run_cli(["verify", hub_repo_id])
    assert status == 1
    assert f"sha256 differs: {shard}" in output
    assert "1 mismatch(es)" in output
    first_commit = hub_api.list_repo_commits(hub_repo_id, repo_type="dataset")[1].commit_id
    assert run_cli(["verify", hub_repo_id, "--revision", first_commit])[0] == 0


def test_push_creates_a_private_repository_and_a_branch(built, hub_api, hub_repo_id):
    argv = ["push", str(built), "--repo-id", hub_repo_id, "--private", "--revision", "dev", "--commit-message", "v1"]
    status, output = run_cli_here(argv)
    assert status == 0, output
    assert hub_api.dataset_info(hub_repo_id).private is True
    assert [commit.title for commit in hub_api.list_repo_commits(hub_repo_id, repo_type="dataset", revision="dev")][  # noqa: RUF015 (the newest commit)
        0
    ] == "v1"
    assert hub_api.list_repo_files(hub_repo_id, repo_type="dataset") == [".gitattributes"]  # main is untouched
    assert run_cli_here(["verify", hub_repo_id, "--revision", "dev"])[0] == 0


def test_verify_names_every_mismatch_of_a_local_folder(built, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    assert cli.main(["verify", str(copy)]) == 0
    manifest = json.loads((copy / "manifest.json").read_text())
    changed, removed = manifest["shards"][0]["path"], manifest["metadata"][1]["path"]
    with open(copy / changed, "ab") as handle:
        handle.write(b"\0")
    (copy / removed).unlink()
    stray = copy / "data" / "train" / "sd" / "0000" / "stray.tar"
    stray.write_bytes(b"x")
    status, output = run_cli(["verify", str(copy)])
    assert status == 1
    assert f"size differs: {changed}" in output
    assert f"missing: {removed}" in output
    assert "unexpected: data/train/sd/0000/stray.tar" in output
    assert "3 mismatch(es)" in output


def test_a_build_from_a_hub_release_with_worker_processes_writes_the_same_shards(
    sample_release, built, hub_api, tmp_path
):
    repo_id = f"{REPO_NAMESPACE}/openvid-1m-original-release"
    hub_api.create_repo(repo_id, repo_type="dataset")
    hub_api.upload_folder(folder_path=sample_release.root, repo_id=repo_id, repo_type="dataset")
    out_dir = tmp_path / "from-hub"
    argv = ["build", f"hf://datasets/{repo_id}", str(out_dir), "--shard-size", "300KB", "--num-proc", "2"]
    assert cli.main([*argv, "--validation-size", str(VALIDATION_SIZE)]) == 0
    local_files, remote_files = (
        {path: data for path, data in tree_bytes(root).items() if path.startswith(("data/", "metadata/"))}
        for root in (built, out_dir)
    )
    assert remote_files == local_files
    local, remote = (json.loads((root / "manifest.json").read_text()) for root in (built, out_dir))
    assert remote["shards"] == local["shards"] and remote["skipped"] == local["skipped"]
    assert remote["source"] == f"hf://datasets/{repo_id}"


def test_push_without_a_token_says_so_before_any_request(built, hub_server, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with hub_server.recording() as requests:
        assert cli.main(["push", str(built), "--repo-id", f"{REPO_NAMESPACE}/no-token"]) == 1
    assert "no Hugging Face token found" in capsys.readouterr().err
    assert requests == []


def test_push_and_verify_refuse_what_is_not_a_build_or_a_repo(tmp_path, hub_server, capsys):
    assert cli.main(["push", str(tmp_path), "--repo-id", f"{REPO_NAMESPACE}/empty"]) == 1
    assert "no manifest.json; run `openvid-hf build`" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli.main(["verify", "not a repo"])
    assert exited.value.code == 2
    assert cli.main(["verify", f"{REPO_NAMESPACE}/does-not-exist"]) == 1
    assert "no such dataset repository" in capsys.readouterr().err
