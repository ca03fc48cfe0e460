"""The package's shape: no module imports, at import time, a module that imports it back.

A cycle works only by import order (the first module imported wins) and hides which layer
depends on which; imports under ``if TYPE_CHECKING:`` and inside functions do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import codexrs

PACKAGE = Path(codexrs.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path, modules: set[str]) -> set[str]:
    """Modules of the package that ``path`` imports when it is imported."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:  # module level only: not in functions
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for child in ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node]:
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name in modules)
            elif isinstance(child, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - child.level + 1] if child.level else []
                target = ".".join(base + ([child.module] if child.module else []))
                submodules = {f"{target}.{a.name}" for a in child.names} & modules
                found.update(submodules or ({target} & modules))
    return found - {name}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    graph = {name: _runtime_imports(path, modules) for name, path in paths.items()}
    # A package's __init__ importing its own modules is how a package is built, not a
    # cycle: a module's import of its parent package is left out.
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def test_the_package_has_no_runtime_import_cycle() -> None:
    assert _cycles(_graph()) == []


def test_the_graph_sees_imports() -> None:
    """The check reads real edges (a check that saw none could not fail)."""
    graph = _graph()
    assert "codexrs._core.turn" in graph["codexrs._core.stream"]
    assert "codexrs._core.engine" in graph["codexrs.manager._async"]
    assert "codexrs.manager._async" in graph["codexrs.manager._sync"]
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


#: The layers, bottom up: a module may import its own layer and those below, never above.
LAYERS = [
    # the vocabulary: typed events and items, inputs, errors, requests and their answers
    {"_native", "_protocol", "_failure", "events", "items", "inputs", "errors", "approvals", "requests", "tools", "hooks"},
    # codex-core in this process: engines, threads, turns, streams; codex-core's logs
    {"_core", "logs"},
    # many conversations
    {"manager"},
    # what runs on top: batches, the server, telemetry, rollout files
    {"batch", "server", "otel", "rollouts", "_extras"},
    # the command line and the package's front door
    {"cli", "_console", "_demo", "_login_cli", "__main__", "", "testing"},
]


def _layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    for number, members in enumerate(LAYERS):
        if part in members:
            return number
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in test_layout.py")


def test_every_module_imports_only_its_layer_and_those_below() -> None:
    upward = [
        f"{module} ({_layer(module)}) imports {target} ({_layer(target)})"
        for module, targets in sorted(_graph().items())
        for target in sorted(targets)
        if _layer(target) > _layer(module)
    ]
    assert upward == []
