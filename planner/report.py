"""Readable text for a Plan: fleet, power, allocations, costs, RL placement, links, binding
constraints and shadow prices. Friendly units here only (MW, Gbps, $M); the JSON stays SI."""

from __future__ import annotations

import textwrap

from fleetcore.tables import table, usd
from planner.decision import (
    decision,
    label_days,
    label_span,
    share_text,
    summary_lines,
    units_text,
)
from planner.kinds import KINDS
from planner.limits import format_limit_values
from planner.plan import Plan
from planner.rows import (
    IDLE_DRAW,
    SLACK_UNITS,
    WHOLE_UNIT_NOTE,
    BindingRow,
    CostTotalRow,
    price_unit_text,
)

SHARED_BY_TIME = "unit-seconds in service"


def format_decision(plan: Plan) -> str:
    """The decision summary block that opens the report (planner/decision.py)."""
    return "Decision\n" + "\n".join(
        f"  {line}" for line in wrap_lines(summary_lines(decision(plan)))
    )


def wrap_lines(lines: list[str], width: int = 96) -> list[str]:
    """Wrap long sentences for the terminal, continuation lines indented."""
    import textwrap

    out: list[str] = []
    for line in lines:
        # A leading newline starts a section: keep it as a blank line (textwrap would turn it
        # into a space that indents the heading).
        body = line.lstrip("\n")
        out += [""] * (len(line) - len(body))
        # Names such as vera-rubin-nvl144 or dc-east are not split at their hyphens.
        wrapped = textwrap.wrap(body, width=width, subsequent_indent="  ", break_on_hyphens=False)
        out += wrapped or [""]
    return out


def format_summary(plan: Plan) -> str:
    """The headline and the decision (`planner plan --quiet`)."""
    return "\n".join(
        [
            f"Plan for {plan.scenario}: {plan.status}",
            *total_cost_lines(plan),
            format_decision(plan),
        ]
    )


def discount_basis(plan: Plan) -> str:
    """The basis of the plan's costs: "present value at r% a year, mid-period" with a
    discount_rate, else "at face value"."""
    if plan.present_value:
        return (
            f"present value at {100 * plan.present_value[0].discount_rate:.4g}% a year, mid-period"
        )
    return "at face value"


def total_cost_label(plan: Plan) -> str:
    """What the headline total is: the charges over the horizon; under economics.after_horizon
    ends also what this plan is charged past it: bought units' (and CPU-only servers') whole
    capex where it buys any, contract payments due past the horizon where its terms run past
    it (cash_flow_after_horizon), or neither."""
    if plan.economics.get("after_horizon") != "ends":
        return "total cost over the horizon"
    bought = any(r.ordered > 0 for r in plan.schedule) or any(
        c.ordered > 0 for c in plan.cpu_schedule
    )
    resale = plan.economics.get("resale_fraction")
    whole = "bought units' whole capex" + (
        f" less {float(resale):.4g} of it x remaining life / lifetime resold at the horizon's end"
        if resale
        else ""
    )
    parts = [whole] if bought else []
    if plan.after_horizon_payments:
        parts.append("contract payments due past the horizon")
    if not parts:
        return (
            "total cost over the horizon (economics.after_horizon: ends; this plan buys no unit "
            "and owes no contract payment past the horizon)"
        )
    return f"total cost over the horizon with {' and '.join(parts)} (economics.after_horizon: ends)"


def total_cost_lines(plan: Plan) -> list[str]:
    """The headline cost: the LP's objective; with a discount_rate its basis and the nominal
    sum of the same plan's charges beside it, so the two reconcile through the cash flow."""
    if plan.present_value is None:
        return [f"  {total_cost_label(plan)}: {usd(plan.total_cost_usd)}"]
    return [
        f"  {total_cost_label(plan)}, {discount_basis(plan)} (what the plan minimised): "
        f"{usd(plan.total_cost_usd)}",
        f"  nominal sum of the same charges (face value): {usd(plan.nominal_cost_usd)}",
    ]


# The fleet table's columns of new units by how they are paid for (FleetRow's split).
KIND_HEADERS = ("bought", "contract", "rented", "spot")


def format_plan(plan: Plan) -> str:
    out = [f"Plan for {plan.scenario}: {plan.status}"]
    out += total_cost_lines(plan)
    if plan.status == "relaxed":
        out.append(
            "  LP relaxation: fractional units; its cost is a lower bound on any whole-unit plan"
        )
    elif plan.lower_bound_usd is not None and plan.gap is not None:
        out.append(
            f"  proven within {plan.gap:.2%} of the cheapest possible plan "
            f"(lower bound {usd(plan.lower_bound_usd)}; gap target {plan.solver.mip_gap_target:.2%})"
        )
        whole_units = any(n.startswith(WHOLE_UNIT_NOTE.split("{", 1)[0]) for n in plan.solver_notes)
        if plan.solver.proof == "rounded" and plan.status == "optimal" and whole_units:
            out.append(
                "  proven by the whole-unit bound (the LP relaxation with a whole unit in service "
                "wherever work must run; solver note below): this plan was rounded from the "
                "relaxation (planner/lp/incumbent.py), no MIP search was needed"
            )
        elif plan.solver.proof == "rounded" and plan.status == "optimal":
            out.append(
                "  proven by the LP relaxation's bound alone: this plan was rounded from the "
                "relaxation (planner/lp/incumbent.py), no MIP search was needed"
            )
        elif plan.solver.proof == "rounded":
            out.append(
                "  above the gap target: this plan was rounded from the relaxation "
                "(planner/lp/incumbent.py) and its gap is proven by the relaxation's bound; at "
                "this size HiGHS's MIP search is not run by default (its root heuristics do not "
                "keep to the time limit there); solver.incumbent: true runs it from this plan"
            )
        elif plan.solver.proof == "rounded-aggregated" and plan.status != "optimal":
            out.append(
                "  above the gap target: this plan was rounded from the LP on the pools the "
                "relaxed aggregated LP's solution uses (solver.bound auto) and its gap is proven "
                "by that relaxed aggregated LP's bound; the full path found no cheaper plan "
                "or had no time left to run (the solver notes below say which)"
            )
        elif plan.solver.proof == "rounded-aggregated":
            out.append(
                "  proven by the relaxed aggregated LP's bound: each serving tier's colocate "
                "rows summed over the sites (prefill at any site, each period's totals "
                "balanced), a relaxation whose optimum is at most the LP relaxation's, with "
                "its serving columns aggregated over the sites exactly "
                "(planner/lp/aggregate.py); this plan was rounded from the LP on the pools that "
                "bound's solution uses, no MIP search was needed (solver.bound: full proves "
                "it against the full LP relaxation instead)"
            )
        elif plan.solver.proof == "rounded-aggregated-full-bound":
            out.append(
                "  proven by the full model's bound (its LP relaxation's, or HiGHS's MIP bound "
                "where the full path's MIP ran), higher than the relaxed aggregated LP's: this "
                "plan was rounded from the LP on the pools the relaxed aggregated LP uses "
                "(solver.bound auto); it missed the gap against that bound, so the full path "
                "ran, found no cheaper plan, and its bound proves this one"
            )
    if plan.solver_notes:
        out.extend(wrap_lines([f"  solver: {note}" for note in plan.solver_notes]))
    out.append(
        f"  solver: {plan.solver.name} ({plan.solver.variables:,} variables, "
        f"{plan.solver.constraints:,} constraints)"
    )

    out.append("\n" + format_decision(plan))
    out.append("\nFleet")
    headers = ["datacenter", "system", "units", "owned", *KIND_HEADERS]
    headers += ["accelerators", "cpu cores", "IT MW", "busy"]
    rows = [
        [
            f.datacenter,
            f.system,
            units_text(f.units),
            units_text(f.owned_units),
            units_text(f.bought_units),
            units_text(f.contracted_units),
            units_text(f.rented_units),
            units_text(f.spot_units),
            f.accelerators,
            f.cpu_cores,
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
            0,
            c.cpu_cores,
            f"{c.power_w / 1e6:,.2f}",
            "-",
        ]
        for c in plan.cpu_servers
        if c.units > 0
    ]
    # A way of paying for units that no pool uses is left out (100 columns hold three of four).
    unused = {4 + i for i in range(len(KIND_HEADERS)) if all(r[4 + i] == "0" for r in rows)}
    out.append(
        table(
            [h for i, h in enumerate(headers) if i not in unused],
            [[x for i, x in enumerate(r) if i not in unused] for r in rows],
        )
    )
    out.append("  (units at the peak period: owned from the start + bought during the plan + under")
    out.append("   term contract + rented on demand + spot, a column none of them uses left out;")
    out.append("   busy = unit-seconds given to work / unit-seconds in service;")
    out.append("   IT MW = units x catalog power)")
    if len({r.period for r in plan.schedule}) > 1:
        out.append("\nBuild schedule (orders at the start of each period; units in service)")
        out.append(
            table(
                [
                    "days",
                    "datacenter",
                    "system",
                    "order",
                    "arrive",
                    "owned",
                    "rented",
                    "contract",
                    "spot",
                    "busy",
                ],
                [
                    [
                        f"{r.start_s / 86400:g}-{r.end_s / 86400:g}",
                        r.datacenter,
                        r.system,
                        r.ordered,
                        r.arriving,
                        r.owned_units,
                        r.rented_units,
                        r.contracted_units,
                        r.spot_units,
                        round(r.busy_units, 1),
                    ]
                    for r in plan.schedule
                    if r.units > 0 or r.ordered > 0
                ],
            )
        )
        out.extend(cpu_schedule_lines(plan))
        out.extend(cash_flow_lines(plan))

    out.append("\nPower (IT x PUE vs cap)")
    out.append(
        table(
            ["datacenter", "IT MW", "PUE", "facility MW", "cap MW", "of cap"],
            [
                [
                    p.datacenter,
                    f"{p.it_power_w / 1e6:,.2f}",
                    p.pue,
                    f"{p.facility_power_w / 1e6:,.2f}",
                    f"{p.power_cap_w / 1e6:,.1f}",
                    f"{p.share_of_cap:.0%}",
                ]
                for p in plan.power
            ],
        )
    )

    out.append("\nAllocations (units busy during each period of the horizon, in days)")
    out.append("  (the demand model's rate derivation of each row: --json, or plan.df.allocations)")
    out.append(
        table(
            [
                "workload",
                "role",
                "datacenter",
                "system",
                "days",
                "units",
                "work",
                "unit",
                "share",
            ],
            [
                [
                    a.workload,
                    a.role,
                    a.datacenter,
                    a.system,
                    f"{a.period_start_s / 86400:g}-{a.period_end_s / 86400:g}",
                    round(a.units, 2),
                    f"{a.work_done:.3g}",
                    a.work_unit,
                    f"{a.share_of_role:.0%}" if a.share_of_role is not None else "-",
                ]
                for a in plan.allocations
            ],
        )
    )

    for kind in KINDS.values():
        if kind.report is not None:
            out.extend(wrap_lines(kind.report(plan)))

    used_links = [link for link in plan.links if link.traffic_bytes_per_s > 0]
    if plan.links:
        out.append("\nLinks (average traffic)")
        out.append(
            table(
                ["link", "traffic Gbps", "capacity Gbps", "used"],
                [
                    [
                        link.link,
                        f"{link.traffic_gbps:,.1f}",
                        f"{link.capacity_gbps:,.0f}",
                        f"{link.share_of_capacity:.1%}",
                    ]
                    for link in plan.links
                ],
            )
        )
        if not used_links:
            out.append("  (no traffic between sites)")

    out.append("\nCosts" + (f" ({discount_basis(plan)})" if plan.present_value else ""))
    out.append(
        table(
            ["component", "cost"],
            [[c.name, usd(c.cost_usd)] for c in _by_cost(plan.costs("component"))],
        )
    )
    out.append(
        table(
            ["workload", "cost"],
            [[c.name, usd(c.cost_usd)] for c in _by_cost(plan.costs("workload"))],
        )
    )
    out += textwrap.wrap(
        f"({attribution_note(plan)})",
        width=98,
        initial_indent="  ",
        subsequent_indent="   ",
        break_on_hyphens=False,
    )

    out.append("\nBinding constraints")
    if plan.binding_constraints:
        out.extend(_binding_line(b, plan) for b in plan.binding_constraints)
    else:
        out.append("  none: no power cap, CPU, link or availability limit is reached")
    if plan.shadow_prices:
        out.append(
            "\nShadow prices (LP relaxation: saving over the horizon from one more unit of each)"
        )
        out.append(
            table(
                ["constraint", "value", "per"],
                [
                    [label_days(p.constraint, plan), usd(p.value_usd), price_unit_text(p.unit)]
                    for p in plan.shadow_prices
                ],
            )
        )
        note = relaxation_only_note(plan)
        if note:
            out += textwrap.wrap(
                f"({note})", width=98, initial_indent="  ", subsequent_indent="   "
            )
    format_limit_values(plan, out)  # --value-limits: planner/limits.py
    if plan.left_out:
        out.append("\nLeft out of this plan")
        out.extend(f"  {line}" for line in wrap_lines([f"- {x}" for x in plan.left_out]))
    out += wrap_lines(
        [f"\nVerified ({len(plan.checks)} rules, planner/verify.py): {', '.join(plan.checks)}"]
    )
    return "\n".join(out)


def relaxation_only_note(plan: Plan) -> str:
    """Why a constraint can carry a shadow price yet not be binding: the price is the LP
    relaxation's dual, where units and CPU servers come in fractions and meet the row exactly;
    the plan's whole units leave the same row slack. '' when every priced row binds."""
    binding = {b.constraint for b in plan.binding_constraints}
    loose = [p.constraint for p in plan.shadow_prices if p.constraint not in binding]
    if not loose:
        return ""
    names = ", ".join(label_days(c, plan) for c in loose)
    return (
        f"{names}: binding in the LP relaxation only, where fractional units and CPU servers "
        "meet it exactly; in this plan whole units leave it more than a unit's worth spare, so "
        "it is not listed as binding; its price is what one more unit of it saves in the "
        "relaxation"
    )


def _by_cost(records: list[CostTotalRow]) -> list[CostTotalRow]:
    """Cost totals, largest first (ties by name)."""
    return sorted(records, key=lambda c: (-c.cost_usd, c.name))


CASH_FLOW_HEADERS = [
    "days",
    "capex paid",
    "capital charge",
    "rent+spot+contracts",
    "energy",
    "facility",
    "other",
    "cost",
    "cum. cost",
    "cum. cash",
]


def cash_flow_table(plan: Plan) -> tuple[list[str], list[list[str]]]:
    """The cash-flow table's headers and rows, US$ M per period."""
    m = 1e6
    rows = [
        [
            f"{r.start_s / 86400:g}-{r.end_s / 86400:g}",
            *(
                f"{x / m:,.1f}"
                for x in (
                    r.capex_paid_usd,
                    r.capital_charge_usd,
                    r.rental_usd + r.spot_usd + r.contracts_usd,
                    r.energy_usd,
                    r.facility_usd,
                    r.other_opex_usd,
                    r.cost_usd,
                    r.cumulative_cost_usd,
                    r.cumulative_cash_usd,
                )
            ),
        ]
        for r in plan.cash_flow
    ]
    # The resale received at the horizon's end (economics.resale_fraction), at H itself: a
    # credit to the capital charge, in cost and cash alike.
    zero = f"{0.0:,.1f}"
    sold = plan.resale_at_horizon or []
    resale = [
        [
            f"{r.at_s / 86400:g} resale",
            zero,
            f"{r.cost_usd / m:,.1f}",
            zero,
            zero,
            zero,
            zero,
            f"{r.cost_usd / m:,.1f}",
            f"{r.cumulative_cost_usd / m:,.1f}",
            f"{r.cumulative_cash_usd / m:,.1f}",
        ]
        for r in sold
    ]
    # Contract payments due after the horizon (economics.after_horizon ends), a row a month:
    # nothing but contracts in them, so the cumulative cost ends at the plan's nominal cost.
    after = plan.after_horizon_payments or []
    past = [
        [
            f"{a.start_s / 86400:g}-{a.end_s / 86400:g} after",
            zero,
            zero,
            f"{a.contracts_usd / m:,.1f}",
            zero,
            zero,
            zero,
            f"{a.contracts_usd / m:,.1f}",
            f"{a.cumulative_cost_usd / m:,.1f}",
            f"{a.cumulative_cash_usd / m:,.1f}",
        ]
        for a in after
    ]
    if plan.present_value is None:
        return CASH_FLOW_HEADERS, rows + resale + past
    # With a discount rate: each period's weight and its cost's present value beside it.
    for row, pv in zip(rows, plan.present_value, strict=True):
        row += [f"{pv.discount_weight:.4f}", f"{pv.present_value_usd / m:,.1f}"]
    for row, r in zip(resale, sold, strict=True):
        row += [f"{r.discount_weight:.4f}", f"{r.present_value_usd / m:,.1f}"]
    for row, a in zip(past, after, strict=True):
        row += [f"{a.discount_weight:.4f}", f"{a.present_value_usd / m:,.1f}"]
    return [*CASH_FLOW_HEADERS, "weight", "PV cost"], rows + resale + past


def after_horizon_note(plan: Plan) -> str:
    """What the cash flow's rows marked 'resale' and 'after' are (empty when it has none)."""
    parts = []
    if plan.resale_at_horizon:
        parts.append(
            "the row marked 'resale': bought units still in their life sold at the horizon's "
            "end for economics.resale_fraction x capex x remaining life / lifetime, a credit "
            "in cost and cash, weighed 1 / (1 + r)^(horizon years) when discounted"
        )
    if plan.after_horizon_payments:
        parts.append(
            "rows marked 'after': contract payments due past the horizon "
            "(economics.after_horizon: ends charges every payment of a term), billed monthly "
            "from the horizon's end (a month = a year / 12), each weighed at its month's middle"
        )
    pv = plan.present_value or []
    if len(pv) == 1 and abs(pv[0].present_value_usd - pv[0].discount_weight * pv[0].cost_usd) > 1:
        # one fleet for the horizon under ends (objective.purchases_weight)
        parts.append(
            "the period's PV cost weighs its purchases at their own instants (the start, then "
            "each lifetime for a replacement), not at its middle"
        )
    if not parts:
        return ""
    return "; ".join(parts) + "; the cumulative cost ends at the plan's nominal cost"


def cash_flow_lines(plan: Plan) -> list[str]:
    """The cash-flow table (US$ M per period): capex paid, the cost charged by component, and
    the cumulative cost and cash."""
    headers, rows = cash_flow_table(plan)
    note = after_horizon_note(plan)
    return [
        "\nCash flow (US$ M per period; cost = what the plan charges the period, cash = capex "
        "paid + every charge but capital"
        + (
            f"; weight = 1 / (1 + r)^(mid-period years), PV cost = weight x cost, "
            f"{discount_basis(plan)}"
            if plan.present_value
            else ""
        )
        + (f"; {note})" if note else ")"),
        table(headers, rows),
    ]


def cpu_schedule_lines(plan: Plan) -> list[str]:
    """CPU-only servers per period (orders, arrivals, owned and rented in service), when any."""
    rows = [
        [
            f"{c.start_s / 86400:g}-{c.end_s / 86400:g}",
            c.datacenter,
            c.ordered,
            c.arriving,
            c.owned_units,
            c.rented_units,
        ]
        for c in plan.cpu_schedule
        if c.units > 0 or c.ordered > 0
    ]
    if not rows:
        return []
    headers = ["days", "datacenter", "order", "arrive", "owned", "rented"]
    return ["\nCPU servers per period", table(headers, rows)]


def attribution_note(plan: Plan) -> str:
    """How the cost by workload was split, from the plan's own cost rows (`attributed_by`):
    every component shared by unit-seconds in service, not capex alone (the note said "capex
    split by unit-seconds", while maintenance, network/storage, facility, rental and
    contracts were split the same way and their idle share went to (idle) too)."""
    by: dict[str, list[str]] = {}
    for c in plan.costs_rows:
        names = by.setdefault(c.attributed_by, [])
        if c.component not in names:
            names.append(c.component)
    parts: list[str] = []
    for basis, names in by.items():
        listed = ", ".join(names)
        if basis == SHARED_BY_TIME:
            parts.insert(
                0,
                f"{listed} split by the unit-seconds each workload uses out of the unit-seconds "
                "in service, the rest is (idle)",
            )
        elif basis == "direct":
            parts.append(f"{listed} charged to each workload directly")
        elif basis == IDLE_DRAW:
            parts.append(f"{listed}'s {IDLE_DRAW} to (idle)")
        else:
            parts.append(f"{listed} by {basis}")
    return "; ".join(parts)


def _binding_line(b: BindingRow, plan: Plan) -> str:
    """A binding row, its period's days and (cpu, power) what is left, in the row's unit."""
    if b.family not in ("cpu", "power"):
        return f"  {label_days(b.constraint, plan)}"
    left = f"left: {b.slack:,.3g} {SLACK_UNITS[b.family]}, less than one more unit adds"
    span = label_span(b.constraint, plan)
    return f"  {b.constraint} ({span + '; ' if span else ''}{left})"
