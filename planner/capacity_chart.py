"""Capacity in service against demand over time, by procurement type: accelerators owned,
under term contracts, rented on demand and on spot, per calendar period, with the accelerators
busy (the work's demand on the fleet) as a line. Drawn as inline SVG for the HTML report and as
a PNG (`planner plan --plot FILE`). Every figure is the plan's schedule."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from planner.plan import Plan

TYPES = (
    ("owned", "owned_units", "#4e79a7"),
    ("contracted", "contracted_units", "#59a14f"),
    ("on demand", "rented_units", "#f28e2b"),
    ("spot", "spot_units", "#edc948"),
)


@dataclass(frozen=True)
class CapacitySeries:
    """Per calendar period: its span in days, accelerators in service by type, accelerators
    busy (average over the period)."""

    days: list[tuple[float, float]]
    by_type: dict[str, list[float]]
    busy: list[float]


def capacity_series(plan: Plan) -> CapacitySeries:
    """Accelerators per period from the schedule (units x accelerators per unit of the system,
    read from the fleet table)."""
    per_unit = {f.system: f.accelerators / f.units for f in plan.fleet if f.units > 0}
    periods = sorted({(r.period, r.start_s, r.end_s) for r in plan.schedule})
    index = {t: i for i, (t, _, _) in enumerate(periods)}
    by_type = {name: [0.0] * len(periods) for name, _, _ in TYPES}
    busy = [0.0] * len(periods)
    for r in plan.schedule:
        acc = per_unit.get(r.system, 0.0)
        i = index[r.period]
        for name, attr, _ in TYPES:
            by_type[name][i] += getattr(r, attr) * acc
        busy[i] += r.busy_units * acc
    days = [(a / 86400, b / 86400) for _, a, b in periods]
    return CapacitySeries(days, by_type, busy)


def capacity_svg(plan: Plan) -> str:
    """Stacked columns per period (accelerators in service by type) with the busy accelerators
    as a step line."""
    series = capacity_series(plan)
    n = len(series.days)
    if n == 0:
        return ""
    totals = [sum(v[i] for v in series.by_type.values()) for i in range(n)]
    top = max([*totals, *series.busy, 1.0])
    left, width, height, bottom = 70, 620, 220, 40
    col = width / n
    out = [
        f'<svg id="capacity-chart" role="img" width="{left + width + 20}" '
        f'height="{height + bottom + 30}" xmlns="http://www.w3.org/2000/svg">'
        "<title>Accelerators in service by procurement type, and busy, per period</title>",
        f'<text x="{left - 6}" y="14" text-anchor="end">{top:,.0f}</text>',
        f'<text x="{left - 6}" y="{height + 4}" text-anchor="end">0</text>',
    ]
    for i, (a, b) in enumerate(series.days):
        x = left + i * col
        y = float(height)
        for name, _, colour in TYPES:
            value = series.by_type[name][i]
            h = height * value / top
            if h > 0:
                out.append(
                    f'<rect x="{x + 1:.1f}" y="{y - h:.1f}" width="{col - 2:.1f}" '
                    f'height="{h:.1f}" fill="{colour}"><title>days {a:g}-{b:g}: {value:,.0f} '
                    f"accelerators {html.escape(name)}</title></rect>"
                )
            y -= h
        if n <= 16 or i % max(1, n // 8) == 0:
            out.append(
                f'<text x="{x + col / 2:.1f}" y="{height + 16}" text-anchor="middle">{a:g}</text>'
            )
    steps = []
    for i, value in enumerate(series.busy):
        y = height - height * value / top
        steps += [f"{left + i * col:.1f},{y:.1f}", f"{left + (i + 1) * col:.1f},{y:.1f}"]
    out.append(
        f'<polyline points="{" ".join(steps)}" fill="none" stroke="#222" stroke-width="2">'
        "<title>accelerators busy (average)</title></polyline>"
    )
    legend_y = height + bottom
    x = left
    for name, _, colour in TYPES:
        out.append(
            f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="{legend_y}">{html.escape(name)}</text>'
        )
        x += 30 + 8 * len(name)
    out.append(f'<text x="{x + 10}" y="{legend_y}">line = busy; x: day the period starts</text>')
    out.append("</svg>")
    return "".join(out)


def plot_capacity(plan: Plan, path: str | Path) -> Path:
    """The same chart as a PNG (matplotlib, headless)."""
    from planner.plots import pyplot, save_png

    series = capacity_series(plan)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 4))
    starts = [a for a, _ in series.days]
    widths = [b - a for a, b in series.days]
    base = [0.0] * len(starts)
    for name, _, colour in TYPES:
        values = series.by_type[name]
        ax.bar(starts, values, widths, bottom=base, align="edge", color=colour, label=name)
        base = [x + y for x, y in zip(base, values, strict=True)]
    ends = [b for _, b in series.days]
    ax.step(
        [*starts, ends[-1]],
        [*series.busy, series.busy[-1]],
        where="post",
        color="#222",
        label="busy",
    )
    ax.set_xlabel("day of the horizon")
    ax.set_ylabel("accelerators")
    ax.set_title(f"Capacity in service vs demand: {plan.scenario}")
    ax.legend(loc="upper left")
    return save_png(fig, path)
