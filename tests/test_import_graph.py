"""The package's imports flow one way: no jaxstyle module imports itself back, even lazily.

Every module under ``jaxstyle/`` is parsed with :mod:`ast` (never imported). Each import of a
jaxstyle module is an edge: at module top and inside functions, ``import x`` and
``from x import y``, relative imports resolved. ``if TYPE_CHECKING:`` blocks never run and
are skipped; so are imports by string (``importlib.import_module``), which only the method
and subcommand registries use.

- ``from jaxstyle.pkg import name`` imports the module ``jaxstyle.pkg.name`` when there is
  one, else ``jaxstyle.pkg``.
- Importing ``jaxstyle.a.b`` also runs the ``__init__`` of ``jaxstyle.a`` and ``jaxstyle``, so
  those are edges too, with one exception that follows Python's real import order: packages
  that contain the importing module. Python runs a module's parent packages before the module
  itself, so when ``jaxstyle.a.x`` imports ``jaxstyle.a.b`` the package ``jaxstyle.a`` is
  already imported (or is being imported, its ``__init__`` being what imported
  ``jaxstyle.a.x``) and nothing new runs. Counting those implicit edges would make every
  package whose ``__init__`` re-exports a submodule that imports anything else from jaxstyle a
  "cycle" (``jaxstyle/__init__`` -> ``jaxstyle.models.encoder`` -> ``jaxstyle.errors`` ->
  ``jaxstyle``), which no import order can avoid. An explicit import of a containing package
  (``from jaxstyle import __version__``) is a real dependency on its ``__init__`` and counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "jaxstyle"


def module_files(root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """``{"jaxstyle.io": .../io.py, "jaxstyle.weights": .../weights/__init__.py, ...}``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = (root.name, *path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node that can run: all of them but ``if TYPE_CHECKING:`` bodies."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def imported_names(module: str, is_package: bool, tree: ast.AST, modules: set[str]) -> set[str]:
    """The jaxstyle modules and packages ``module`` names in its import statements."""
    found = set()
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:  # relative: strip `level` trailing parts (one fewer for a package)
            anchor = module.split(".")
            anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
            base = ".".join(anchor + ([base] if base else []))
        for alias in node.names:
            child = f"{base}.{alias.name}"
            found.add(child if child in modules else base)
    return {name for name in found if name in modules}


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    """``{module: modules whose code importing it runs}`` (rules in the module docstring)."""
    files = module_files(root)
    graph = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        own = set(_ancestors(module)) | ({module} if is_package else set())
        edges = set()
        for target in imported_names(module, is_package, tree, set(files)):
            edges.add(target)
            edges.update(p for p in _ancestors(target) if p not in own)
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The shortest cycle through each module that is on one, without repeats.

    Modules on cycles are the strongly connected components of more than one module (Tarjan).
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    cycles: list[list[str]] = []
    for component in components:
        for start in sorted(component):
            cycle = _shortest_cycle(graph, component, start)
            first = cycle.index(min(cycle))  # the same cycle found from another start: skip
            rotated = cycle[first:-1] + cycle[:first] + [cycle[first]]
            if rotated not in cycles:
                cycles.append(rotated)
    return cycles


def _shortest_cycle(graph: dict[str, set[str]], component: set[str], start: str) -> list[str]:
    """A shortest cycle from ``start`` back to it inside ``component`` (breadth-first), closed."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in parents:
                    parents[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"{start} is on no cycle of {sorted(component)}")


def test_import_graph_has_no_cycles():
    graph = import_graph()
    assert "jaxstyle.io" in graph and "jaxstyle.weights.registry" in graph  # the walk found them
    cycles = find_cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_cycle_finder_sees_lazy_relative_and_package_imports(tmp_path):
    """The rules of the module docstring, on a small package with a known cycle."""
    pkg = tmp_path / "jaxstyle"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from jaxstyle.sub.a import f\n")
    (pkg / "sub" / "__init__.py").write_text("from .b import *\n")
    (pkg / "sub" / "a.py").write_text("from . import b\ndef f():\n    from jaxstyle import low\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import jaxstyle.top\n"
    )
    (pkg / "low.py").write_text("x = 1\n")
    (pkg / "top.py").write_text("import jaxstyle.sub.a\n")
    (pkg / "uses_init.py").write_text("from jaxstyle import version\n")
    graph = import_graph(pkg)
    assert graph["jaxstyle.sub.a"] == {"jaxstyle.sub.b", "jaxstyle.low"}  # no edge to parents
    assert graph["jaxstyle.sub.b"] == set()  # TYPE_CHECKING is skipped
    assert graph["jaxstyle.sub"] == {"jaxstyle.sub.b"}  # relative, from a package
    assert graph["jaxstyle.top"] == {"jaxstyle.sub.a", "jaxstyle.sub"}  # and its package
    assert graph["jaxstyle.uses_init"] == {"jaxstyle"}  # a name from the package's __init__
    assert find_cycles(graph) == []
    (pkg / "low.py").write_text("from jaxstyle.top import x\n")
    assert find_cycles(import_graph(pkg)) == [
        ["jaxstyle.low", "jaxstyle.top", "jaxstyle.sub.a", "jaxstyle.low"]
    ]


def method_of(module: str) -> str | None:
    """The method whose folder holds ``module`` (``jaxstyle.methods.rast.model`` -> ``rast``);
    None for shared code (``jaxstyle.methods.base``, the registry, everything else)."""
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["jaxstyle", "methods"] and parts[2] != "base":
        return parts[2]
    return None


def cross_method_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """``(importer, imported)`` pairs where one method's module imports another method's."""
    return sorted((module, target) for module, targets in graph.items() for target in targets
                  if method_of(module) and method_of(target) and method_of(module) != method_of(target))


def test_no_method_imports_another_method():
    """What two methods share lives below them (jaxstyle.methods.base, models, ops, losses...)."""
    graph = import_graph()
    assert "jaxstyle.methods.rast.model" in graph and "jaxstyle.methods.dst.objective" in graph
    assert cross_method_imports(graph) == []


def test_cross_method_check_sees_an_import_between_methods(tmp_path):
    pkg = tmp_path / "jaxstyle"
    for folder in ("methods", "methods/base", "methods/a", "methods/b"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "methods" / "base" / "shared.py").write_text("x = 1\n")
    (pkg / "methods" / "a" / "method.py").write_text("from jaxstyle.methods.base.shared import x\n")
    (pkg / "methods" / "b" / "method.py").write_text("def f():\n    from jaxstyle.methods.a import method\n")
    assert cross_method_imports(import_graph(pkg)) == [
        ("jaxstyle.methods.b.method", "jaxstyle.methods.a"),
        ("jaxstyle.methods.b.method", "jaxstyle.methods.a.method"),
    ]
