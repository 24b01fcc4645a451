"""The tree's architecture, checked from the source: one-way dependencies between subsystems, no import cycles, and
`pipelines/` free of `openvid_hf` so it ships as remote code (docs/architecture.md).

Every import statement counts, function-level and `TYPE_CHECKING` ones included: a lazy import is still a
dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Source folder -> the package it is installed as (`[tool.setuptools.package-dir]`).
SOURCE_ROOTS = {
    "openvid_hf": "openvid_hf",
    "pipelines": "openvid_hf.pipelines",
    "dataset_script": "openvid_hf.dataset_script",
}
#: Subsystems bottom to top: a module may import its own layer and the layers below, never one above.
LAYERS = (
    (
        "openvid_hf",
        "openvid_hf.schema",
        "openvid_hf.errors",
        "openvid_hf.atomic",
        "openvid_hf.cards",
        "openvid_hf.hub",
        "openvid_hf.progress",
        "openvid_hf.processes",
    ),
    ("openvid_hf.pipelines",),
    ("openvid_hf.executors",),
    ("openvid_hf.video",),
    ("openvid_hf.release",),
    ("openvid_hf.publish", "openvid_hf.dataset_script", "openvid_hf.curation"),
    ("openvid_hf.model",),
    ("openvid_hf.latents",),
    ("openvid_hf.training",),
    ("openvid_hf.testing",),
    ("openvid_hf.demo",),
    ("openvid_hf.commands", "openvid_hf.__main__", "openvid_hf.train"),
)


def source_modules() -> dict[str, Path]:
    modules = {}
    for folder, package in SOURCE_ROOTS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


MODULES = source_modules()


def imported_modules(name: str, path: Path) -> set[str]:
    """The `openvid_hf` modules `name` imports (a `from package import module` counts as the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {module for module in found if module in MODULES and module != name}


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    for index, layer in enumerate(LAYERS):
        if any(module == top or module.startswith(top + ".") for top in layer if top != "openvid_hf"):
            return index
    assert module.count(".") <= 1 and module.split(".")[-1] in (
        "schema",
        "errors",
        "atomic",
        "cards",
        "hub",
        "openvid_hf",
    )
    return 0


def test_every_module_is_in_a_layer():
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_dependencies_point_down(module):
    upward = sorted(target for target in GRAPH[module] if layer_of(target) > layer_of(module))
    assert not upward, f"{module} (layer {layer_of(module)}) imports a layer above it: {upward}"


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components: any with more than one module is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles():
    assert not find_cycles(GRAPH), f"import cycles: {find_cycles(GRAPH)}"


def test_pipelines_never_import_openvid_hf():
    """`pipelines/` is published as remote code: it may import torch, diffusers and transformers, never us."""
    for name, path in MODULES.items():
        if not name.startswith("openvid_hf.pipelines"):
            continue
        outside = sorted(target for target in GRAPH[name] if not target.startswith("openvid_hf.pipelines"))
        assert not outside, f"{path.relative_to(REPO)} imports {outside}"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        absolute = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level]
        absolute += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
        assert not [module for module in absolute if module and module.split(".")[0] == "openvid_hf"], path


def test_the_checker_sees_cycles_and_real_edges():
    """The checks can fail: a two-module cycle is found, and the graph holds today's known edges."""
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert "openvid_hf.release.reader" in GRAPH["openvid_hf.publish.build"]
    assert "openvid_hf.video.decoding" in GRAPH["openvid_hf.release.reader"]
    assert layer_of("openvid_hf.release.reader") > layer_of("openvid_hf.video.decoding")


def test_openvid_hf_offers_the_pipeline_its_card_and_upload_through_entry_points():
    """The inverted dependency: package metadata points `pipelines/` at openvid-hf's functions, not an import."""
    from openvid_hf.hub import publish_folder
    from openvid_hf.model.model_card import model_card
    from openvid_hf.pipelines.publishing import ENTRY_POINT_GROUP, installed_entry_point

    assert installed_entry_point("model_card") is model_card
    assert installed_entry_point("publish_folder") is publish_folder
    assert installed_entry_point("not_offered") is None
    assert f'[project.entry-points."{ENTRY_POINT_GROUP}"]' in (REPO / "pyproject.toml").read_text()
