"""Build a cluster graph from a topology file (a preset name or a YAML path).

Graph (networkx.Graph):
- one node per datacenter: id = datacenter name, attrs kind="datacenter", dc=Datacenter;
- one node per (datacenter, system) pool: id = f"{dc}/{system}", attrs kind="systems",
  system=name, max_units, owned, cpu_only (True for the site's cpu_servers pool), joined to its
  datacenter by an edge kind="hosts";
- one edge per link between datacenter nodes: attrs kind="link", link=Link, id=link id.

A disconnected graph is allowed (sites that cannot exchange traffic); `Topology.connected`
says so and the summary shows the pieces.
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fleetcore.errors import ConfigError, Problem
from fleetcore.yamlio import Doc, load_yaml, validate
from hardware.catalog import Catalog
from topologies.schema import Datacenter, Link, TopologyData

if TYPE_CHECKING:
    import networkx as nx

PRESET_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class Topology:
    """A validated topology and its graph. Nothing downstream reads the YAML again."""

    name: str
    data: TopologyData
    doc: Doc
    file: str
    # Memo of paths, the link index and the graph: the LP asks for every pair of sites many
    # times; the graph (networkx, slow to import) is built only when asked for.
    _memo: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def graph(self) -> nx.Graph:
        """The cluster graph (see the module's docstring), built on first use."""
        if "graph" not in self._memo:
            self._memo["graph"] = _graph(self.data)
        return self._memo["graph"]

    def _links_of(self, dc: str) -> dict[str, Link]:
        """Neighbouring datacenter -> the link to it (the graph's link edges: a later link
        between the same pair replaces an earlier one, as in the graph)."""
        adjacency = self._memo.get("adjacency")
        if adjacency is None:
            adjacency = self._memo["adjacency"] = {name: {} for name in self.data.datacenters}
            for link in self.data.links:
                adjacency[link.a][link.b] = link
                adjacency[link.b][link.a] = link
        return adjacency[dc]

    def datacenters(self) -> list[str]:
        """Datacenter names in file order."""
        return list(self.data.datacenters)

    def site(self, dc: str) -> Datacenter:
        try:
            return self.data.datacenters[dc]
        except KeyError:
            raise KeyError(
                f"unknown datacenter {dc!r}; known: {', '.join(self.data.datacenters)}"
            ) from None

    def links(self) -> list[Link]:
        """Links in file order."""
        return list(self.data.links)

    def link(self, id: str) -> Link:  # noqa: A002 - the link's id is its name
        index = self._memo.get("links")
        if index is None:
            index = self._memo["links"] = {link.id: link for link in self.data.links}
        if id in index:
            return index[id]
        raise KeyError(
            f"unknown link {id!r}; known: {', '.join(link.id for link in self.data.links)}"
        )

    def path(self, a: str, b: str) -> list[str] | None:
        """Link ids on the lowest-latency path from datacenter a to b.

        [] when a == b; None when b cannot be reached from a. Ties in total latency go to the
        path with fewer links, then to the lexicographically smallest sequence of link ids, so
        the answer never depends on dict or set order. Raises KeyError for an unknown datacenter.
        """
        key = ("path", a, b)
        if key not in self._memo:
            for dc in (a, b):
                self.site(dc)
            reached = self._paths_from(a)
            for dc, ids in reached.items():
                self._memo[("path", a, dc)] = ids
            self._memo.setdefault(key, None)  # b not reached
        found = self._memo[key]
        return None if found is None else list(found)

    def _paths_from(self, a: str) -> dict[str, tuple[str, ...]]:
        """Link ids of the path from a to every datacenter it reaches: Dijkstra over datacenter
        nodes and link edges only, on (latency, hops, ids), run to the end. A run stopped when
        b is reached (one per pair: 0.08 s of a 50-site build) is this run's beginning, so it
        gives b the same path."""
        best: dict[str, tuple[float, int, tuple[str, ...]]] = {a: (0.0, 0, ())}
        heap: list[tuple[float, int, tuple[str, ...], str]] = [(0.0, 0, (), a)]
        done: dict[str, tuple[str, ...]] = {}
        while heap:
            lat, hops, ids, node = heapq.heappop(heap)
            if node in done:
                continue
            done[node] = ids
            for nbr, link in self._links_of(node).items():
                if nbr in done:
                    continue
                cand = (lat + link.latency_s, hops + 1, ids + (link.id,))
                if nbr not in best or cand < best[nbr]:
                    best[nbr] = cand
                    heapq.heappush(heap, (*cand, nbr))
        return done

    def path_latency_s(self, a: str, b: str) -> float | None:
        """Total latency (s) of path(a, b); 0.0 when a == b, None when unreachable."""
        ids = self.path(a, b)
        if ids is None:
            return None
        return sum(self.link(i).latency_s for i in ids)

    def system_names(self) -> list[str]:
        """Every accelerated system type placeable in some datacenter, sorted (cpu_servers'
        systems are not included: see cpu_server_names)."""
        return sorted({s for dc in self.data.datacenters.values() for s in dc.systems})

    def cpu_server_names(self) -> list[str]:
        """Every CPU-only system used as some site's cpu_servers, sorted."""
        return sorted(
            {dc.cpu_servers.system for dc in self.data.datacenters.values() if dc.cpu_servers}
        )

    @property
    def connected(self) -> bool:
        """True when every datacenter can reach every other over links."""
        return len(self.components()) <= 1

    def components(self) -> list[list[str]]:
        """Groups of datacenters joined by links, each in file order, groups by first member."""
        order = {dc: i for i, dc in enumerate(self.data.datacenters)}
        seen: set[str] = set()
        groups = []
        for first in self.data.datacenters:
            if first in seen:
                continue
            seen.add(first)
            group, todo = [first], [first]
            while todo:
                for nbr in self._links_of(todo.pop()):
                    if nbr not in seen:
                        seen.add(nbr)
                        group.append(nbr)
                        todo.append(nbr)
            groups.append(sorted(group, key=order.__getitem__))
        return groups


# presets() by the preset folder and its modification time (a file added or removed changes it): a
# sweep resolves its topology at every point, and the glob cost ~0.15 ms of each.
_PRESETS: dict[tuple[str, int], list[str]] = {}


def presets() -> list[str]:
    """Names of the shipped topology presets, sorted."""
    stamp = (str(PRESET_DIR), PRESET_DIR.stat().st_mtime_ns)
    names = _PRESETS.get(stamp)
    if names is None:
        _PRESETS.clear()
        names = _PRESETS[stamp] = sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))
    return list(names)


def load_topology(name_or_path: str, catalog: Catalog) -> Topology:
    """Load a preset by name (see presets()) or a topology YAML file by path, validate it and
    check it against the catalog. Raises ConfigError listing every problem with file:line."""
    return topology_from_doc(resolve_topology_doc(name_or_path), catalog)


def is_topology_path(ref: str) -> bool:
    """Whether a topology reference names a file: it contains a '/' (or the OS's separator) or
    ends in .yaml/.yml. Anything else is a preset name, so a stray file in the working directory
    never replaces a preset: to use a file named like one, write ./multi-dc."""
    return ref.endswith((".yaml", ".yml")) or "/" in ref or os.sep in ref


def resolve_topology_doc(name_or_path: str) -> Doc:
    """The raw YAML of a preset (by name) or a topology file (by path, see is_topology_path), not
    yet validated, so a scenario can merge its `topology_changes` over it first."""
    if is_topology_path(name_or_path):
        return load_yaml(name_or_path)
    if name_or_path not in presets():
        raise ConfigError(
            [
                Problem(
                    "<command line>",
                    None,
                    "topology",
                    f"{name_or_path!r} is neither a topology preset nor a file path; "
                    f"presets: {', '.join(presets())} (a file is named by a path: one with a "
                    f"'/' or ending in .yaml, e.g. ./{name_or_path})",
                )
            ]
        )
    return load_yaml(PRESET_DIR / f"{name_or_path}.yaml")


def topology_from_doc(doc: Doc, catalog: Catalog) -> Topology:
    """Validate a topology Doc (e.g. a preset merged with a scenario's overrides) and build its
    graph. Raises ConfigError with every schema and cross-reference problem."""
    data = validate(TopologyData, doc)
    problems = [p for rule in CROSS_REFERENCE_RULES for p in rule(data, doc, catalog)]
    if problems:
        raise ConfigError(problems)
    return Topology(name=data.name, data=data, doc=doc, file=doc.file)


def _graph(data: TopologyData) -> nx.Graph:
    import networkx as nx

    g = nx.Graph(name=data.name)
    for dc_name, dc in data.datacenters.items():
        g.add_node(dc_name, kind="datacenter", dc=dc)
        pools = [(s, site, False) for s, site in dc.systems.items()]
        if dc.cpu_servers is not None:
            pools.append((dc.cpu_servers.system, dc.cpu_servers, True))
        for system, site, cpu_only in pools:
            node = f"{dc_name}/{system}"
            g.add_node(
                node,
                kind="systems",
                system=system,
                max_units=site.max_units,
                owned=site.owned,
                cpu_only=cpu_only,
            )
            g.add_edge(dc_name, node, kind="hosts")
    for link in data.links:
        g.add_edge(link.a, link.b, kind="link", link=link, id=link.id)
    return g


# ---- cross-reference rules: one function per rule, each returns its problems ----------------

Rule = Callable[[TopologyData, Doc, Catalog], list[Problem]]


def _known(catalog: Catalog, cpu_only: bool) -> str:
    names = [n for n, s in catalog.systems.items() if (s.accelerators == 0) == cpu_only]
    return ", ".join(sorted(names))


def _site_systems_in_catalog(data: TopologyData, doc: Doc, catalog: Catalog) -> list[Problem]:
    out = []
    for dc_name, dc in data.datacenters.items():
        for system in dc.systems:
            if system not in catalog.systems:
                out.append(
                    doc.problem(
                        ("datacenters", dc_name, "systems", system),
                        f"unknown system {system!r}; known accelerated systems: "
                        f"{_known(catalog, cpu_only=False)}",
                    )
                )
        if dc.cpu_servers is not None and dc.cpu_servers.system not in catalog.systems:
            out.append(
                doc.problem(
                    ("datacenters", dc_name, "cpu_servers", "system"),
                    f"unknown system {dc.cpu_servers.system!r}; known CPU-only systems: "
                    f"{_known(catalog, cpu_only=True)}",
                )
            )
    return out


def _site_systems_right_kind(data: TopologyData, doc: Doc, catalog: Catalog) -> list[Problem]:
    out = []
    for dc_name, dc in data.datacenters.items():
        for system in dc.systems:
            if system in catalog.systems and catalog.systems[system].accelerators == 0:
                out.append(
                    doc.problem(
                        ("datacenters", dc_name, "systems", system),
                        f"{system!r} is a CPU-only system (accelerators: 0); list it under "
                        f"cpu_servers, not systems",
                    )
                )
        cpu = dc.cpu_servers
        if (
            cpu is not None
            and cpu.system in catalog.systems
            and catalog.systems[cpu.system].accelerators > 0
        ):
            out.append(
                doc.problem(
                    ("datacenters", dc_name, "cpu_servers", "system"),
                    f"{cpu.system!r} has accelerators; cpu_servers takes a CPU-only system "
                    f"({_known(catalog, cpu_only=True)})",
                )
            )
    return out


def _link_endpoints_known(data: TopologyData, doc: Doc, catalog: Catalog) -> list[Problem]:
    out = []
    for i, link in enumerate(data.links):
        for end in ("a", "b"):
            dc = getattr(link, end)
            if dc not in data.datacenters:
                out.append(
                    doc.problem(
                        ("links", i, end),
                        f"unknown datacenter {dc!r}; known: {', '.join(data.datacenters)}",
                    )
                )
    return out


def _links_not_self(data: TopologyData, doc: Doc, catalog: Catalog) -> list[Problem]:
    return [
        doc.problem(
            ("links", i, "b"), f"a link joins two different datacenters; both ends are {link.a!r}"
        )
        for i, link in enumerate(data.links)
        if link.a == link.b
    ]


def _one_link_per_pair(data: TopologyData, doc: Doc, catalog: Catalog) -> list[Problem]:
    out = []
    first: dict[frozenset[str], int] = {}
    for i, link in enumerate(data.links):
        if link.a == link.b:
            continue
        pair = frozenset((link.a, link.b))
        if pair in first:
            j = first[pair]
            _, line, _ = doc.where(("links", j))
            at = f"links[{j}]" + (f" (line {line})" if line is not None else "")
            out.append(
                doc.problem(
                    ("links", i),
                    f"second link between {link.a!r} and {link.b!r} (the first is {at}); "
                    f"give one link the summed capacity",
                )
            )
        else:
            first[pair] = i
    return out


def _link_ids_unique(data: TopologyData, doc: Doc, catalog: Catalog) -> list[Problem]:
    out = []
    seen: dict[str, int] = {}
    for i, link in enumerate(data.links):
        if link.id in seen:
            field = "name" if link.name is not None else "a"
            out.append(
                doc.problem(
                    ("links", i, field),
                    f"duplicate link id {link.id!r} (also links[{seen[link.id]}]); "
                    f"give each link a distinct name",
                )
            )
        else:
            seen[link.id] = i
    return out


CROSS_REFERENCE_RULES: list[Rule] = [
    _site_systems_in_catalog,
    _site_systems_right_kind,
    _link_endpoints_known,
    _links_not_self,
    _one_link_per_pair,
    _link_ids_unique,
]
