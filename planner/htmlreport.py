"""A self-contained HTML report of a plan (`planner plan --html FILE`): one file, no external
assets, no scripts. Inline CSS, charts as inline SVG drawn here (cost by workload with idle in
grey; facility power by site and system against each site's cap), then the tables: decision,
fleet, build schedule, pretraining jobs (each run's rated, rate and placed jobs), model sizing
(when the plan chooses the model), serving placement,
power, costs, binding limits and shadow prices, what is left out, and
the verification statement. Every figure is the plan's (the JSON's), formatted as in the text
report.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fleetcore.tables import is_figure, usd
from fleetcore.units import format_si
from planner.capacity_chart import capacity_svg
from planner.decision import decision, label_days, share_text, summary_lines, units_text
from planner.plan import Plan
from planner.report import (
    after_horizon_note,
    attribution_note,
    cash_flow_table,
    discount_basis,
    relaxation_only_note,
    total_cost_label,
)
from planner.rows import SLACK_UNITS, CostTotalRow, JobRow, price_unit_text

IDLE_GREY = "#b0b0b0"
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#af7aa1"]
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:980px;color:#222;line-height:1.4;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;
border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0;font-size:.92em}
th,td{padding:.2em .7em;border-bottom:1px solid #eee;text-align:left}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.headline{font-size:1.2em}.decision{background:#f6f8fa;border-left:4px solid #4e79a7;
padding:.6em 1em .6em 2em}.note{color:#666;font-size:.88em}
svg text{font-family:inherit;font-size:12px}
"""


def plan_html(plan: Plan, explain: str | None = None) -> str:
    """The whole report as one HTML string; `explain`: the text of `planner plan --explain`
    (the price of each work item on each system), shown as "Why these systems"."""
    d = decision(plan)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Plan: {_e(plan.scenario)}</title><style>{CSS}</style></head><body>",
        f"<h1>Plan for {_e(plan.scenario)}</h1>",
        f'<p class="headline" id="headline">{_e(plan.status)}: {_e(total_cost_label(plan))} '
        f'<b id="total-cost">{usd(plan.total_cost_usd)}</b>{_gap_text(plan)}'
        f"{_basis_text(plan)}</p>",
        "<h2>Decision</h2>",
        '<ul class="decision" id="decision">'
        + "".join(f"<li>{_e(line)}</li>" for line in summary_lines(d))
        + "</ul>",
        "<h2>Cost by workload</h2>",
        cost_chart(plan),
        "<h2>Fleet by site</h2>",
        power_chart(plan),
        _fleet_table(plan),
        _schedule_table(plan),
        _pretrain_jobs_html(plan),
        _rl_jobs_html(plan),
        _sizing_html(plan),
        _serving_html(plan),
        _rl_html(plan),
        "<h2>Power (IT x PUE against each site's cap)</h2>",
        _table(
            ["datacenter", "IT MW", "PUE", "facility MW", "cap MW", "of cap"],
            [
                [
                    p.datacenter,
                    f"{p.it_power_w / 1e6:,.2f}",
                    f"{p.pue:g}",
                    f"{p.facility_power_w / 1e6:,.2f}",
                    f"{p.power_cap_w / 1e6:,.1f}",
                    f"{p.share_of_cap:.0%}",
                ]
                for p in plan.power
            ],
            "power",
        ),
        "<h2>Costs</h2>",
        _table(
            ["component", "cost"],
            [[c.name, usd(c.cost_usd)] for c in _by_cost(plan.costs("component"))],
            "costs-component",
        ),
        _table(
            ["workload", "cost"],
            [[c.name, usd(c.cost_usd)] for c in _by_cost(plan.costs("workload"))],
            "costs-workload",
        ),
        f'<p class="note">{_e(_sentence(attribution_note(plan)))}.</p>',
        _limits(plan),
    ]
    if explain:
        parts.append(
            '<h2>Why these systems</h2><pre id="explain" style="font-size:.8em;overflow-x:auto">'
            f"{_e(explain)}</pre>"
        )
    if plan.solver_notes:
        parts.append('<h2>How the solve went</h2><ul id="solver-notes">')
        parts += [f"<li>{_e(x)}</li>" for x in plan.solver_notes]
        parts.append("</ul>")
    if plan.left_out:
        parts.append("<h2>Left out of this plan</h2><ul>")
        parts += [f"<li>{_e(x)}</li>" for x in plan.left_out]
        parts.append("</ul>")
    parts.append(
        f'<h2>Verification</h2><p id="verified">Verified: {len(plan.checks)} rules recomputed '
        f"from the plan's values (planner/verify.py): {_e(', '.join(plan.checks))}.</p>"
    )
    parts.append(
        '<p class="note">Made by fleet-planner; every figure is in the plan JSON '
        "(<code>planner plan --json</code>), SI units.</p></body></html>"
    )
    return "\n".join(parts) + "\n"


def write_plan_html(plan: Plan, path: str | Path, explain: str | None = None) -> Path:
    from fleetcore.outfile import write_text  # whole or not at all

    return write_text(path, plan_html(plan, explain))


def _page(title: str, body: list[str]) -> str:
    head = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
    )
    tail = (
        '<p class="note">Made by fleet-planner; the figures are those of the JSON output, '
        "in SI units.</p></body></html>\n"
    )
    return head + "\n".join(body) + tail


def comparison_html(cmp: Any) -> str:
    """`planner compare --html`: total cost per topology (failed ones named with their status),
    then the side-by-side table of metrics and each failed column's diagnosis."""
    bars = []
    for name in cmp.columns:
        s = cmp.summary(name)
        total = s.get("total_cost_usd")
        if total is None:
            bars.append((f"{name}", 0.0, IDLE_GREY, str(s["status"])))
        else:
            bars.append((name, float(total), PALETTE[len(bars) % len(PALETTE)], usd(total)))
    rows = []
    for r in cmp.table():
        if r["metric"] in ("error", "diagnosis"):
            continue
        unit = "share" if r["metric"] == "gap" else r["unit"]
        rows.append([r["metric"], *(_plain(r[n], unit) for n in cmp.columns)])
    body = [
        f"<h1>Compare {_e(cmp.scenario)} on {len(cmp.columns)} "
        f"topolog{'y' if len(cmp.columns) == 1 else 'ies'}</h1>",
        *([f"<p>Basis of every column: {_e(cmp.basis_text())}</p>"] if cmp.basis_text() else []),
        "<h2>Total cost over the horizon</h2>",
        _hbars(bars, "total-chart", "Total cost per topology, US$"),
        "<h2>Side by side</h2>",
        _table(["", *cmp.columns], rows, "compare"),
    ]
    for name in cmp.columns:
        s = cmp.summary(name)
        if s.get("error"):
            body.append(f"<h2>{_e(name)}: {_e(str(s['status']))}</h2><p>{_e(s['error'])}</p>")
            body.append("<ul>" + "".join(f"<li>{_e(d)}</li>" for d in s["diagnosis"]) + "</ul>")
    return _page(f"Compare {cmp.scenario}", body)


def sweep_html(sw: Any) -> str:
    """`planner sweep --html`: total cost per point (infeasible and failed ones named with
    their status), then the table of points."""
    bars = []
    for p in sw.records():
        total = p.get("total_cost_usd")
        if total is None:
            bars.append((p["point"], 0.0, IDLE_GREY, str(p["status"])))
        else:
            bars.append((p["point"], float(total), PALETTE[0], usd(total)))
    frame = sw.frame()
    # after_horizon (only where a point ends): the basis of each total, as the text table says
    keep = ["status", "after_horizon", "total_cost_usd", "gap", "accelerators", "cpu_servers"]
    keep += ["cores_per_accelerator", "facility_power_w", "binding_constraints_days"]
    columns = [c for c in frame.columns if c in keep or c.startswith("units:")]
    units = {"total_cost_usd": "usd", "facility_power_w": "w", "gap": "share"}
    rows = [
        [name, *(_plain(frame.at[name, c], units.get(c, "")) for c in columns)]
        for name in frame.index
    ]
    body = [
        f"<h1>Sweep of {_e(sw.scenario)}: {len(sw)} points</h1>",
        "<h2>Total cost per point</h2>",
        _hbars(bars, "total-chart", "Total cost per point, US$"),
        "<h2>Points</h2>",
        '<div style="overflow-x:auto">' + _table(["point", *columns], rows, "points") + "</div>",
        '<p class="note">Every output column of every point: <code>sweep.csv</code> / '
        "<code>sw.frame()</code>; an infeasible point's diagnosis: the text output.</p>",
    ]
    return _page(f"Sweep {sw.scenario}", body)


def _plain(value: Any, unit: str) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if unit == "usd":
        return usd(float(value))
    if unit == "w":
        return f"{value / 1e6:,.2f} MW"
    if unit == "share":
        return f"{value:.2%}"
    if unit == "usd_per_mtok":
        return f"${value:,.3f}"
    if unit.startswith("usd_per_"):
        return f"{usd(float(value))}/{price_unit_text(unit)}"
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.4g}"


# -- charts (inline SVG) --------------------------------------------------------------------
def cost_chart(plan: Plan) -> str:
    """Horizontal bars: cost by workload ($M), largest first, idle capacity in grey."""
    rows = _by_cost(plan.costs("workload"))
    colours = {}
    i = 0
    for c in rows:
        if c.name == "(idle)":
            colours[c.name] = IDLE_GREY
        else:
            colours[c.name] = PALETTE[i % len(PALETTE)]
            i += 1
    return _hbars(
        [(c.name, c.cost_usd, colours[c.name], usd(c.cost_usd)) for c in rows],
        "cost-chart",
        "Cost over the horizon by workload, US$ (idle capacity in grey)",
    )


def power_chart(plan: Plan) -> str:
    """Stacked horizontal bars per site: facility MW by system (IT x PUE), the cap as a line."""
    pue = {p.datacenter: p.pue for p in plan.power}
    caps = {p.datacenter: p.power_cap_w for p in plan.power}
    systems = sorted(
        {f.system for f in plan.fleet if f.units > 0}
        | {c.system for c in plan.cpu_servers if c.units > 0}
    )
    colour = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(systems)}
    stacks: dict[str, list[tuple[str, float]]] = {dc: [] for dc in caps}
    pools = [(f.datacenter, f.system, f.units, f.power_w) for f in plan.fleet]
    pools += [(c.datacenter, c.system, c.units, c.power_w) for c in plan.cpu_servers]
    for dc, system, units, power_w in pools:
        if units > 0:
            stacks.setdefault(dc, []).append((system, power_w * pue.get(dc, 1.0)))
    scale = max([*caps.values(), *(sum(v for _, v in s) for s in stacks.values()), 1.0])
    label_w, bar_w, row_h = 110, 560, 30
    height = row_h * len(stacks) + 50
    out = [
        f'<svg id="power-chart" role="img" width="{label_w + bar_w + 150}" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg"><title>Facility power by site and system (MW) '
        "against the site's cap</title>"
    ]
    for row, (dc, stack) in enumerate(stacks.items()):
        y = 10 + row * row_h
        out.append(f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{_e(dc)}</text>')
        x = float(label_w)
        for system, watts in stack:
            w = bar_w * watts / scale
            out.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="20" fill="{colour[system]}">'
                f"<title>{_e(system)}: {watts / 1e6:,.2f} MW</title></rect>"
            )
            x += w
        if dc in caps:
            cx = label_w + bar_w * caps[dc] / scale
            out.append(
                f'<line x1="{cx:.1f}" y1="{y - 3}" x2="{cx:.1f}" y2="{y + 23}" stroke="#222" '
                'stroke-width="2"/>'
            )
        total = sum(v for _, v in stack)
        out.append(
            f'<text x="{label_w + bar_w + 8}" y="{y + 15}">{total / 1e6:,.1f} of '
            f"{caps.get(dc, 0) / 1e6:,.0f} MW</text>"
        )
    legend_y = 10 + len(stacks) * row_h + 15
    x = label_w
    for system in systems:
        out.append(
            f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{colour[system]}"/>'
            f'<text x="{x + 16}" y="{legend_y}">{_e(system)}</text>'
        )
        x += 30 + 8 * len(system)
    out.append(f'<text x="{x + 10}" y="{legend_y}">| = cap (facility MW)</text></svg>')
    return "".join(out)


def _hbars(bars: Sequence[tuple[str, float, str, str]], ident: str, title: str) -> str:
    label_w = max(130, 7 * max((len(b[0]) for b in bars), default=0) + 12)
    bar_w, row_h = 540, 26
    top = max([v for _, v, _, _ in bars] + [1.0])
    out = [
        f'<svg id="{ident}" role="img" width="{label_w + bar_w + 110}" '
        f'height="{row_h * len(bars) + 12}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{_e(title)}</title>"
    ]
    for i, (label, value, colour, text) in enumerate(bars):
        y = 6 + i * row_h
        w = max(bar_w * value / top, 0.0)
        out.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_e(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="18" fill="{colour}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + 14}">{_e(text)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


# -- tables ---------------------------------------------------------------------------------
def _fleet_table(plan: Plan) -> str:
    rows: list[list[Any]] = [
        [
            f.datacenter,
            f.system,
            units_text(f.units),
            units_text(f.owned_units),
            units_text(f.bought_units),
            units_text(f.contracted_units),
            units_text(f.rented_units),
            units_text(f.spot_units),
            f"{f.accelerators:,.0f}",
            f"{f.cpu_cores:,.0f}",
            f"{f.power_w / 1e6:,.2f}",
            share_text(f.utilisation),
        ]
        for f in plan.fleet
        if f.units > 0
    ]
    rows += [
        [
            c.datacenter,
            c.system,
            units_text(c.units),
            units_text(c.owned_units),
            units_text(c.bought_units),
            "0",
            units_text(c.rented_units),
            "0",
            "0",
            f"{c.cpu_cores:,.0f}",
            f"{c.power_w / 1e6:,.2f}",
            "-",
        ]
        for c in plan.cpu_servers
        if c.units > 0
    ]
    headers = ["datacenter", "system", "units", "owned", "bought", "contract", "rented", "spot"]
    headers += ["accelerators"]
    headers += ["CPU cores", "IT MW", "busy"]
    return _table(headers, rows, "fleet") + (
        '<p class="note">Units at the peak period: owned from the start + bought during the '
        "plan + under term contract + rented on demand + spot; busy = unit-seconds given to "
        "work / unit-seconds in service.</p>"
    )


def _schedule_table(plan: Plan) -> str:
    if len({r.period for r in plan.schedule}) <= 1:
        return ""
    rows = [
        [
            f"{r.start_s / 86400:g}-{r.end_s / 86400:g}",
            r.datacenter,
            r.system,
            f"{r.ordered:,.0f}",
            f"{r.arriving:,.0f}",
            f"{r.owned_units:,.0f}",
            f"{r.rented_units:,.0f}",
            f"{r.contracted_units:,.0f}",
            f"{r.spot_units:,.0f}",
            f"{r.units:,.0f}",
            f"{r.busy_units:,.1f}",
        ]
        for r in plan.schedule
        if r.units > 0 or r.ordered > 0
    ]
    headers = ["days", "datacenter", "system", "order", "arrive", "owned", "rented"]
    return (
        "<h2>Capacity over time</h2>"
        + capacity_svg(plan)
        + _table([*headers, "contract", "spot", "in service", "busy (avg)"], rows, "schedule")
        + _cash_flow_table(plan)
    )


def _basis_text(plan: Plan) -> str:
    """With a discount_rate: the headline's basis and the nominal sum beside it."""
    if plan.present_value is None:
        return ""
    return _e(
        f" ({discount_basis(plan)}; nominal sum of the same charges {usd(plan.nominal_cost_usd)})"
    )


def _cash_flow_table(plan: Plan) -> str:
    headers, rows = cash_flow_table(plan)
    return (
        "<h2>Cash flow</h2>"
        + _table(headers, rows, "cash-flow")
        + '<p class="note">US$ M per period. Cost is what the plan charges the period (capital '
        "recovered while units serve, rent, contracts, energy, ...; the periods add up to the "
        "total); cash is capex paid plus every charge but the capital charge."
        + (f" {_e(note[0].upper() + note[1:])}." if (note := after_horizon_note(plan)) else "")
        + "</p>"
    )


def _pretrain_jobs_html(plan: Plan) -> str:
    """Pretraining jobs (whole-unit plans with pretraining: plan.pretrain_jobs), the figures of
    the text report's section (planner/kinds/pretrain.py job_lines): the job rated before the
    solve and its rate, the rate used and the job it was derived for, the job the plan placed
    the run on and the layout search's rate there (and its difference from the rate used), the
    status and the solves."""
    if not plan.pretrain_jobs:
        return ""
    return (
        "<h2>Pretraining jobs</h2>"
        + _jobs_table(plan.pretrain_jobs, "pretrain-jobs")
        + '<p class="note">Rated: the job its window needs, rated before the solve; rate used: '
        "the rate the plan's allocations use and the job it was derived for; placed: the whole "
        "units the plan runs it on in its lowest-rated period, and the layout search's rate "
        "there. Status: as rated (the rate's job), consistent (another job, its rate within "
        "the re-rating tolerance), conservative (rated higher there), not converged (lower, "
        "stated under Left out).</p>"
    )


def _rl_jobs_html(plan: Plan) -> str:
    """RL trainer jobs (whole-unit plans with RL: plan.rl_jobs), the figures of the text
    report's section (planner/kinds/rl.py job_lines), as the pretraining jobs' table."""
    if not plan.rl_jobs:
        return ""
    return (
        "<h2>RL trainer jobs</h2>"
        + _jobs_table(plan.rl_jobs, "rl-jobs")
        + '<p class="note">Rated: the run\'s work spread over its window in whole units, its '
        "train rate (x 1 - the updates' idle share) rated before the solve; rate used: the "
        "train rows' rate and the job it was derived for; placed: the whole units the plan "
        "trains on in its lowest-rated period (a colocated run: the units of all its roles on "
        "the trainer's pool, which take the same accelerators in turn), and the train rate "
        "re-derived there (the "
        "update's passes and the colocated offload over those accelerators). Status as for "
        "pretraining jobs.</p>"
    )


def _jobs_table(jobs: Sequence[JobRow], css: str) -> str:
    """One row a run: rated, rate's and placed jobs and rates, placed vs used, status, solves."""
    rows = [
        [
            f"{j.workload}/{j.role}",
            j.system,
            f"{j.rated_accelerators:,}",
            f"{j.rated_rate_per_unit_s:.4g}",
            f"{j.rate_job_accelerators:,}",
            f"{j.rate_per_unit_s:.4g}",
            f"{j.placed_accelerators:,}",
            f"{j.placed_units:,}",
            f"{j.placed_rate_per_unit_s:.4g}",
            f"{_placed_vs_used(j):+.2%}",
            j.status,
            f"{j.solves:,}",
        ]
        for j in jobs
    ]
    headers = [
        "run",
        "system",
        "rated (accelerators)",
        "rated rate (FLOP/s per unit)",
        "rate's job (accelerators)",
        "rate used (FLOP/s per unit)",
        "placed (accelerators)",
        "placed (units)",
        "placed rate (FLOP/s per unit)",
        "placed vs used",
    ]
    return _table([*headers, "status", "solves"], rows, css)


def _placed_vs_used(job: JobRow) -> float:
    """The placed job's rate over the rate used, - 1 (0 for a rate of 0), as job_lines."""
    return job.placed_rate_per_unit_s / job.rate_per_unit_s - 1 if job.rate_per_unit_s else 0.0


def _sizing_html(plan: Plan) -> str:
    """Model sizing (a pretraining with target:): the chosen candidate, the plan's split and the
    estimated cost curve over the candidates, each with its basis (as the text report)."""
    from planner.kinds.pretrain import EST_BASIS, sizing_report

    if not plan.sizing:
        return ""
    lines = [x.strip() for x in sizing_report(plan) if x.strip().startswith(("chosen", "split"))]
    rows = [
        [
            r.workload,
            r.candidate,
            f"{r.tokens_per_param:,.0f}",
            r.votes,
            f"{r.params:.4g}",
            f"{r.tokens:.4g}",
            f"{r.loss:.4f}",
            _opt_usd(r.est_pretrain_cost_usd),
            _opt_usd(r.est_serve_cost_usd),
            _opt_usd(
                None
                if r.est_pretrain_cost_usd is None or r.est_serve_cost_usd is None
                else r.est_pretrain_cost_usd + r.est_serve_cost_usd
            ),
            " ".join(
                m for m, on in (("chosen", r.chosen), ("Chinchilla", r.compute_optimal)) if on
            ),
        ]
        for r in sorted(plan.sizing, key=lambda r: (r.workload, r.votes, r.tokens_per_param))
    ]
    headers = ["workload", "candidate", "tokens/param", "votes", "params", "tokens", "loss"]
    return (
        "<h2>Model sizing</h2>"
        + "".join(f'<p class="sizing-chosen">{_e(x)}</p>' for x in lines)
        + f'<p class="note" id="sizing-basis">Cost curve, {_e(EST_BASIS)}.</p>'
        + _table([*headers, "est. pretrain", "est. serving", "est. total", ""], rows, "sizing")
    )


def _serving_html(plan: Plan) -> str:
    """Serving placement, as the text report: where each tier's prefill runs, its prefill:decode
    unit ratio, the KV flows between sites with the hop each adds to TTFT, its failure headroom
    and the spare units it holds."""
    from planner.kinds.inference import kv_text, spares_text

    if not plan.serving:
        return ""
    rows = [
        [
            r.workload,
            r.prefill,
            f"{r.prefill_to_decode_units:.2f}",
            kv_text(r),
            r.headroom,
            spares_text(r, plan.periods) or "-",
        ]
        for r in plan.serving
    ]
    headers = ["tier", "prefill", "prefill:decode units", "KV between sites (hop)", "headroom"]
    return (
        "<h2>Serving placement</h2>"
        + _table([*headers, "spare units"], rows, "serving")
        + '<p class="note">KV between sites: the KV cache of prompts prefilled at another site '
        "than their decode, averaged over the tier's window; the hop (path latency + one "
        "prompt's KV over the narrowest link) adds to its time to first token. Spare units: "
        "held per datacenter/system for N+k racks, on the days given.</p>"
    )


def _rl_html(plan: Plan) -> str:
    """RL placement, as the text report: the trainer's site, samples and verifier cores (and
    sandbox memory) by site, the update interval and the weight pushes against their budget.
    The HTML had no RL section: the cores the CPU servers are bought for were not in it."""
    if not plan.rl:
        return ""
    rows = [
        [
            r.workload,
            r.trainer_site,
            ", ".join(f"{d} {v:,.3g}" for d, v in r.samples_by_site.items()),
            ", ".join(f"{d} {v:,.0f}" for d, v in r.verifier_cores_by_site.items()) or "none",
            ", ".join(
                f"{d} {format_si(v, 'B')}" for d, v in r.verifier_memory_bytes_by_site.items()
            )
            or "-",
            f"{r.update_interval_s:,.0f}",
            ", ".join(f"{d} {v:,.0f} s" for d, v in r.weight_push_s_by_site.items())
            or "none (generation at the trainer site)",
            f"{r.push_budget_s:,.0f}",
        ]
        for r in plan.rl
    ]
    headers = ["run", "trainer at", "samples by site", "verifier cores required (busiest period)"]
    headers += ["sandbox memory", "update every (s)", "weight pushes (burst)", "allowed (s)"]
    return "<h2>RL placement</h2>" + _table(headers, rows, "rl")


def _opt_usd(value: float | None) -> str:
    return "-" if value is None else usd(value)


def _limits(plan: Plan) -> str:
    out = ["<h2>Binding limits and their value</h2>"]
    if plan.binding_constraints:
        out.append(
            _table(
                ["constraint", "left"],
                [
                    [
                        label_days(b.constraint, plan),
                        f"{b.slack:,.3g} {SLACK_UNITS.get(b.family, '')}".strip(),
                    ]
                    for b in plan.binding_constraints
                ],
                "binding",
            )
        )
    else:
        out.append("<p>None: no power cap, CPU, link or availability limit is reached.</p>")
    if plan.shadow_prices:
        out.append(
            "<p class='note'>Shadow prices (LP relaxation): saving over the horizon from one "
            "more unit of each resource.</p>"
        )
        out.append(
            _table(
                ["constraint", "value", "per"],
                [
                    [p.constraint, usd(p.value_usd), price_unit_text(p.unit)]
                    for p in plan.shadow_prices
                ],
                "shadow-prices",
            )
        )
        note = relaxation_only_note(plan)
        if note:
            out.append(f"<p class='note'>{html.escape(note)}.</p>")
    return "".join(out)


def _table(headers: list[str], rows: list[list[Any]], ident: str) -> str:
    numeric = [bool(rows) and all(is_figure(str(r[i])) for r in rows) for i in range(len(headers))]
    head = "".join(
        f"<th{' class=num' if numeric[i] else ''}>{_e(h)}</th>" for i, h in enumerate(headers)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if numeric[i] else ''}>{_e(str(v))}</td>" for i, v in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f'<table id="{ident}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _by_cost(records: list[CostTotalRow]) -> list[CostTotalRow]:
    return sorted(records, key=lambda c: (-c.cost_usd, c.name))


def _gap_text(plan: Plan) -> str:
    if plan.status == "relaxed":
        return " (LP relaxation: a lower bound on any whole-unit plan)"
    if plan.gap is None:
        return ""
    return f", proven within {plan.gap:.2%} of the cheapest possible plan"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _sentence(text: str) -> str:
    """The text with its first letter upper-cased (str.capitalize lowers the rest)."""
    return text[:1].upper() + text[1:]
