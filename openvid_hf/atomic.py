"""Files that appear complete or not at all: written under a temporary name, renamed when done."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: Suffix of files being written; a complete file never has it.
PARTIAL_SUFFIX = ".partial"


def partial_path(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it to `path` if the block completes, remove it otherwise."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(path)
    try:
        yield temporary
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)


@contextmanager
def staged_folder(path: str | Path) -> Iterator[Path]:
    """Yield an empty `path.partial` folder to fill; it replaces `path` if the block completes, else is removed."""
    path = Path(path)
    staging = partial_path(path)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if path.exists():
        shutil.rmtree(path)
    staging.rename(path)


def write_bytes(path: str | Path, data: bytes) -> None:
    with replacing(path) as temporary:
        temporary.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_video(path: str | Path, frames: Any, fps: int) -> None:
    """`export_to_video` of `frames`, under a temporary name that keeps the suffix the encoder goes by."""
    from diffusers.utils import export_to_video

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}{PARTIAL_SUFFIX}{path.suffix}")
    try:
        export_to_video(list(frames), str(temporary), fps=fps)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
