"""No import circle in the package: a module's top-level imports (TYPE_CHECKING ones included) never lead
back to it. Deferred imports inside functions are how a lower layer calls up on purpose, and are not counted."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parents[2] / "nornflow"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(tree: ast.Module, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """``from A import n`` depends on module ``A.n`` when there is one, else on ``A`` (whose names it reads)."""
    found: set[str] = set()
    body: list[ast.stmt] = list(tree.body)
    while body:
        node = body.pop(0)
        if isinstance(node, ast.If | ast.Try):  # `if TYPE_CHECKING:` and try/except ImportError blocks
            body.extend(node.body + node.orelse + [s for h in getattr(node, "handlers", []) for s in h.body])
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {module for module in found if module in modules and module != name}


def import_graph() -> nx.DiGraph:
    graph: nx.DiGraph = nx.DiGraph()
    paths = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    for name, path in paths.items():
        graph.add_node(name)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target in _top_level_imports(tree, name, path.name == "__init__.py", set(paths)):
            graph.add_edge(name, target)
    return graph


def test_the_import_graph_is_read() -> None:
    graph = import_graph()
    assert graph.has_edge("nornflow.gateway.app", "nornflow.gateway.policy.decide")
    assert graph.number_of_nodes() > 100


def test_no_import_circle_in_the_package() -> None:
    graph = import_graph()
    cycles = sorted(nx.simple_cycles(graph))
    assert not cycles, "import circles (break them by handing a part what it needs):\n" + "\n".join(
        " -> ".join(c) for c in cycles[:20])
