"""pytest fixtures for tests that talk to the local Hub (register with `pytest_plugins` in conftest.py).

- `hub_server`: one `HubServer` per session; while it runs, `huggingface_hub`, `datasets`, `diffusers` and
  `transformers` in this process and in subprocesses use it (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_DISABLE_XET=1`,
  caches in a session temp dir), and everything is restored afterwards.
- `hub_token`: the token the clients send (any non-empty token may write).
- `hub_api`: an `HfApi` bound to the server and the token.
- `hub_repo_id`: a fresh `namespace/name` per test, so tests never share a repository (starts `hub_server` too).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .hub import HubServer
from .hub_clients import point_clients_at

if TYPE_CHECKING:
    from huggingface_hub import HfApi

HUB_TOKEN = "hf_local_test_token"
REPO_NAMESPACE = "openvid-tests"
_repo_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def hub_token() -> str:
    return HUB_TOKEN


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory: pytest.TempPathFactory, hub_token: str) -> Iterator[HubServer]:
    with HubServer(tmp_path_factory.mktemp("hub-root")) as server:
        home = tmp_path_factory.mktemp("hf-home")
        with point_clients_at(server.endpoint, token=hub_token, home=home):
            yield server


@pytest.fixture(scope="session")
def hub_api(hub_server: HubServer, hub_token: str) -> HfApi:
    from huggingface_hub import HfApi

    return HfApi(endpoint=hub_server.endpoint, token=hub_token)


@pytest.fixture
def hub_repo_id(request: pytest.FixtureRequest, hub_server: HubServer) -> str:
    """`openvid-tests/<test name>-<n>`: unique in the session; implies `hub_server`, so clients point at it."""
    name = re.sub(r"[^A-Za-z0-9_]+", "-", request.node.name).strip("-")[:60]
    return f"{REPO_NAMESPACE}/{name}-{next(_repo_numbers)}"
