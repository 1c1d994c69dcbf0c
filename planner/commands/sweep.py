"""`planner sweep`: a grid of what-ifs, solved in parallel, to CSV and JSON."""

from __future__ import annotations

from pathlib import Path

import click

from planner.commands.options import html_option, png_path, scenario_argument, solve_options


@click.command("sweep")
@scenario_argument()
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=V1,V2,...",
    help="A swept field and its values, split on commas, each read as YAML (repeatable: "
    "the grid is the cartesian product of the fields; a field given twice adds its values to "
    "its axis).",
)
@click.option(
    "--scenario",
    "scenarios",
    default=None,
    metavar="NAME[,NAME]",
    help="One more axis over the file's named overrides: each value a name, 'a+b' for "
    "both, or empty (',rental') for none.",
)
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes for --executor process (Ray schedules on its own CPUs).",
)
@click.option(
    "--executor",
    type=click.Choice(["auto", "process", "ray"]),
    default="auto",
    show_default=True,
    help="Where points run: local processes, or Ray (pip install -e '.[ray]'); auto: Ray "
    "when a cluster address is given, else local processes (the run says which and why).",
)
@click.option(
    "--ray-address",
    default=None,
    metavar="ADDR",
    help="Ray cluster to connect to (default RAY_ADDRESS, else a local instance).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Write sweep.csv and sweep.json to DIR and reuse solved points from DIR/.cache.",
)
@click.option(
    "--no-cache", is_flag=True, help="Solve every point again (the cache is still refreshed)."
)
@click.option(
    "--fresh-solver",
    is_flag=True,
    help="A new HiGHS object for every point (the default keeps one per worker process and "
    "solves every point from nothing in it: the same results, less set-up).",
)
@html_option
@click.option(
    "--plot",
    "plot_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a PNG of --y against the first swept field.",
    callback=png_path,
)
@click.option(
    "--y",
    "y_column",
    default="total_cost_usd",
    show_default=True,
    help="Numeric output column to plot: total_cost_usd, gap, accelerators, cpu_servers, "
    "cpu_cores, cores_per_accelerator, facility_power_w, or units:SYSTEM, accelerators:SYSTEM, "
    "facility_power_w:SITE, cost_usd:WORKLOAD (checked before any point is solved).",
)
@solve_options
@click.option("--json", "as_json", is_flag=True, help="Print the points as JSON (as sweep.json).")
def command(
    scenario_file,
    sets,
    scenarios,
    jobs,
    executor,
    ray_address,
    out_dir,
    no_cache,
    fresh_solver,
    html_file,
    plot_file,
    y_column,
    relax,
    solver,
    time_limit_s,
    mip_gap,
    as_json,
):
    """Solve the grid of what-ifs over SCENARIO_FILE (default: the shipped frontier-3y
    scenario): every combination of the --set values and --scenario overrides. One row per
    point: its inputs, status, total cost, gap, units and accelerators per system, CPU servers,
    cores per accelerator, power per site, cost per workload, binding constraints, and the
    error and diagnosis of a point that is infeasible or fails (the sweep goes on).

    \b
    Examples:
      planner sweep planner/scenarios/rl-verifiers.yaml \\
          --set workloads.rl-code.samples_per_problem=4,16,64 --scenario rainier,nvl72 \\
          --jobs 2 --out results/ --plot cost.png
      planner sweep --set 'topology_changes.datacenters.dc-east.power_cap=50 MW,100 MW,200 MW'
      planner sweep my.yaml --set economics.pricing=amortised,rental --executor ray

    Exit codes: 0 at least one point planned; otherwise that of the first failure (1 bad
    input, 2 infeasible, 3 solver failure).
    """
    import sys

    from fleetcore.outfile import check_writable
    from planner.sweeps import (
        SweepFailed,
        check_plot_options,
        check_y_name,
        parse_set_axes,
        split_values,
        sweep,
    )

    grid = parse_set_axes(sets)
    axis = None if scenarios is None else split_values(scenarios)
    check_plot_options(y_column, bool(grid) or axis is not None, plot_file is not None)
    check_writable(html_file)  # before any point is solved
    check_writable(plot_file)
    from planner.sweeps import grid_points

    points = grid_points(grid, axis)
    check_y_name(y_column, scenario_file, points)
    total = len(points)
    with click.progressbar(
        length=total,
        label=f"solving {total} point{'s' if total != 1 else ''}",
        show_eta=True,
        show_pos=True,
        file=sys.stderr,
    ) as bar:
        result = sweep(
            scenario_file,
            grid,
            axis,
            jobs=jobs,
            executor=executor,
            ray_address=ray_address,
            out_dir=out_dir,
            use_cache=not no_cache,
            keep_solver=not fresh_solver,
            progress=lambda _rec: bar.update(1),
            relax=relax,
            solver=solver,
            time_limit_s=time_limit_s,
            mip_gap=mip_gap,
        )
    failed = [p for p in result.points if p["status"] not in ("optimal", "feasible", "relaxed")]
    click.echo(
        f"{len(result)} points: {len(result) - len(failed)} planned, {len(failed)} infeasible or "
        f"failed; {result.solved} solved in this run, {result.reused} reused from the cache",
        err=True,
    )
    click.echo(f"executor: {result.executor}", err=True)
    for note in result.cache_notes:
        click.echo(f"malformed cache entry {note}", err=True)
    rates = result.mixed_bases()
    if rates:
        click.echo(
            "warning: total_cost_usd mixes bases: present values at discount rates "
            f"{', '.join(f'{r:g}' for r in rates)} (0: at face value); nominal_cost_usd gives "
            "every point's charges at face value",
            err=True,
        )
    if result.mixed_after_horizon():
        click.echo(
            "warning: total_cost_usd mixes what happens after the horizon: points with "
            "economics.after_horizon ends are charged whole capex and contract terms, the others "
            "only their share inside the horizon (the after_horizon column says which)",
            err=True,
        )
    if out_dir:
        out = Path(out_dir)
        click.echo(f"wrote {out / 'sweep.csv'} and {out / 'sweep.json'}", err=True)
    if html_file:
        from fleetcore.outfile import write_text
        from planner.htmlreport import sweep_html

        write_text(html_file, sweep_html(result))
        click.echo(f"wrote {html_file}", err=True)
    if plot_file:
        click.echo(f"wrote {result.plot(plot_file, y=y_column)}", err=True)
    click.echo(result.to_json() if as_json else format_sweep(result))
    if failed and len(failed) == len(result):
        first = failed[0]
        raise SweepFailed(
            f"every point failed; first: {first['point']}: {first['error']}", first["exit_code"]
        )


def format_sweep(result) -> str:
    from fleetcore.tables import WIDTH, table, usd
    from planner.sweeps import _short

    systems = sorted(
        {k.split(":", 1)[1] for p in result.points for k in p if k.startswith("units:")}
    )
    # the basis of each total where a point charges whole capex and terms, as compare's row and
    # the CSV's column say it (the stderr warning of a mix points to this column)
    basis = result.after_horizon_ends() and "economics.after_horizon" not in result.axes
    rows = []
    for p in result.points:
        ok = p["status"] in ("optimal", "feasible", "relaxed")
        rows.append(
            [
                *(p[a] for a in result.axes),
                *([p.get("after_horizon", "continues") if ok else None] if basis else []),
                p["status"],
                usd(p["total_cost_usd"]) if ok else "-",
                *((p.get(f"units:{s}", 0.0) if ok else None) for s in systems),
                p["cpu_servers"] if ok else None,
                # one decimal always, as `compare` prints it (a whole 52.0 showed as "52")
                f"{p['cores_per_accelerator']:,.1f}"
                if ok and p["cores_per_accelerator"] is not None
                else None,
                "; ".join(p["binding_constraints_days"]) if ok else (p["error"] or ""),
            ]
        )
    headers = [
        *(_short(a, result.axes) for a in result.axes),
        *(["after_horizon"] if basis else []),
        "status",
        "total cost",
        *systems,
        "CPU servers",
        "cores/acc",
        "binding / error",
    ]
    points = f"{len(result)} point{'' if len(result) == 1 else 's'}"
    out = [f"Sweep of {result.scenario}: {points}", table(headers, rows, width=WIDTH)]
    if rows:
        # before session 24 the system columns were bare numbers: units or accelerators?
        out.append(
            "  (a system's column: its units at each site's peak period, summed over sites, as "
            "the CSV's units:SYSTEM; CPU servers: units; cores/acc: CPU cores of the fleet and "
            "its CPU servers per accelerator)"
        )
    for p in result.points:
        if p["diagnosis"]:
            out.append(f"\n{p['point']}: {p['status']}")
            out.extend(f"  - {d}" for d in p["diagnosis"])
        elif p["error"]:
            # the table's column cuts the error; a failure with no diagnosis has only this
            out.append(f"\n{p['point']}: {p['status']}\n  - {p['error']}")
    return "\n".join(out)
