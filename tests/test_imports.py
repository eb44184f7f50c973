"""The package's shape: no import cycles (function-level imports included), dependencies one way.

``envs`` <- ``jaxrl/<algorithm>`` <- ``jaxrl/run`` <- command line: the environments never import
jaxrl, an algorithm never imports the run layer or the command line, and the run layer reaches
algorithms only through `jaxrl.registry`. Imports under ``if TYPE_CHECKING:`` never run and are
not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("envs", "jaxrl", "benchmarks")
ALGORITHMS = ("jaxrl.ppo",)
COMMAND_LINE = ("jaxrl.train", "jaxrl.evaluate", "jaxrl.play", "jaxrl.plot")


def module_names() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


MODULES = module_names()


def _type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imports_of(name: str) -> list[tuple[str, bool]]:
    """``(imported module, at module level)`` for every import of one of our modules in ``name``."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        if _type_checking(node):
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, top) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append((full if full in MODULES else base, top))
        for child in ast.iter_child_nodes(node):
            inner = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            visit(child, top and not inner)

    visit(tree, True)
    return [(module, top) for module, top in found if module in MODULES]


GRAPH = {name: sorted({module for module, _ in imports_of(name)} - {name}) for name in MODULES}


def find_cycle() -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in GRAPH[node]:
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(GRAPH):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


def test_the_graph_is_read():
    assert "jaxrl.run.loop" in GRAPH and "jaxrl.run.callbacks" in GRAPH["jaxrl.run.loop"]
    assert "envs.core" in GRAPH["envs.wrappers"]


def test_no_import_cycle():
    assert find_cycle() is None, " -> ".join(find_cycle())


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("envs")))
def test_envs_never_import_jaxrl(name):
    assert not [m for m in GRAPH[name] if _under(m, ("jaxrl", "benchmarks"))]


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _under(n, ALGORITHMS)))
def test_algorithms_know_nothing_of_the_run_layer(name):
    banned = ("jaxrl.run", "jaxrl.config", "jaxrl.registry", "benchmarks", *COMMAND_LINE)
    others = tuple(a for a in ALGORITHMS if not _under(name, (a,)))
    assert not [m for m in GRAPH[name] if _under(m, banned + others)]


@pytest.mark.parametrize("name", sorted(n for n in MODULES if _under(n, ("jaxrl.run",))))
def test_the_run_layer_reaches_algorithms_only_through_the_registry(name):
    assert not [m for m in GRAPH[name] if _under(m, ALGORITHMS) or _under(m, COMMAND_LINE)]


def test_function_level_imports_are_for_optional_packages_only():
    """Our own modules are imported at the top of a module, where a reader sees the arrows; only the
    adapters, which import an optional package at their top, are imported where they are needed."""
    hidden = {
        name: [m for m, top in imports_of(name) if not top and not _under(m, ("envs.adapters",))]
        for name in MODULES if name.startswith(("jaxrl", "envs"))
    }
    assert {name: found for name, found in hidden.items() if found} == {}
