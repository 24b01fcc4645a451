"""What `openvid-hf curate` can be asked: its steps, models and options (light: the CLI's parser imports it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UsageError
from ..executors import check_executor
from .filters import Thresholds
from .scenes import SceneOptions
from .writer import DEFAULT_PART_BYTES

#: Scoring stages in the order they run; the scene stage always runs first.
STEPS = ("motion", "clarity", "consistency", "aesthetics", "captions")
MODEL_STEPS = ("consistency", "aesthetics", "captions")
#: The devices of model stages on Ray actors: `cuda` is each actor's own GPU.
RAY_DEVICES = ("cpu", "cuda")
#: Clips a model stage scores at once.
DEFAULT_BATCH_SIZE = 8


@dataclass(frozen=True)
class ModelOptions:
    """The models of the model stages: Hub ids (docs/curation.md says which defaults are the paper's)."""

    clip_model: str = "openai/clip-vit-large-patch14"
    aesthetic_model: str = "openai/clip-vit-large-patch14"
    aesthetic_head: str = "camenduru/improved-aesthetic-predictor/sac+logos+ava1-l14-linearMSE.pth"
    caption_model: str = "llava-hf/llava-onevision-qwen2-7b-ov-hf"
    caption_prompt: str = "Describe this video in detail."
    caption_max_new_tokens: int = 256
    caption_frames: int = 8
    device: str = "cpu"
    batch_size: int = DEFAULT_BATCH_SIZE


@dataclass(frozen=True)
class CurateOptions:
    """What to run and where: the CPU stages on the `executor` (`local` with `num_proc` processes, or `ray` tasks on
    the cluster at `ray_address`), the model stages in this process (`local`) or on Ray actors."""

    steps: tuple[str, ...] = STEPS
    thresholds: Thresholds = field(default_factory=Thresholds)
    scenes: SceneOptions = field(default_factory=SceneOptions)
    flow: str = "farneback"
    models: ModelOptions = field(default_factory=ModelOptions)
    num_proc: int = 1
    part_bytes: int = DEFAULT_PART_BYTES
    executor: str = "local"
    ray_address: str | None = None

    def __post_init__(self):
        unknown = [step for step in self.steps if step not in STEPS]
        if unknown:
            raise UsageError(f"--steps: unknown step(s) {', '.join(unknown)}; the steps are {', '.join(STEPS)}")
        check_executor(self.executor, self.ray_address)
        if self.executor == "ray" and self.models.device not in RAY_DEVICES:
            raise UsageError(
                f"--device {self.models.device}: on Ray each model actor gets a GPU of its own, so give --device "
                f"cuda (one actor per GPU) or cpu (one per node)"
            )
