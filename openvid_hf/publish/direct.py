"""Publishing straight into a Hub dataset repository, so no machine holds the dataset and no shared folder is needed.

`publish_direct` is the engine of every such publish: `openvid-hf publish` (`publish_release`: the original release,
planned as `build` plans it) and `openvid-hf encode --repo-id` (`openvid_hf.latents.direct`). A `Publication` says
what differs: the plan, each shard's job, how the shards run, the tables and the card.

The driver plans. Each worker of the executor (local processes, or Ray tasks or actors across a cluster) writes its
shard to its own scratch folder, stores it in the repository as an LFS object (`hub.preupload_file`), deletes it and
returns the shard's result. The driver commits the stored shards in batches of `commit_every`, each commit on top
of the one before (`hub.commit_operations`: a publisher racing on the branch fails instead of losing a commit), then
the tables, the manifest and the card through `hub.publish_folder`, the one upload of every publisher, and verifies
the commit.

Every batch commit also adds a small journal (`JOURNAL_DIR/<plan>/<digest>.json`: each shard's size, SHA-256,
skips and metadata rows) to the repository, so a re-run, on this machine or another cluster, reads what is done
from the repository itself: a shard is done when the journal lists it and the repository holds it with that SHA-256.
The final commit removes the journal. Files stored but not committed (a run killed between the two) are not sent
again either: the Hub's LFS batch API skips objects it has.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..cards import format_bytes
from ..errors import OpenVidError
from ..executors import Executor, make_executor
from ..hub import check_repo_id, commit_operations, ensure_repo, preupload_file, publish_folder, require_token
from ..release.reader import ReleaseReader
from ..release.skips import skipped_phrase
from ..release.workers import ReleaseSpec
from .build import ShardJob, plan_release, release_spec, write_tables
from .dataset_card import write_dataset_card
from .journal import ShardResult
from .layout import DATA_DIR, MANIFEST_FILE, METADATA_DIR
from .manifest import Manifest, TreeFile
from .plan import BuildOptions, BuildPlan, ShardPlan
from .verify import REPO_TYPE, VerifyReport, commit_sha, download, remote_tree, verify_dataset

if TYPE_CHECKING:
    from huggingface_hub import CommitOperation, CommitOperationAdd, HfApi

#: Where a publish in progress keeps its journal in the repository (removed by the final commit).
JOURNAL_DIR = ".openvid-hf/publish"
#: Shards a commit adds at most: commits stay small, and a failure loses at most this many shards' commit.
COMMIT_EVERY = 100


class PlannedShard(Protocol):
    """A planned shard: where it goes in the repository."""

    path: str


class ShardedPlan(Protocol):
    """A plan of shards: its `fingerprint` names the plan, its `shards` are in the manifest's order."""

    fingerprint: str
    shards: Sequence[PlannedShard]


#: What a worker returns: the shard's result and the operation that commits its stored bytes.
UploadedShard = tuple[ShardResult, "CommitOperationAdd"]


#: A worker's shard job (picklable): writes a planned shard at `folder / shard.path` and returns its result.
WriteShard = Callable[[Any, Path], ShardResult]


class Publication(Protocol):
    """What `publish_direct` publishes: the parts in which the published dataset and a derived dataset differ."""

    #: What the commits say is published: `Publish {title}: N clips`.
    title: str
    plan: ShardedPlan

    def shard_writer(self) -> WriteShard:
        """The job each worker runs to write one shard."""
        ...

    def map_shards(
        self, executor: Executor, function: Callable[[Any], UploadedShard], shards: list[Any]
    ) -> Iterator[UploadedShard]:
        """`function` over `shards` on `executor`'s workers, as the results complete."""
        ...

    def write_files(self, folder: Path, results: list[ShardResult]) -> Manifest:
        """Write what the repository holds beside the shards, the manifest and the card; return the manifest."""
        ...

    def write_card(self, folder: Path, repo_id: str, manifest: Manifest) -> bool:
        """Write the card of `manifest` for `repo_id` into `folder`."""
        ...


@dataclass(frozen=True)
class UploadShardJob:
    """A worker's part of a direct publish: write one shard to scratch, store it in the repository, delete it."""

    write_shard: WriteShard
    repo_id: str
    revision: str | None

    def __call__(self, shard: PlannedShard) -> UploadedShard:
        with tempfile.TemporaryDirectory(prefix="openvid-hf-shard-") as scratch:
            result = self.write_shard(shard, Path(scratch))
            operation = preupload_file(
                self.repo_id, shard.path, Path(scratch, shard.path), repo_type=REPO_TYPE, revision=self.revision
            )
        return result, operation


@dataclass
class PublishSummary:
    repo_id: str
    revision: str
    commit: str
    manifest: Manifest
    uploaded: int
    reused: int
    verify: VerifyReport
    seconds: float

    def line(self) -> str:
        return (
            f"published {self.manifest.samples} clips in {len(self.manifest.shards)} shards "
            f"({format_bytes(self.manifest.bytes)}) to {self.repo_id}@{self.revision} (commit {self.commit[:7]}): "
            f"{self.uploaded} shards uploaded, {self.reused} already there; "
            f"{skipped_phrase(self.manifest.skipped_counts())}, {self.manifest.filtered_out} filtered out; "
            f"{self.verify.state}; {self.seconds:.1f} s"
        )


def publish_direct(
    repo_id: str,
    executor: Executor,
    plan: Callable[[], Publication],
    *,
    private: bool = False,
    revision: str | None = None,
    commit_every: int = COMMIT_EVERY,
) -> PublishSummary:
    """Publish what `plan()` plans straight into the dataset repository `repo_id`, resuming from it, then verify.

    `plan()` runs once the token is checked and the repository exists, so a publish that cannot land fails first.
    """
    from huggingface_hub import HfApi

    from ..progress import progress_bar

    started = time.perf_counter()
    require_token()
    repo_id = check_repo_id(repo_id, "--repo-id")
    with executor:
        repo_id = ensure_repo(repo_id, REPO_TYPE, private, branch=revision)
        publication = plan()
        shards = publication.plan.shards
        api = HfApi()
        head = commit_sha(api, repo_id, revision)
        tree = remote_tree(api, repo_id, head)
        previous = _complete_publish_of(api, repo_id, head, publication.plan, tree)
        if previous is not None:
            report = verify_dataset(repo_id, revision=head)
            seconds = time.perf_counter() - started
            return PublishSummary(repo_id, revision or "main", head, previous, 0, len(shards), report, seconds)
        done = _published_shards(api, repo_id, head, publication.plan, tree)
        batch = _CommitBatch(repo_id, revision, head, publication.plan.fingerprint)
        job = UploadShardJob(publication.shard_writer(), repo_id, revision)
        todo = [shard for shard in shards if shard.path not in done]
        results = dict(done)
        with progress_bar(total=len(todo), desc=f"Publishing shards to {repo_id}", unit=" shards") as progress:
            try:
                for result, operation in publication.map_shards(executor, job, todo):
                    results[result.path] = result
                    batch.add(result, operation)
                    if len(batch) >= commit_every:
                        batch.commit()
                    progress.update()
            except BaseException:
                batch.commit_after_failure()
                raise
            batch.commit()
        with tempfile.TemporaryDirectory(prefix="openvid-hf-publish-") as staging:
            manifest = publication.write_files(Path(staging), [results[shard.path] for shard in shards])
            Path(staging, MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
            listed = {entry.path for entry in manifest.shards}
            stale = sorted(
                path for path in {*tree, *batch.committed} if path.split("/", 1)[0] == DATA_DIR and path not in listed
            )
            commit = publish_folder(
                staging,
                repo_id,
                repo_type=REPO_TYPE,
                write_card=partial(publication.write_card, Path(staging), manifest=manifest),
                private=private,
                revision=revision,
                commit_message=f"Publish {publication.title}: {manifest.samples} clips (openvid-hf)",
                delete_patterns=[f"{METADATA_DIR}/**", f"{JOURNAL_DIR}/**", *stale],
                parent_commit=batch.head,
            )
        report = verify_dataset(repo_id, revision=commit.oid)
    return PublishSummary(
        repo_id, revision or "main", commit.oid, manifest, len(todo), len(done), report, time.perf_counter() - started
    )


# The original release: `openvid-hf publish` ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseShardWriter:
    """`publish`'s shard on a worker: `build`'s shard job, into the folder it is given."""

    release: ReleaseSpec

    def __call__(self, shard: ShardPlan, folder: Path) -> ShardResult:
        return ShardJob(self.release, folder)((shard, None))


@dataclass
class ReleasePublication:
    """The original release at `source`, planned as `build` plans it (`Publication`)."""

    source: str
    options: BuildOptions
    reader: ReleaseReader
    plan: BuildPlan
    title: str = "OpenVid-1M"

    def shard_writer(self) -> ReleaseShardWriter:
        return ReleaseShardWriter(release_spec(self.source, self.options))

    def map_shards(
        self, executor: Executor, function: Callable[[ShardPlan], UploadedShard], shards: list[ShardPlan]
    ) -> Iterator[UploadedShard]:
        return executor.imap_unordered(function, shards)

    def write_files(self, folder: Path, results: list[ShardResult]) -> Manifest:
        return write_tables(folder, self.source, self.options, self.reader, self.plan, results)

    def write_card(self, folder: Path, repo_id: str, manifest: Manifest) -> bool:
        return write_dataset_card(folder, repo_id, manifest)


def publish_release(
    source: str | Path,
    repo_id: str,
    options: BuildOptions | None = None,
    *,
    private: bool = False,
    revision: str | None = None,
    commit_every: int = COMMIT_EVERY,
) -> PublishSummary:
    """Build the release at `source` straight into the dataset repository `repo_id`, then verify it there."""
    source = str(source)
    options = options or BuildOptions()
    executor = make_executor(options.executor, options.num_proc, options.ray_address)

    def plan() -> ReleasePublication:
        return ReleasePublication(source, options, *plan_release(source, options))

    return publish_direct(repo_id, executor, plan, private=private, revision=revision, commit_every=commit_every)


# Resume, from the repository -------------------------------------------------------------------------------------


def _complete_publish_of(
    api: HfApi, repo_id: str, head: str, plan: ShardedPlan, tree: dict[str, TreeFile]
) -> Manifest | None:
    """The repository's manifest when the repository is a complete publish of this very plan."""
    if MANIFEST_FILE not in tree:
        return None
    manifest = Manifest.from_json(Path(download(api, repo_id, MANIFEST_FILE, head)).read_bytes(), MANIFEST_FILE)
    if manifest.build.get("plan") != plan.fingerprint or manifest.mismatches(tree):
        return None
    return manifest


def _published_shards(
    api: HfApi, repo_id: str, head: str, plan: ShardedPlan, tree: dict[str, TreeFile]
) -> dict[str, ShardResult]:
    """The plan's shards an earlier run committed: listed in the repository's journal for this plan, and held by
    the repository with the journal's size and SHA-256."""
    planned = {shard.path for shard in plan.shards}
    prefix = f"{_journal_folder(plan.fingerprint)}/"
    done = {}
    for path in sorted(path for path in tree if path.startswith(prefix)):
        for payload in json.loads(Path(download(api, repo_id, path, head)).read_bytes()):
            result = ShardResult.from_journal(payload)
            found = tree.get(result.path)
            if (
                result.path in planned
                and found is not None
                and found.size == result.bytes
                and found.sha256() == result.sha256
            ):
                result.reused = True
                done[result.path] = result
    return done


def _journal_folder(fingerprint: str) -> str:
    return f"{JOURNAL_DIR}/{fingerprint[:16]}"


class _CommitBatch:
    """Stored shards waiting for their commit, and the commit each next one must be made on top of."""

    def __init__(self, repo_id: str, revision: str | None, head: str, fingerprint: str):
        self.repo_id, self.revision, self.head, self.fingerprint = repo_id, revision, head, fingerprint
        self.results: list[ShardResult] = []
        self.operations: list[CommitOperation] = []
        #: The shards this run committed.
        self.committed: set[str] = set()

    def __len__(self) -> int:
        return len(self.results)

    def add(self, result: ShardResult, operation: CommitOperationAdd) -> None:
        self.results.append(result)
        self.operations.append(operation)

    def commit(self) -> None:
        """Commit the stored shards with their journal entry, on top of the last commit this run saw or made."""
        from huggingface_hub import CommitOperationAdd

        if not self.results:
            return
        entries = [result.to_journal() | {"records": result.records} for result in self.results]
        journal = json.dumps(sorted(entries, key=lambda entry: entry["path"]), ensure_ascii=False).encode()
        journal_path = f"{_journal_folder(self.fingerprint)}/{hashlib.sha256(journal).hexdigest()[:16]}.json"
        names = sorted(result.path for result in self.results)
        commit = commit_operations(
            self.repo_id,
            [*self.operations, CommitOperationAdd(journal_path, journal)],
            commit_message=f"Publish {len(names)} shards ({names[0]} ...) (openvid-hf)",
            parent_commit=self.head,
            repo_type=REPO_TYPE,
            revision=self.revision,
        )
        self.head = commit.oid
        self.committed.update(names)
        self.results, self.operations = [], []

    def commit_after_failure(self) -> None:
        """Keep what finished before a failure; the failure itself is what the user sees."""
        with contextlib.suppress(OpenVidError):
            self.commit()
