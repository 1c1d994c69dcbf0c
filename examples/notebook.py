"""Notebook-style walk through a plan with pandas (CI runs it as a script: tests/test_results.py).

python examples/notebook.py            # from any directory
"""

from __future__ import annotations

import planner


def main() -> None:
    plan = planner.solve(planner.load_scenario("frontier-lab"))
    print(repr(plan))

    # Every table as a DataFrame; the columns are the JSON keys and carry their units.
    df = plan.df
    fleet = df.fleet[df.fleet["units"] > 0]
    print(fleet[["datacenter", "system", "units", "new_units", "utilisation"]])

    # Sums equal the plan's totals.
    total = df.costs["cost_usd"].sum()
    assert abs(total - plan.total_cost_usd) <= 1e-6 * plan.total_cost_usd, total
    by_workload = plan.statistics.cost(by="workload")
    assert abs(by_workload["cost_usd"].sum() - plan.total_cost_usd) <= 1e-6 * total
    print(by_workload)

    # Units in service and busy, per site; per pool with the purchase cash.
    print(plan.statistics.units(by="datacenter"))
    pools = plan.statistics()
    print(pools[["bought_units", "purchase_usd", "charged_usd", "idle_usd"]])

    # The notebook view of the plan stays small.
    html = plan._repr_html_()
    assert len(html.encode()) < 5000, len(html)
    print(f"_repr_html_: {len(html.encode())} bytes")


if __name__ == "__main__":
    main()
