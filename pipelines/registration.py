"""Let diffusers load MVDiT components by the library that `model_index.json` records for them.

`save_pretrained` records the transformer as `[library, "MVDiTTransformer3DModel"]`, `library` being the top-level
package the class was imported from (`openvid_hf` when installed). diffusers 0.42 loads components only from the
libraries of its `LOADABLE_CLASSES` table (its download step rejects any other), and `AutoModel` looks model classes
up on the `diffusers` module. diffusers has no public registry for either, so `register_with_diffusers` adds the
entries. `MVDiTPipeline.from_pretrained` calls it; call it yourself before `AutoModel.from_pretrained` or
`DiffusionPipeline.from_pretrained` of an MVDiT repository. Nothing registers at import time.
"""

from __future__ import annotations

import importlib
import sys
import warnings

LOADING_UTILS_MODULE = "diffusers.pipelines.pipeline_loading_utils"
#: Class name -> [save method, load method], the shape of diffusers' `LOADABLE_CLASSES` entries.
LOADABLE_CLASSES = {"MVDiTTransformer3DModel": ["save_pretrained", "from_pretrained"]}


def _library() -> str:
    from .transformer_mvdit import MVDiTTransformer3DModel

    return MVDiTTransformer3DModel.__module__.split(".")[0]


def register_with_diffusers() -> bool:
    """Add this package's transformer to diffusers' loading tables and to `diffusers` itself (idempotent).

    Returns whether it is registered. If a diffusers release changed these internals, it warns instead of raising:
    loading from a repository with remote code still works then.
    """
    import diffusers

    from .transformer_mvdit import MVDiTTransformer3DModel

    try:
        loading_utils = importlib.import_module(LOADING_UTILS_MODULE)
        loading_utils.LOADABLE_CLASSES[_library()] = dict(LOADABLE_CLASSES)
        loading_utils.ALL_IMPORTABLE_CLASSES.update(LOADABLE_CLASSES)
    except (AttributeError, ImportError, TypeError) as error:
        warnings.warn(
            f"MVDiT could not register its components with diffusers {diffusers.__version__} ({error!r}); "
            "MVDiTPipeline.from_pretrained may not find the transformer",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    diffusers.MVDiTTransformer3DModel = MVDiTTransformer3DModel
    return True


def is_registered() -> bool:
    """Whether diffusers' loading tables (if imported yet) know this package's transformer."""
    loading_utils = sys.modules.get(LOADING_UTILS_MODULE)
    return loading_utils is not None and _library() in getattr(loading_utils, "LOADABLE_CLASSES", {})
