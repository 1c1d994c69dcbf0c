"""Options shared by the commands that read a scenario."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

catalog_option = click.option(
    "--catalog",
    "catalog_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Catalog YAML overlaid on the shipped one (repeatable; later files win; relative to the "
    "working directory).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (SI units).")


class Share(click.FloatRange):
    """A share from 0 to 1 (--gap): '1%' says to write a fraction, as the YAML path and the
    Python API do (qa28b: click said "'1%' is not a valid float range")."""

    def __init__(self) -> None:
        super().__init__(0, 1)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = value.strip() if isinstance(value, str) else ""
        if text.endswith("%"):
            try:
                fraction = float(text[:-1].strip()) / 100
            except ValueError:
                pass
            else:
                self.fail(f"{value!r} is a percent: write a share as a fraction ({fraction:g})")
        return super().convert(value, param, ctx)


def finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A float option's value when finite: click's FloatRange lets inf and nan through (nan
    compares false with its bounds), and solve() then named `<planner.solve>`, not the option."""
    import math

    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number.", ctx=ctx, param=param)
    return value


def _shipped(value: str) -> str:
    from planner.scenario import shipped_scenario

    return shipped_scenario(value)


def scenario_argument(required: bool = False) -> Callable[..., Any]:
    """SCENARIO_FILE: a path, or the name of a shipped scenario (planner/scenarios/)."""
    return click.argument(
        "scenario_file",
        required=required,
        type=click.Path(dir_okay=False),
        callback=lambda _ctx, _param, value: None if value is None else _shipped(value),
    )


def scenario_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--scenario (named overrides), --set (path=value), --topology (replace the topology)."""
    func = click.option(
        "--topology",
        default=None,
        help="Replace the scenario's topology: a preset name, or a YAML file (a path with a '/' "
        "or ending in .yaml, relative to the working directory).",
    )(func)
    func = click.option(
        "--set",
        "sets",
        multiple=True,
        metavar="PATH=VALUE",
        help="Override one field, e.g. --set workloads.chat.requests_per_day=200M (repeatable).",
    )(func)
    func = click.option(
        "--scenario",
        "scenarios",
        default="",
        metavar="NAME[,NAME]",
        help="Apply named overrides from the scenario file's `overrides:`, in order.",
    )(func)
    return func


def load_from_options(
    scenario_file: str | None, scenarios: str, sets: tuple[str, ...], topology: str | None
):
    from planner.scenario import load_scenario

    names = [s.strip() for s in scenarios.split(",") if s.strip()]
    return load_scenario(scenario_file, scenarios=names, sets=list(sets), topology=topology)


def solve_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--relax, --solver, --time-limit, --gap: how each plan is solved (over the scenario's
    `solver:` settings)."""
    func = click.option(
        "--gap",
        "mip_gap",
        type=Share(),
        default=None,
        callback=finite,
        help="Relative MIP gap to stop at (default: the scenario's solver.mip_gap, 0.01 unless "
        "it sets one).",
    )(func)
    func = click.option(
        "--time-limit",
        "time_limit_s",
        type=click.FloatRange(min=0, min_open=True),
        default=None,
        callback=finite,
        help="Time limit for the whole plan, seconds: every solve and the diagnosis of an "
        "infeasible scenario share it (a stage left no time is not run and said to be; "
        "default: the scenario's solver.time_limit, 60 s unless it sets one).",
    )(func)
    func = click.option(
        "--solver",
        type=click.Choice(["highs", "cbc"]),
        default=None,
        help="Override the scenario's solver.solver (highs unless it sets one).",
    )(func)
    func = click.option(
        "--relax",
        is_flag=True,
        help="Solve the LP relaxation only (fractional units); it reports shadow prices.",
    )(func)
    return func


# --html on plan, compare and sweep: one definition.
html_option = click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write a self-contained HTML report (charts and tables, no external assets).",
)


def png_path(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--plot's callback: the charts are PNG, so a file named otherwise is refused before any
    work (`--plot chart.jpg` wrote PNG bytes under a .jpg name)."""
    if value is not None and not value.lower().endswith(".png"):
        raise click.BadParameter(
            f"{value!r}: the chart is written as PNG; name the file .png", ctx, param
        )
    return value
