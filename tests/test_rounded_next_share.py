"""The rounded start (planner/lp/incumbent.py) when the relaxation's favourite site cannot hold
a job: the relaxation splits a pretraining over both sites, most of it on a cheap site with two
system types, neither of which alone has the units for it; fixed there, the LP has no solution,
so the next share is tried and the job lands whole on the dearer site that can hold it."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import planner
from planner.api import demands
from planner.lp import incumbent
from planner.lp import solve as solve_mod
from planner.lp.build import build

PRETRAIN = textwrap.dedent(
    """\
    topology: topo.yaml
    economics: {horizon: 365 days, pricing: amortised}
    solver: {incumbent: true}
    workloads:
      pt:
        kind: pretrain
        model: llama-3.1-70b
        tokens: 300B
        deadline: 60 days
        goodput: 0.9
        global_batch_tokens: 4M
    """
)


def _topology(h100_a: int, b200_a: int, h100_b: int) -> str:
    return textwrap.dedent(
        f"""\
        name: two
        description: "a cheap site with two system types, a dear one with one"
        source: "illustrative; tests"
        datacenters:
          dc-a:
            power_cap: 50 MW
            pue: 1.1
            electricity_usd_per_kwh: 0.03
            systems:
              hgx-h100: {{max_units: {h100_a}}}
              hgx-b200: {{max_units: {b200_a}}}
          dc-b:
            power_cap: 50 MW
            pue: 1.4
            electricity_usd_per_kwh: 0.12
            systems:
              hgx-h100: {{max_units: {h100_b}}}
        links: []
        """
    )


def _needs(tmp_path: Path) -> dict[str, float]:
    """Units of each system type the job needs over its window (from the demand models)."""
    (tmp_path / "topo.yaml").write_text(_topology(1000, 1000, 1000), encoding="utf-8")
    (tmp_path / "scenario.yaml").write_text(PRETRAIN, encoding="utf-8")
    sc = planner.load_scenario(tmp_path / "scenario.yaml")
    (work,) = demands(sc)
    role = work.roles[0]
    return {
        s: role.amount / (role.rates[s].per_unit_s * work.window_s)
        for s in ("hgx-h100", "hgx-b200")
    }


def _relaxed(tmp_path: Path) -> solve_mod.Model:
    need = _needs(tmp_path)
    # 70% of the need of each type at dc-a (together enough, each alone not); 150% at dc-b.
    h100_a, b200_a = (math.floor(0.7 * need[s]) for s in ("hgx-h100", "hgx-b200"))
    h100_b = math.ceil(1.5 * need["hgx-h100"])
    (tmp_path / "topo.yaml").write_text(_topology(h100_a, b200_a, h100_b), encoding="utf-8")
    sc = planner.load_scenario(tmp_path / "scenario.yaml")
    model = build(sc, demands(sc))
    how, _ = solve_mod._run(model, solve_mod.make_solver("highs", False, 0.01, 60.0, "choose"))
    assert how == solve_mod.OPTIMAL
    return model


def _site_of(model: solve_mod.Model, values: list[float]) -> list[str]:
    return [d for (w, d), var in model.site.items() if values[var.index] > 0.5]


def test_the_relaxation_prefers_the_site_that_cannot_hold_the_job(tmp_path: Path) -> None:
    model = _relaxed(tmp_path)
    values = model.prob.solverModel.getSolution().col_value
    shares = {d: values[var.index] for (_, d), var in model.site.items()}
    assert shares["dc-a"] > shares["dc-b"]


def test_the_start_takes_the_next_share(tmp_path: Path) -> None:
    model = _relaxed(tmp_path)
    start = incumbent.find_start(model)
    assert start is not None
    assert _site_of(model, start.values) == ["dc-b"]
    systems = [s for (_, s), var in model.system_choice.items() if start.values[var.index] > 0.5]
    assert systems == ["hgx-h100"]


def test_the_favourite_alone_has_no_solution(tmp_path: Path) -> None:
    model = _relaxed(tmp_path)
    dc_a = model.site[("pt", "dc-a")].index
    assert incumbent._fix_and_solve(model, {dc_a: 1.0}) is None
