"""A saved `MVDiTPipeline` that loads where openvid-hf is not installed: its modules copied in as remote code.

diffusers then loads the pipeline class from `pipeline_mvdit.py` at the repository's root and the transformer from
`transformer/transformer_mvdit.py` (custom components live in their component's folder), with
`DiffusionPipeline.from_pretrained(repo, trust_remote_code=True)`.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from diffusers.utils.dynamic_modules_utils import get_relative_import_files

if TYPE_CHECKING:
    from diffusers import DiffusionPipeline


def write_remote_code(pipeline: DiffusionPipeline, folder: str | os.PathLike) -> None:
    """Copy the pipeline module (with its relative imports) and the transformer one; point `model_index.json` there."""
    folder = Path(folder)
    pipeline_file = Path(inspect.getsourcefile(type(pipeline)))
    transformer_file = Path(inspect.getsourcefile(type(pipeline.transformer)))
    for source in (pipeline_file, *map(Path, get_relative_import_files(pipeline_file))):
        shutil.copyfile(source, folder / source.name)
    shutil.copyfile(transformer_file, folder / "transformer" / transformer_file.name)

    index_path = folder / "model_index.json"
    index = json.loads(index_path.read_text())
    index["_class_name"] = [pipeline_file.stem, type(pipeline).__name__]
    index["transformer"] = [transformer_file.stem, type(pipeline.transformer).__name__]
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
