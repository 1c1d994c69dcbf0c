"""The rounded start (planner/lp/incumbent.py) when the relaxation's favourite site cannot hold
a job: the relaxation splits a pretraining over both sites, most of it on a cheap site with two
system types, neither of which alone has the units for it; fixed there, the LP has no solution,
so the next share is tried and the job lands whole on the dearer site that can hold it. And
when the relaxation may mix the two types there (its favourite site alone, but no one type
holds the job), the site is chosen again once the system cannot be fixed."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

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


def _mixing_allowed(model: solve_mod.Model) -> None:
    """Loosen the relaxation at dc-a so that it may mix its two system types: each type's
    system-choice row u <= M x there gets M = 20 units (was the type's max_units), so with
    x = 1/2 each type still reaches its max_units. At fleet scale the relaxation mixes types at
    a site this way through periods and power (100 sites x 20 quarters, README "Speed"); in a
    two-site model it has to be made so. Every whole-unit plan is unchanged: x is 0 or 1."""
    highs = model.prob.solverModel
    for label, con in model.constraints.items():
        if label.family == "system" and label.entity[2] == "dc-a":
            x = model.system_choice[("pt", label.entity[3])]
            highs.changeCoeff(con.index, x.index, -20.0)  # row numbers: planner/lp/transfer.py
    highs.run()


def test_a_site_that_holds_the_job_only_on_mixed_types_is_chosen_again(tmp_path: Path) -> None:
    model = _relaxed(tmp_path)
    _mixing_allowed(model)
    dc_a = model.site[("pt", "dc-a")].index
    values = model.prob.solverModel.getSolution().col_value
    assert values[dc_a] == pytest.approx(1.0)  # the relaxation now puts the job at dc-a alone
    relaxation = incumbent.Bounds(model)
    for system in ("hgx-h100", "hgx-b200"):  # ... though neither type alone holds it there
        x = model.system_choice[("pt", system)].index
        assert incumbent._fix_and_solve(model, {dc_a: 1.0, x: 1.0}) is None
        relaxation.restore(model)
    model.prob.solverModel.run()
    start = incumbent.find_start(model)
    assert start is not None
    assert _site_of(model, start.values) == ["dc-b"]


def test_without_choosing_again_the_mixed_site_gives_no_start(tmp_path, monkeypatch) -> None:
    model = _relaxed(tmp_path)
    _mixing_allowed(model)
    monkeypatch.setattr(incumbent, "_other_site", lambda *a, **k: None)
    assert incumbent.find_start(model) is None
