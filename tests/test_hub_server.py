"""The local Hub test double, exercised through the real clients: huggingface_hub, datasets, diffusers.

Assertions about what crossed the wire come from the server's request log (`HubServer.recording()`); only the
storage origin's signature and hash checks are probed with raw HTTP, since no client sends bad uploads.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import random
import subprocess
import sys
import tarfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    HfApi,
    get_hf_file_metadata,
    hf_hub_url,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from openvid_hf.testing.hub import HubServer
from openvid_hf.testing.hub import handlers_repo as hub_module
from openvid_hf.testing.hub_clients import point_clients_at


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def write_files(folder: Path, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)


def read_tree(folder: Path) -> dict[str, bytes]:
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file() and ".cache" not in path.relative_to(folder).parts and path.name != ".gitattributes"
    }


def sixty_files(lfs_threshold: int) -> tuple[dict[str, bytes], set[str]]:
    """60 files: LFS by size, by name (*.bin) and by binary content; regular text, nested, and one empty."""
    rng = random.Random(0)
    files = {f"weights/part-{i}.dat": rng.randbytes(lfs_threshold + 1000 * i) for i in range(3)}
    files |= {f"blobs/{i}.bin": rng.randbytes(1000 + i) for i in range(5)}
    files |= {f"raw/{i}.dat": b"\0" + rng.randbytes(2000 + i) for i in range(2)}
    files["empty.txt"] = b""
    files |= {f"text/{i % 5}/note-{i:02}.txt": f"note {i} — café ✓\n".encode() * (i + 1) for i in range(47)}
    files |= {"text/0/café ü.txt": "ünïcödé".encode(), "text/1/with space #1?.md": b"# odd name\n"}
    lfs = {path for path in files if not path.startswith(("text/", "empty"))}
    return files, lfs


def test_upload_folder_round_trips_and_a_repeat_uploads_nothing(
    hub_api, hub_server, hub_repo_id, tmp_path, monkeypatch
):
    files, lfs_paths = sixty_files(hub_server.lfs_threshold)
    assert len(files) == 60
    write_files(tmp_path / "src", files)
    hub_api.create_repo(hub_repo_id)

    with hub_server.recording() as first:
        commit = hub_api.upload_folder(repo_id=hub_repo_id, folder_path=tmp_path / "src")
    uploads = [r for r in first if r.route == "lfs-upload"]
    assert len(uploads) == len(lfs_paths) == sum(r.route == "lfs-verify" for r in first)
    assert sum(r.received_bytes for r in uploads) == sum(len(files[path]) for path in lfs_paths)

    monkeypatch.setattr(hub_module, "TREE_PAGE_SIZE", 7)  # the listing below spans pages linked by `Link` headers
    with hub_server.recording() as listing:
        tree = {f.path: f for f in hub_api.list_repo_tree(hub_repo_id, recursive=True) if hasattr(f, "blob_id")}
    assert len([r for r in listing if r.route == "tree"]) > 60 // 7
    assert tree.keys() == {*files, ".gitattributes"}
    assert {path for path, f in tree.items() if f.lfs} == lfs_paths
    assert all(tree[path].lfs.sha256 == hashlib.sha256(files[path]).hexdigest() for path in lfs_paths)

    snapshot = hub_api.snapshot_download(hub_repo_id, cache_dir=tmp_path / "cache")
    assert read_tree(Path(snapshot)) == files

    with hub_server.recording() as repeat:
        again = hub_api.upload_folder(repo_id=hub_repo_id, folder_path=tmp_path / "src")
    assert again.oid == commit.oid
    assert not [r for r in repeat if r.route in ("lfs-upload", "commit")]
    assert sum(r.received_bytes for r in repeat) < 64 * 1024  # 512-byte samples and LFS oids, no file content

    partial = hub_api.snapshot_download(hub_repo_id, allow_patterns=["text/3/*"], local_dir=tmp_path / "partial")
    assert read_tree(Path(partial)) == {path: data for path, data in files.items() if path.startswith("text/3/")}


def test_upload_killed_midway_then_repeated_completes_exactly(hub_api, hub_server, hub_repo_id, tmp_path):
    rng = random.Random(1)
    files = {f"shards/{i:03}.bin": rng.randbytes(4096 + i) for i in range(8)}
    files |= {f"meta/{i}.json": json.dumps({"shard": i}).encode() for i in range(4)}
    write_files(tmp_path / "src", files)
    hub_api.create_repo(hub_repo_id, repo_type="dataset")

    with hub_server.fault("lfs-upload", after=3), pytest.raises(RuntimeError) as killed:
        hub_api.upload_folder(repo_id=hub_repo_id, repo_type="dataset", folder_path=tmp_path / "src")
    assert isinstance(killed.value.__cause__, HfHubHTTPError)
    assert killed.value.__cause__.response.status_code == 507
    assert hub_api.list_repo_files(hub_repo_id, repo_type="dataset") == [".gitattributes"]  # nothing committed

    with hub_server.recording() as retry:
        hub_api.upload_folder(repo_id=hub_repo_id, repo_type="dataset", folder_path=tmp_path / "src")
    assert sum(r.route == "lfs-upload" for r in retry) == 8 - 3  # objects stored before the fault are not re-sent

    tree = {f.path: f for f in hub_api.list_repo_tree(hub_repo_id, repo_type="dataset", recursive=True)}
    remote_files = {path: f for path, f in tree.items() if hasattr(f, "blob_id") and path != ".gitattributes"}
    assert remote_files.keys() == files.keys()
    for path, data in files.items():
        remote = remote_files[path]
        assert remote.size == len(data)
        if path.endswith(".bin"):
            assert remote.lfs.sha256 == hashlib.sha256(data).hexdigest()
        else:
            assert remote.lfs is None and remote.blob_id == git_blob_id(data)
    assert {sibling.rfilename for sibling in hub_api.dataset_info(hub_repo_id).siblings} == {*files, ".gitattributes"}
    snapshot = hub_api.snapshot_download(hub_repo_id, repo_type="dataset", cache_dir=tmp_path / "cache")
    assert read_tree(Path(snapshot)) == files


def test_commits_revisions_listings_and_download_headers(hub_api, hub_server, hub_repo_id, tmp_path):
    weights = random.Random(2).randbytes(50_000)
    hub_api.create_repo(hub_repo_id)
    first = hub_api.upload_file(path_or_fileobj=b"v1", path_in_repo="notes.txt", repo_id=hub_repo_id)
    hub_api.upload_file(path_or_fileobj=weights, path_in_repo="model.safetensors", repo_id=hub_repo_id)
    hub_api.upload_file(path_or_fileobj=b'{"a": 1}', path_in_repo="config.json", repo_id=hub_repo_id)
    head = hub_api.create_commit(
        hub_repo_id,
        [
            CommitOperationAdd("docs/new.txt", b"new"),
            CommitOperationDelete("notes.txt"),
            CommitOperationCopy("model.safetensors", "copies/model.safetensors"),
            CommitOperationCopy("config.json", "copies/config.json"),
        ],
        commit_message="Reorganise",
    )

    with pytest.raises(HfHubHTTPError) as stale:
        hub_api.create_commit(
            hub_repo_id, [CommitOperationAdd("late.txt", b"x")], commit_message="Late", parent_commit=first.oid
        )
    assert stale.value.response.status_code == 412

    assert hub_api.list_repo_files(hub_repo_id) == [
        ".gitattributes",
        "config.json",
        "copies/config.json",
        "copies/model.safetensors",
        "docs/new.txt",
        "model.safetensors",
    ]
    root = hub_api.list_repo_tree(hub_repo_id)
    assert [(type(item).__name__, item.path) for item in root] == [
        ("RepoFolder", "copies"),
        ("RepoFolder", "docs"),
        ("RepoFile", ".gitattributes"),
        ("RepoFile", "config.json"),
        ("RepoFile", "model.safetensors"),
    ]
    assert [item.path for item in hub_api.list_repo_tree(hub_repo_id, "copies")] == [
        "copies/config.json",
        "copies/model.safetensors",
    ]
    copied, folder = hub_api.get_paths_info(hub_repo_id, ["copies/model.safetensors", "docs", "missing"], expand=True)
    assert copied.lfs.sha256 == hashlib.sha256(weights).hexdigest() and copied.last_commit.title == "Reorganise"
    assert folder.path == "docs" and folder.last_commit.oid == head.oid
    assert hub_api.file_exists(hub_repo_id, "docs/new.txt") and not hub_api.file_exists(hub_repo_id, "notes.txt")
    info = hub_api.model_info(hub_repo_id, files_metadata=True)
    assert info.sha == head.oid and len(info.siblings) == 6
    commits = hub_api.list_repo_commits(hub_repo_id)
    assert [c.title for c in commits][:2] == ["Reorganise", "Upload config.json with huggingface_hub"]
    assert commits[-1].title == "initial commit" and len(commits) == 5

    # Old revisions stay readable by sha and through branches and tags made from them.
    old = hub_api.hf_hub_download(hub_repo_id, "notes.txt", revision=first.oid, cache_dir=tmp_path / "c1")
    assert Path(old).read_bytes() == b"v1"
    with pytest.raises(EntryNotFoundError):
        hub_api.hf_hub_download(hub_repo_id, "notes.txt", cache_dir=tmp_path / "c1")
    hub_api.create_branch(hub_repo_id, branch="v1-fixes", revision=first.oid)
    hub_api.create_tag(hub_repo_id, tag="v1.0", revision=first.oid)
    refs = hub_api.list_repo_refs(hub_repo_id)
    assert {(b.name, b.target_commit) for b in refs.branches} == {("main", head.oid), ("v1-fixes", first.oid)}
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1.0", first.oid)]
    for revision in ("v1-fixes", "v1.0", first.oid[:12]):
        path = hub_api.hf_hub_download(hub_repo_id, "notes.txt", revision=revision, cache_dir=tmp_path / revision)
        assert Path(path).read_bytes() == b"v1"

    regular = get_hf_file_metadata(hf_hub_url(hub_repo_id, "config.json", endpoint=hub_server.endpoint))
    assert (regular.commit_hash, regular.etag, regular.size) == (head.oid, git_blob_id(b'{"a": 1}'), 8)
    lfs = get_hf_file_metadata(hf_hub_url(hub_repo_id, "model.safetensors", revision=head.oid))
    assert (lfs.commit_hash, lfs.etag, lfs.size) == (head.oid, hashlib.sha256(weights).hexdigest(), len(weights))
    assert lfs.location.startswith(hub_server.storage_endpoint)

    hub_api.delete_folder("copies", repo_id=hub_repo_id)
    assert not [path for path in hub_api.list_repo_files(hub_repo_id) if path.startswith("copies/")]
    with pytest.raises(EntryNotFoundError):
        hub_api.delete_file("never-there.txt", repo_id=hub_repo_id)


def test_errors_auth_and_private_repos(hub_api, hub_server, hub_repo_id, tmp_path):
    anonymous = HfApi(endpoint=hub_server.endpoint, token=False)
    hub_api.create_repo(hub_repo_id, private=True)
    with pytest.raises(HfHubHTTPError) as taken:
        hub_api.create_repo(hub_repo_id)
    assert taken.value.response.status_code == 409
    assert hub_api.create_repo(hub_repo_id, exist_ok=True).repo_id == hub_repo_id
    hub_api.upload_file(path_or_fileobj=b"secret", path_in_repo="secret.txt", repo_id=hub_repo_id)

    assert hub_api.model_info(hub_repo_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info(hub_repo_id)
    with pytest.raises(RepositoryNotFoundError):
        anonymous.hf_hub_download(hub_repo_id, "secret.txt", cache_dir=tmp_path)
    with pytest.raises(RepositoryNotFoundError):
        hub_api.model_info(f"{hub_repo_id}-missing")
    with pytest.raises(EntryNotFoundError):
        hub_api.hf_hub_download(hub_repo_id, "missing.txt", cache_dir=tmp_path)
    with pytest.raises(RevisionNotFoundError):
        hub_api.hf_hub_download(hub_repo_id, "secret.txt", revision="no-such-branch", cache_dir=tmp_path)

    for write in (
        lambda: anonymous.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=hub_repo_id),
        lambda: anonymous.create_repo(f"{hub_repo_id}-anonymous"),
    ):
        with pytest.raises(HfHubHTTPError) as denied:
            write()
        assert denied.value.response.status_code == 401

    hub_api.update_repo_settings(hub_repo_id, private=False, gated="auto")
    assert anonymous.model_info(hub_repo_id).gated == "auto"
    with pytest.raises(GatedRepoError):
        anonymous.hf_hub_download(hub_repo_id, "secret.txt", cache_dir=tmp_path / "anonymous")
    assert Path(hub_api.hf_hub_download(hub_repo_id, "secret.txt", cache_dir=tmp_path)).read_bytes() == b"secret"


def test_hf_paths_list_glob_and_read_byte_ranges_through_fsspec(hub_api, hub_server, hub_repo_id):
    import fsspec

    archive = random.Random(3).randbytes(3_000_000)
    hub_api.create_repo(hub_repo_id, repo_type="dataset")
    for path, data in {"data/a.tar": archive, "data/b.txt": b"bee", "data/deep/c.txt": b"sea"}.items():
        hub_api.upload_file(path_or_fileobj=data, path_in_repo=path, repo_id=hub_repo_id, repo_type="dataset")
    fs = fsspec.filesystem("hf")
    root = f"datasets/{hub_repo_id}"

    assert sorted(fs.ls(f"hf://{root}/data", detail=False)) == [f"{root}/data/{n}" for n in ("a.tar", "b.txt", "deep")]
    assert fs.ls(f"hf://{root}/data/b.txt", detail=False) == [f"{root}/data/b.txt"]
    assert fs.glob(f"hf://{root}/**/*.txt") == [f"{root}/data/b.txt", f"{root}/data/deep/c.txt"]
    assert fs.info(f"hf://{root}/data/a.tar")["size"] == len(archive)

    with hub_server.recording() as log, fsspec.open(f"hf://{root}/data/a.tar", "rb", block_size=64 * 1024) as file:
        file.seek(2_500_000)
        assert file.read(1000) == archive[2_500_000:2_501_000]
        file.seek(10)
        assert file.read(10) == archive[10:20]
    downloads = [r for r in log if r.route == "lfs-download"]
    assert downloads and all(r.range and r.status == 206 for r in downloads)
    assert sum(r.body_bytes for r in downloads) <= 2 * 64 * 1024 + 2000  # two small blocks, never the archive


def webdataset_tar(samples: dict[str, dict[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for key, members in samples.items():
            for extension, data in members.items():
                info = tarfile.TarInfo(f"{key}.{extension}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


DATASET_CARD = """---
configs:
- config_name: default
  default: true
  data_files:
  - split: train
    path: [data/train/sd/*/*.tar, data/train/hd/*/*.tar]
  - split: validation
    path: [data/validation/sd/*/*.tar, data/validation/hd/*/*.tar]
- config_name: hd
  data_files:
  - split: train
    path: data/train/hd/*/*.tar
  - split: validation
    path: data/validation/hd/*/*.tar
---
# A tiny WebDataset repository
"""


def test_load_dataset_reads_webdataset_configs_with_and_without_streaming(hub_api, hub_server, hub_repo_id, tmp_path):
    import datasets
    import numpy as np

    from openvid_hf.testing.sample_release import encode_h264

    layout = {
        "data/train/sd/0000/00000.tar": ["000000000", "000000001"],
        "data/train/hd/0000/00000.tar": ["000000002"],
        "data/validation/sd/0000/00000.tar": ["000000003"],
        "data/validation/hd/0000/00000.tar": ["000000004"],
    }
    videos, samples_json = {}, {}
    files = {"README.md": DATASET_CARD.encode()}
    for shard, keys in layout.items():
        samples = {}
        for key in keys:
            frames = [np.full((32, 32, 3), 30 * int(key) + 20 * i, np.uint8) for i in range(4)]
            videos[key] = encode_h264(frames, fps=4)
            samples_json[key] = {"key": key, "hd": "/hd/" in shard}
            member_json = json.dumps(samples_json[key]).encode()
            samples[key] = {"json": member_json, "txt": f"caption {key}".encode(), "mp4": videos[key]}
        files[shard] = webdataset_tar(samples)
    write_files(tmp_path / "repo", files)
    hub_api.create_repo(hub_repo_id, repo_type="dataset")
    hub_api.upload_folder(repo_id=hub_repo_id, repo_type="dataset", folder_path=tmp_path / "repo")

    expected = {
        "default": {"train": ["000000000", "000000001", "000000002"], "validation": ["000000003", "000000004"]},
        "hd": {"train": ["000000002"], "validation": ["000000004"]},
    }
    for config_name, splits in expected.items():
        for streaming in (False, True):
            with hub_server.recording() as requests:
                loaded = datasets.load_dataset(hub_repo_id, config_name, streaming=streaming)
            if (config_name, streaming) == ("default", False):  # first load: every shard comes from this server
                fetched = {r.path.split("/resolve/")[1].split("/", 1)[1] for r in requests if r.route == "resolve"}
                assert set(layout) <= fetched
            assert set(loaded) == set(splits)
            for split, keys in splits.items():
                rows = list(loaded[split].cast_column("mp4", datasets.Video(decode=False)))
                assert [row["__key__"] for row in rows] == keys, (config_name, streaming, split)
                for row in rows:
                    assert row["json"] == samples_json[row["__key__"]]
                    assert row["txt"] == f"caption {row['__key__']}"
                    assert row["mp4"]["bytes"] == videos[row["__key__"]]


def test_diffusers_push_to_hub_then_from_pretrained(hub_repo_id):
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    model = AutoencoderKL(
        block_out_channels=(8,),
        down_block_types=("DownEncoderBlock2D",),
        up_block_types=("UpDecoderBlock2D",),
        latent_channels=2,
        norm_num_groups=4,
        sample_size=16,
    )
    model.push_to_hub(hub_repo_id)
    loaded = AutoencoderKL.from_pretrained(hub_repo_id)
    assert loaded.config.latent_channels == 2
    expected, actual = model.state_dict(), loaded.state_dict()
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[name], actual[name]) for name in expected)


def test_subprocesses_use_the_session_server_and_token(hub_api, hub_repo_id):
    hub_api.create_repo(hub_repo_id, private=True)  # invisible without the token
    head = hub_api.model_info(hub_repo_id).sha
    probe = "import sys; from huggingface_hub import model_info; print(model_info(sys.argv[1]).sha)"
    result = subprocess.run([sys.executable, "-c", probe, hub_repo_id], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == head


def test_point_clients_at_restores_the_clients(tmp_path):
    import datasets.config
    import huggingface_hub.constants as hub_constants

    def client_settings() -> tuple:
        return (
            hub_constants.ENDPOINT,
            hub_constants.HF_HUB_CACHE,
            datasets.config.HF_ENDPOINT,
            os.environ.get("HF_ENDPOINT"),
        )

    before = client_settings()
    with HubServer(tmp_path / "root") as server, point_clients_at(server.endpoint, token="t", home=tmp_path / "home"):
        assert client_settings() == (server.endpoint, str(tmp_path / "home" / "hub"), server.endpoint, server.endpoint)
        assert HfApi().create_repo("someone/something").repo_id == "someone/something"
    assert client_settings() == before


def test_command_line_server_prints_its_endpoint_and_keeps_repositories(tmp_path):
    for attempt in range(2):
        server = subprocess.Popen(
            [sys.executable, "-m", "openvid_hf.testing.hub", "--root", str(tmp_path / "root")],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            endpoint = server.stdout.readline().strip()
            api = HfApi(endpoint=endpoint, token="any-token")
            if attempt == 0:
                api.create_repo("someone/kept", repo_type="dataset")
                api.upload_file(
                    path_or_fileobj=b"kept", path_in_repo="a.txt", repo_id="someone/kept", repo_type="dataset"
                )
            path = api.hf_hub_download(
                "someone/kept", "a.txt", repo_type="dataset", cache_dir=tmp_path / f"c{attempt}"
            )
            assert Path(path).read_bytes() == b"kept"
        finally:
            server.terminate()
            assert server.wait(timeout=10) == 0


def test_storage_checks_signatures_and_hashes_and_accepts_chunked_bodies(hub_server):
    data = random.Random(4).randbytes(3000)
    oid = hashlib.sha256(data).hexdigest()

    def put(url: str, chunks: list[bytes]) -> int:
        parts = urlsplit(url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        connection.request("PUT", f"{parts.path}?{parts.query}", body=iter(chunks), encode_chunked=True)
        status = connection.getresponse().status
        connection.close()
        return status

    assert put(hub_server.upload_url(oid, len(data)).replace("sig=", "sig=0"), [data]) == 403
    assert put(hub_server.upload_url(oid, len(data)), [data[:1000], b"corrupted"]) == 400
    assert hub_server.storage.object_size(oid) is None
    assert put(hub_server.upload_url(oid, len(data)), [data[:1000], data[1000:]]) == 200
    assert hub_server.storage.object_path(oid).read_bytes() == data
