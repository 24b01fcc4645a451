"""Point the Hub clients at a local Hub: environment variables for subprocesses, constants for this process.

`huggingface_hub`, `datasets`, `diffusers` and `transformers` read `HF_ENDPOINT`, `HF_HOME` and friends once, at
import time, into module constants. Setting the environment is therefore enough for subprocesses, but the
current process also needs those constants rewritten; `point_clients_at` does both and undoes both on exit.
Used by the pytest fixtures (`openvid_hf.testing.fixtures`) and by anything else that runs against
`openvid_hf.testing.hub.HubServer` in-process, such as the demo.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: Variables that would send the clients elsewhere or stop them from sending the token.
_CLEARED_VARIABLES = (
    "HUGGINGFACE_CO_STAGING",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN",
    "HF_DATASETS_DOWNLOADED_DATASETS_PATH",
    "HF_DATASETS_EXTRACTED_DATASETS_PATH",
)


def client_environment(endpoint: str, *, token: str, home: str | Path) -> dict[str, str]:
    """The environment under which the Hub clients use `endpoint`, `token` and caches below `home` only."""
    home = Path(home)
    return {
        "HF_ENDPOINT": endpoint,
        "HF_TOKEN": token,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "hub"),
        "HF_ASSETS_CACHE": str(home / "assets"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_DATASETS_CACHE": str(home / "datasets"),
        "HF_MODULES_CACHE": str(home / "modules"),
    }


def _client_constants(endpoint: str, home: Path) -> list[tuple[str, str, Any]]:
    """(module, attribute, value) for every constant the clients derived from the environment at import."""
    hub_constants = sys.modules["huggingface_hub.constants"]
    http = sys.modules["huggingface_hub.utils._http"]
    url = urlsplit(endpoint)
    origin = (url.scheme, (url.hostname or "").lower(), url.port or {"http": 80, "https": 443}[url.scheme])
    datasets_cache = home / "datasets"
    return [
        ("huggingface_hub.constants", "ENDPOINT", endpoint),
        (
            "huggingface_hub.constants",
            "HUGGINGFACE_CO_URL_TEMPLATE",
            endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        ),
        ("huggingface_hub.constants", "HF_URL_HOSTS", hub_constants.HF_URL_HOSTS | {url.hostname}),
        ("huggingface_hub.constants", "HF_HOME", str(home)),
        ("huggingface_hub.constants", "HF_HUB_CACHE", str(home / "hub")),
        ("huggingface_hub.constants", "HUGGINGFACE_HUB_CACHE", str(home / "hub")),
        ("huggingface_hub.constants", "HF_ASSETS_CACHE", str(home / "assets")),
        ("huggingface_hub.constants", "HUGGINGFACE_ASSETS_CACHE", str(home / "assets")),
        ("huggingface_hub.constants", "HF_XET_CACHE", str(home / "xet")),
        ("huggingface_hub.constants", "HF_TOKEN_PATH", str(home / "token")),
        ("huggingface_hub.constants", "HF_STORED_TOKENS_PATH", str(home / "stored_tokens")),
        ("huggingface_hub.constants", "HF_HUB_DISABLE_XET", True),
        ("huggingface_hub.constants", "HF_HUB_DISABLE_TELEMETRY", True),
        ("huggingface_hub.constants", "HF_HUB_OFFLINE", False),
        ("huggingface_hub.utils._http", "_HUB_ORIGINS", http._HUB_ORIGINS | {origin}),
        ("datasets.config", "HF_ENDPOINT", endpoint),
        ("datasets.config", "HUB_DATASETS_URL", endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}"),
        ("datasets.config", "HF_CACHE_HOME", str(home)),
        ("datasets.config", "HF_DATASETS_CACHE", datasets_cache),
        ("datasets.config", "DOWNLOADED_DATASETS_PATH", datasets_cache / "downloads"),
        ("datasets.config", "EXTRACTED_DATASETS_PATH", datasets_cache / "downloads" / "extracted"),
        ("datasets.config", "HF_MODULES_CACHE", home / "modules"),
        ("datasets.config", "HF_HUB_OFFLINE", False),
        ("datasets.config", "HF_DATASETS_OFFLINE", False),
        ("datasets.config", "HF_UPDATE_DOWNLOAD_COUNTS", False),
        ("diffusers.utils.constants", "HUGGINGFACE_CO_RESOLVE_ENDPOINT", endpoint),
        ("diffusers.utils.constants", "HF_MODULES_CACHE", str(home / "modules")),
        ("diffusers.utils.hub_utils", "HUGGINGFACE_CO_RESOLVE_ENDPOINT", endpoint),
        ("diffusers.utils.dynamic_modules_utils", "HF_MODULES_CACHE", str(home / "modules")),
        ("transformers.utils.hub", "HF_MODULES_CACHE", str(home / "modules")),
        ("transformers.dynamic_module_utils", "HF_MODULES_CACHE", str(home / "modules")),
    ]


@contextmanager
def point_clients_at(endpoint: str, *, token: str, home: str | Path) -> Iterator[dict[str, str]]:
    """Send every Hub client of this process and of its subprocesses to `endpoint` while the block runs.

    Caches (hub, datasets, modules, token file) go below `home`. `huggingface_hub` and `datasets` are imported
    here so that their constants are restored on exit; other clients are rewritten only if already imported
    (if imported later, they read the environment set here). Yields the environment variables that were set.
    """
    home = Path(home)
    environment = client_environment(endpoint, token=token, home=home)
    with ExitStack() as undo:
        for name in (*environment, *_CLEARED_VARIABLES):
            undo.callback(_restore_variable, name, os.environ.get(name))
        for name in _CLEARED_VARIABLES:
            os.environ.pop(name, None)
        os.environ.update(environment)
        for module_name in ("huggingface_hub.constants", "huggingface_hub.hf_api", "datasets.config"):
            importlib.import_module(module_name)
        for module_name, attribute, value in _client_constants(endpoint, home):
            module = sys.modules.get(module_name)
            if module is not None and hasattr(module, attribute):
                undo.callback(setattr, module, attribute, getattr(module, attribute))
                setattr(module, attribute, value)
        default_api = sys.modules["huggingface_hub.hf_api"].api
        undo.callback(setattr, default_api, "endpoint", default_api.endpoint)
        default_api.endpoint = endpoint
        yield environment


def _restore_variable(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
