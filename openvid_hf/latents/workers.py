"""The workers of `openvid-hf encode`: one shard's encoding (`EncodeShardJob`), and how the shards run (`map_shards`).

Each worker loads the encoders once and encodes many shards: a process of the local executor keeps them in
`_LOADED`; on Ray each actor (one per GPU, or one per node holding its CPUs) loads them when it starts and serves
shards until the job ends. Paths a worker reads are absolute, since a Ray worker runs in another folder or node.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import OpenVidError
from ..executors import Executor
from ..publish.journal import ShardResult
from ..release.skips import Skip
from ..schema import RECORD_COLUMN, VIDEO_COLUMN
from ..video.decoding import VideoDecodeError
from .encoders import EncoderIdentity, encode_captions, encode_posterior
from .layout import LATENT_LOGVAR, LATENT_MEAN, PROMPT_EMBEDS, PROMPT_LENGTH, LatentSettings

if TYPE_CHECKING:
    from ..pipelines import MVDiTPipeline

#: The epoch whose window `sample_rng` draws: a latent dataset holds one window a clip.
ENCODED_EPOCH = 0


@dataclass(frozen=True)
class LatentShardPlan:
    """One shard of the latent dataset: its path and the keys of the source clips it encodes, in stream order."""

    path: str
    keys: tuple[str, ...]


def worker_location(name: str) -> str:
    """`name` as a worker elsewhere (another working directory, another node) finds it: a local path made absolute,
    a Hub repo id as it is."""
    return str(Path(name).resolve()) if Path(name).exists() else name


@dataclass(frozen=True)
class EncoderSpec:
    """What a worker loads: picklable, and the key of its per-process cache of loaded encoders."""

    vae: EncoderIdentity
    text_encoder: EncoderIdentity
    device: str

    @classmethod
    def of(cls, settings: LatentSettings, device: str) -> EncoderSpec:
        """The encoders of `settings` on `device`, a folder named by its absolute path (a worker may run elsewhere)."""
        encoders = (settings.vae, settings.text_encoder)
        vae, text = (replace(encoder, repo=worker_location(encoder.repo)) for encoder in encoders)
        return cls(vae, text, device)

    def load(self) -> MVDiTPipeline:
        """The encoders in a pipeline with no transformer (its `encode_prompt` is the training's caption encoder)."""
        from diffusers import AutoencoderKL
        from transformers import AutoTokenizer, T5EncoderModel

        from ..pipelines import MVDiTPipeline

        device = torch.device(self.device)
        vae = AutoencoderKL.from_pretrained(
            self.vae.repo, subfolder=self.vae.subfolders[0] or None, revision=self.vae.revision
        )
        text = self.text_encoder
        text_encoder = T5EncoderModel.from_pretrained(text.repo, subfolder=text.subfolders[0], revision=text.revision)
        tokenizer = AutoTokenizer.from_pretrained(text.repo, subfolder=text.subfolders[1], revision=text.revision)
        pipeline = MVDiTPipeline(tokenizer, text_encoder, vae.eval(), transformer=None, scheduler=None)
        pipeline.set_progress_bar_config(disable=True)
        return pipeline.to(device)


_LOADED: dict[EncoderSpec, MVDiTPipeline] = {}


def loaded_encoders(spec: EncoderSpec) -> MVDiTPipeline:
    """The encoders of `spec`, loaded once per process (a worker encodes many shards)."""
    if spec not in _LOADED:
        _LOADED.clear()
        _LOADED[spec] = spec.load()
    return _LOADED[spec]


def npy_bytes(array: np.ndarray) -> bytes:
    """A `.npy` member: numpy's own format, which `datasets` decodes."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


@dataclass(frozen=True)
class EncodeShardJob:
    """One shard's work on a worker: read its clips by range, encode them in batches, write the tar into a folder
    (the output folder, or a scratch folder the shard is uploaded from)."""

    source: str
    settings: LatentSettings
    encoders: EncoderSpec
    batch_size: int
    video_backend: str

    def __call__(self, shard: LatentShardPlan, folder: str | Path) -> ShardResult:
        from ..publish.shards import ShardWriter, encode_record

        result = ShardResult(shard.path)
        pipeline = loaded_encoders(self.encoders)
        try:
            with ShardWriter(Path(folder, shard.path)) as writer:
                for batch in _batched(self._clips(shard, result), self.batch_size):
                    for key, members in self._encode(pipeline, batch):
                        members[RECORD_COLUMN] = encode_record(members[RECORD_COLUMN])
                        writer.add_sample(key, members)
        except OSError as error:
            raise OpenVidError(
                f"{shard.path}: cannot read its clips from {self.source} ({error}); finished shards are kept: "
                "run the command again to resume"
            ) from None
        result.samples, result.bytes, result.sha256 = writer.samples, writer.size, writer.sha256
        return result

    def _clips(self, shard: LatentShardPlan, result: ShardResult) -> Iterator[tuple[dict, torch.Tensor]]:
        """`(record, clip)` of the shard's clips, in its order; a clip that cannot be read is a counted skip."""
        from datasets import Video

        from ..publish.subset import load_subset
        from ..video.clips import ClipLoader, ClipTooShortError, ClipTransform, FrameSampler, sample_rng

        settings, source = self.settings, self.settings.source
        loader = ClipLoader(
            FrameSampler(settings.num_frames, settings.frame_interval),
            ClipTransform(settings.resolution, flip_probability=0.0),
            backend=self.video_backend,
        )
        rows = load_subset(
            self.source, list(shard.keys), split=source["split"], config=source["config"], revision=source["revision"]
        ).cast_column(VIDEO_COLUMN, Video(decode=False))
        unseen = dict.fromkeys(shard.keys)
        for row in rows:
            unseen.pop(row["__key__"], None)
            record, video = row[RECORD_COLUMN], row[VIDEO_COLUMN]
            name = f"{row['__key__']}.{VIDEO_COLUMN}"
            if record is None or video is None or video["bytes"] is None:
                result.skipped.append(Skip(name, "missing", "the sample has no json or mp4 member"))
                continue
            try:
                rng = sample_rng(settings.seed, ENCODED_EPOCH, record["key"])
                yield record, loader(video["bytes"], rng, name=name)
            except VideoDecodeError as error:
                result.skipped.append(Skip(record["video"], "undecodable", str(error)))
            except ClipTooShortError as error:
                result.skipped.append(Skip(record["video"], "too_short", str(error)))
        # The metadata lists them, the shards do not hold them (a shard of the source removed since): say so.
        result.skipped += [Skip(key, "missing", "listed in the metadata, not found in the shards") for key in unseen]

    def _encode(self, pipeline: MVDiTPipeline, batch: list[tuple[dict, torch.Tensor]]) -> Iterator[tuple[str, dict]]:
        settings = self.settings
        dtype = np.dtype(settings.dtype)
        records = [record for record, _ in batch]
        with torch.no_grad():
            mean, logvar = encode_posterior(pipeline.vae, torch.stack([clip for _, clip in batch]))
            prompts, masks = encode_captions(
                pipeline, [record["caption"] for record in records], pipeline.vae.device, settings.max_text_length
            )
        for index, record in enumerate(records):
            length = int(masks[index].sum())
            members = {
                RECORD_COLUMN: {**record, PROMPT_LENGTH: length},
                LATENT_MEAN: npy_bytes(mean[index].cpu().numpy().astype(dtype)),
                LATENT_LOGVAR: npy_bytes(logvar[index].cpu().numpy().astype(dtype)),
                PROMPT_EMBEDS: npy_bytes(prompts[index, :length].float().cpu().numpy().astype(dtype)),
            }
            yield record["key"], members


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class EncoderActor:
    """Makes a Ray actor's shard function: the encoders loaded once, as the actor starts."""

    function: Callable[[LatentShardPlan], Any]
    encoders: EncoderSpec

    def __call__(self) -> Callable[[LatentShardPlan], Any]:
        loaded_encoders(self.encoders)
        return self.function


def map_shards(
    executor: Executor,
    function: Callable[[LatentShardPlan], Any],
    shards: list[LatentShardPlan],
    encoders: EncoderSpec,
    on_actors: bool,
) -> Iterator[Any]:
    """`function` over `shards` as each completes: on actors that hold `encoders` (`on_actors`: one per GPU when
    they run on CUDA), else on the executor's processes, each loading them on its first shard."""
    if on_actors:
        actor = EncoderActor(function, encoders)
        return executor.imap_actors(actor, shards, gpu=torch.device(encoders.device).type == "cuda")
    return executor.imap_unordered(function, shards)
