"""itpm's modules stand in floors: none imports, directly or through others, a module that imports it.

Every import counts, also one inside a function: an import hidden there to dodge a circle
is still a circle (and a module that cannot be read without the one above it).
"""

from __future__ import annotations

import ast
from pathlib import Path

PLATFORM = Path(__file__).parents[1] / "platform"


def module_imports() -> dict[str, set[str]]:
    """Each itpm module and the itpm modules it imports anywhere in its text."""
    modules = {}
    for path in (PLATFORM / "itpm").rglob("*.py"):
        parts = path.relative_to(PLATFORM).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                submodules = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [t for t in submodules if t in modules] or [node.module]
            else:
                continue
            graph[name] |= {m for t in targets if t.startswith("itpm") and (m := owner(t)) and m != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that reach each other (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for module in graph:
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_one_that_imports_it_back() -> None:
    assert circles(module_imports()) == []


def test_a_circle_is_found_where_there_is_one() -> None:
    graph = {"itpm.a": {"itpm.b"}, "itpm.b": {"itpm.c"}, "itpm.c": {"itpm.a"}, "itpm.d": {"itpm.a"}}
    assert circles(graph) == [["itpm.a", "itpm.b", "itpm.c"]]
