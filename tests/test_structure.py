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
