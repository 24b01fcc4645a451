"""The model card of an `MVDiTPipeline` repository, rendered from `model_cards/model_card.md.jinja`.

`MVDiTPipeline.save_pretrained` / `push_to_hub` (and so `openvid-hf convert`) write it, finding `model_card` through
the `mvdit.publishing` entry point (pyproject.toml); training passes a `TrainingSummary` (base model, dataset,
hyper-parameters, steps, final loss, validation videos) through `save_pretrained(..., model_card={"training": ...})`.
The usage snippet uses the same sampling defaults as `sampling_defaults`, which `tests/test_pipeline_hub.py` runs
from the card itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..cards import render_card

if TYPE_CHECKING:
    from huggingface_hub import ModelCard

    from ..pipelines import MVDiTPipeline

MODEL_CARD_TEMPLATE = "model_card.md.jinja"
DATASET_REPO_ID = "nkp37/OpenVid-1M"
#: The OpenVid-1M release's license on the Hub; pass `license=` when the weights come with another one.
DEFAULT_LICENSE = "cc-by-4.0"
TAGS = ["text-to-video", "video-generation", "mvdit", "openvid-1m", "diffusers:MVDiTPipeline"]
EXAMPLE_PROMPT = "A golden retriever running on a beach at sunset, the camera tracking alongside it."


@dataclass
class ValidationVideo:
    """A video in the repository (`path`, relative to its root) generated from `prompt` during training."""

    prompt: str
    path: str


@dataclass
class TrainingSummary:
    """What a fine-tuning run reports in the card; every field is optional."""

    base_model: str | None = None
    dataset: str | None = None
    steps: int | None = None
    final_loss: float | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    validation_videos: list[ValidationVideo] = field(default_factory=list)


def sampling_defaults(pipeline: MVDiTPipeline) -> dict[str, Any]:
    """The arguments the card's snippet samples with: the transformer's native size, the original's 100 steps."""
    from ..pipelines.pipeline_mvdit import DEFAULT_FPS

    config = pipeline.transformer.config
    height, width = (size * pipeline.vae_scale_factor for size in config.sample_size)
    return {
        "height": height,
        "width": width,
        "num_frames": config.num_frames,
        "num_inference_steps": 100,
        "guidance_scale": 7.0,
        "fps": DEFAULT_FPS,
        "seed": 42,
    }


def model_card(
    pipeline: MVDiTPipeline,
    repo_id: str,
    *,
    base_model: str | None = None,
    datasets: list[str] | None = None,
    license: str = DEFAULT_LICENSE,
    training: TrainingSummary | dict[str, Any] | None = None,
    remote_code: bool = False,
) -> ModelCard:
    """The card of `pipeline` published as `repo_id` (a Hub repo id, or the local folder it is loaded from)."""
    from huggingface_hub import ModelCard, ModelCardData

    if isinstance(training, dict):
        training = TrainingSummary(
            **{
                **training,
                "validation_videos": [
                    video if isinstance(video, ValidationVideo) else ValidationVideo(**video)
                    for video in training.get("validation_videos", [])
                ],
            }
        )
    base_model = base_model or (training.base_model if training else None)
    datasets = datasets or [training.dataset if training and training.dataset else DATASET_REPO_ID]
    card_data = ModelCardData(
        library_name="diffusers",
        pipeline_tag="text-to-video",
        license=license,
        base_model=base_model,
        datasets=datasets,
        tags=list(TAGS),
    )
    config = pipeline.transformer.config
    defaults = sampling_defaults(pipeline)
    return render_card(
        ModelCard,
        MODEL_CARD_TEMPLATE,
        card_data,
        title=f"MVDiT {defaults['num_frames']}x{defaults['height']}x{defaults['width']}",
        repo_id=repo_id,
        example_prompt=EXAMPLE_PROMPT,
        defaults=defaults,
        scheduler=type(pipeline.scheduler).__name__,
        guidance_channels=config.guidance_channels,
        max_text_length=config.max_text_length,
        remote_code=remote_code,
        training=asdict(training) if training else None,
    )
