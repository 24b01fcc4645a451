"""Training checkpoints: `OUTPUT_DIR/checkpoint-{step}` folders written by `accelerator.save_state`.

A checkpoint holds the transformer, the optimizer, the gradient scaler, every process's RNG states (accelerate's
own files), then the registered objects: the EMA (identical on every process) and `ProcessStates`, the state that
differs per process (its DataLoader's position and epoch). accelerate writes registered objects from the main
process only, so `ProcessStates` gathers every rank's state into the one file and each rank loads its own entry.

A checkpoint is written under `checkpoint-{step}.partial` and renamed when every process has finished, so a run
killed while saving leaves no folder that `--resume_from_checkpoint latest` would pick.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomic import partial_path, write_text
from ..errors import OpenVidError, UsageError

if TYPE_CHECKING:
    from accelerate import Accelerator

#: `--resume_from_checkpoint latest`: the newest checkpoint in the output folder.
LATEST = "latest"
CHECKPOINT_PREFIX = "checkpoint-"
_CHECKPOINT_NAME = re.compile(rf"{CHECKPOINT_PREFIX}(\d+)")
#: The run's settings, saved in each checkpoint, that a resumed run must share: they shape the weights, the
#: optimizer state or the stream of clips and random draws.
SETTINGS_FILE = "training_settings.json"
RESUME_SETTINGS = (
    "pretrained_model_name_or_path",
    "revision",
    "dataset_name",
    "latents_dataset",
    "dataset_config",
    "dataset_revision",
    "min_aesthetic_score",
    "min_motion_score",
    "max_motion_score",
    "min_temporal_consistency_score",
    "camera_motion",
    "min_height",
    "num_frames",
    "frame_interval",
    "resolution",
    "train_batch_size",
    "gradient_accumulation_steps",
    "dataloader_num_workers",
    "use_ema",
    "use_lora",
    "lora_rank",
    "seed",
)


def resume_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in RESUME_SETTINGS}


def check_resumable(checkpoint: Path, args: argparse.Namespace) -> None:
    """`UsageError` naming every setting that differs from the run that wrote `checkpoint`."""
    path = checkpoint / SETTINGS_FILE
    if not path.is_file():
        raise UsageError(
            f"--resume_from_checkpoint {checkpoint}: not a checkpoint of openvid-hf train (no {SETTINGS_FILE})"
        )
    saved = json.loads(path.read_text(encoding="utf-8"))
    current = json.loads(json.dumps(resume_settings(args)))
    differences = [
        f"--{name} {current.get(name)!r} (checkpoint: {saved.get(name)!r})"
        for name in RESUME_SETTINGS
        if saved.get(name) != current.get(name)
    ]
    if differences:
        raise UsageError(
            f"--resume_from_checkpoint {checkpoint} was written with other settings; resume with the same ones: "
            + ", ".join(differences)
        )


def checkpoint_path(output_dir: Path, step: int) -> Path:
    return output_dir / f"{CHECKPOINT_PREFIX}{step}"


def find_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints in `output_dir`, oldest first."""
    if not output_dir.is_dir():
        return []
    found = [
        (int(match[1]), path) for path in output_dir.iterdir() if (match := _CHECKPOINT_NAME.fullmatch(path.name))
    ]
    return [path for _, path in sorted(found)]


def checkpoint_to_resume(args: argparse.Namespace) -> Path | None:
    """The folder `--resume_from_checkpoint` names (`latest`: the newest in `--output_dir`, or None)."""
    if args.resume_from_checkpoint is None:
        return None
    if args.resume_from_checkpoint == LATEST:
        found = find_checkpoints(args.output_dir)
        return found[-1] if found else None
    return Path(args.resume_from_checkpoint)


def save_checkpoint(accelerator: Accelerator, args: argparse.Namespace, step: int) -> Path:
    """Save the training state as `checkpoint-{step}` on every process; keep at most `--checkpoints_total_limit`."""
    final = checkpoint_path(args.output_dir, step)
    partial = partial_path(final)
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_text(partial / SETTINGS_FILE, json.dumps(resume_settings(args), indent=2) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        if args.checkpoints_total_limit is not None:
            for old in find_checkpoints(args.output_dir)[: -args.checkpoints_total_limit]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()
    return final


class ProcessStates:
    """Checkpoints a per-process state through accelerate's main-process-only custom objects.

    Args:
        accelerator: the run's accelerator (`gather_object` collects the states).
        get_state, set_state: this process's state as plain objects, and how to restore it.
    """

    def __init__(
        self,
        accelerator: Accelerator,
        get_state: Callable[[], dict[str, Any]],
        set_state: Callable[[dict[str, Any]], None],
    ) -> None:
        self.accelerator = accelerator
        self.get_state = get_state
        self.set_state = set_state

    def state_dict(self) -> dict[str, Any]:
        """Called on every process by `save_state`: every process's state, in rank order."""
        from accelerate.utils import gather_object

        return {"num_processes": self.accelerator.num_processes, "processes": gather_object([self.get_state()])}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state["num_processes"]
        if saved != self.accelerator.num_processes:
            raise OpenVidError(
                f"the checkpoint was written by {saved} processes; resume it with {saved} processes, not "
                f"{self.accelerator.num_processes} (each process resumes its own part of the data)"
            )
        self.set_state(state["processes"][self.accelerator.process_index])
