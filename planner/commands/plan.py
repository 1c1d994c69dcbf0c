"""`planner plan`: the cheapest verified fleet and placement for a scenario."""

from __future__ import annotations

import click

from planner.commands.options import (
    html_option,
    load_from_options,
    png_path,
    scenario_argument,
    scenario_options,
    solve_options,
)


@click.command("plan")
@scenario_argument()
@scenario_options
@solve_options
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the plan as JSON (keys documented in the README).",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Also print the cost of each work item on every system placed (why a system wins).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write plan.json and one CSV per table to DIR.",
)
@html_option
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a PNG of capacity in service vs demand per period, by procurement type.",
    callback=png_path,
)
@click.option(
    "--save-lp",
    "model_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the model before solving: MPS if FILE ends in .mps, else LP format.",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Print only the headline and the decision; no progress messages on stderr.",
)
@click.option(
    "--value-limits",
    is_flag=True,
    help="Also re-solve with each limit relaxed and each training choice forced to its "
    "runner-up, in parallel: the value of every limit (planner/limits.py).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker processes for --value-limits.",
)
def command(
    scenario_file,
    scenarios,
    sets,
    topology,
    relax,
    solver,
    time_limit_s,
    mip_gap,
    as_json,
    explain,
    out_dir,
    html_file,
    plot_file,
    model_file,
    quiet,
    value_limits,
    jobs,
):
    """Plan the cheapest fleet and placement for SCENARIO_FILE (default: the shipped
    frontier-3y scenario: a frontier lab's next three years in quarters on the multi-dc
    topology).

    \b
    Examples:
      planner plan
      planner plan frontier-lab --scenario rental,2x_rollouts --json
      planner plan my.yaml --set workloads.chat.requests_per_day=200M --out results/
      planner plan my.yaml --relax          # shadow prices: $ per MW, core, Gbps, unit
      planner plan --explain                # $ per M tokens / per EFLOP of each work item on each system
      planner plan rl-verifiers --html plan.html   # a shipped scenario by name; open the file
      planner plan --save-lp model.mps -q   # the model for another solver, and the decision
      planner plan --value-limits           # re-solve with each limit relaxed: what it is worth
      planner plan frontier-3y --plot capacity.png   # capacity vs demand per quarter

    Exit codes: 0 planned; 1 bad input; 2 infeasible (the diagnosis says what falls short);
    3 solver failure or failed verification.
    """
    from planner.api import solve
    from planner.report import format_plan, format_summary

    if value_limits and relax:
        raise click.UsageError("--value-limits re-solves whole-unit plans: drop --relax")
    scenario = load_from_options(scenario_file, scenarios, sets, topology)
    plan = solve(
        scenario,
        relax=relax,
        solver=solver,
        time_limit_s=time_limit_s,
        mip_gap=mip_gap,
        save_model=model_file,
    )
    written = []
    if model_file:
        written.append(model_file)
    if value_limits:
        from planner.limits import value_limits as run_value_limits

        plan.limit_values = run_value_limits(
            scenario, plan, jobs=jobs, solver=solver, time_limit_s=time_limit_s, mip_gap=mip_gap
        )
    if out_dir:
        written += plan.write(out_dir)
    if html_file:
        from planner.explain import explain_text
        from planner.htmlreport import write_plan_html

        why = explain_text(scenario, plan)
        written.append(write_plan_html(plan, html_file, explain=why))
    if plot_file:
        from planner.capacity_chart import plot_capacity

        written.append(plot_capacity(plan, plot_file))
    if not quiet:
        for path in written:
            click.echo(f"wrote {path}", err=True)
    if as_json:
        click.echo(plan.to_json())
    else:
        click.echo(format_summary(plan) if quiet else format_plan(plan))
    if explain:
        from planner.explain import explain_text

        click.echo("\n" + explain_text(scenario, plan), err=as_json)
