"""The layout's rules, read from the code (ast, no imports executed): packages import only packages below
their own, showcase only the product's public modules, and no module takes part in an import loop.

Layers (specs/architecture.md): metering < generator, analyzers, ingest < dashboard < cli. Packages on
the same layer do not import each other. Every import counts, including the ones inside functions
(a lazy import hides a loop, it does not remove it); only ``if TYPE_CHECKING:`` blocks are skipped.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = {"metering": 0, "generator": 1, "analyzers": 1, "ingest": 1, "dashboard": 2, "cli": 3}
PRODUCT = (*LAYER, "showcase")
#: what the showcase's examples may import: the product's public modules, nothing else of ours
SHOWCASE_PUBLIC = {
    "metering.schema",
    "metering.prices",
    "metering.tiers",
    "metering.subscriptions",
    "metering.store",
    "generator.api",
    "analyzers.base",
    "analyzers.registry",
}
#: who may import the showcase: the CLI's ``scenario`` command runs its stories
SHOWCASE_USERS = {"cli.commands.scenario"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PRODUCT for p in sorted((ROOT / package).rglob("*.py"))}


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports_of(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that ``name`` imports (``from a import b`` counts as ``a.b`` when that is a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    skip = {id(n) for node in ast.walk(tree) if _type_checking(node) for n in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            targets = [
                f"{origin}.{a.name}" if f"{origin}.{a.name}" in modules else origin for a in node.names
            ]
        else:
            continue
        found.update(t for t in targets if t.split(".")[0] in PRODUCT)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(path, name, modules) for name, path in modules.items()}


def test_the_map_sees_the_whole_product(graph):
    assert {m.split(".")[0] for m in graph} == set(PRODUCT)
    assert "dashboard.app" in graph and "ingest.routes" in graph and "cli.commands.dashboard" in graph
    assert "metering.store" in graph["ingest.writer"] | graph["ingest.routes"]


def test_no_package_imports_a_package_above_or_beside_its_own(graph):
    wrong = []
    for mod, targets in graph.items():
        top = mod.split(".")[0]
        for target in targets:
            other = target.split(".")[0]
            if other == top or other == "showcase" or top == "showcase":
                continue
            if LAYER[other] >= LAYER[top]:
                wrong.append(f"{mod} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_showcase_imports_only_public_modules_and_only_the_cli_imports_it(graph):
    wrong = []
    for mod, targets in graph.items():
        for target in targets:
            if mod.startswith("showcase") and not target.startswith("showcase"):
                if target not in SHOWCASE_PUBLIC:
                    wrong.append(f"{mod} -> {target} (not a public module)")
            elif (
                target.startswith("showcase") and not mod.startswith("showcase") and mod not in SHOWCASE_USERS
            ):
                wrong.append(f"{mod} -> {target} (the product does not depend on its examples)")
    assert not wrong, "\n".join(sorted(wrong))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in graph:
                continue
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_import_loops(graph):
    assert cycles(graph) == []


def test_the_loop_finder_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
