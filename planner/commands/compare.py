"""`planner compare`: the same workloads on several topologies, side by side."""

from __future__ import annotations

import click

from planner.commands.options import html_option, png_path, scenario_argument, solve_options


@click.command("compare")
@scenario_argument()
@click.option(
    "--topology",
    "topologies",
    multiple=True,
    required=True,
    metavar="T",
    help="A preset name or a topology YAML file (repeat: one column each).",
)
@click.option(
    "--scenario",
    "scenarios",
    default="",
    metavar="NAME[,NAME]",
    help="Apply named overrides from the scenario file's `overrides:`, in order.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=VALUE",
    help="Override one field on every topology (repeatable).",
)
@solve_options
@click.option("--json", "as_json", is_flag=True, help="Print every column's summary as JSON.")
@html_option
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a grouped bar chart of cost by workload per topology (PNG).",
    callback=png_path,
)
def command(
    scenario_file,
    topologies,
    scenarios,
    sets,
    relax,
    solver,
    time_limit_s,
    mip_gap,
    as_json,
    html_file,
    plot_file,
):
    """Solve SCENARIO_FILE's workloads (default: the shipped single-year frontier-lab scenario,
    which runs on any topology) on each
    --topology and show them side by side: total cost and cost per workload, $ per million
    output tokens of each inference tier (the tier's cost / decode tokens served x 1e6), units,
    accelerators, CPU cores and cores per accelerator (CPU-only servers included), power, days
    to finish each pretraining at its allocated rate, binding constraints and shadow prices.

    A topology on which the work is infeasible shows its diagnosis; the others still show.

    \b
    Examples:
      planner compare --topology nvl72-campus --topology h100-cluster --topology rainier-campus
      planner compare my.yaml --topology multi-dc --topology my-site.yaml --json
      planner compare --topology nvl72-campus --topology rainier-campus --plot cost.png

    Exit codes: 0 at least one topology planned; 1 bad input; 2 infeasible on every topology;
    3 solver failure on every topology.
    """
    from fleetcore.outfile import check_writable
    from planner.comparison import compare
    from planner.plan import Plan
    from planner.scenario import COMPARE_DEFAULT_SCENARIO

    check_writable(html_file)  # before any topology is solved
    check_writable(plot_file)
    names = [s.strip() for s in scenarios.split(",") if s.strip()]
    result = compare(
        scenario_file if scenario_file is not None else COMPARE_DEFAULT_SCENARIO,
        list(topologies),
        scenarios=names,
        sets=list(sets),
        relax=relax,
        solver=solver,
        time_limit_s=time_limit_s,
        mip_gap=mip_gap,
    )
    if html_file:
        from fleetcore.outfile import write_text
        from planner.htmlreport import comparison_html

        write_text(html_file, comparison_html(result))
        click.echo(f"wrote {html_file}", err=True)
    if plot_file:
        click.echo(f"wrote {result.plot(plot_file)}", err=True)
    click.echo(result.to_json() if as_json else result.format())
    if not any(isinstance(c, Plan) for c in result.columns.values()):
        raise next(iter(result.columns.values()))  # type: ignore[misc]
