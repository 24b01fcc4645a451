"""Short `openvid-hf train` runs of the tiny pipeline, shared by the training tests (videos and latents)."""

from __future__ import annotations

from pathlib import Path

from accelerate.state import AcceleratorState, GradientState

from openvid_hf.commands import cli
from openvid_hf.testing.tiny_pipeline import TINY_HEIGHT, TINY_NUM_FRAMES


def tiny_train_args(model: str, output_dir: Path, *extra: str) -> list[str]:
    """Arguments of a tiny run (2 frames of 16x16); later `extra` values override earlier ones (argparse keeps the
    last). The data source (`--dataset_name` or `--latents_dataset`) is one of the `extra`."""
    return [
        "--pretrained_model_name_or_path",
        model,
        "--num_frames",
        str(TINY_NUM_FRAMES),
        "--frame_interval",
        "1",
        "--resolution",
        str(TINY_HEIGHT),
        "--learning_rate",
        "1e-2",
        "--report_to",
        "none",
        "--output_dir",
        str(output_dir),
        *extra,
    ]


def run_train(argv: list[str]) -> int:
    """`openvid-hf train ARGV` in this process; its exit status (accelerate's process state reset afterwards)."""
    try:
        return cli.main(["train", *argv])
    except SystemExit as exited:
        return exited.code
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
