"""bayesnet's modules import one another in one direction only: no import cycles, with
imports inside functions and under ``if TYPE_CHECKING:`` counted (laziness and type hints
do not change the layering: a protocol, or a type defined below both, does)."""

import ast
from pathlib import Path

import bayesnet

ROOT = Path(bayesnet.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["bayesnet", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST):
    for node in ast.iter_child_nodes(tree):
        yield from _imports_in(node)


def _imports_in(node: ast.AST):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _imports(node)


def import_graph() -> dict[str, set[str]]:
    """``module -> the bayesnet modules it imports``."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph.setdefault(name, set())
        for node in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                base = (
                    f"{base}.{node.module}"
                    if node.level and node.module
                    else (base if node.level else node.module)
                )
                targets = [f"{base}.{a.name}" for a in node.names]
                targets = [t if t in modules else base for t in targets]
            edges.update(t for t in targets if t in modules and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_cycle_hidden_inside_a_function():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    code = "def f():\n    from .b import x\nif TYPE_CHECKING:\n    from .c import y\n"
    names = [n.module for n in _imports(ast.parse(code))]
    assert names == ["b", "c"]


def test_no_import_cycles_among_bayesnets_modules():
    graph = import_graph()
    assert "bayesnet.infer.svi.fit" in graph["bayesnet.infer"]
    assert not cycles(graph), cycles(graph)
