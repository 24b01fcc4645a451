"""A local Hugging Face Hub-compatible HTTP server: a test double of the Hub, not a production server.

The unmodified `huggingface_hub`, `datasets` and `diffusers` clients accept it with
`HF_ENDPOINT=<endpoint>` and `HF_HUB_DISABLE_XET=1`. It speaks the subset of the Hub's HTTP API those clients
use to create repositories, commit (preupload, the Git LFS batch API with basic transfer and verify, the NDJSON
commit), list and download, with the Hub's status codes and `X-Error-Code` headers. LFS files are served like
the Hub serves them: `/resolve` answers with a redirect to a second "storage" origin (signed URLs, no
authorization header), carrying `X-Linked-Etag` / `X-Linked-Size`.

Tests read `HubServer.request_log` (or `recording()`) to prove what crossed the wire, and arm `fault()` to make
a route fail mid-way. Run standalone with `python -m openvid_hf.testing.hub --root DIR [--port PORT]`: the first
line printed is the endpoint URL. See docs/hub_server.md. Standard library only.

Layers, each depending only on those above it in this list:

- `storage`: repositories, content-addressed objects, immutable commits, `.gitattributes` rules, storage errors;
- `faults`: the routes `HubServer.fault()` arms to fail;
- `messages`: `Request` (lazy body reading), `Response`, `HubHTTPError` (the Hub's error status and headers);
- `handlers_repo`, `handlers_upload`: the endpoints (account, repositories, listing, downloads; uploads, commits);
- `routing`: URL -> endpoint dispatch for the API and storage origins;
- `transport`: the threaded HTTP servers and request handler, and the `RequestRecord` of each request;
- `lifecycle`: `HubServer` (start/stop, endpoints, request log, faults, signed storage URLs);
- `__main__`: the command line.
"""

from .handlers_repo import USER_NAME
from .lifecycle import LFS_THRESHOLD, HubServer
from .messages import HubHTTPError
from .storage import (
    AlreadyExists,
    Commit,
    EntryNotFound,
    FileEntry,
    Folder,
    GitAttributes,
    HubStorageError,
    InvalidRequest,
    Repo,
    RepoNotFound,
    RepoStorage,
    RevisionNotFound,
    StaleParent,
)
from .transport import RequestRecord

__all__ = [
    "LFS_THRESHOLD",
    "USER_NAME",
    "AlreadyExists",
    "Commit",
    "EntryNotFound",
    "FileEntry",
    "Folder",
    "GitAttributes",
    "HubHTTPError",
    "HubServer",
    "HubStorageError",
    "InvalidRequest",
    "Repo",
    "RepoNotFound",
    "RepoStorage",
    "RequestRecord",
    "RevisionNotFound",
    "StaleParent",
]
