"""Reading an original checkpoint safely: `safetensors`, or `torch.load(weights_only=True)`, so nothing beyond
tensors is unpickled; then the flat `{key: tensor}` state dict inside whatever container the training script saved.

Every way a file can be unreadable becomes one `CheckpointError` line that names it (the CLI prints it as is).
"""

from __future__ import annotations

import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")

# Containers that wrap a state dict, in order of preference (EMA weights are what the original samples with).
_WRAPPER_KEYS = ("ema", "ema_state_dict", "state_dict_ema", "model_ema", "state_dict", "model", "module")
_WRAPPER_PREFIXES = ("module.", "_orig_mod.", "model.")


class CheckpointError(ValueError):
    """A checkpoint that cannot be converted: one line for one problem, else every problem found, one a line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        if len(problems) == 1:
            super().__init__(f"{source}: cannot convert: {problems[0]}")
        else:
            listed = "\n".join(f"  - {problem}" for problem in problems)
            super().__init__(f"{source}: cannot convert ({len(problems)} problem(s)):\n{listed}")


def load_original_state_dict(source: str | Path | Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Read a checkpoint file (or take a loaded object) and unwrap it to a flat `{key: tensor}` dict."""
    if isinstance(source, Mapping):
        return unwrap_state_dict(source, "state dict")
    path = Path(source)
    if not path.is_file():
        raise CheckpointError(str(path), ["no such file"])
    if path.suffix not in CHECKPOINT_SUFFIXES:
        raise CheckpointError(
            str(path), [f"unsupported file type {path.suffix!r}; expected one of {CHECKPOINT_SUFFIXES}"]
        )
    if path.stat().st_size == 0:
        raise CheckpointError(str(path), ["empty file (0 bytes)"])
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return unwrap_state_dict(load_file(path), str(path))
        except SafetensorError as error:
            raise CheckpointError(str(path), [f"not a readable safetensors file: {_first_sentence(error)}"]) from error
    return unwrap_state_dict(_torch_load(path), str(path))


def _torch_load(path: Path) -> Any:
    """`torch.load(weights_only=True)`; whatever a damaged or unsafe file raises becomes one `CheckpointError` line.

    A damaged pickle can fail with almost any exception inside torch, hence the broad catch: the file is the
    input, and the only thing this function does is read it.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols before refusing
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(str(path), [_refusal(error)]) from error
    except Exception as error:
        reason = _first_sentence(error, typed=not isinstance(error, RuntimeError))
        raise CheckpointError(
            str(path), [f"not a readable PyTorch checkpoint (truncated or damaged?): {reason}"]
        ) from error


def _refusal(error: pickle.UnpicklingError) -> str:
    """Why the restricted unpickler refused the file, naming the global, without torch's advice to unpickle it anyway.

    torch's message suggests `weights_only=False` or allow-listing the global, both of which run the file's code.
    """
    text = str(error)
    named = re.search(r"GLOBAL (\S+?)(?: was not| whose|[.]?$)", text, re.MULTILINE)
    if named:
        return (
            f"refused to unpickle {named[1]} (torch.load with weights_only=True reads only tensors and plain "
            "containers); to convert a file you trust, save its tensors alone (a state dict, or .safetensors)"
        )
    reason = text.split("WeightsUnpickler error:", 1)[-1] if "WeightsUnpickler error:" in text else text
    lines = [line.strip() for line in reason.splitlines() if line.strip() and "weights_only" not in line]
    detail = lines[0].split(". Please")[0] if lines else type(error).__name__
    return f"not a checkpoint of tensors and plain containers (weights_only): {detail}"


def _first_sentence(error: BaseException, typed: bool = False) -> str:
    """The error's first sentence (torch appends paragraphs of advice), after its type when `typed` or empty."""
    text = str(error).strip()
    sentence = re.split(r"(?<=[.])\s", text.splitlines()[0], maxsplit=1)[0] if text else ""
    if not sentence:
        return type(error).__name__
    return f"{type(error).__name__}: {sentence}" if typed else sentence


def unwrap_state_dict(checkpoint: Any, source: str) -> dict[str, torch.Tensor]:
    """Descend through `state_dict`/`model`/EMA containers (EMA first) and strip `module.`-style prefixes."""
    container = checkpoint
    while isinstance(container, Mapping) and not _is_tensor_dict(container):
        inner = next((container[key] for key in _WRAPPER_KEYS if isinstance(container.get(key), Mapping)), None)
        if inner is None:
            break
        container = inner
    if not isinstance(container, Mapping) or not _is_tensor_dict(container):
        found = sorted(container)[:10] if isinstance(container, Mapping) else type(container).__name__
        raise CheckpointError(
            source, [f"no state dict of tensors found (looked inside {', '.join(_WRAPPER_KEYS)}); found {found}"]
        )
    state_dict = {str(key): value for key, value in container.items() if isinstance(value, torch.Tensor)}
    stripped = True
    while stripped:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if all(key.startswith(prefix) for key in state_dict):
                state_dict = {key[len(prefix) :]: value for key, value in state_dict.items()}
                stripped = True
    return state_dict


def _is_tensor_dict(container: Mapping) -> bool:
    return bool(container) and all(isinstance(value, torch.Tensor) for value in container.values())
