"""`planner schema`: the JSON Schema of scenario, topology or catalog files."""

from __future__ import annotations

import click


@click.command("schema")
@click.argument(
    "kind",
    required=False,
    default="scenario",
    type=click.Choice(["scenario", "topology", "catalog"]),
)
def command(kind: str) -> None:
    """Print the JSON Schema (draft 2020-12) of KIND files (default: scenario), made from the
    models that validate them. Quantities are strings with their unit ('90 days'), counts a
    number or an SI suffix ('15T'); unknown keys are not allowed.

    \b
    Examples:
      planner schema > scenario.schema.json     # for your editor's YAML language server
      planner schema topology
    """
    from planner.authoring import schema_json

    click.echo(schema_json(kind))
