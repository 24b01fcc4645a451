"""URL -> endpoint dispatch: for each request, the route's name and the call that builds its response."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from http import HTTPStatus

from .handlers_repo import HubContext, RepoHandlers
from .handlers_upload import UploadHandlers
from .messages import HubHTTPError, Request, Response, json_response

_PLURAL_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}

Route = tuple[str, Callable[[], Response]]


class Router:
    """The dispatch tables of both origins: `route` for the API, `route_storage` for LFS storage."""

    def __init__(self, hub: HubContext) -> None:
        self.repos = RepoHandlers(hub)
        self.uploads = UploadHandlers(hub)

    def route(self, request: Request) -> Route:
        method, segments = request.method, request.segments
        if segments[:1] == ["api"]:
            return self._route_api(request, method, segments[1:])
        repo_type = "model"
        if segments[:1] and segments[0] in ("datasets", "spaces"):
            repo_type, segments = _PLURAL_TYPES[segments[0]], segments[1:]
        match method, segments:
            case "POST", [namespace, name, "info", "lfs", "objects", "batch"] if name.endswith(".git"):
                return "lfs-batch", partial(self.uploads.lfs_batch, request, repo_type, f"{namespace}/{name[:-4]}")
            case "POST", [namespace, name, "info", "lfs", "objects", "verify"] if name.endswith(".git"):
                return "lfs-verify", partial(self.uploads.lfs_verify, request, repo_type, f"{namespace}/{name[:-4]}")
            case "GET" | "HEAD", [namespace, name, "resolve", revision, *path] if path:
                return "resolve", partial(
                    self.repos.resolve, request, repo_type, f"{namespace}/{name}", revision, path
                )
        return _unknown(request)

    def _route_api(self, request: Request, method: str, segments: list[str]) -> Route:
        match method, segments:
            case "GET", ["whoami-v2"]:
                return "whoami", partial(self.repos.whoami, request)
            case "POST", ["repos", "create"]:
                return "create-repo", partial(self.repos.create_repo, request)
            case "DELETE", ["repos", "delete"]:
                return "delete-repo", partial(self.repos.delete_repo, request)
            case "POST", ["validate-yaml"]:
                return "validate-yaml", lambda: json_response({"errors": [], "warnings": []})
            case "GET", ["agent-harnesses"]:
                return "agent-harnesses", lambda: json_response({"standardEnvVars": [], "harnesses": {}})
            case _, [plural, namespace, name, *action] if plural in _PLURAL_TYPES:
                repo = (_PLURAL_TYPES[plural], f"{namespace}/{name}")
                return self._route_repo(request, method, repo, action)
        return _unknown(request)

    def _route_repo(self, request: Request, method: str, repo: tuple[str, str], action: list[str]) -> Route:
        match method, action:
            case "GET", []:
                return "repo-info", partial(self.repos.repo_info, request, *repo, None)
            case "GET", ["revision", revision]:
                return "repo-info", partial(self.repos.repo_info, request, *repo, revision)
            case "GET", ["tree", revision, *path]:
                return "tree", partial(self.repos.tree, request, *repo, revision, "/".join(path))
            case "POST", ["paths-info", revision]:
                return "paths-info", partial(self.repos.paths_info, request, *repo, revision)
            case "GET", ["refs"]:
                return "refs", partial(self.repos.refs, request, *repo)
            case "GET", ["commits", revision]:
                return "commits", partial(self.repos.commits, request, *repo, revision)
            case "POST", ["preupload", revision]:
                return "preupload", partial(self.uploads.preupload, request, *repo, revision)
            case "POST", ["commit", revision]:
                return "commit", partial(self.uploads.commit, request, *repo, revision)
            case "PUT", ["settings"]:
                return "settings", partial(self.repos.settings, request, *repo)
            case "POST", ["branch", branch]:
                return "branch", partial(self.repos.create_branch, request, *repo, branch)
            case "POST", ["tag", revision]:
                return "tag", partial(self.repos.create_tag, request, *repo, revision)
        return _unknown(request)

    def route_storage(self, request: Request) -> Route:
        match request.method, request.segments:
            case "PUT", ["objects", oid]:
                return "lfs-upload", partial(self.uploads.put_object, request, oid)
            case "GET" | "HEAD", ["objects", oid]:
                return "lfs-download", partial(self.repos.get_object, request, oid)
        return _unknown(request)


def _unknown(request: Request) -> Route:
    def not_implemented() -> Response:
        message = f"{request.method} {request.url_path} is not implemented by the local Hub test double"
        raise HubHTTPError(HTTPStatus.NOT_IMPLEMENTED, message)

    return "unknown", not_implemented
