"""Damaged checkpoints (random truncations and byte flips of real files) end in one `CheckpointError` line.

Nothing in a `.pt` file is unpickled beyond tensors: the pickled global below would write a marker file.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from openvid_hf.commands import cli
from openvid_hf.pipelines.original_checkpoint import CheckpointError, load_original_state_dict

SEED = 16
CASES_PER_FILE = 40


def write_marker(path: str) -> None:
    """What unpickling the payload would call."""
    Path(path).write_text("unpickled")


class Payload:
    """Unpickled, it writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return write_marker, (self.marker,)


def originals(folder: Path, marker: Path) -> list[Path]:
    """Small real checkpoints: safetensors, zip and legacy `.pt`, and `.pt` files carrying the payload."""
    generator = torch.Generator().manual_seed(SEED)
    state_dict = {
        "x_embedder.proj.weight": torch.randn(8, 4, 1, 2, 2, generator=generator),
        "x_embedder.proj.bias": torch.randn(8, generator=generator),
        "blocks.0.attn.qkv.weight": torch.randn(24, 8, generator=generator),
    }
    paths = {name: folder / name for name in ("tiny.safetensors", "tiny.pt", "legacy.pt", "payload.pt", "payload.pth")}
    save_file(state_dict, paths["tiny.safetensors"])
    torch.save({"ema": state_dict, "step": 3}, paths["tiny.pt"])
    torch.save(state_dict, paths["legacy.pt"], _use_new_zipfile_serialization=False)
    torch.save({"state_dict": state_dict, "hook": Payload(marker)}, paths["payload.pt"])
    torch.save({"hook": Payload(marker), **state_dict}, paths["payload.pth"], _use_new_zipfile_serialization=False)
    return list(paths.values())


def damaged(data: bytes, rng: random.Random) -> bytes:
    """`data` truncated at a random offset, or with 1 to 8 random bytes replaced, or both."""
    kind = rng.choice(("truncate", "flip", "both"))
    if kind != "flip":
        data = data[: rng.randrange(len(data))]
    if kind != "truncate" and data:
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        data = bytes(flipped)
    return data


def refusal(path: Path) -> str | None:
    """The `CheckpointError` reading `path` raises, or None when it reads as a state dict of tensors."""
    try:
        state_dict = load_original_state_dict(path)
    except CheckpointError as error:
        return str(error)
    assert all(isinstance(value, torch.Tensor) for value in state_dict.values())
    return None


@pytest.mark.timeout(120)
def test_damaged_checkpoints_end_in_one_clear_line(tmp_path, capsys):
    marker = tmp_path / "unpickled.txt"
    rng = random.Random(SEED)
    tried = read = refused = 0
    for original in originals(tmp_path, marker):
        data = original.read_bytes()
        for case in range(CASES_PER_FILE):
            path = tmp_path / "cases" / f"{case}-{original.name}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(damaged(data, rng))
            tried += 1
            message = refusal(path)
            if message is None:
                read += 1
            else:
                refused += 1
                assert "\n" not in message and message.startswith(f"{path}: cannot convert: "), message
                assert "weights_only=False" not in message
            out_dir = tmp_path / "out" / path.name
            assert cli.main(["convert", str(path), str(out_dir), "--variant", "16x256x256"]) == 1
            err = capsys.readouterr().err
            assert err.startswith(f"openvid-hf convert: error: {path}: cannot convert"), err
            assert "Traceback" not in err and not out_dir.exists()
            assert not marker.exists(), f"{path} ran code while being read"
    with capsys.disabled():
        print(f"\ncheckpoint fuzz: {tried} damaged checkpoints tried, {refused} refused, {read} read as tensors")
    assert refused > tried // 2
