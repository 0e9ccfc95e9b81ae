"""Dependencies point one way: cli -> ros -> offline -> bag -> core, and no import cycle.

The graph is read from the source (ast), imports inside functions included: a deferred import is
still a dependency, it only hides a cycle until the function runs.
"""
from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

from ros_util import REPO_ROOT

# first package under nlspn_ros -> layer; everything else (geometry, model, completion, pipeline,
# data, metrics, paths, ...) is the core, layer 0. An import may only point to its own layer or below.
LAYERS = {"bag": 1, "offline": 2, "ros": 3, "cli": 4}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    where: str  # file:line

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.where})"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package_dir: Path) -> tuple[set[str], list[Edge]]:
    """Every module of the package and every import among them. ``from a import b`` where ``a.b`` is a
    module counts as an import of ``a.b``; importing ``a.b.c`` also runs the ``__init__`` of ``a.b``
    (unless the importer lives in ``a.b`` itself, whose ``__init__`` already ran)."""
    files = sorted(package_dir.rglob("*.py"))
    modules = {module_name(f, package_dir): f for f in files}
    top = package_dir.name
    edges: list[Edge] = []
    for name, path in modules.items():
        where = path.relative_to(package_dir.parent)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] != top:
                    continue
                parts = target.split(".")
                for depth in range(2, len(parts) + 1):  # the target and its packages' __init__
                    candidate = ".".join(parts[:depth])
                    if candidate in modules and candidate != name and not name.startswith(candidate + "."):
                        edges.append(Edge(name, candidate, f"{where}:{node.lineno}"))
    return set(modules), edges


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def upward(edges: list[Edge]) -> list[Edge]:
    return [e for e in edges if layer(e.target) > layer(e.source)]


def cycles(modules: set[str], edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    successors: dict[str, set[str]] = {m: set() for m in modules}
    for e in edges:
        successors[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(successors[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(successors[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
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
    return found


def test_package_imports_point_down_and_have_no_cycle():
    modules, edges = import_graph(REPO_ROOT / "nlspn_ros")
    pairs = {(e.source, e.target) for e in edges}
    # the scan sees top-level, deferred and package-init imports (else the checks below prove nothing)
    assert ("nlspn_ros.ros.node", "nlspn_ros.pipeline.frame") in pairs
    assert ("nlspn_ros.cli.demo", "nlspn_ros.ros.demo") in pairs  # inside run()
    assert ("nlspn_ros.model.network", "nlspn_ros.model.prefill") in pairs  # relative import
    assert ("nlspn_ros.model.prefill", "nlspn_ros.completion") in pairs  # the package's __init__ runs
    assert not [e for e in edges if e.source.startswith("nlspn_ros.ros") and layer(e.target) == LAYERS["cli"]]
    bad = upward(edges)
    assert not bad, "imports pointing up (cli -> ros -> offline -> bag -> core):\n" + "\n".join(map(str, bad))
    found = cycles(modules, edges)
    assert not found, f"import cycles: {found}"


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "nlspn_ros"
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_checker_finds_upward_imports_and_cycles(tmp_path):
    """The checks above fail on the defects they look for: a deferred core -> bag import, a ros -> cli
    import, and a cycle closed only through a package __init__."""
    root = _package(tmp_path, {
        "__init__.py": "",
        "geometry.py": "def f():\n    from nlspn_ros.bag import reader\n",
        "bag/__init__.py": "",
        "bag/reader.py": "",
        "ros/__init__.py": "",
        "ros/node.py": "from ..cli import main\n",
        "cli/__init__.py": "main = None\n",
        "completion/__init__.py": "from nlspn_ros.completion.nlspn import X\n",
        "completion/nlspn.py": "from nlspn_ros.model import network\nX = 1\n",
        "model/__init__.py": "",
        "model/network.py": "import nlspn_ros.completion.ip_basic\n",
        "completion/ip_basic.py": "",
    })
    modules, edges = import_graph(root)
    assert {str((e.source, e.target)) for e in upward(edges)} == {
        str(("nlspn_ros.geometry", "nlspn_ros.bag.reader")),
        str(("nlspn_ros.geometry", "nlspn_ros.bag")),
        str(("nlspn_ros.ros.node", "nlspn_ros.cli")),
    }
    assert cycles(modules, edges) == [["nlspn_ros.completion", "nlspn_ros.completion.nlspn",
                                       "nlspn_ros.model.network"]]
