"""`openvid-hf encode --repo-id`: a latent dataset encoded straight into a Hub dataset repository.

The published dataset's direct publish (`publish.direct.publish_direct`) with the latent plan: each worker encodes a
shard into scratch and stores it in the repository, the driver commits them in batches with a journal in the
repository (so a re-run, anywhere, resumes), then the manifest and the card, and verifies the result. The repository
ends up holding the files `encode` to a folder then `push` would leave there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UsageError
from ..executors import Executor, make_executor
from ..hub import check_repo_id
from ..publish.direct import COMMIT_EVERY, PublishSummary, UploadedShard, publish_direct
from ..publish.journal import ShardResult
from ..publish.manifest import Manifest
from .card import write_latent_card
from .encode import EncodeOptions, EncodePlan, latent_manifest, plan_encode, shard_job
from .push import refuse_repository_of_clips
from .workers import EncodeShardJob, LatentShardPlan, map_shards


@dataclass
class LatentPublication:
    """The latent dataset of `source` that `options` select, as `publish_direct` publishes it (`Publication`)."""

    source: str
    options: EncodeOptions
    plan: EncodePlan
    title: str = "OpenVid-1M latents"
    job: EncodeShardJob = field(init=False)

    def __post_init__(self) -> None:
        self.job = shard_job(self.source, self.plan, self.options)

    def shard_writer(self) -> EncodeShardJob:
        return self.job

    def map_shards(
        self, executor: Executor, function: Callable[[LatentShardPlan], UploadedShard], shards: list[LatentShardPlan]
    ) -> Iterator[UploadedShard]:
        return map_shards(executor, function, shards, self.job.encoders, self.options.on_actors)

    def write_files(self, folder: Path, results: list[ShardResult]) -> Manifest:
        return latent_manifest(self.source, self.plan, results)

    def write_card(self, folder: Path, repo_id: str, manifest: Manifest) -> bool:
        return write_latent_card(folder, repo_id, manifest)


def encode_to_hub(
    source: str,
    repo_id: str,
    options: EncodeOptions,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_every: int = COMMIT_EVERY,
) -> PublishSummary:
    """Encode the clips `options` select from `source` straight into the dataset repository `repo_id`, then verify."""
    if options.executor == "accelerate":
        raise UsageError("--repo-id: encode with --executor local or ray (accelerate writes to a folder)")
    executor = make_executor(options.executor, options.num_proc, options.ray_address)
    refuse_repository_of_clips(check_repo_id(repo_id, "--repo-id"), revision)

    def plan() -> LatentPublication:
        return LatentPublication(source, options, plan_encode(source, options))

    return publish_direct(repo_id, executor, plan, private=private, revision=revision, commit_every=commit_every)
