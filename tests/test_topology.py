"""Topology presets, the cluster graph, summaries, cross-reference errors and the CLI."""

from __future__ import annotations

import heapq
import json
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from fleetcore.errors import ConfigError
from hardware.catalog import load_catalog
from topologies.builder import Topology, load_topology, presets
from topologies.summary import format_summary, summarize

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

REL = 0.01  # tolerance for published peak figures: 1%


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def multi(catalog) -> Topology:
    return load_topology("multi-dc", catalog)


def _write(tmp_path: Path, text: str, name: str = "topo.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_presets_shipped() -> None:
    assert {"nvl72-campus", "h100-cluster", "h200-cluster", "rainier-campus", "multi-dc"} <= set(
        presets()
    )


def test_h200_cluster_is_the_h100_site_with_h200_servers(catalog) -> None:  # type: ignore[no-untyped-def]
    # Same site figures and server count (same 10.2 kW server), 141 GB instead of 80 GB a GPU.
    h100 = load_topology("h100-cluster", catalog)
    h200 = load_topology("h200-cluster", catalog)
    assert h100.system_names() == ["hgx-h100"] and h200.system_names() == ["hgx-h200"]
    a, b = h100.data.datacenters["cluster"], h200.data.datacenters["cluster"]
    assert (a.power_cap_w, a.pue, a.electricity_usd_per_kwh) == (
        b.power_cap_w,
        b.pue,
        b.electricity_usd_per_kwh,
    )
    assert a.systems["hgx-h100"].max_units == b.systems["hgx-h200"].max_units == 13000
    # 13,000 x 10.2 kW x PUE 1.3 = 172.4 MW > the 150 MW cap
    assert 13000 * catalog.systems["hgx-h200"].power_w * b.pue == pytest.approx(172.38e6)
    assert b.power_cap_w < 13000 * 10.2e3 * 1.3


@pytest.mark.parametrize("name", presets())
def test_every_preset_loads_and_summarises(name: str, catalog) -> None:
    topo = load_topology(name, catalog)
    assert topo.name == name
    assert topo.data.source.startswith("illustrative")
    summary = summarize(topo, catalog)
    json.dumps(summary)  # JSON-ready
    text = format_summary(summary)
    for dc in topo.datacenters():
        assert dc in text
    # graph shape: one node per datacenter and per (datacenter, system) pool
    for dc in topo.datacenters():
        assert topo.graph.nodes[dc]["kind"] == "datacenter"
        for system, site in topo.site(dc).systems.items():
            node = topo.graph.nodes[f"{dc}/{system}"]
            assert node["kind"] == "systems" and node["max_units"] == site.max_units
            assert topo.graph.edges[dc, f"{dc}/{system}"]["kind"] == "hosts"


@pytest.mark.parametrize("name", presets())
def test_every_preset_through_cli(name: str, capsys) -> None:
    result = CliRunner().invoke(cli.planner, ["topology", "show", name, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["name"] == name
    assert cli.main(["topology", "show", name]) == 0
    assert name in capsys.readouterr().out


def test_topology_list_cli() -> None:
    result = CliRunner().invoke(cli.planner, ["topology", "list"])
    assert result.exit_code == 0, result.output
    for name in presets():
        assert name in result.output


def _pool(summary: dict, dc: str, system: str) -> dict:
    return summary["datacenters"][dc]["systems"][system]


def test_cores_ratios_and_peaks(catalog, multi) -> None:
    s = summarize(multi, catalog)
    h100 = _pool(s, "dc-central", "hgx-h100")
    nvl72 = _pool(s, "dc-east", "gb200-nvl72")
    trn2 = _pool(s, "dc-west", "trn2-server")
    # Cores per accelerator from REFERENCE.md: 14, 36, 6 (exact: whole cores).
    assert h100["cores_per_accelerator"] == 14
    assert nvl72["cores_per_accelerator"] == 36
    assert trn2["cores_per_accelerator"] == 6
    assert (
        h100["cpu_to_accelerator_socket_ratio"],
        nvl72["cpu_to_accelerator_socket_ratio"],
        trn2["cpu_to_accelerator_socket_ratio"],
    ) == ("4:1", "2:1", "8:1")
    # Peak dense BF16 per unit: trn2.48xlarge 10.7 PF (AWS), NVL72 180 PF (NVIDIA), within 1%.
    assert trn2["peak_flops_per_unit"]["bf16"] == pytest.approx(10.7e15, rel=REL)
    assert nvl72["peak_flops_per_unit"]["bf16"] == pytest.approx(180e15, rel=REL)
    assert nvl72["hbm_bytes_per_unit"] == pytest.approx(13.4e12, rel=REL)  # 13.4 TB per rack
    cpu = s["datacenters"]["dc-west"]["cpu_servers"]
    assert cpu["cores_per_accelerator"] is None and cpu["cpu_to_accelerator_socket_ratio"] is None
    assert _pool(s, "dc-central", "hgx-h100")["owned"] == 500


def test_rainier_holds_about_400k_chips(catalog) -> None:
    s = summarize(load_topology("rainier-campus", catalog), catalog)
    dc = s["datacenters"]["rainier"]
    assert dc["accelerators_at_max_units"] == 400_000
    assert not dc["power_cap_binds_at_max_units"]  # cap sized to fit the full build


def test_links_and_paths(multi) -> None:
    assert [link.id for link in multi.links()] == [
        "dc-east--dc-central",
        "dc-central--dc-west",
        "dc-east--dc-west",
    ]
    assert multi.link("dc-east--dc-central").capacity_bytes_per_s == pytest.approx(25.6e12 / 8)
    assert multi.link("dc-east--dc-central").latency_s == pytest.approx(0.010)
    # east -> west: through central (10 + 25 = 35 ms) beats the direct 40 ms link.
    assert multi.path("dc-east", "dc-west") == ["dc-east--dc-central", "dc-central--dc-west"]
    assert multi.path("dc-west", "dc-east") == ["dc-central--dc-west", "dc-east--dc-central"]
    assert multi.path_latency_s("dc-east", "dc-west") == pytest.approx(0.035)
    assert multi.path("dc-central", "dc-central") == []
    assert multi.connected
    assert multi.system_names() == ["gb200-nvl72", "hgx-b200", "hgx-h100", "trn2-server"]
    with pytest.raises(KeyError):
        multi.path("dc-east", "dc-nowhere")


GOOD = """
name: t
description: test
source: test data
datacenters:
  a:
    power_cap: 10 MW
    pue: 1.2
    electricity_usd_per_kwh: 0.08
    systems:
      hgx-h100: {max_units: 100}
    cpu_servers: {system: cpu-server, max_units: 10}
  b:
    power_cap: 10 MW
    pue: 1.2
    electricity_usd_per_kwh: 0.08
    systems:
      trn2-server: {max_units: 100}
  c:
    power_cap: 5 MW
    pue: 1.1
    electricity_usd_per_kwh: 0.08
    cpu_servers: {system: cpu-server, max_units: 10}
links:
  - {a: a, b: b, capacity: 1.6 Tbps, latency: 5 ms, cost_usd_per_tb: 1}
"""


def test_disconnected_is_allowed_and_shown(tmp_path: Path, catalog) -> None:
    topo = load_topology(str(_write(tmp_path, GOOD)), catalog)
    assert not topo.connected
    assert topo.components() == [["a", "b"], ["c"]]
    assert topo.path("a", "c") is None
    s = summarize(topo, catalog)
    assert s["connected"] is False
    assert "Connected: NO" in format_summary(s)


def test_equal_latency_tie_is_deterministic(tmp_path: Path, catalog) -> None:
    text = GOOD.replace(
        "links:\n",
        """links:
  - {a: b, b: c, capacity: 1.6 Tbps, latency: 5 ms, cost_usd_per_tb: 1}
  - {a: a, b: c, capacity: 1.6 Tbps, latency: 10 ms, cost_usd_per_tb: 1}
""",
    )
    topo = load_topology(str(_write(tmp_path, text)), catalog)
    # a -> c: direct 10 ms ties with a-b-c (5 + 5 ms); the tie goes to fewer links.
    assert topo.path("a", "c") == ["a--c"]
    assert topo.path("c", "a") == ["a--c"]
    assert topo.path("a", "b") == ["a--b"]
    assert topo.connected


def _bad(tmp_path: Path, old: str, new: str) -> Path:
    assert old in GOOD
    return _write(tmp_path, GOOD.replace(old, new), "bad.yaml")


def _line_of(path: Path, needle: str) -> int:
    for i, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


CASES = {
    "unknown system": (
        "trn2-server: {max_units: 100}",
        "trn3-server: {max_units: 100}",
        "trn3-server",
        "datacenters.b.systems.trn3-server",
        "unknown system 'trn3-server'",
    ),
    "cpu-only in systems": (
        "trn2-server: {max_units: 100}",
        "cpu-server: {max_units: 100}",
        "cpu-server: {max_units: 100}",
        "datacenters.b.systems.cpu-server",
        "CPU-only",
    ),
    "link to unknown datacenter": (
        "{a: a, b: b,",
        "{a: a, b: dc-nowhere,",
        "dc-nowhere",
        "links[0].b",
        "unknown datacenter 'dc-nowhere'",
    ),
    "self link": (
        "{a: a, b: b,",
        "{a: a, b: a,",
        "{a: a, b: a,",
        "links[0].b",
        "both ends",
    ),
    "duplicate link": (
        "  - {a: a, b: b, capacity: 1.6 Tbps, latency: 5 ms, cost_usd_per_tb: 1}",
        "  - {a: a, b: b, capacity: 1.6 Tbps, latency: 5 ms, cost_usd_per_tb: 1}\n"
        "  - {name: second, a: b, b: a, capacity: 1.6 Tbps, latency: 5 ms, cost_usd_per_tb: 1}",
        "name: second",
        "links[1]",
        "second link between",
    ),
    "duplicate link id": (
        "  - {a: a, b: b, capacity: 1.6 Tbps, latency: 5 ms, cost_usd_per_tb: 1}",
        "  - {name: x, a: a, b: b, capacity: 1.6 Tbps, latency: 5 ms, cost_usd_per_tb: 1}\n"
        "  - {name: x, a: a, b: c, capacity: 1.6 Tbps, latency: 5 ms, cost_usd_per_tb: 1}",
        "b: c,",
        "links[1].name",
        "duplicate link id 'x'",
    ),
    "owned above max": (
        "hgx-h100: {max_units: 100}",
        "hgx-h100: {max_units: 100, owned: 200}",
        "owned: 200",
        "datacenters.a.systems.hgx-h100",
        "cannot exceed max_units",
    ),
    "bare number capacity": (
        "capacity: 1.6 Tbps",
        "capacity: 1600",
        "capacity: 1600",
        "links[0].capacity",
        "missing unit",
    ),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_cross_reference_errors(case: str, tmp_path: Path, catalog, capsys) -> None:
    old, new, line_needle, field, message = CASES[case]
    path = _bad(tmp_path, old, new)
    line = _line_of(path, line_needle)
    with pytest.raises(ConfigError) as exc:
        load_topology(str(path), catalog)
    text = str(exc.value)
    assert f"{path}:{line}: {field}" in text, text
    assert message in text
    assert cli.main(["topology", "show", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{line}: {field}" in err and "Traceback" not in err


def test_all_problems_reported_together(tmp_path: Path, catalog) -> None:
    text = GOOD.replace("trn2-server:", "trn9:").replace("{a: a, b: b,", "{a: a, b: zz,")
    with pytest.raises(ConfigError) as exc:
        load_topology(str(_write(tmp_path, text)), catalog)
    assert len(exc.value.problems) == 2


def test_unknown_preset_lists_presets(catalog, capsys) -> None:
    with pytest.raises(ConfigError, match="multi-dc"):
        load_topology("multi-dcc", catalog)
    assert cli.main(["topology", "show", "multi-dcc"]) == 1
    assert "presets:" in capsys.readouterr().err
    assert cli.main(["topology", "show", "missing.yaml"]) == 1
    assert "file not found" in capsys.readouterr().err


def _path_of_a_run_stopped_at_b(topo: Topology, a: str, b: str) -> list[str] | None:
    """path(a, b) as it was made per pair: Dijkstra on (latency, hops, ids) stopped at b."""
    if a == b:
        return []
    best = {a: (0.0, 0, ())}
    heap: list = [(0.0, 0, (), a)]
    done: set[str] = set()
    while heap:
        lat, hops, ids, node = heapq.heappop(heap)
        if node in done:
            continue
        done.add(node)
        if node == b:
            return list(ids)
        for nbr, link in topo._links_of(node).items():
            cand = (lat + link.latency_s, hops + 1, (*ids, link.id))
            if nbr not in done and (nbr not in best or cand < best[nbr]):
                best[nbr] = cand
                heapq.heappush(heap, (*cand, nbr))
    return None


def test_paths_from_one_run_per_source_are_the_paths_of_a_run_per_pair(
    tmp_path: Path, catalog
) -> None:
    """path() runs Dijkstra from a to the end and keeps every datacenter's path: each is the
    one a run stopped at that datacenter finds, on every preset and on bench_lp's 30-site
    fleet (latency ties, disconnected sites), asked in any order."""
    from bench_lp import write_scenario

    from planner.scenario import load_scenario

    fleet = load_scenario(write_scenario(tmp_path, 30, 2, 2, 1, None, "365 days", 1.0))
    tied = load_topology(str(_write(tmp_path, GOOD.replace("links:\n", TIED_LINKS))), catalog)
    topologies = [load_topology(name, catalog) for name in presets()]
    for topo in [*topologies, fleet.topology, tied]:
        names = topo.datacenters()
        for a, b in [(a, b) for b in reversed(names) for a in names]:
            assert topo.path(a, b) == _path_of_a_run_stopped_at_b(topo, a, b), (a, b)


TIED_LINKS = """links:
  - {a: b, b: c, capacity: 1.6 Tbps, latency: 5 ms, cost_usd_per_tb: 1}
  - {a: a, b: c, capacity: 1.6 Tbps, latency: 10 ms, cost_usd_per_tb: 1}
"""
