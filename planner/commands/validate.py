"""`planner validate`: check a scenario (and its topology and catalog files) without solving."""

from __future__ import annotations

import click

from planner.commands.options import load_from_options, scenario_argument, scenario_options


@click.command("validate")
@scenario_argument(required=True)
@scenario_options
def command(scenario_file, scenarios, sets, topology):
    """Validate SCENARIO_FILE: every problem is listed as file:line: field: message, and the
    exit code is 1 if there is any.

    \b
    Example:
      planner validate frontier-lab --scenario 2x_rollouts
    """
    from planner.api import demands
    from planner.lp.build import build
    from planner.lp.solve import check_magnitudes

    scenario = load_from_options(scenario_file, scenarios, sets, topology)
    work = demands(scenario)
    # the model's figures too (built, not solved: ~40 ms for frontier-3y), so a figure the
    # solver cannot hold is reported here as `planner plan` reports it, not found valid
    check_magnitudes(build(scenario, work))
    roles = sum(len(d.roles) for d in work)
    click.echo(
        f"{scenario_file}: ok — topology {scenario.topology.name} "
        f"({len(scenario.topology.datacenters())} datacenters), {len(work)} workloads, {roles} work items"
    )
