"""`planner sensitivity`: re-solve at each end of every catalog estimate's range (a tornado)."""

from __future__ import annotations

import click

from planner.commands.options import (
    Share,
    finite,
    load_from_options,
    png_path,
    scenario_options,
)


@click.command("sensitivity")
@click.argument("scenario_file", required=False, type=click.Path(dir_okay=False))
@scenario_options
@click.option(
    "--only",
    multiple=True,
    metavar="GLOB",
    help="Only the figures whose kind.entry.figure matches (repeatable), e.g. "
    "'systems.*.capex_usd'.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Worker processes.",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.01,
    show_default=True,
    help="Bisection stops when the break-even interval is this share of |end - default|.",
)
@click.option("--no-break-even", is_flag=True, help="Skip the bisection for flipping estimates.")
@click.option(
    "--gap",
    "mip_gap",
    type=Share(),
    default=None,
    callback=finite,
    help="Relative MIP gap of every re-solve (default: the scenario's).",
)
@click.option(
    "--time-limit",
    "time_limit_s",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    callback=finite,
    help="Solver time limit per re-solve, seconds (default: the scenario's).",
)
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False),
    callback=png_path,
    help="Write a tornado PNG.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (SI units).")
def command(
    scenario_file,
    scenarios,
    sets,
    topology,
    only,
    jobs,
    tolerance,
    no_break_even,
    mip_gap,
    time_limit_s,
    plot_file,
    as_json,
):
    """Re-solve SCENARIO_FILE (default: frontier-3y) with each catalog figure marked
    "estimate" at the low and the high end of its range (catalog `ranges:`), print a tornado
    table sorted by swing, and name the estimates that flip the choice of system or site, with
    the break-even value found by bisection.

    \b
    Examples:
      planner sensitivity
      planner sensitivity --only 'systems.*.capex_usd' --plot tornado.png
      planner sensitivity my.yaml --gap 0 --tolerance 0.001 --json

    Exit codes: 0 done; 1 bad input; 2 the plan at the defaults is infeasible; 3 solver failure.
    """
    from planner.sensitivity import sensitivity

    scenario = load_from_options(scenario_file, scenarios, sets, topology)

    live = click.get_text_stream("stderr").isatty()

    def progress(done: int, total: int) -> None:
        if live or done == total:
            click.echo(f"\r  re-solved {done}/{total}", err=True, nl=done == total)

    result = sensitivity(
        scenario,
        only=list(only) or None,
        jobs=jobs,
        tolerance=tolerance,
        break_even=not no_break_even,
        mip_gap=mip_gap,
        time_limit_s=time_limit_s,
        progress=progress,
    )
    if plot_file:
        click.echo(f"wrote {result.plot(plot_file)}", err=True)
    click.echo(result.to_json() if as_json else result.table())
