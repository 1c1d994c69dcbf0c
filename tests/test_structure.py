"""The package structure: fleetcore below everything, no package-level import cycle, a plain API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("fleetcore", "hardware", "topologies", "planner")


def package_imports() -> nx.DiGraph:
    """Edges package -> package for every import between the project's packages."""
    graph = nx.DiGraph()
    graph.add_nodes_from(PACKAGES)
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    if top in PACKAGES and top != pkg:
                        graph.add_edge(pkg, top)
    return graph


def test_no_package_level_import_cycle() -> None:
    graph = package_imports()
    assert list(nx.simple_cycles(graph)) == []
    assert list(graph.successors("fleetcore")) == []
    assert "planner" not in graph.successors("hardware")
    assert "planner" not in graph.successors("topologies")


def test_importing_hardware_or_topologies_does_not_import_planner() -> None:
    code = (
        "import sys, hardware.catalog, topologies.builder; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'planner'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dir_planner_lists_the_api() -> None:
    import planner

    for name in planner.__all__:
        assert name in dir(planner)
        assert callable(getattr(planner, name))


def test_workload_kinds_are_dispatched_through_the_registry_only() -> None:
    """No code outside planner/kinds/ compares a `.kind` with a kind's name or tests a spec's
    class: adding a kind is a module and a registry line."""
    from planner.kinds import KINDS

    names = set(KINDS)
    spec_classes = {k.spec.__name__ for k in KINDS.values()}
    offenders = []
    for path in (ROOT / "planner").rglob("*.py"):
        if "kinds" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                parts = [node.left, *node.comparators]
                kind_attr = any(isinstance(p, ast.Attribute) and p.attr == "kind" for p in parts)
                literal = any(isinstance(p, ast.Constant) and p.value in names for p in parts)
                if kind_attr and literal:
                    offenders.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "isinstance":
                classes = ast.walk(node.args[1]) if len(node.args) > 1 else []
                if any(getattr(c, "id", None) in spec_classes for c in classes):
                    offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
