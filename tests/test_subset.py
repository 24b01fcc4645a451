"""Byte ranges in the metadata, `openvid_hf.load_subset` and `openvid-hf index`, against the local Hub."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from datasets.distributed import split_dataset_by_node

from openvid_hf import load_subset
from openvid_hf.commands import cli
from openvid_hf.errors import UsageError
from openvid_hf.publish.build import build_dataset
from openvid_hf.publish.layout import MANIFEST_FILE, metadata_path
from openvid_hf.publish.manifest import Manifest
from openvid_hf.publish.plan import BuildOptions
from openvid_hf.publish.tar_index import TarMember, tar_members
from openvid_hf.schema import METADATA_FORMAT_VERSION, VIDEO_COLUMN, member_range_fields

WHERE = "aesthetic_score >= 5.5 and not hd"


@pytest.fixture(scope="module")
def built(sample_release, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("subset") / "out"
    build_dataset(sample_release.root, out, BuildOptions(shard_size=1_000_000, validation_size=4))
    return out


@pytest.fixture(scope="module")
def repo(built, hub_api) -> str:
    repo_id = "openvid-tests/subset-published"
    hub_api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    hub_api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=built)
    return repo_id


def raw(dataset: datasets.IterableDataset) -> list[dict]:
    """Rows with the video left as its bytes and path, to compare samples exactly."""
    return list(dataset.cast_column(VIDEO_COLUMN, datasets.Video(decode=False)))


def metadata(root: Path, split: str = "train") -> list[dict]:
    return pq.read_table(root / metadata_path(split)).to_pylist()


def shard_reads(requests, suffix: str = ".tar") -> list[tuple[str, int, int]]:
    """`(file, first byte, last byte)` of every request for a tar, asserting each one was a range request."""
    reads = []
    for request in requests:
        if request.method == "GET" and request.path.split("?")[0].endswith(suffix):
            assert request.range is not None, f"a whole tar was downloaded: {request.path}"
            first, last = request.range.removeprefix("bytes=").split("-")
            reads.append((request.path.split("/")[-1], int(first), int(last)))
    return reads


def test_the_build_records_each_members_byte_range_and_the_manifest_its_format(built):
    manifest = Manifest.from_json((built / MANIFEST_FILE).read_bytes())
    assert manifest.metadata_format == METADATA_FORMAT_VERSION == 2
    rows = metadata(built) + metadata(built, "validation")
    assert {field.name for field in member_range_fields()} <= set(rows[0])
    for row in rows:
        with tarfile.open(built / row["shard"]) as archive, open(built / row["shard"], "rb") as handle:
            for extension in ("json", "mp4"):
                handle.seek(row[f"{extension}_offset"])
                data = handle.read(row[f"{extension}_size"])
                assert data == archive.extractfile(f"{row['key']}.{extension}").read()
        assert json.loads(handle_json(built, row))["sha256"] == row["sha256"]


def handle_json(root: Path, row: dict) -> bytes:
    with open(root / row["shard"], "rb") as handle:
        handle.seek(row["json_offset"])
        return handle.read(row["json_size"])


def test_load_subset_reads_only_the_selected_members_and_yields_what_load_dataset_gives(built, repo, hub_server):
    plain = datasets.load_dataset(repo, split="train", streaming=True)
    by_key = {row["__key__"]: row for row in raw(plain)}
    selected = [row for row in metadata(built) if row["aesthetic_score"] >= 5.5 and not row["hd"]]
    assert 0 < len(selected) < len(by_key) / 2

    with hub_server.recording() as requests:
        subset = load_subset(repo, WHERE)
        rows = raw(subset)
    assert subset.features == plain.features
    assert [row["__key__"] for row in rows] == sorted(row["key"] for row in selected)
    for row in rows:
        assert row == by_key[row["__key__"]]

    members = [
        (row[f"{ext}_offset"], row[f"{ext}_offset"] + row[f"{ext}_size"] - 1)
        for row in selected
        for ext in ("json", "mp4")
    ]
    starts, ends = {first for first, _ in members}, {last for _, last in members}
    reads = shard_reads(requests)
    assert reads and all(first in starts and last in ends for _, first, last in reads)
    wanted = sum(last - first + 1 for first, last in members)
    read = sum(last - first + 1 for _, first, last in reads)
    assert wanted <= read <= wanted + 1024 * len(members)


def test_where_takes_keys_or_video_names_and_refuses_unknown_ones(built):
    rows = metadata(built)
    keys, videos = [rows[3]["key"], rows[0]["key"]], [rows[5]["video"]]
    picked = raw(load_subset(built, keys + videos))
    assert [row["__key__"] for row in picked] == sorted([rows[0]["key"], rows[3]["key"], rows[5]["key"]])
    with pytest.raises(UsageError, match="unknown column 'beauty'"):
        load_subset(built, "beauty > 3")
    with pytest.raises(UsageError, match=r"match no key or video.*'999999999'"):
        load_subset(built, ["999999999"])
    with pytest.raises(UsageError, match="not a column name or a literal"):
        load_subset(built, "aesthetic_score > __import__('os').getpid()")
    hd = load_subset(built, "aesthetic_score > 0", config="hd")
    assert [row["__key__"] for row in raw(hd)] == [row["key"] for row in rows if row["hd"]]
    assert raw(load_subset(built, "camera_motion in ['static', 'pan_left'] or frame < 0")) == raw(
        load_subset(built, [row["key"] for row in rows if row["camera_motion"] in ("static", "pan_left")])
    )


def test_a_resumed_subset_yields_exactly_the_remaining_samples_and_reads_none_of_the_others(built, repo, hub_server):
    everything = raw(load_subset(repo, "not hd"))
    subset = load_subset(repo, "not hd").cast_column(VIDEO_COLUMN, datasets.Video(decode=False))
    stream = iter(subset)
    head = [next(stream) for _ in range(5)]
    state = subset.state_dict()
    assert head == everything[:5] and state["examples_iterable"]["shard_example_idx"] == 5

    resumed = load_subset(repo, "not hd").cast_column(VIDEO_COLUMN, datasets.Video(decode=False))
    resumed.load_state_dict(state)
    with hub_server.recording() as requests:
        rest = list(resumed)
    assert rest == everything[5:]
    head_keys = {row["__key__"] for row in head}
    skipped = {(row["shard"].split("/")[-1], row["json_offset"]) for row in metadata(built) if row["key"] in head_keys}
    assert not skipped & {(name, first) for name, first, _ in shard_reads(requests)}


def test_nodes_and_dataloader_workers_share_the_subset_without_overlap(built):
    everything = [row["__key__"] for row in raw(load_subset(built))]
    subset = load_subset(built)
    assert subset.n_shards >= 2
    ranks = [[row["__key__"] for row in raw(split_dataset_by_node(subset, rank, 2))] for rank in range(2)]
    assert sorted(ranks[0] + ranks[1]) == sorted(everything) and not set(ranks[0]) & set(ranks[1])
    import torch

    loader = torch.utils.data.DataLoader(
        subset.remove_columns(VIDEO_COLUMN), num_workers=2, batch_size=None, collate_fn=lambda row: row["__key__"]
    )
    assert sorted(loader) == sorted(everything)


def test_index_gives_a_built_repository_without_ranges_the_tables_of_a_build(built, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(built, old)
    for split in ("train", "validation"):
        table = pq.read_table(old / metadata_path(split))
        pq.write_table(table.drop_columns([field.name for field in member_range_fields()]), old / metadata_path(split))
    assert cli.main(["index", str(old)]) == 0
    for relative in (metadata_path("train"), metadata_path("validation"), MANIFEST_FILE):
        assert (old / relative).read_bytes() == (built / relative).read_bytes()


def write_plain_webdataset(root: Path) -> dict[str, dict[str, bytes]]:
    """Two tars written with `tarfile` alone (pax and GNU long names, a folder inside the tar): the samples."""
    samples: dict[str, dict[str, bytes]] = {}
    for index, tar_format in enumerate((tarfile.PAX_FORMAT, tarfile.GNU_FORMAT)):
        path = root / "data" / f"train-{index}.tar"
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path, "w", format=tar_format) as archive:
            for number in range(4):
                key = f"part{index}/sample-{number}" + ("-" + "x" * 120 if number == 2 else "")
                members = {
                    "txt": f"caption {index}.{number}".encode(),
                    "cls": str(number).encode(),
                    "bin": bytes(range(256)) * 3 * number + b"end",
                }
                samples[key] = members
                for extension, data in members.items():
                    info = tarfile.TarInfo(f"{key}.{extension}")
                    info.size = len(data)
                    archive.addfile(info, io.BytesIO(data))
    return samples


def test_index_adds_ranges_to_a_webdataset_repo_it_did_not_build_reading_only_headers(tmp_path, hub_api, hub_server):
    repo_id = "openvid-tests/plain-webdataset"
    samples = write_plain_webdataset(tmp_path / "plain")
    hub_api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    hub_api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=tmp_path / "plain")

    with hub_server.recording() as requests:
        assert cli.main(["index", repo_id]) == 0
    table = pq.read_table(hub_api.hf_hub_download(repo_id, metadata_path("train"), repo_type="dataset")).to_pylist()
    assert sorted(row["key"] for row in table) == sorted(samples)
    bodies = []
    for row in table:
        for extension, data in samples[row["key"]].items():
            with open(tmp_path / "plain" / row["shard"], "rb") as handle:
                handle.seek(row[f"{extension}_offset"])
                assert handle.read(row[f"{extension}_size"]) == data
            bodies.append((row["shard"].split("/")[-1], row[f"{extension}_offset"], row[f"{extension}_size"]))
    reads = shard_reads(requests)
    assert reads
    for name, first, last in reads:  # headers (and pax/GNU name records) only: no member body
        assert not any(n == name and first < offset + size and offset <= last for n, offset, size in bodies if size)

    plain = {row["__key__"]: row for row in datasets.load_dataset(repo_id, split="train", streaming=True)}
    keys = [key for key in samples if "-2-" in key or key.endswith("-3")]
    picked = list(load_subset(repo_id, keys))
    assert sorted(row["__key__"] for row in picked) == sorted(keys)
    assert all(row == plain[row["__key__"]] for row in picked)


def test_tar_members_reads_one_header_a_member(tmp_path):
    samples = write_plain_webdataset(tmp_path)
    data = (tmp_path / "data" / "train-1.tar").read_bytes()
    reads = []

    def read(start: int, end: int) -> bytes:
        reads.append((start, end))
        return data[start:end]

    members = tar_members(read, len(data), "train-1.tar")
    with tarfile.open(tmp_path / "data" / "train-1.tar") as archive:
        expected = [TarMember(info.name, info.offset_data, info.size) for info in archive]
    assert members == expected and len(members) == 12
    assert len(reads) == 12 + 2 * 3 + 1  # a header a member, a header and a record a GNU long name, the end marker
    assert not any(
        start < member.offset + member.size and member.offset < end for start, end in reads for member in members
    )
    assert set(samples) >= {member.name.rsplit(".", 1)[0] for member in members}
