"""What a training run reads: the base pipeline and the published dataset (existence checks, captions, location).

Both are a local folder when one exists at the given path, else a Hub repository id; the checks cost one Hub
request each and run before any download.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from ..cards import CARD_FILE
from ..errors import OpenVidError, UsageError
from ..publish.layout import CONFIG_SUBSETS, subset_of
from ..release.filters import ClipFilter

if TYPE_CHECKING:
    import torch

    from ..latents.layout import LatentSettings
    from ..pipelines import MVDiTPipeline

logger = logging.getLogger(__name__)

MODEL_INDEX_FILE = "model_index.json"


def is_hub_id(name: str) -> bool:
    """True when `name` names a Hub repository rather than a local folder."""
    return not Path(name).exists()


def _files_at(name: str, revision: str | None, repo_type: str) -> list[str] | None:
    """The top-level files of the folder or Hub repository `name`, or None in offline mode (the cache decides).

    Raises `LookupError` saying why when there is no such folder, repository or revision, and `OpenVidError`
    naming the endpoint when the Hub cannot be asked.
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HFValidationError, RepositoryNotFoundError, RevisionNotFoundError

    if not is_hub_id(name):
        path = Path(name)
        return [entry.name for entry in path.iterdir()] if path.is_dir() else []
    if constants.HF_HUB_OFFLINE:
        return None
    try:
        info = HfApi().repo_info(name, repo_type=repo_type, revision=revision, files_metadata=False)
    except HFValidationError:
        raise LookupError("no such folder, and not a Hub repo id ORG/NAME") from None
    except RevisionNotFoundError:
        raise LookupError(f"no revision {revision!r}") from None
    except RepositoryNotFoundError:
        raise LookupError(
            f"no such folder, and no {repo_type} repository {name} on {constants.ENDPOINT} "
            "(or it is private and no token was given)"
        ) from None
    except Exception as error:
        raise OpenVidError(f"{name}: cannot ask {constants.ENDPOINT} ({error})") from error
    return [sibling.rfilename for sibling in info.siblings or ()]


def pipeline_problem(name: str, revision: str | None) -> str | None:
    """Why `name` (a folder or Hub model repository) holds no diffusers pipeline; None when it does, or offline."""
    try:
        files = _files_at(name, revision, "model")
    except LookupError as error:
        return str(error)
    if files is not None and MODEL_INDEX_FILE not in files:
        return f"not a diffusers pipeline (no {MODEL_INDEX_FILE})"
    return None


def check_pipeline_exists(name: str, revision: str | None) -> None:
    """A diffusers pipeline (`model_index.json`) at `name`: folder or Hub model repository."""
    problem = pipeline_problem(name, revision)
    if problem is not None:
        raise UsageError(f"--pretrained_model_name_or_path {name}: {problem}")


def check_dataset_exists(name: str, revision: str | None) -> None:
    """A published dataset (`README.md` with its configs) at `name`: folder or Hub dataset repository."""
    try:
        files = _files_at(name, revision, "dataset")
    except LookupError as error:
        raise UsageError(f"--dataset_name {name}: {error}") from None
    if files is not None and CARD_FILE not in files:
        raise UsageError(
            f"--dataset_name {name}: not a published OpenVid-1M dataset (no {CARD_FILE}; see openvid-hf build)"
        )


def load_pipeline(
    name: str, revision: str | None, torch_dtype: torch.dtype | None = None, encoders: bool = True
) -> MVDiTPipeline:
    """The pipeline, its transformer in float32 (the dtype of trained master weights), the rest in `torch_dtype`.

    `torch_dtype=None` keeps the stored dtypes. Loading in the dtype (rather than casting afterwards) lets
    transformers keep the modules T5 needs in float32 when the compute dtype is float16. `encoders=False` leaves
    the tokenizer, text encoder and VAE out (training from latents).
    """
    import torch

    from ..pipelines import MVDiTPipeline, MVDiTTransformer3DModel

    transformer = MVDiTTransformer3DModel.from_pretrained(
        name, subfolder="transformer", revision=revision, torch_dtype=torch.float32
    )
    without = {} if encoders else {"tokenizer": None, "text_encoder": None, "vae": None}
    return MVDiTPipeline.from_pretrained(
        name, revision=revision, transformer=transformer, torch_dtype=torch_dtype, **without
    )


def training_captions(
    name: str, config: str, filters: ClipFilter, revision: str | None = None, where: str | None = None
) -> list[str]:
    """The distinct captions of the train clips the loader can yield (config, filters and `where` applied), sorted.

    Read from the metadata table, so no video is opened: what `--precompute_text_embeddings` encodes.
    """
    from ..publish.metadata import load_metadata
    from ..publish.selection import select_rows

    subsets = CONFIG_SUBSETS[config]
    scores = ["aesthetic_score", "motion_score", "temporal_consistency_score", "camera_motion"]
    table = select_rows(load_metadata(name, "train", revision).data.table, where)
    captions = set()
    for row in table.select(sorted({"caption", "hd", "height", *scores})).to_pylist():
        if subset_of(row["hd"]) in subsets and filters.accepts_record(row):
            captions.add(row["caption"])
    return sorted(captions)


def check_latents_fit(args: argparse.Namespace) -> LatentSettings:
    """The settings of a latent dataset this model and these arguments can train from; else a `UsageError` naming
    every mismatch.

    Compared without loading a model: the sampling settings with the arguments, the latent and text shapes with the
    transformer's config, and the encoders' weight digests with the pipeline's VAE and text encoder files.
    """
    from huggingface_hub import constants

    from ..latents.encoders import encoder_identity
    from ..latents.layout import read_settings
    from ..pipelines import MVDiTTransformer3DModel

    name, model = args.latents_dataset, args.pretrained_model_name_or_path
    try:
        settings = read_settings(name, args.dataset_revision)
    except OpenVidError as error:
        raise UsageError(f"--latents_dataset {error}") from None
    problems = [
        f"--{argument} {wanted} (latents: {encoded})"
        for argument, wanted, encoded in (
            ("num_frames", args.num_frames, settings.num_frames),
            ("frame_interval", args.frame_interval, settings.frame_interval),
            ("resolution", args.resolution, settings.resolution),
        )
        if wanted != encoded
    ]
    if settings.source.get("split", "train") != "train":
        problems.append(f"the latents are of split {settings.source['split']!r}; training reads train")
    config = MVDiTTransformer3DModel.load_config(model, subfolder="transformer", revision=args.revision)
    problems += [
        f"the transformer's {field} is {config[field]} (latents: {encoded})"
        for field, encoded in (
            ("in_channels", settings.latent_channels),
            ("caption_channels", settings.text_channels),
            ("max_text_length", settings.max_text_length),
        )
        if config[field] != encoded
    ]
    encoders = (("VAE", "vae", settings.vae), ("text encoder", "text_encoder", settings.text_encoder))
    if constants.HF_HUB_OFFLINE and is_hub_id(model):
        logger.warning("offline: the encoders of %s are not compared with %s's", name, model)
        encoders = ()
    for component, subfolder, recorded in encoders:
        identity = encoder_identity(model, (subfolder,), args.revision)
        if identity.weights_sha256 != recorded.weights_sha256:
            problems.append(
                f"the model's {component} {identity.describe()} is not the one that encoded the latents, "
                f"{recorded.describe()}"
            )
    if problems:
        raise UsageError(f"--latents_dataset {name} does not fit this run: " + "; ".join(problems))
    return settings
