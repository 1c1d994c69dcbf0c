"""One site, four HGX H100 servers and a 1M-requests-a-day chat tier: the smallest scenario that
plans, shared by the output, sweep and solver-outcome tests (imported as `tiny_site`: pytest puts
tests/ on the path)."""

from __future__ import annotations

import textwrap
from pathlib import Path

TOPOLOGY = textwrap.dedent(
    """\
    name: tiny
    description: "one site"
    source: "illustrative; tests"
    datacenters:
      dc-a:
        power_cap: 20 MW
        pue: 1.2
        electricity_usd_per_kwh: 0.07
        systems:
          hgx-h100: {max_units: 4}
    links: []
    """
)

CHAT = textwrap.dedent(
    """\
    topology: topo.yaml
    economics: {horizon: 365 days, pricing: amortised}
    workloads:
      chat:
        kind: inference
        model: llama-3.1-8b
        precision: fp8
        requests_per_day: 1M
        prompt_tokens: 1000
        output_tokens: 500
        tokens_per_s_per_user: 30
    """
)


def write_site(directory: Path, scenario: str = CHAT, topology: str = TOPOLOGY) -> Path:
    """topo.yaml and scenario.yaml in `directory`; the scenario's path."""
    (directory / "topo.yaml").write_text(topology, encoding="utf-8")
    path = directory / "scenario.yaml"
    path.write_text(scenario, encoding="utf-8")
    return path


def owned_h100_sites(sites: dict[str, tuple[float, int, int]]) -> str:
    """A topology of sites {name: (electricity US$/kWh, max_units, owned)} of HGX H100 servers,
    20 MW and PUE 1.2 each, no links."""
    lines = [
        "name: owned",
        'description: "sites owning H100 servers"',
        'source: "tests"',
        "datacenters:",
    ]
    for name, (usd_per_kwh, max_units, owned) in sites.items():
        lines += [
            f"  {name}:",
            "    power_cap: 20 MW",
            "    pue: 1.2",
            f"    electricity_usd_per_kwh: {usd_per_kwh}",
            "    systems:",
            f"      hgx-h100: {{max_units: {max_units}, owned: {owned}}}",
        ]
    return "\n".join([*lines, "links: []", ""])
