"""`OpenVidClipDataset` over a real build of the sample release and over hand-written shards with bad clips."""

from __future__ import annotations

import io
import itertools
import logging
import subprocess
import sys
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch.utils.data import DataLoader
from torchdata.stateful_dataloader import StatefulDataLoader

import openvid_hf
from openvid_hf.errors import OpenVidError, UsageError
from openvid_hf.publish.build import build_dataset
from openvid_hf.publish.plan import BuildOptions
from openvid_hf.publish.shards import ShardWriter, encode_record, read_shard_records
from openvid_hf.release.filters import ClipFilter
from openvid_hf.schema import FIELD_NAMES, format_key
from openvid_hf.testing.sample_release import SampleClip, clip_frames, encode_h264, write_sample_release
from openvid_hf.training.clip_dataset import ClipCounts, OpenVidClipDataset
from openvid_hf.video.clips import ClipLoader, ClipTransform, FrameSampler, sample_rng
from openvid_hf.video.decoding import probe_video

NUM_FRAMES = 12  # more than the sample release's too-short clip has (10 frames)
SIZE = 16
SEED = 5


def clip_loader() -> ClipLoader:
    return ClipLoader(FrameSampler(NUM_FRAMES, 1), ClipTransform(SIZE))


def clip_dataset(source, *args, **kwargs) -> OpenVidClipDataset:
    return OpenVidClipDataset(source, *args, clip_loader=clip_loader(), seed=SEED, **kwargs)


def shard_samples(paths) -> dict[str, dict]:
    """key -> record, read back from the shards."""
    return {record["key"]: record for path in paths for _, record, _ in read_shard_records(path)}


def shard_mp4s(paths) -> dict[str, bytes]:
    """key -> mp4 bytes, read back from the shards with tarfile."""
    clips = {}
    for path in paths:
        with tarfile.open(path) as archive:
            for member in archive:
                if member.name.endswith(".mp4"):
                    clips[member.name.removesuffix(".mp4")] = archive.extractfile(member).read()
    return clips


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> SimpleNamespace:
    """A build of a 16-video sample release in small shards; truth read back from the tar files."""
    root = tmp_path_factory.mktemp("clip_dataset")
    release = write_sample_release(root / "release", num_videos=16, seed=3, hd_fraction=0.2)
    options = BuildOptions(shard_size=150_000, validation_size=2, seed=2)
    build_dataset(release.root, root / "published", options)
    out = root / "published"
    train_shards = sorted((out / "data" / "train").rglob("*.tar"))
    train = shard_samples(train_shards)
    short = {key for key, record in train.items() if record["num_frames"] < NUM_FRAMES}
    assert len(short) == 1 and len(train_shards) >= 5, "the fixture must have a short clip and several shards"
    return SimpleNamespace(
        root=out,
        train=train,
        train_shards=train_shards,
        validation=shard_samples((out / "data" / "validation").rglob("*.tar")),
        good_train_keys=sorted(set(train) - short),
        short_key=short.pop(),
    )


def keys_of(batches) -> list[str]:
    return [key for batch in batches for key in batch["key"]]


# Contents --------------------------------------------------------------------------------------------------


def test_yields_every_good_clip_once_with_its_record_and_seeded_frames(published, caplog):
    dataset = clip_dataset(published.root)
    with caplog.at_level(logging.INFO, logger="openvid_hf.training.clip_dataset"):
        samples = list(dataset)
    assert sorted(sample["key"] for sample in samples) == published.good_train_keys
    mp4 = shard_mp4s(published.train_shards)
    for sample in samples:
        record = published.train[sample["key"]]
        assert sample["caption"] == record["caption"] and sample["video_name"] == record["video"]
        assert {name: sample[name] for name in FIELD_NAMES if name != "video"} == pytest.approx(
            {name: value for name, value in record.items() if name != "video"}
        )
        video = sample["video"]
        assert video.shape == (3, NUM_FRAMES, SIZE, SIZE) and video.dtype == torch.float32
        assert video.min() >= -1.0 and video.max() <= 1.0
        # The clip of (seed, epoch 0, key), whichever process or position it is drawn in.
        expected = clip_loader()(mp4[sample["key"]], sample_rng(SEED, 0, sample["key"]))
        assert torch.equal(video, expected)
    assert dataset.counts == ClipCounts(len(samples), 0, {"missing": 0, "undecodable": 0, "too_short": 1})
    assert f"skipped (too_short) {published.short_key}.mp4 in " in caplog.text
    assert f"{len(samples)} clips, 0 filtered out, 1 skipped (too_short 1)" in caplog.text


def test_the_epoch_reseeds_the_clips_and_batches_use_the_default_collate(published):
    dataset = clip_dataset(published.root)
    first = {sample["key"]: sample["video"] for sample in dataset}
    dataset.set_epoch(1)
    batches = list(DataLoader(dataset, batch_size=4))
    second = {key: video for batch in batches for key, video in zip(batch["key"], batch["video"], strict=True)}
    assert sorted(second) == sorted(first)
    assert sum(not torch.equal(first[key], second[key]) for key in first) >= len(first) // 2
    batch = batches[0]
    assert batch["video"].shape == (4, 3, NUM_FRAMES, SIZE, SIZE)
    assert isinstance(batch["caption"], list) and all(isinstance(caption, str) for caption in batch["caption"])
    assert batch["aesthetic_score"].shape == (4,) and batch["hd"].dtype == torch.bool


def test_filters_use_the_record_before_decoding(published):
    scores = sorted(record["aesthetic_score"] for record in published.train.values())
    threshold = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2
    dataset = clip_dataset(published.root, filters=ClipFilter(min_aesthetic_score=threshold))
    keys = sorted(sample["key"] for sample in dataset)
    expected = [key for key in published.good_train_keys if published.train[key]["aesthetic_score"] >= threshold]
    assert keys == expected and keys
    assert dataset.counts.filtered == 0  # pushed down to the metadata: the other clips are never read

    by_expression = clip_dataset(published.root, where=f"aesthetic_score >= {threshold}")
    assert sorted(sample["key"] for sample in by_expression) == expected
    names = [published.train[key]["video"] for key in expected[:2]]
    assert sorted(sample["key"] for sample in clip_dataset(published.root, where=names)) == expected[:2]

    tall = sorted(key for key, record in published.train.items() if record["height"] >= 720)
    hd = clip_dataset(published.root, filters=ClipFilter(min_height=720))
    assert sorted(sample["key"] for sample in hd) == tall and tall


def test_config_split_and_a_hub_repository(published, hub_api, hub_repo_id):
    validation = clip_dataset(published.root, split="validation")
    assert sorted(sample["key"] for sample in validation) == sorted(published.validation)

    hub_api.create_repo(hub_repo_id, repo_type="dataset")
    hub_api.upload_folder(folder_path=published.root, repo_id=hub_repo_id, repo_type="dataset")
    from_hub = {sample["key"]: sample for sample in clip_dataset(hub_repo_id, "hd")}
    hd_keys = sorted(key for key, record in published.train.items() if record["hd"])
    assert sorted(from_hub) == hd_keys
    for sample in clip_dataset(published.root, "hd"):
        assert torch.equal(sample["video"], from_hub[sample["key"]]["video"])
        assert sample["caption"] == from_hub[sample["key"]]["caption"]


# Distribution and resume ------------------------------------------------------------------------------------


@pytest.mark.parametrize("num_shards", [4, 5], ids=["shards per rank", "examples per rank"])
@pytest.mark.parametrize("epoch", [0, 1])
def test_two_ranks_with_two_workers_cover_every_clip_once(published, num_shards, epoch):
    shards = published.train_shards[:num_shards]
    expected = sorted(key for key in shard_samples(shards) if key != published.short_key)
    keys = []
    for rank in range(2):
        dataset = clip_dataset([str(path) for path in shards], rank=rank, world_size=2)
        # An even number of shards is split between the ranks, an odd one example by example.
        assert dataset.num_shards == (2 if num_shards == 4 else 5)
        dataset.set_epoch(epoch)
        keys += keys_of(DataLoader(dataset, batch_size=2, num_workers=2))
    assert sorted(keys) == expected


def test_rank_and_world_size_come_from_the_environment(published, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    dataset = clip_dataset(published.root)
    assert (dataset.rank, dataset.world_size) == (1, 2)
    keys = [sample["key"] for sample in dataset]
    other = [sample["key"] for sample in clip_dataset(published.root, rank=0)]
    assert sorted(keys + other) == published.good_train_keys and not set(keys) & set(other)


def run(loader) -> list[tuple[str, torch.Tensor]]:
    return [(key, video) for batch in loader for key, video in zip(batch["key"], batch["video"], strict=True)]


def saved_and_loaded(state: dict) -> dict:
    """What a checkpoint holds: the state through `torch.save` and a weights-only `torch.load`."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resuming_mid_epoch_yields_exactly_the_rest_of_the_epoch(published, num_workers):
    def loader(epoch: int) -> StatefulDataLoader:
        dataset = clip_dataset(published.root)
        dataset.set_epoch(epoch)
        return StatefulDataLoader(dataset, batch_size=2, num_workers=num_workers)

    uninterrupted = loader(epoch=3)
    reference = run(uninterrupted)
    full_counts = ClipCounts.from_loader_state(uninterrupted.state_dict())
    assert full_counts.yielded == len(published.good_train_keys) and full_counts.skipped["too_short"] == 1

    interrupted = loader(epoch=3)
    batches = iter(interrupted)
    head = run(itertools.islice(batches, 2))
    state = saved_and_loaded(interrupted.state_dict())
    del batches

    resumed = loader(epoch=0)  # a fresh process: the epoch comes with the state
    resumed.load_state_dict(state)
    batches = iter(resumed)
    state_before_any_batch = saved_and_loaded(resumed.state_dict())
    tail = run(batches)
    assert len(head) == 4 and len(tail) == len(reference) - 4
    assert [key for key, _ in head + tail] == [key for key, _ in reference]
    for (key, video), (_, expected) in zip(head + tail, reference, strict=True):
        assert torch.equal(video, expected), key
    assert ClipCounts.from_loader_state(resumed.state_dict()) == full_counts
    # A checkpoint taken after resuming but before the next batch still holds the resume point.
    resumed_again = loader(epoch=0)
    resumed_again.load_state_dict(state_before_any_batch)
    assert [key for key, _ in run(resumed_again)] == [key for key, _ in tail]
    # The resume point serves one pass only: the next pass is a whole epoch again.
    assert sorted(key for key, _ in run(resumed)) == published.good_train_keys


# Bad clips ---------------------------------------------------------------------------------------------------


def write_shard(path: Path, samples: list[tuple[str, dict[str, bytes]]]) -> Path:
    with ShardWriter(path) as writer:
        for key, members in samples:
            writer.add_sample(key, members)
    return path


def sample_members(index: int, data: bytes, num_frames: int) -> tuple[str, dict[str, bytes]]:
    """A shard sample as the build writes it: the contract record and the mp4 bytes."""
    key = format_key(index)
    record = {
        "key": key,
        "video": f"clip_{index}.mp4",
        "caption": f"Clip {index}, with a comma.",
        "aesthetic_score": 5.0,
        "motion_score": 1.0,
        "temporal_consistency_score": 0.95,
        "camera_motion": "static",
        "frame": num_frames,
        "fps": 25.0,
        "seconds": num_frames / 25,
        "width": 64,
        "height": 48,
        "num_frames": num_frames,
        "hd": False,
        "sha256": "0" * 64,
    }
    assert list(record) == list(FIELD_NAMES)
    return key, {"json": encode_record(record), "mp4": data}


@pytest.fixture(scope="module")
def bad_shards(tmp_path_factory) -> SimpleNamespace:
    """Two shards: five good clips, an undecodable mp4, a 3-frame clip and a sample without its mp4."""

    def mp4(num_frames: int) -> bytes:
        clip = SampleClip("clip.mp4", "", 64, 48, 25, num_frames, 5, 5, 1, "static", False)
        return encode_h264(clip_frames(clip), clip.fps)

    good, short = mp4(20), mp4(3)
    assert probe_video(short).num_frames == 3
    root = tmp_path_factory.mktemp("bad_shards")
    first = write_shard(
        root / "first.tar",
        [
            sample_members(0, good, 20),
            sample_members(1, b"\x00\x00\x00\x18ftypisom" + bytes(500), 20),
            sample_members(2, good, 20),
            sample_members(3, short, 3),
        ],
    )
    no_mp4 = (format_key(5), {"json": sample_members(5, good, 20)[1]["json"]})
    second = write_shard(
        root / "second.tar",
        [sample_members(4, good, 20), no_mp4, sample_members(6, good, 20), sample_members(7, good, 20)],
    )
    return SimpleNamespace(
        paths=[first, second], good=["000000000", "000000002", "000000004", "000000006", "000000007"]
    )


def test_bad_clips_are_skipped_counted_and_logged(bad_shards, caplog):
    dataset = OpenVidClipDataset(
        [str(path) for path in bad_shards.paths], clip_loader=ClipLoader(FrameSampler(4, 1), ClipTransform(SIZE))
    )
    with caplog.at_level(logging.WARNING, logger="openvid_hf.training.clip_dataset"):
        keys = [sample["key"] for sample in dataset]
    assert sorted(keys) == bad_shards.good
    assert dataset.counts.skipped == {"missing": 1, "undecodable": 1, "too_short": 1}
    first, second = (str(path.resolve()) for path in bad_shards.paths)
    assert f"skipped (undecodable) 000000001.mp4 in {first}: cannot open the video stream" in caplog.text
    assert f"skipped (too_short) 000000003.mp4 in {first}: 3 frames, fewer than the 4 a clip needs" in caplog.text
    assert f"skipped (missing) 000000005.mp4 in {second}: the sample has no mp4 member" in caplog.text

    # The same in DataLoader workers: none dies, and the loader's state adds up their counts.
    loader = StatefulDataLoader(dataset, batch_size=2, num_workers=2)
    assert sorted(keys_of(loader)) == bad_shards.good
    counts = ClipCounts.from_loader_state(loader.state_dict())
    assert counts == ClipCounts(5, 0, {"missing": 1, "undecodable": 1, "too_short": 1})


# Arguments and errors ---------------------------------------------------------------------------------------


def test_bad_sources_and_arguments_are_named(published, tmp_path):
    with pytest.raises(OpenVidError, match=rf"^{tmp_path / 'absent'}: cannot stream config 'default', split 'train'"):
        OpenVidClipDataset(tmp_path / "absent")
    with pytest.raises(OpenVidError, match=r"config 'nope'.*Available: \['default', 'hd'\]"):
        OpenVidClipDataset(published.root, "nope")
    with pytest.raises(OpenVidError, match=r"split 'test'.*Available splits"):
        OpenVidClipDataset(published.root, split="test")
    with pytest.raises(OpenVidError, match=r"nowhere/\*\.tar: no such WebDataset shard"):
        OpenVidClipDataset(str(tmp_path / "nowhere" / "*.tar"))
    (tmp_path / "table").mkdir()
    (tmp_path / "table" / "rows.csv").write_text("a,b\n1,2\n")
    with pytest.raises(OpenVidError, match=r"not a published OpenVid-1M dataset \(no mp4 or json column"):
        OpenVidClipDataset(tmp_path / "table")
    with pytest.raises(UsageError, match="rank"):
        OpenVidClipDataset(published.root, rank=2, world_size=2)
    dataset = OpenVidClipDataset(published.root)
    with pytest.raises(UsageError, match="epoch"):
        dataset.set_epoch(-1)
    with pytest.raises(OpenVidError, match="not a state of OpenVidClipDataset"):
        dataset.load_state_dict({"shard_idx": 3})


def test_exported_lazily_and_importable_without_accelerate():
    assert openvid_hf.OpenVidClipDataset is OpenVidClipDataset
    code = "import sys; sys.modules['accelerate'] = None; import openvid_hf.training.clip_dataset; print('ok')"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.stdout.strip() == "ok", completed.stderr


def test_an_accelerate_prepared_stateful_loader_resumes_exactly(published):
    """`accelerator.prepare` with `use_stateful_dataloader` in one process (several: see docs/video.md)."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DataLoaderConfiguration

    def prepared():
        accelerator = Accelerator(cpu=True, dataloader_config=DataLoaderConfiguration(use_stateful_dataloader=True))
        return accelerator.prepare(DataLoader(clip_dataset(published.root), batch_size=2, num_workers=1))

    try:
        reference = run(prepared())
        interrupted = prepared()
        batches = iter(interrupted)
        head = run(itertools.islice(batches, 2))
        state = saved_and_loaded(interrupted.state_dict())
        del batches
        resumed = prepared()
        resumed.load_state_dict(state)
        tail = run(resumed)
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    assert [key for key, _ in head + tail] == [key for key, _ in reference] and len(head) == 4
    for (key, video), (_, expected) in zip(head + tail, reference, strict=True):
        assert torch.equal(video, expected), key
