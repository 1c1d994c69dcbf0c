"""`planner init`: write a commented starter scenario."""

from __future__ import annotations

from pathlib import Path

import click

from fleetcore.errors import ConfigError, Problem
from fleetcore.outfile import write_text


@click.command("init")
@click.argument("file", required=False, default="scenario.yaml", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def command(file: str, force: bool) -> None:
    """Write a commented starter scenario to FILE (default scenario.yaml): pretraining and a
    chat tier on the shipped multi-dc topology, with a rental what-if. It validates and plans
    as written.

    \b
    Examples:
      planner init my.yaml && planner plan my.yaml
    """
    from planner.authoring import starter_scenario

    path = Path(file)
    if path.exists() and not force:
        raise ConfigError([Problem(file, None, "", "file exists; pass --force to overwrite it")])
    write_text(path, starter_scenario(file))
    click.echo(f"wrote {file}: plan it with `planner plan {file}`", err=True)
