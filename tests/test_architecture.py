"""The package layout's rules: no import cycles, and `augment` stands alone."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str) -> dict[str, set[str]]:
    """Every module of `package` -> the project modules it imports, anywhere in its body
    (imports inside functions count: they are cycles too, only deferred; so do those for type
    checkers only, under `if TYPE_CHECKING:`, which a type checker follows)."""
    modules = {module_name(path): path for path in (ROOT / package).rglob("*.py")}
    known = set(modules) | {module_name(path) for path in (ROOT / "augment").rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets, tree = set(), ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        graph[name] = {target for target in targets if target in known and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


@pytest.mark.parametrize("package", ["textssl", "augment"])
def test_no_import_cycles(package):
    assert find_cycle(import_graph(package)) is None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_augment_imports_nothing_from_textssl():
    imports = set().union(*import_graph("augment").values())
    assert not {name for name in imports if name.startswith("textssl")}
