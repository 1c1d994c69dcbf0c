"""Model sizing in the plan (planner/kinds/pretrain.py): the MIP chooses one candidate (N, D) on
the iso-loss curve together with the fleet, trading pretraining against lifetime serving.

Hand-solvable fixture: one site of hgx-h100 (rental, no energy price), calendar periods of 90
days over 360 days; pretraining in period 0 only (deadline 90 days), serving in periods 1-3. Each
period rents whole units for its own work, so candidate c costs exactly
  cost_c(R) = rent · 2160 h · (max(ceil(a_c), min_units_c) + 3 · ceil(b_c · R))
a_c = pretraining FLOPs / (rate · 90 days), b_c = serving units per request/day (decode and
prefill tokens / rate / window), from the rates the LP is fed (planner.demands); min_units_c
is held_units' (the state's minimum, or the job the rate was derived for where a job of
ceil(a_c) units rates lower: the plan is re-solved holding it). Without the ceilings, cost is
linear in R and two candidates cross at
  R* = (P_small - P_big) / (sigma_big - sigma_small)
which the tests compute and check the MIP switches at.
"""

from __future__ import annotations

import dataclasses
import html
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_lp import without_tco

import planner
from planner.plan import Plan
from planner.rows import AllocationRow
from planner.verify import check_plan

SYSTEM = "hgx-h100"
TARGET = {"like": "llama-3.1-405b", "tokens": "15T"}
VOTES = {"loss_above": 0.01, "votes": 4}  # test-time substitute: a user input, not a fit
PERIOD_H = 90 * 24.0
SERVING_PERIODS = 3


def write(tmp_path: Path, requests: float | None, grid: list[Any], name: str = "s") -> Path:
    topo = {
        "name": "t",
        "description": "test fixture",
        "source": "tests/test_scaling_plan.py",
        "datacenters": {
            "dc1": {
                "power_cap": "1 GW",
                "pue": 1.0,
                "electricity_usd_per_kwh": 0.0,
                "systems": {SYSTEM: {"max_units": 50000}},
            }
        },
        "links": [],
    }
    (tmp_path / "topo.yaml").write_text(yaml.safe_dump(topo))
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(without_tco(None)))
    workloads: dict[str, Any] = {
        "pre": {
            "kind": "pretrain",
            "target": dict(TARGET),
            "candidates": grid,
            "deadline": "90 days",
            "goodput": 0.9,
            "include_attention": False,
            "global_batch_tokens": "16M",
        }
    }
    if requests is not None:
        workloads["serve"] = {
            "kind": "inference",
            "model_from": "pre",
            "precision": "fp8",
            "start": "90 days",
            "requests_per_day": float(requests),
            "prompt_tokens": 1000,
            "output_tokens": 500,
            "tokens_per_s_per_user": 30,
        }
    doc = {
        "topology": "topo.yaml",
        "catalog": ["catalog.yaml"],
        "economics": {"horizon": "360 days", "pricing": "rental", "period": "90 days"},
        "solver": {"mip_gap": 0},
        "workloads": workloads,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def unit_hour_usd(sc: planner.Scenario) -> float:
    return sc.catalog.system(SYSTEM).rental_usd_per_hour


def pretrain_units(sc: planner.Scenario) -> dict[str, tuple[float, int]]:
    """candidate -> (a_c units busy all of period 0, the units it holds there at least: the
    min_units for its state, or held_units')."""
    pre = next(d for d in planner.demands(sc) if d.name == "pre")
    return {
        r.choice[1]: (
            r.amount / (r.rates[SYSTEM].per_unit_s * pre.window_s),
            held_units(sc, pre.name, r, pre.window_s),
        )
        for r in pre.roles
        if r.choice is not None
    }


def held_units(sc: planner.Scenario, workload: str, role: Any, window_s: float) -> int:
    """The whole units a pretraining done in one period holds there (planner/kinds/pretrain.py
    placed_jobs, rerated): n = max(ceil(a), min_units), a = FLOPs / (rate x window); the job of
    n units where n is below the job its rate was derived for (N units, the bisection's), and if
    that job rates more than RERATE_TOL below the rate used, the plan is solved again holding
    the N units."""
    from planner.demand.pretrain import pretrain_rate_at
    from planner.kinds.pretrain import RERATE_TOL, role_spec

    rate = role.rates[SYSTEM]
    per_unit = sc.catalog.system(SYSTEM).accelerators
    n = max(math.ceil(role.amount / (rate.per_unit_s * window_s) - 1e-9), role.min_units[SYSTEM])
    big = math.ceil(rate.job_accelerators / per_unit)
    if n >= big:
        return n
    spec, cat = role_spec(workload, role, sc.data.workloads, sc.catalog)
    at = pretrain_rate_at(spec, cat, SYSTEM, n * per_unit).per_unit_s
    return n if at >= rate.per_unit_s * (1 - RERATE_TOL) else big


def serving_units(sc: planner.Scenario) -> dict[str, float]:
    """candidate -> units busy in each serving period (decode + prefill), math.inf if it cannot
    be served on SYSTEM."""
    serve = next(d for d in planner.demands(sc) if d.name == "serve")
    out: dict[str, float] = {}
    for r in serve.roles:
        assert r.choice is not None
        rate = r.rates[SYSTEM].per_unit_s
        need = r.amount / (rate * serve.window_s) if rate > 0 else math.inf
        out[r.choice[1]] = out.get(r.choice[1], 0.0) + need
    return out


def exact_costs(sc: planner.Scenario, serving: bool) -> dict[str, float]:
    price = unit_hour_usd(sc) * PERIOD_H
    pre = pretrain_units(sc)
    srv = serving_units(sc) if serving else {c: 0.0 for c in pre}
    return {
        c: price * (max(math.ceil(a - 1e-9), m) + SERVING_PERIODS * math.ceil(srv[c] - 1e-9))
        if math.isfinite(srv[c])
        else math.inf
        for c, (a, m) in pre.items()
    }


def chosen(plan: Plan) -> str:
    picked = [r.candidate for r in plan.sizing or [] if r.chosen]
    assert len(picked) == 1
    return picked[0]


def test_zero_inference_demand_chooses_the_compute_optimal_candidate(tmp_path: Path) -> None:
    sc = planner.load_scenario(write(tmp_path, None, [5, 20, 100, 500]))
    plan = planner.solve(sc)
    costs = exact_costs(sc, serving=False)
    best = min(costs, key=costs.__getitem__)
    assert chosen(plan) == best == "20tpp"
    assert plan.total_cost_usd == pytest.approx(costs[best], rel=1e-9)
    assert plan.sizing is not None
    optimal = [r.candidate for r in plan.sizing if r.compute_optimal]
    assert optimal == ["20tpp"]  # nearest the iso-loss curve's least-FLOP point (~18 tokens/param)
    assert "one_candidate" in plan.checks


@pytest.fixture(scope="module")
def linear(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[float, float]]:
    """candidate -> (P_c pretraining $, sigma_c serving $ per request/day), without ceilings."""
    sc = planner.load_scenario(write(tmp_path_factory.mktemp("lin"), 1e6, [20, 100, 500]))
    price = unit_hour_usd(sc) * PERIOD_H
    pre, srv = pretrain_units(sc), serving_units(sc)
    return {c: (price * a, price * SERVING_PERIODS * srv[c] / 1e6) for c, (a, _) in pre.items()}


def crossover(linear: dict[str, tuple[float, float]], big: str, small: str) -> float:
    (p_big, s_big), (p_small, s_small) = linear[big], linear[small]
    return (p_small - p_big) / (s_big - s_small)


@pytest.mark.parametrize(
    ("pair", "factor", "expected"),
    [
        (("20tpp", "100tpp"), 0.85, "20tpp"),
        (("20tpp", "100tpp"), 1.15, "100tpp"),
        (("100tpp", "500tpp"), 0.85, "100tpp"),
        (("100tpp", "500tpp"), 1.15, "500tpp"),
    ],
)
def test_the_mip_switches_candidates_at_the_computed_crossover(
    tmp_path: Path,
    linear: dict[str, tuple[float, float]],
    pair: tuple[str, str],
    factor: float,
    expected: str,
) -> None:
    """Serving demand 15% below / above R* of two neighbouring candidates: the larger model
    below, the smaller (trained on more tokens per parameter) above; the plan's cost is the exact
    whole-unit optimum over all candidates."""
    r_star = crossover(linear, *pair)
    # the envelope: each crossover lies where the third candidate is not cheaper
    assert crossover(linear, "20tpp", "100tpp") < crossover(linear, "100tpp", "500tpp")
    sc = planner.load_scenario(write(tmp_path, r_star * factor, [20, 100, 500]))
    plan = planner.solve(sc)
    costs = exact_costs(sc, serving=True)
    assert chosen(plan) == min(costs, key=costs.__getitem__) == expected
    assert plan.total_cost_usd == pytest.approx(costs[expected], rel=1e-9)
    row = next(r for r in plan.sizing or [] if r.chosen)
    assert row.plan_pretrain_cost_usd is not None and row.plan_serve_cost_usd is not None


def test_growing_demand_shrinks_the_model_and_raises_tokens_per_param(
    linear: dict[str, tuple[float, float]],
) -> None:
    """The linear envelope over R from 0 to far past the last crossover: the cheapest
    candidate's params never grow and its tokens/param never fall."""
    order = ["20tpp", "100tpp", "500tpp"]
    last = crossover(linear, "100tpp", "500tpp")
    picks = []
    for k in range(0, 41):
        r = last * 2 * k / 40
        picks.append(min(order, key=lambda c: linear[c][0] + linear[c][1] * r))
    assert picks[0] == "20tpp" and picks[-1] == "500tpp"
    assert [order.index(p) for p in picks] == sorted(order.index(p) for p in picks)


# -- the verification rule: breaking cases ----------------------------------------------------


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Plan, Any, Any]:
    sc = planner.load_scenario(write(tmp_path_factory.mktemp("v"), 1e8, [20, 100]))
    return planner.solve(sc), sc, planner.demands(sc)


def test_one_candidate_rule_catches_no_candidate_chosen(solved: tuple[Plan, Any, Any]) -> None:
    """The plan's work done, but its sizing rows choose nothing."""
    plan, sc, dem = solved
    broken = Plan.from_dict(plan.to_dict())
    assert broken.sizing is not None
    broken.sizing = [dataclasses.replace(r, chosen=False) for r in broken.sizing]
    found = {k: v for k, v in check_plan(broken, sc, dem).items() if v}
    assert list(found) == ["one_candidate"], found
    assert "pre: 0 candidates chosen" in found["one_candidate"][0]


def test_one_candidate_rule_catches_units_for_a_candidate_not_chosen(
    solved: tuple[Plan, Any, Any],
) -> None:
    plan, sc, dem = solved
    broken = Plan.from_dict(plan.to_dict())
    other = next(r.candidate for r in broken.sizing or [] if not r.chosen)
    a = next(a for a in broken.allocations if a.role.startswith("decode@"))
    ghost: AllocationRow = dataclasses.replace(a, role=f"decode@{other}", units=1e-3, work_done=0.0)
    broken.allocations.append(ghost)
    found = {k: v for k, v in check_plan(broken, sc, dem).items() if v}
    assert list(found) == ["one_candidate"], found
    assert f"serve/decode@{other}: units for candidate {other}" in found["one_candidate"][0]


def test_plan_json_round_trips_the_sizing_rows(solved: tuple[Plan, Any, Any]) -> None:
    plan, _, _ = solved
    data = plan.to_dict()
    assert [r["candidate"] for r in data["sizing"]] == ["20tpp", "100tpp"]
    assert Plan.from_dict(data).sizing == plan.sizing


def test_cost_figures_state_their_basis_in_json_text_and_html(
    solved: tuple[Plan, Any, Any],
) -> None:
    """Each estimate is amount / rate x the rental unit-hour price of the role's cheapest
    system (pricing: rental, one system): the JSON row names that system and price per role;
    the text and HTML reports say the curve is such an estimate; the HTML has the sizing table
    with one row per candidate and the chosen one marked."""
    from planner.htmlreport import plan_html
    from planner.kinds.pretrain import EST_BASIS, PLAN_BASIS
    from planner.report import format_plan

    plan, sc, dem = solved
    usd_h = unit_hour_usd(sc)
    price = f"{SYSTEM} at dc1 ${usd_h:,.2f}/unit-hour (rented)"
    roles = {r.name: r for d in dem for r in d.roles if r.choice is not None}
    for row in plan.sizing or []:
        c = row.candidate
        pre = roles[f"pretrain@{c}"]
        est = pre.amount / pre.rates[SYSTEM].per_unit_s * usd_h / 3600
        assert row.est_pretrain_cost_usd == pytest.approx(est, rel=1e-12)
        assert row.est_pretrain_basis == f"pretrain@{c}: {price}"
        assert row.est_serve_basis == f"decode@{c}: {price}; prefill@{c}: {price}"
        assert row.plan_cost_basis == (price if row.chosen else None)
    assert Plan.from_dict(plan.to_dict()).sizing == plan.sizing
    text = " ".join(format_plan(plan).split())
    assert f"cost curve, {EST_BASIS}:" in text
    assert f"split, {PLAN_BASIS}, at {price}:" in text
    page = plan_html(plan)
    table = page[page.index('<table id="sizing">') :]
    table = table[: table.index("</table>")]
    body = table.split("<tbody>")[1].split("</tr>")[:-1]
    assert [r.split("</td>")[1].split(">")[-1] for r in body] == ["20tpp", "100tpp"]
    picked = next(r.candidate for r in plan.sizing or [] if r.chosen)
    assert [("chosen" in r) for r in body] == [c == picked for c in ["20tpp", "100tpp"]]
    assert html.escape(EST_BASIS) in page


# -- bad input: `file:line: path: message`, exit 1 --------------------------------------------


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(_lines(path), 1) if needle in line)


@pytest.mark.parametrize(
    ("edit", "needle", "message"),
    [
        ({"serve": {"model_from": "nobody"}}, "model_from", "is not a pretraining workload"),
        ({"pre": {"scaling_law": "nope"}}, "target:", "unknown scaling law 'nope'"),
        ({"pre": {"model": "llama-3.1-8b"}}, "pre:", "leave out model"),
        (
            {"pre": {"target": {"loss": 1.5}, "shape_from": "llama-3.1-70b"}},
            "target:",
            "not above the law's irreducible loss",
        ),
        ({"serve": {"survive_site_loss": True}}, "serve:", "survive_site_loss"),
        (
            {"pre": {"target": {**TARGET, "votes": [{"loss_above": 0.01, "votes": 1}]}}},
            "votes: 1",
            "greater than or equal to 2",
        ),
        (
            {"pre": {"target": {**TARGET, "votes": [VOTES, {**VOTES, "loss_above": 0.02}]}}},
            "target:",
            "each number of votes once",
        ),
    ],
)
def test_bad_sizing_input_names_the_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: dict[str, dict[str, Any]],
    needle: str,
    message: str,
) -> None:
    import cli

    path = write(tmp_path, 1e6, [20, 100])
    doc = yaml.safe_load(path.read_text())
    for workload, fields in edit.items():
        doc["workloads"][workload].update(fields)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    code = cli.main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert message in err, err
    assert f"{path.name}:{_line_of(path, needle)}:" in err, err


def test_nothing_may_run_after_a_sizing_workload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import cli

    path = write(tmp_path, 1e6, [20, 100])
    doc = yaml.safe_load(path.read_text())
    doc["workloads"]["later"] = {
        "kind": "pretrain",
        "model": "llama-3.1-8b",
        "tokens": "1T",
        "deadline": "360 days",
        "after": "pre",
        "global_batch_tokens": "4M",
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert cli.main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path.name}:{_line_of(path, 'after: pre')}: workloads.later.after:" in err, err


# -- the shipped example: the trade at a frontier lab's serving volume ------------------------

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "model-sizing.yaml"


def test_shipped_example_trains_well_past_chinchilla_at_frontier_volume() -> None:
    """1G requests/day for 610 days: the chosen model is trained at >= 10x the Chinchilla
    point's tokens/param, serving outweighs pretraining in the plan's split, and the chosen
    candidate's estimated total is within 5% of the cheapest estimate (the curve ignores fleet
    sharing and whole units, which the MIP prices)."""
    sc = planner.load_scenario(EXAMPLE)
    plan = planner.solve(sc)
    rows = plan.sizing or []
    pick = next(r for r in rows if r.chosen)
    chinchilla = next(r for r in rows if r.compute_optimal)
    assert chinchilla.candidate == "20tpp"
    assert pick.tokens_per_param >= 10 * chinchilla.tokens_per_param
    assert pick.params < chinchilla.params
    assert pick.plan_pretrain_cost_usd is not None and pick.plan_serve_cost_usd is not None
    assert pick.plan_serve_cost_usd > pick.plan_pretrain_cost_usd > 0
    estimates = {r.candidate: (r.est_pretrain_cost_usd or 0) + (r.est_serve_cost_usd or 0)
                 for r in rows}  # fmt: skip
    assert estimates[pick.candidate] <= 1.05 * min(estimates.values())
    # serving tokens are the workload's decode + prefill amounts, the same for every candidate
    served = {r.served_tokens for r in rows}
    assert len(served) == 1
    assert served.pop() == pytest.approx(1e9 * (1000 + 500) * 610, rel=1e-9)
    assert "one_candidate" in plan.checks


# -- test-time compute as a substitute: target.votes (a user input, not a fit) ---------------


def write_votes(tmp_path: Path, requests: float, name: str) -> Path:
    path = write(tmp_path, requests, [20, 100], name)
    doc = yaml.safe_load(path.read_text())
    doc["workloads"]["pre"]["target"]["votes"] = [VOTES]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_votes_candidates_sit_on_the_higher_loss_curve_and_multiply_decode(
    tmp_path: Path,
) -> None:
    """Each candidate again at loss target + loss_above (a smaller model at the same tokens per
    parameter), served with 4 votes: decode tokens x 4, the prompt prefilled once."""
    from planner.demand.scaling import loss, scaling_law

    sc = planner.load_scenario(write_votes(tmp_path, 1e6, "v"))
    law = scaling_law(sc.catalog, None)
    plan = planner.solve(sc)
    rows = {r.candidate: r for r in plan.sizing or []}
    assert sorted(rows) == ["100tpp", "100tpp-4v", "20tpp", "20tpp-4v"]
    for base in ("20tpp", "100tpp"):
        own, sub = rows[base], rows[f"{base}-4v"]
        assert (own.votes, sub.votes) == (1, 4)
        assert sub.loss == pytest.approx(own.loss + VOTES["loss_above"], rel=1e-12)
        assert loss(law, sub.params, sub.tokens) == pytest.approx(sub.loss, rel=1e-9)
        assert sub.tokens_per_param == pytest.approx(own.tokens_per_param, rel=1e-12)
        assert sub.params < own.params
    serve = next(d for d in planner.demands(sc) if d.name == "serve")
    amount = {r.name: r.amount for r in serve.roles}
    assert amount["decode@20tpp-4v"] == pytest.approx(4 * amount["decode@20tpp"], rel=1e-12)
    assert amount["prefill@20tpp-4v"] == pytest.approx(amount["prefill@20tpp"], rel=1e-12)
    # the Chinchilla mark stays on the target's own curve
    assert [r.candidate for r in plan.sizing or [] if r.compute_optimal] == ["20tpp"]


@pytest.mark.parametrize("requests", [1e3, 1e9])
def test_the_mip_prices_every_candidate_and_votes_pair(tmp_path: Path, requests: float) -> None:
    """The plan's pick is the whole-unit optimum over every (candidate, votes) pair computed
    from the rates: with almost no serving the 4-vote substitute's cheaper pretraining wins,
    with heavy serving its 4x decode loses to a model on the target's own curve."""
    sc = planner.load_scenario(write_votes(tmp_path, requests, f"r{requests:.0e}"))
    plan = planner.solve(sc)
    costs = exact_costs(sc, serving=True)
    best = min(costs, key=costs.__getitem__)
    assert chosen(plan) == best
    assert plan.total_cost_usd == pytest.approx(costs[best], rel=1e-9)
    assert best.endswith("-4v") == (requests < 1e6)
    assert "one_candidate" in plan.checks
