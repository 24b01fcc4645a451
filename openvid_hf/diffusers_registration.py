"""Teach diffusers to load `openvid_hf` components by name: the one place that touches diffusers' loading tables.

A pipeline saved by `MVDiTPipeline.save_pretrained` records its transformer as `["openvid_hf",
"MVDiTTransformer3DModel"]` in `model_index.json`. diffusers 0.42 imports only the libraries of its
`LOADABLE_CLASSES` table, and its download step rejects components of any other library, so `openvid_hf` adds
itself there with the class it provides. `AutoModel` looks model classes up on the `diffusers` module itself, so the
transformer class is set there too.

Importing `openvid_hf` must stay instant (the CLI) while diffusers' loading code pulls in torch, so the
registration runs when diffusers imports its loading utilities, or at once if it already has. If a diffusers
release changes these internals, registration warns instead of breaking the import, and
`tests/test_pipeline_hub.py` fails.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Callable
from types import ModuleType

LIBRARY = "openvid_hf"
#: Class name -> [save method, load method], the shape of diffusers' `LOADABLE_CLASSES` entries.
LOADABLE_CLASSES = {"MVDiTTransformer3DModel": ["save_pretrained", "from_pretrained"]}
LOADING_UTILS_MODULE = "diffusers.pipelines.pipeline_loading_utils"


def register() -> None:
    """Add `openvid_hf` to diffusers' loadable libraries and `MVDiTTransformer3DModel` to `diffusers` (idempotent)."""
    import diffusers

    from .pipelines.transformer_mvdit import MVDiTTransformer3DModel

    pipeline_loading_utils = importlib.import_module(LOADING_UTILS_MODULE)

    pipeline_loading_utils.LOADABLE_CLASSES[LIBRARY] = dict(LOADABLE_CLASSES)
    pipeline_loading_utils.ALL_IMPORTABLE_CLASSES.update(LOADABLE_CLASSES)
    diffusers.MVDiTTransformer3DModel = MVDiTTransformer3DModel


def is_registered() -> bool:
    """Whether diffusers' loading tables (if imported yet) know `openvid_hf`."""
    loading_utils = sys.modules.get(LOADING_UTILS_MODULE)
    return loading_utils is not None and LIBRARY in getattr(loading_utils, "LOADABLE_CLASSES", {})


def install() -> None:
    """Register now if diffusers' loading utilities are imported, else as soon as diffusers imports them."""
    if LOADING_UTILS_MODULE in sys.modules:
        _register_or_warn()
    elif not any(isinstance(finder, _AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(LOADING_UTILS_MODULE, _register_or_warn))


def _register_or_warn() -> None:
    try:
        register()
    except Exception as error:  # a diffusers upgrade must not break `import diffusers`
        from diffusers import __version__

        warnings.warn(
            f"openvid_hf could not register its components with diffusers {__version__} ({error!r}); "
            "MVDiTPipeline.from_pretrained may not find the transformer",
            RuntimeWarning,
            stacklevel=2,
        )


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `callback` once, right after the module `name` has executed; leaves every other import alone."""

    def __init__(self, name: str, callback: Callable[[], None]) -> None:
        self.name = name
        self.callback = callback

    def find_spec(self, fullname: str, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenCall(spec.loader, self.callback)
        return spec


class _ThenCall(importlib.abc.Loader):
    """Wraps a module's loader: executes the module, restores the original loader, then calls `callback`."""

    def __init__(self, loader: importlib.abc.Loader, callback: Callable[[], None]) -> None:
        self.loader = loader
        self.callback = callback

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self.loader
        self.callback()
