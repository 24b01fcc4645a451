"""`openvid-hf publish` with the local executor against the local Hub: the repository equals the local build, a
failed run resumes with only what the repository lacks, a racing commit is refused, and bad executor arguments get
one line. The Ray executor's tests are in tests/test_ray_executor.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd
from sample_truth import tree_bytes

from openvid_hf.errors import OpenVidError
from openvid_hf.hub import commit_operations
from openvid_hf.publish.build import build_dataset
from openvid_hf.publish.direct import JOURNAL_DIR, publish_release
from openvid_hf.publish.plan import BuildOptions, parse_size
from openvid_hf.publish.verify import verify_dataset

SHARD_SIZE = "300KB"


def options(repo_id: str, **changes) -> BuildOptions:
    return BuildOptions(shard_size=parse_size(SHARD_SIZE), validation_size=5, repo_id=repo_id, **changes)


def repo_bytes(hub_api, repo_id: str, root: Path) -> dict[str, bytes]:
    """Every file of the repository's head (but `.gitattributes`), downloaded."""
    folder = hub_api.snapshot_download(repo_id, repo_type="dataset", local_dir=root)
    files = tree_bytes(Path(folder))
    return {path: data for path, data in files.items() if not path.startswith((".gitattributes", ".cache/"))}


@pytest.fixture(scope="module")
def local_build(sample_release, tmp_path_factory) -> Path:
    """The reference: `build` with the local executor, its card naming the repository `publish` goes to."""
    out = tmp_path_factory.mktemp("direct") / "built"
    build_dataset(sample_release.root, out, options("openvid-tests/direct-reference"))
    return out


def test_publish_leaves_the_files_of_the_local_build_and_verifies(
    sample_release, local_build, hub_api, hub_server, tmp_path
):
    repo_id = "openvid-tests/direct-reference"
    summary = publish_release(sample_release.root, repo_id, options(repo_id, num_proc=2), commit_every=2)

    assert summary.verify.ok and summary.uploaded == len(summary.manifest.shards) > 2
    assert repo_bytes(hub_api, repo_id, tmp_path / "repo") == tree_bytes(local_build)
    commits = hub_api.list_repo_commits(repo_id, repo_type="dataset")
    assert len(commits) >= 1 + len(summary.manifest.shards) // 2  # shards in batches of 2, then the tables
    # Published again: nothing is built or sent, the repository already holds this plan.
    with hub_server.recording() as requests:
        again = publish_release(sample_release.root, repo_id, options(repo_id))
    assert again.uploaded == 0 and again.verify.ok
    assert not [record for record in requests if record.route in ("lfs-upload", "commit")]


def test_an_interrupted_publish_resumes_from_the_repository_uploading_only_what_is_missing(
    sample_release, hub_api, hub_server, hub_repo_id, tmp_path
):
    # Another seed than the other tests': the local Hub, like the real one, never stores one object twice.
    settings = options(hub_repo_id, seed=7)
    build_dataset(sample_release.root, tmp_path / "built", settings)
    with hub_server.fault("lfs-upload", after=3), pytest.raises(OpenVidError) as failure:
        publish_release(sample_release.root, hub_repo_id, settings, commit_every=1)
    assert "507" in str(failure.value) and "run the same command again" in str(failure.value)
    committed = [path for path in hub_api.list_repo_files(hub_repo_id, repo_type="dataset") if path.endswith(".tar")]
    assert len(committed) == 3  # the three stored shards were committed, one a commit, before the failure

    with hub_server.recording() as requests:
        summary = publish_release(sample_release.root, hub_repo_id, settings, commit_every=1)
    uploads = [record for record in requests if record.route == "lfs-upload"]
    shards = len(summary.manifest.shards)
    assert summary.reused == 3 and summary.uploaded == shards - 3
    assert len(uploads) == shards - 3 + 2  # the missing shards, and the two metadata tables
    assert summary.verify.ok
    files = repo_bytes(hub_api, hub_repo_id, tmp_path / "repo")
    assert not [path for path in files if path.startswith(JOURNAL_DIR)]
    assert files == tree_bytes(tmp_path / "built")
    assert verify_dataset(hub_repo_id).ok


def test_a_commit_on_top_of_a_moved_branch_is_refused(hub_api, hub_repo_id):
    """Two publishers racing on one branch: the second commit names the head it saw, so it cannot erase the first."""
    hub_api.create_repo(hub_repo_id, repo_type="dataset")
    seen = hub_api.dataset_info(hub_repo_id).sha
    hub_api.upload_file(path_or_fileobj=b"first", path_in_repo="a.txt", repo_id=hub_repo_id, repo_type="dataset")
    with pytest.raises(OpenVidError, match="moved since this run read it"):
        commit_operations(
            hub_repo_id,
            [CommitOperationAdd("b.txt", b"second")],
            commit_message="second",
            parent_commit=seen,
            repo_type="dataset",
        )
    assert sorted(hub_api.list_repo_files(hub_repo_id, repo_type="dataset")) == [".gitattributes", "a.txt"]


def run_cli(argv: list[str], prelude: str = "pass") -> subprocess.CompletedProcess:
    code = f"import sys; {prelude}; from openvid_hf.commands.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("command", ["build", "publish"])
def test_the_ray_executor_without_ray_installed_says_how_to_install_it(sample_release, tmp_path, command):
    """`sys.modules["ray"] = None` makes `import ray` fail as on a machine without the extra."""
    target = [str(tmp_path / "out")] if command == "build" else ["--repo-id", "org/name"]
    result = run_cli([command, str(sample_release.root), *target, "--executor", "ray"], 'sys.modules["ray"] = None')
    assert result.returncode == 2
    assert "pip install 'openvid-hf[ray]'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_unreachable_ray_address_is_one_line(sample_release, tmp_path):
    pytest.importorskip("ray", reason="the Ray extra is not installed")
    from openvid_hf.testing.ray_cluster import free_port

    address = f"127.0.0.1:{free_port()}"
    result = run_cli(
        ["build", str(sample_release.root), str(tmp_path / "out"), "--executor", "ray", "--ray-address", address]
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and f"--ray-address {address}: no Ray head node answers" in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_ray_address_needs_the_ray_executor(sample_release, tmp_path):
    result = run_cli(["build", str(sample_release.root), str(tmp_path / "out"), "--ray-address", "127.0.0.1:1"])
    assert result.returncode == 2 and "--ray-address applies to --executor ray" in result.stderr
