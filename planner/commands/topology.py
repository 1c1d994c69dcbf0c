"""`planner topology`: cluster graphs (datacenters, their systems, links) and their summaries."""

from __future__ import annotations

import json

import click

from fleetcore.tables import WIDTH, table
from hardware.catalog import load_catalog
from planner.commands.hardware import catalog_option, json_option
from topologies.builder import load_topology, presets
from topologies.summary import format_summary, summarize


@click.group("topology")
def command() -> None:
    """Inspect cluster topologies: shipped presets or your own YAML files.

    \b
    Examples:
      planner topology list
      planner topology show multi-dc
      planner topology show my-sites.yaml --json
    """


@command.command("list")
@catalog_option
@json_option
def list_(catalog_files: tuple[str, ...], as_json: bool) -> None:
    """List the shipped topology presets.

    \b
    Examples:
      planner topology list
      planner topology list --json
    """
    catalog = load_catalog(catalog_files)
    rows = []
    for name in presets():
        topo = load_topology(name, catalog)
        s = summarize(topo, catalog)
        rows.append(
            {
                "name": name,
                "description": topo.data.description,
                "datacenters": len(s["datacenters"]),
                "links": len(s["links"]),
                "systems": s["system_names"],
                "accelerators_at_max_units": sum(
                    dc["accelerators_at_max_units"] for dc in s["datacenters"].values()
                ),
                "power_cap_w": sum(dc["power_cap_w"] for dc in s["datacenters"].values()),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(
        table(
            ["preset", "sites", "links", "cap MW", "max accelerators", "systems", "description"],
            [
                [
                    r["name"],
                    r["datacenters"],
                    r["links"],
                    round(r["power_cap_w"] / 1e6, 1),
                    r["accelerators_at_max_units"],
                    ", ".join(r["systems"]),
                    r["description"],
                ]
                for r in rows
            ],
            width=WIDTH,
        )
    )


@command.command("show")
@click.argument("topology", metavar="NAME|FILE")
@catalog_option
@json_option
def show(topology: str, catalog_files: tuple[str, ...], as_json: bool) -> None:
    """Summarise a topology: per datacenter and system type, links, connectivity.

    NAME|FILE is a preset name (see `planner topology list`) or a topology YAML file.

    \b
    Examples:
      planner topology show multi-dc
      planner topology show nvl72-campus --json
      planner topology show my-sites.yaml --catalog my-catalog.yaml
    """
    catalog = load_catalog(catalog_files)
    summary = summarize(load_topology(topology, catalog), catalog)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        click.echo(format_summary(summary))
