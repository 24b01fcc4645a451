"""`openvid-hf encode`: a published dataset's clips encoded once into a latent dataset (`layout`).

1. Plan, from the source's metadata table alone (no video read): the selected clips of a config and split, in the
   order the source streams them, cut into shards of `samples_per_shard` per subset (`sd`, `hd`), each shard at the
   path the published layout gives it. The settings (`LatentSettings`) come from the encoders' configs and the
   arguments, before any weight is loaded.
2. Encode each shard on a worker (`workers`: local processes, Ray actors holding the encoders, one per GPU; or one
   process per GPU under `accelerate launch`): read its clips by byte range (`load_subset`), sample each clip's
   window as training does (`sample_rng(seed, 0, key)`, never flipped), run the VAE and T5 in batches and write a
   reproducible tar. The encoders are loaded once per worker.
3. Write `manifest.json` (the settings in its `build`) and the card.

A finished shard is recorded with its SHA-256 in the build journal (`publish.journal`), so re-running the same
command skips what is done, whichever executor or process wrote it. `direct` encodes into a Hub repository instead.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..atomic import write_text
from ..cards import CARD_FILE, format_bytes
from ..errors import OpenVidError, UsageError
from ..executors import make_executor
from ..publish.journal import BuildJournal, ShardResult
from ..publish.layout import CONFIG_SUBSETS, DEFAULT_CONFIG, MANIFEST_FILE, shard_path
from ..publish.manifest import Manifest, complete_folder_manifest
from ..release.skips import skipped_phrase
from ..schema import VIDEO_COLUMN, member_offset_column
from ..video.decoding import DEFAULT_BACKEND
from .encoders import encoder_identity
from .layout import STORAGE_DTYPES, LatentSettings, is_latent_folder
from .workers import EncoderSpec, EncodeShardJob, LatentShardPlan, map_shards, worker_location

if TYPE_CHECKING:
    import pyarrow as pa

#: MVDiT's caption length (T5 tokens).
DEFAULT_MAX_TEXT_LENGTH = 120
DEFAULT_SAMPLES_PER_SHARD = 256
#: MVDiT's spatial patch: a latent side must divide by it for any MVDiT to train on the latents.
PATCH_SIZE = 2


@dataclass(frozen=True)
class EncodeOptions:
    """The arguments of `openvid-hf encode`; `vae` and `text_encoder` name a folder or Hub model repository."""

    vae: str
    text_encoder: str
    num_frames: int = 16
    frame_interval: int = 3
    resolution: int = 256
    seed: int = 42
    config: str = DEFAULT_CONFIG
    split: str = "train"
    revision: str | None = None
    where: str | None = None
    dtype: str = "float32"
    max_text_length: int = DEFAULT_MAX_TEXT_LENGTH
    samples_per_shard: int = DEFAULT_SAMPLES_PER_SHARD
    batch_size: int = 8
    device: str = "cpu"
    video_backend: str = DEFAULT_BACKEND
    executor: str = "local"
    num_proc: int = 1
    ray_address: str | None = None

    def __post_init__(self) -> None:
        for name in ("num_frames", "frame_interval", "resolution", "max_text_length", "samples_per_shard"):
            if getattr(self, name) < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be a positive integer (got {getattr(self, name)})")
        if self.batch_size < 1 or self.num_proc < 1:
            raise UsageError("--batch-size and --num-proc must be positive integers")
        if self.dtype not in STORAGE_DTYPES:
            raise UsageError(f"--dtype {self.dtype}: choose one of {', '.join(STORAGE_DTYPES)}")
        if self.config not in CONFIG_SUBSETS:
            raise UsageError(f"--config {self.config}: choose one of {', '.join(CONFIG_SUBSETS)}")
        if self.on_actors and self.device.startswith("cuda:"):
            raise UsageError(
                f"--device {self.device} with --executor ray: Ray gives each actor a GPU of its own; use --device cuda"
            )

    @property
    def on_actors(self) -> bool:
        """Ray runs the shards on actors that keep the encoders loaded (local processes each load them once)."""
        return self.executor == "ray"


@dataclass(frozen=True)
class EncodePlan:
    settings: LatentSettings
    shards: tuple[LatentShardPlan, ...]

    @property
    def fingerprint(self) -> str:
        """Names the plan: the settings and every shard's keys (a resumed run must make exactly these files)."""
        digest = hashlib.sha256(self.settings.fingerprint().encode())
        for shard in self.shards:
            digest.update(f"{shard.path}:{','.join(shard.keys)}\n".encode())
        return digest.hexdigest()


@dataclass
class EncodeSummary:
    out_dir: Path
    manifest: Manifest
    written: int
    reused: int
    seconds: float

    def line(self) -> str:
        return (
            f"encoded {self.manifest.samples} clips into {len(self.manifest.shards)} shards "
            f"({format_bytes(self.manifest.bytes)}) in {self.out_dir}: {self.written} shards written, "
            f"{self.reused} reused; {skipped_phrase(self.manifest.skipped_counts())}; {self.seconds:.1f} s"
        )


# Planning ------------------------------------------------------------------------------------------------------------


def component_subfolders(name: str, argument: str, subfolders: tuple[str, ...]) -> tuple[str, ...]:
    """`subfolders` when `name` is a pipeline holding them (`vae/config.json`), else the repository's root.

    `argument` names the option in the one line that says when `name` is neither a folder nor a model repository.
    """
    first = f"{subfolders[0]}/config.json"
    if Path(name).exists():
        present = Path(name, first).is_file()
    else:
        from huggingface_hub import HfApi
        from huggingface_hub.errors import HFValidationError, RepositoryNotFoundError
        from huggingface_hub.utils import validate_repo_id

        from ..hub import asking_the_hub

        try:
            validate_repo_id(name)
        except HFValidationError:
            raise UsageError(f"{argument} {name}: no such folder, and not a Hub repo id ORG/NAME") from None
        api = HfApi()
        try:
            with asking_the_hub(api):
                present = api.file_exists(name, first)
        except RepositoryNotFoundError:
            raise OpenVidError(
                f"{argument} {name}: no such folder, and no model repository on {api.endpoint}"
            ) from None
    return subfolders if present else ("",) * len(subfolders)


def plan_settings(source_info: dict[str, Any], options: EncodeOptions) -> LatentSettings:
    """The latent settings from the encoders' configs (no weights loaded) and the options."""
    from diffusers import AutoencoderKL
    from transformers import AutoConfig

    vae_subfolders = component_subfolders(options.vae, "--vae", ("vae",))
    text_subfolders = component_subfolders(options.text_encoder, "--text-encoder", ("text_encoder", "tokenizer"))
    vae_identity = encoder_identity(options.vae, vae_subfolders)
    text_identity = encoder_identity(options.text_encoder, text_subfolders[:1])
    text_identity = replace(text_identity, subfolders=text_subfolders)
    vae_config = AutoencoderKL.load_config(
        options.vae, subfolder=vae_subfolders[0] or None, revision=vae_identity.revision
    )
    try:
        text_config = AutoConfig.from_pretrained(
            options.text_encoder, subfolder=text_subfolders[0], revision=text_identity.revision
        )
    except ValueError:  # transformers knows no model type for it: a diffusers config, for one
        text_config = None
    if "latent_channels" not in vae_config or "block_out_channels" not in vae_config:
        raise UsageError(f"--vae {options.vae}: not an AutoencoderKL (its config has no latent_channels)")
    if getattr(text_config, "model_type", None) != "t5":
        raise UsageError(f"--text-encoder {options.text_encoder}: not a T5 encoder and tokenizer")
    factor = 2 ** (len(vae_config["block_out_channels"]) - 1)
    if options.resolution % (factor * PATCH_SIZE):
        raise UsageError(
            f"--resolution {options.resolution} must be a multiple of {factor * PATCH_SIZE}: the VAE's factor "
            f"{factor} times MVDiT's {PATCH_SIZE}x{PATCH_SIZE} patch"
        )
    return LatentSettings(
        num_frames=options.num_frames,
        frame_interval=options.frame_interval,
        resolution=options.resolution,
        seed=options.seed,
        dtype=options.dtype,
        latent_channels=vae_config["latent_channels"],
        latent_size=options.resolution // factor,
        scaling_factor=vae_config["scaling_factor"],
        text_channels=text_config.d_model,
        max_text_length=options.max_text_length,
        vae=vae_identity,
        text_encoder=text_identity,
        source=source_info,
    )


def plan_shards(table: pa.Table, config: str, split: str, samples_per_shard: int) -> tuple[LatentShardPlan, ...]:
    """The selected rows of `config` in the order the source streams them (subset, shard, offset), cut into shards."""
    from ..publish.layout import shard_split_and_subset

    offset = member_offset_column(VIDEO_COLUMN)
    columns = ["key", "shard", *([offset] if offset in table.column_names else [])]
    by_subset: dict[str, list[tuple[str, int, str]]] = {subset: [] for subset in CONFIG_SUBSETS[config]}
    for row in table.select(columns).to_pylist():
        _, subset = shard_split_and_subset(row["shard"])
        if subset in by_subset:
            by_subset[subset].append((row["shard"], row.get(offset) or 0, row["key"]))
    shards = []
    for subset, rows in by_subset.items():
        keys = [key for _, _, key in sorted(rows)]
        for index, start in enumerate(range(0, len(keys), samples_per_shard)):
            shards.append(
                LatentShardPlan(shard_path(split, subset, index), tuple(keys[start : start + samples_per_shard]))
            )
    return tuple(shards)


def plan_encode(source: str, options: EncodeOptions) -> EncodePlan:
    """Read the source's metadata (one snapshot: its commit), select, order and cut the clips; derive the settings."""
    from ..publish.metadata import load_metadata
    from ..publish.selection import select_rows
    from ..publish.verify import commit_sha, parse_target

    location = parse_target(source)
    revision = options.revision
    if not isinstance(location, Path):
        from huggingface_hub import HfApi

        revision = commit_sha(HfApi(), location, options.revision)
    table = select_rows(load_metadata(source, options.split, revision).data.table, options.where)
    shards = plan_shards(table, options.config, options.split, options.samples_per_shard)
    if not shards:
        raise OpenVidError(f"{source}: no clip of config {options.config!r}, split {options.split!r} is selected")
    source_info = {
        "dataset": str(source),
        "revision": revision,
        "config": options.config,
        "split": options.split,
        "where": options.where,
    }
    return EncodePlan(plan_settings(source_info, options), shards)


# The job ---------------------------------------------------------------------------------------------------------


def encode_dataset(source: str, out_dir: str | Path, options: EncodeOptions) -> EncodeSummary:
    """Encode the clips `options` select from the published dataset `source` into the folder `out_dir`."""
    from ..progress import progress_bar

    started = time.perf_counter()
    out_dir = Path(out_dir)
    if options.executor == "accelerate":
        return _encode_under_accelerate(source, out_dir, options, started)
    executor = make_executor(options.executor, options.num_proc, options.ray_address)
    journal = BuildJournal(out_dir)
    plan, previous, done = start_encode(source, out_dir, options, journal)
    if previous is not None:
        return EncodeSummary(out_dir, previous, 0, len(previous.shards), time.perf_counter() - started)
    job = shard_job(source, plan, options)
    todo = [shard for shard in plan.shards if shard.path not in done]
    results = dict(done)
    write = partial(job, folder=out_dir.resolve())
    with executor, progress_bar(total=len(todo), desc="Encoding shards", unit=" shards") as progress:
        for result in map_shards(executor, write, todo, job.encoders, options.on_actors):
            journal.record(result)
            results[result.path] = result
            progress.update()
    manifest = finish(out_dir, source, plan, [results[shard.path] for shard in plan.shards])
    journal.remove()
    return EncodeSummary(out_dir, manifest, len(todo), len(done), time.perf_counter() - started)


def start_encode(
    source: str, out_dir: Path, options: EncodeOptions, journal: BuildJournal
) -> tuple[EncodePlan, Manifest | None, dict[str, ShardResult]]:
    """Check OUT_DIR, plan, clear another plan's files; then the folder's manifest when it already is a complete
    encode of this plan, else the shards an earlier run of it finished (`done`)."""
    check_out_dir(source, out_dir)
    plan = plan_encode(source, options)
    clear_other_plans(out_dir, plan)
    previous = complete_folder_manifest(out_dir, plan.fingerprint)
    return plan, previous, {} if previous is not None else reusable_shards(out_dir, journal, plan)


def _encode_under_accelerate(source: str, out_dir: Path, options: EncodeOptions, started: float) -> EncodeSummary:
    """This process's share of the shards (`accelerate launch`: one process per GPU, each on its own device).

    The main process alone checks, plans and reads what is done (reading the source's metadata, hashing the encoders'
    and the finished shards' files once, not once a process), and shares the outcome, its error included, with the
    others. They share the journal in `out_dir`: each records its shards, and once all are done the main process reads
    every shard's result from it and writes the manifest and the card.
    """
    from accelerate import PartialState
    from accelerate.utils import broadcast_object_list, parse_flag_from_env

    # As `Accelerator` does: `accelerate launch --cpu` (ACCELERATE_USE_CPU) runs the processes on CPUs (gloo).
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    journal = BuildJournal(out_dir)
    outcome: list = [None]
    if state.is_main_process:
        try:
            plan, previous, done = start_encode(source, out_dir, options, journal)
            outcome = [(plan, previous is not None, sorted(done))]
        except OpenVidError as error:
            outcome = [error]
    broadcast_object_list(outcome)
    if isinstance(outcome[0], OpenVidError):
        raise outcome[0]
    plan, complete, done_paths = outcome[0]
    if complete:
        manifest = _read_manifest(out_dir)
        return EncodeSummary(out_dir, manifest, 0, len(manifest.shards), time.perf_counter() - started)
    todo = [shard for shard in plan.shards if shard.path not in done_paths]
    job = shard_job(source, plan, replace(options, device=str(state.device)))
    for shard in todo[state.process_index :: state.num_processes]:
        journal.record(job(shard, out_dir))
    state.wait_for_everyone()
    if state.is_main_process:
        results = journal.start(plan.fingerprint)
        missing = [shard.path for shard in plan.shards if shard.path not in results]
        if missing:
            raise OpenVidError(f"{len(missing)} shards were not encoded ({missing[0]} ...): run the command again")
        finish(out_dir, source, plan, [results[shard.path] for shard in plan.shards])
        journal.remove()
    state.wait_for_everyone()
    return EncodeSummary(out_dir, _read_manifest(out_dir), len(todo), len(done_paths), time.perf_counter() - started)


def _read_manifest(out_dir: Path) -> Manifest:
    path = out_dir / MANIFEST_FILE
    return Manifest.from_json(path.read_bytes(), str(path))


def shard_job(source: str, plan: EncodePlan, options: EncodeOptions) -> EncodeShardJob:
    """The workers' job: what each of them reads, with which encoders, on which device."""
    encoders = EncoderSpec.of(plan.settings, options.device)
    return EncodeShardJob(worker_location(source), plan.settings, encoders, options.batch_size, options.video_backend)


def check_out_dir(source: str, out_dir: Path) -> None:
    """OUT_DIR is a new or empty folder, or an earlier encode's: never the source, never another dataset."""
    from ..publish.journal import JOURNAL_DIR

    if out_dir.exists() and not out_dir.is_dir():
        raise OpenVidError(f"{out_dir}: not a folder")
    if Path(source).exists() and Path(source).resolve() == out_dir.resolve():
        raise UsageError(f"OUT_DIR is SOURCE ({out_dir}): encode into a folder of its own")
    if (out_dir / MANIFEST_FILE).is_file():
        if not is_latent_folder(out_dir):
            raise OpenVidError(f"{out_dir} holds a published dataset of clips; encode into a folder of its own")
    elif out_dir.is_dir() and not (out_dir / JOURNAL_DIR).is_dir() and any(out_dir.iterdir()):
        raise OpenVidError(f"{out_dir} is not empty and holds no latent dataset; choose a new or empty folder")


def clear_other_plans(out_dir: Path, plan: EncodePlan) -> None:
    """Remove what an encode of other settings left: its manifest and card first (they no longer describe the
    folder, and a trainer must not trust them), then shards and half-written files that are not in this plan."""
    from ..publish.build import remove_files_not_in

    manifest = out_dir / MANIFEST_FILE
    if manifest.is_file() and Manifest.from_json(manifest.read_bytes()).build.get("plan") != plan.fingerprint:
        manifest.unlink()
        (out_dir / CARD_FILE).unlink(missing_ok=True)
    remove_files_not_in(out_dir, {shard.path for shard in plan.shards})


def reusable_shards(out_dir: Path, journal: BuildJournal, plan: EncodePlan) -> dict[str, ShardResult]:
    """The plan's shards an earlier run of the same plan finished, whose files still have the recorded SHA-256."""
    done = {}
    for path, result in journal.start(plan.fingerprint).items():
        if result.is_intact(out_dir):
            result.reused = True
            done[path] = result
    return done


def finish(out_dir: Path, source: str, plan: EncodePlan, results: list[ShardResult]) -> Manifest:
    """Write the manifest (settings in its `build`) and the card; drop the shards whose every clip was skipped."""
    from .card import write_latent_card

    manifest = latent_manifest(source, plan, results)
    for result in results:
        if not result.samples:
            (out_dir / result.path).unlink(missing_ok=True)
    write_text(out_dir / MANIFEST_FILE, manifest.to_json())
    write_latent_card(out_dir, str(out_dir), manifest)
    return manifest


def latent_manifest(source: str, plan: EncodePlan, results: list[ShardResult]) -> Manifest:
    """The manifest of the encoded shards (`results`, in plan order): the settings in its `build`; a shard whose
    every clip was skipped is not listed."""
    return Manifest(
        source=str(source),
        tool_version=__version__,
        build={**plan.settings.to_json(), "plan": plan.fingerprint},
        shards=[result.entry() for result in results if result.samples],
        metadata=[],
        skipped=[skip for result in results for skip in result.skipped],
    )
