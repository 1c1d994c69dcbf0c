"""The RL trainer re-rated at the job the plan places it on (planner/kinds/rl.py placed_jobs,
rerated; planner/api.py's loop through the kinds' Rerate hooks): a separate-pool run whose H100s
arrive only in the second quarter of its two-quarter window is trained on ~2x the units its
rate was derived for (n: its training work spread over the whole window); the plan is re-solved
at the train rate of the job it places, states both jobs and the rate used (rl_jobs), and the
verifier (rule placed_rate) catches a record that hides a lower placed rate.

The expected rates are recomputed here from the demand functions the rating is built on: the
update's training pass on the job (update_passes) x (1 - updates x the weight sync's seconds /
window), pool_sync_s, the separate-pool run's idle share (planner/kinds/rl.py _busy)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest
from test_capacity_over_time import scenario
from test_lp import by_name, site

import planner
from fleetcore.errors import InfeasibleError
from planner.kinds.base import RERATE_TOL
from planner.verify import check_plan

DAY = 86400.0
QUARTER_S = 91.25 * DAY
SYSTEM = "hgx-h100"
PER_UNIT = 8

# Llama 3.1 8B, 200M problems x 16 samples, separate generation and training pools: its training
# spread over 182.5 days is 4 H100 servers (3 at the fewest units' rate, whose own job's rate
# needs 3.09: planner/kinds/rl.py rated_on, session 34); trained in the second quarter alone it
# takes 6 at that rate, 7 once re-rated.
RUN = {
    "kind": "rl",
    "policy": "llama-3.1-8b",
    "problems": "200M",
    "samples_per_problem": 16,
    "prompt_tokens": 500,
    "completion_tokens": 2000,
    "kept_fraction": 0.5,
    "samples_per_update": 4096,
    "deadline": "182.5 days",
    "colocated": False,
}


# The staged job sizes below (4 servers spread, 6 then 7 squeezed, ...) are knife-edges of the train
# role's rate: pinned, an explicit catalog input, at the H100 BF16 rate they were staged at
# (0.61 at one K = hidden/TP is 0.602 with each dense linear at its own GEMM shape on this
# 8B's TP1 layers: 0.61 x 0.9376 / 0.9501; session s32 pergemm), so a refit of the fitted
# fraction does not move them.
PIN = {"accelerators": {"h100-sxm": {"training": {"gemm_efficiency": {"bf16": 0.602}}}}}


def squeezed(tmp_path: Path, name: str = "rlsqueeze", **economics: Any) -> planner.Scenario:
    """Two quarters; the H100s take a quarter to arrive (amortised, none owned), so every unit
    the run trains on serves only the second quarter."""
    return scenario(
        tmp_path,
        {"a": site({SYSTEM: {"max_units": 5000}}, price=0.0)},
        {"rl": RUN},
        {"horizon": "182.5 days", "period": "1 quarter", "pricing": "amortised", **economics},
        catalog={"systems": {SYSTEM: {"lead_time": "1 quarter"}}, **PIN},
        name=name,
    )


def train_rate(sc: planner.Scenario, accelerators: int) -> float:
    """FLOP/s per unit of RUN's train role on a job of `accelerators` H100s: the update's
    training pass there, x (1 - updates x weight sync / window)."""
    from planner.demand.rl import estimate_rl, pool_sync_s, update_passes

    spec = dict(sc.data.workloads)["rl"]
    passes = update_passes(spec, sc.catalog, SYSTEM, accelerators)
    sync = pool_sync_s(spec, sc.catalog, SYSTEM)
    assert sync is not None
    idle = estimate_rl(spec, sc.catalog).updates * sync.total_s / (182.5 * DAY)
    return passes["train"].rate.per_unit_s * (1 - idle)


def test_a_squeezed_trainer_is_re_rated_at_the_job_it_trains_on(tmp_path: Path) -> None:
    sc = squeezed(tmp_path)
    train = next(r for r in by_name(sc)["rl"].roles if r.name == "train")
    rated = train.rates[SYSTEM]
    # n = training work over the window at the fewest units' rate: 2.2 servers -> 3 (24 GPUs),
    # whose own rate needs 3.09 servers in the window -> 4 (32 GPUs), whose rate needs 3.00
    assert rated.job_accelerators == 4 * PER_UNIT
    assert math.isclose(rated.per_unit_s, train_rate(sc, 4 * PER_UNIT), rel_tol=1e-9)
    spread = train.amount / (train_rate(sc, 3 * PER_UNIT) * 182.5 * DAY)
    assert 3 < spread < 3.1
    before = math.ceil(train.amount / (rated.per_unit_s * QUARTER_S))
    assert before == 6  # the second quarter alone, at the rated job's rate
    plan = planner.solve(sc)
    (job,) = plan.rl_jobs or []
    assert plan.pretrain_jobs is None
    trained = {a.period: a.units for a in plan.allocations if a.role == "train"}
    assert set(trained) == {1}
    n = math.ceil(trained[1] - 1e-6)
    assert (job.rated_accelerators, job.placed_units, job.placed_accelerators) == (
        4 * PER_UNIT,
        n,
        n * PER_UNIT,
    )
    # the rate used is the train rate recomputed at the placed job, >0.5% below the rated one
    # (6 units at the rated rate, re-rated there; then 7 at 6's rate, re-rated there: 3 solves)
    assert n == 7
    assert job.rate_job_accelerators == n * PER_UNIT and job.solves == 3
    assert math.isclose(job.rate_per_unit_s, train_rate(sc, n * PER_UNIT), rel_tol=1e-9)
    assert job.rate_per_unit_s < rated.per_unit_s * (1 - RERATE_TOL)
    assert job.placed_rate_per_unit_s == job.rate_per_unit_s
    assert {a.rate_per_unit_s for a in plan.allocations if a.role == "train"} == {
        job.rate_per_unit_s
    }
    assert job.status == "as rated"
    # the train units follow the rate used: its FLOPs over a quarter at that rate
    assert math.isclose(trained[1], train.amount / (job.rate_per_unit_s * QUARTER_S), rel_tol=1e-6)
    assert "placed_rate" in plan.checks
    assert not any("re-rated to a fixed point" in x for x in plan.left_out)
    # JSON round trip keeps the record; the text and HTML reports state it
    data = json.loads(plan.to_json())
    assert data["rl_jobs"][0]["placed_accelerators"] == n * PER_UNIT
    assert planner.Plan.from_dict(data).to_json() == plan.to_json()
    from planner.htmlreport import plan_html
    from planner.report import format_plan

    text = format_plan(plan)
    line = (
        f"  rl/train on {SYSTEM}: rated {4 * PER_UNIT:,} accelerators at "
        f"{rated.per_unit_s:.4g} FLOP/s per unit; rate used {job.rate_per_unit_s:.4g} (a job of "
        f"{n * PER_UNIT:,}); placed on {n * PER_UNIT:,} ({n:,} units), rated there "
        f"{job.rate_per_unit_s:.4g} (+0.00%): as rated, after 3 solves"
    )
    assert "RL trainer jobs" in text
    assert " ".join(line.split()) in " ".join(text.split())  # the report wraps long lines
    assert "<h2>RL trainer jobs</h2>" in plan_html(plan)


def test_a_trainer_spread_over_its_window_is_solved_once(tmp_path: Path) -> None:
    """One LP period for the whole window and no lead time: the trainer's units are its work
    spread over the window at the rate used. n was sized at the fewest units' (higher) rate, so
    at the 3-unit job's rate that work needs 3.09 units, and the job is 4 units (rated_on),
    whose rate is higher (its layout idles less) and needs 3.00: placed on its rated 4-unit job
    (the pool holds the generators' units too), `as rated`, one solve, the rate unchanged.
    (Before session 34 it was rated at 3 units and placed on 4: `conservative`.)"""
    sc = scenario(
        tmp_path,
        {"a": site({SYSTEM: {"max_units": 5000}}, price=0.0)},
        {"rl": RUN},
        {"horizon": "182.5 days", "period": "182.5 days", "pricing": "amortised"},
        catalog=PIN,
        name="rlflat",
    )
    train = next(r for r in by_name(sc)["rl"].roles if r.name == "train")
    rated = train.rates[SYSTEM]
    plan = planner.solve(sc)
    (job,) = plan.rl_jobs or []
    assert job.solves == 1 and job.rate_per_unit_s == rated.per_unit_s
    units = train.amount / (rated.per_unit_s * 182.5 * DAY)
    assert 2.99 < units <= 3 and job.placed_units == 4
    assert rated.job_accelerators == 4 * PER_UNIT
    assert math.isclose(job.placed_rate_per_unit_s, train_rate(sc, 4 * PER_UNIT), rel_tol=1e-9)
    assert job.placed_rate_per_unit_s == rated.per_unit_s
    assert train_rate(sc, 3 * PER_UNIT) < rated.per_unit_s * (1 - RERATE_TOL)
    assert job.status == "as rated"


def _not_converged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> planner.Plan:
    import planner.api

    monkeypatch.setattr(planner.api, "RERATE_SOLVES", 1)
    return planner.solve(squeezed(tmp_path, name="rlonce"))


def _violations(plan: planner.Plan, sc: planner.Scenario) -> list[str]:
    from planner.api import demands

    return check_plan(plan, sc, demands(sc))["placed_rate"]


@pytest.mark.parametrize("tamper", ["hide", "placed_units", "placed_rate", "rate_job", "no_record"])
def test_the_verifier_catches_a_tampered_rl_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tamper: str
) -> None:
    """One solve allowed: the plan trains on 6 units at the 4-unit job's rate, says so (not
    converged, left_out with both rates) and verifies; each tampered record is caught."""
    plan = _not_converged(tmp_path, monkeypatch)
    sc = squeezed(tmp_path, name="rlonce")
    (job,) = plan.rl_jobs or []
    assert job.status == "not converged" and job.solves == 1
    assert job.placed_rate_per_unit_s < job.rate_per_unit_s * (1 - RERATE_TOL)
    (line,) = [x for x in plan.left_out if x.startswith(f"rl/train on {SYSTEM}: not re-rated")]
    assert f"{job.placed_rate_per_unit_s:.4g}" in line and f"{job.rate_per_unit_s:.4g}" in line
    assert _violations(plan, sc) == []
    changes: dict[str, Any] = {
        "hide": {"status": "consistent"},
        "placed_units": {"placed_units": job.placed_units - 1},
        "placed_rate": {"placed_rate_per_unit_s": job.rate_per_unit_s},
        "rate_job": {"rate_job_accelerators": job.placed_accelerators},
    }
    if tamper == "no_record":
        plan.rl_jobs = []
    else:
        plan.rl_jobs = [dataclasses.replace(job, **changes[tamper])]
    if tamper == "hide":
        plan.left_out = [x for x in plan.left_out if "not re-rated" not in x]
    found = _violations(plan, sc)
    assert found, tamper
    assert all(x.startswith("rl/train") for x in found)


def test_a_system_that_cannot_train_has_no_trainer_job(tmp_path: Path) -> None:
    """RTX PRO servers have no training figures: the trainer's rate there is 0 with no job
    (job_accelerators 0), so a site of them alone still fails as before, with the diagnosis,
    and with H100s beside them the trainer's one record is on the H100s (as rated, as in
    test_a_trainer_spread_over_its_window_is_solved_once)."""
    from planner.kinds.rl import rated_on

    rtx = {"rtx-pro-server": {"max_units": 5000}}
    only = scenario(
        tmp_path,
        {"a": site(rtx, price=0.0)},
        {"rl": RUN},
        {"horizon": "182.5 days", "period": "182.5 days", "pricing": "amortised"},
        catalog=PIN,
        name="rlrtx",
    )
    spec = dict(only.data.workloads)["rl"]
    demand = by_name(only)["rl"]
    amounts = {r.name: r.amount for r in demand.roles}
    assert demand.rl is not None
    rates, _ = rated_on(
        spec, only.catalog, "rtx-pro-server", amounts, demand.window_s, demand.rl.updates
    )
    assert not rates["train"].feasible and rates["train"].job_accelerators == 0
    with pytest.raises(InfeasibleError):
        planner.solve(only)
    both = scenario(
        tmp_path,
        {"a": site({**rtx, SYSTEM: {"max_units": 5000}}, price=0.0)},
        {"rl": RUN},
        {"horizon": "182.5 days", "period": "182.5 days", "pricing": "amortised"},
        catalog=PIN,
        name="rlboth",
    )
    plan = planner.solve(both)
    assert [(j.system, j.status) for j in plan.rl_jobs or []] == [(SYSTEM, "as rated")]


def test_rerated_re_derives_every_role_or_holds_a_short_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """planner/kinds/rl.py rerated on the one-solve plan (the trainer on 6 units in the second
    quarter): a record squeezed onto 6 units from a 4-unit rate job gets every role's rate on
    that system at the 6-unit job (rates_at); one whose rate job is more units than the pool
    (trainer and generators) held keeps its rates and holds that job's units while it trains
    (the train role's min_units)."""
    from planner.kinds.rl import rates_at, rerated

    plan = _not_converged(tmp_path, monkeypatch)
    sc = squeezed(tmp_path, name="rlonce")
    work = planner.demands(sc)
    demand = next(d for d in work if d.name == "rl")
    assert demand.rl is not None
    (job,) = plan.rl_jobs or []
    assert job.placed_units == 6 and job.rate_job_accelerators == 4 * PER_UNIT
    optimistic = dataclasses.replace(job, status="optimistic")
    (again,) = rerated(work, [optimistic], sc, plan)
    want, _ = rates_at(
        dict(sc.data.workloads)["rl"],
        sc.catalog,
        SYSTEM,
        6 * PER_UNIT,
        demand.rl.updates,
        demand.window_s,
    )
    for role in again.roles:
        assert role.rates[SYSTEM].per_unit_s == want[role.name].per_unit_s, role.name
        assert role.min_units == {}
    train = next(r for r in again.roles if r.name == "train")
    assert train.rates[SYSTEM].job_accelerators == 6 * PER_UNIT
    assert train.rates[SYSTEM].reason.startswith("re-rated at the job the plan placed")
    # a rate job of one unit more than the pool (trainer and generators) held in service
    pool = max(r.units for r in plan.schedule if r.system == SYSTEM)
    big = int(pool) + 1
    short = dataclasses.replace(optimistic, rate_job_accelerators=big * PER_UNIT)
    (held,) = rerated(work, [short], sc, plan)
    for before, role in zip(demand.roles, held.roles, strict=True):
        assert role.rates[SYSTEM].per_unit_s == before.rates[SYSTEM].per_unit_s
        assert role.min_units == ({SYSTEM: big} if role.name == "train" else {})
    # one unit less than the pool held: not short, so re-rated at the placed job
    enough = dataclasses.replace(optimistic, rate_job_accelerators=(big - 1) * PER_UNIT)
    (again,) = rerated(work, [enough], sc, plan)
    assert next(r for r in again.roles if r.name == "train").min_units == {}


# -- a colocated run: its job is every role's units on the trainer's pool --------------------

# The same run colocated (generation, log-probs and training take the same H100s in turn), with
# 8x larger updates so that each colocated update's refit and offload leave room for work in a
# quarter. Rated before the solve at n = every role's work spread over the window: 9 servers.
COLOCATED = {**RUN, "colocated": True, "samples_per_update": 32768}


def colocated(tmp_path: Path, name: str = "rlco") -> planner.Scenario:
    """As `squeezed`: the H100s arrive in the second quarter, so the run does all its work
    there, on about twice the units its rate was derived for."""
    return scenario(
        tmp_path,
        {"a": site({SYSTEM: {"max_units": 5000}}, price=0.0)},
        {"rl": COLOCATED},
        {"horizon": "182.5 days", "period": "1 quarter", "pricing": "amortised"},
        catalog={"systems": {SYSTEM: {"lead_time": "1 quarter"}}, **PIN},
        name=name,
    )


def colocated_train_rate(sc: planner.Scenario, accelerators: int) -> float:
    """FLOP/s per unit of COLOCATED's train role on a job of `accelerators` H100s: the update's
    training pass there, x (1 - updates x the colocated update's seconds over that job /
    window)."""
    from planner.demand.rl import colocated_update_s, estimate_rl, update_passes

    spec = dict(sc.data.workloads)["rl"]
    passes = update_passes(spec, sc.catalog, SYSTEM, accelerators)
    co = colocated_update_s(spec, sc.catalog, SYSTEM, accelerators=accelerators)
    assert co is not None
    idle = estimate_rl(spec, sc.catalog).updates * co.total_s / (182.5 * DAY)
    return passes["train"].rate.per_unit_s * (1 - idle)


def test_a_colocated_run_is_re_rated_at_its_pool_share(tmp_path: Path) -> None:
    """Every role runs in the second quarter on ~20 servers; the train role alone takes ~7, fewer
    than the 9 of its rated job (so the train role's own job is the rated one, as rated), but the
    run's job is all 20 (job_units): re-rated there, >0.5% below the rated rate, one re-solve."""
    sc = colocated(tmp_path)
    train = next(r for r in by_name(sc)["rl"].roles if r.name == "train")
    rated = train.rates[SYSTEM]
    assert rated.job_accelerators == 9 * PER_UNIT
    assert math.isclose(rated.per_unit_s, colocated_train_rate(sc, 9 * PER_UNIT), rel_tol=1e-9)
    plan = planner.solve(sc)
    (job,) = plan.rl_jobs or []
    by_role: dict[str, dict[int, float]] = {}
    for a in plan.allocations:
        assert a.system == SYSTEM and a.datacenter == "a"
        by_role.setdefault(a.role, {})[a.period] = a.units
    assert set(by_role) == {"generate", "generate_prefill", "policy_logprobs", "train"}
    assert all(set(units) == {1} for units in by_role.values())
    alone = by_role["train"][1]
    share = sum(units[1] for units in by_role.values())
    assert alone < 9 < share
    n = math.ceil(share - 1e-6)
    assert n == 20
    assert (job.placed_units, job.placed_accelerators, job.rate_job_accelerators) == (
        n,
        n * PER_UNIT,
        n * PER_UNIT,
    )
    want = colocated_train_rate(sc, n * PER_UNIT)
    assert math.isclose(job.rate_per_unit_s, want, rel_tol=1e-9)
    assert job.rate_per_unit_s < rated.per_unit_s * (1 - RERATE_TOL)
    assert job.placed_rate_per_unit_s == job.rate_per_unit_s
    assert {a.rate_per_unit_s for a in plan.allocations if a.role == "train"} == {want}
    assert job.solves == 2 and job.status == "as rated"
    # generation's rate is re-derived at the same job (its concurrency): rates_at
    from planner.kinds.rl import rates_at

    demand = by_name(sc)["rl"]
    again, _ = rates_at(
        dict(sc.data.workloads)["rl"],
        sc.catalog,
        SYSTEM,
        n * PER_UNIT,
        demand.rl.updates,
        demand.window_s,
    )
    generate = {a.rate_per_unit_s for a in plan.allocations if a.role == "generate"}
    assert generate == {again["generate"].per_unit_s}
    assert "placed_rate" in plan.checks and _violations(plan, sc) == []


def test_the_verifier_counts_a_colocated_run_s_whole_pool_share(tmp_path: Path) -> None:
    """The colocated plan's record tampered to the train role's own job (the rated 9 servers,
    at the rated rate) is caught: the run's job is all its roles' units; a record claiming the
    run held to a 9-server job is caught on its ~20 servers (the train role's ~7 would pass)."""
    sc = colocated(tmp_path)
    plan = planner.solve(sc)
    (job,) = plan.rl_jobs or []
    rated = next(r for r in by_name(sc)["rl"].roles if r.name == "train").rates[SYSTEM]
    plan.rl_jobs = [dataclasses.replace(job, placed_units=9, placed_accelerators=9 * PER_UNIT)]
    found = _violations(plan, sc)
    assert any("runs on 20 units of hgx-h100 at its lowest-rated period" in x for x in found)
    held = dataclasses.replace(
        job,
        status="held to its rated job",
        rate_job_accelerators=rated.job_accelerators,
        rate_per_unit_s=rated.per_unit_s,
    )
    plan.rl_jobs = [held]
    found = _violations(plan, sc)
    assert any(
        x.startswith("rl/train: record says held to its rated job (9 units), runs on 19.")
        for x in found
    )


def _held_at(sc: planner.Scenario, units: int) -> list[Any]:
    """The pre-solve demands with the trainer held to at most `units` servers (Role.max_units,
    as held_to_rated sets it)."""
    out = []
    for d in planner.demands(sc):
        roles = [
            dataclasses.replace(r, max_units={SYSTEM: units}) if r.name == "train" else r
            for r in d.roles
        ]
        out.append(dataclasses.replace(d, roles=roles))
    return out


def _solve_lp(sc: planner.Scenario, work: list[Any]) -> Any:
    from planner.lp.build import build
    from planner.lp.solve import solve_model

    model = build(sc, work)
    rows = [k.entity for k in model.constraints if k.family == "ratedpool"]
    solve_model(model, "highs", 0.0, 600.0, "choose", False)
    return rows


def test_a_held_colocated_run_holds_its_pool_share(tmp_path: Path) -> None:
    """Row ratedpool: held to 19 servers, the run's ~19.6 servers of every role in the second
    quarter (pre-solve rates) cannot fit, though its train role alone (~7, row ratedjob) would:
    no plan. Held to 20, its roles' own bounds (their work in a quarter) already keep it there:
    no row, a plan. A separate-pool run has no ratedpool row."""
    from planner.lp.build import build

    sc = colocated(tmp_path)
    demand = by_name(sc)["rl"]
    share = sum(r.amount / (r.rates[SYSTEM].per_unit_s * QUARTER_S) for r in demand.roles)
    assert 19 < share < 20
    model = build(sc, _held_at(sc, 19))
    rows = [k.entity for k in model.constraints if k.family == "ratedpool"]
    assert rows == [("rl", "a", SYSTEM, "p0"), ("rl", "a", SYSTEM, "p1")]
    with pytest.raises(InfeasibleError):
        _solve_lp(sc, _held_at(sc, 19))
    assert _solve_lp(sc, _held_at(sc, 20)) == []
    sep = squeezed(tmp_path, name="rlsep")
    assert _solve_lp(sep, _held_at(sep, 7)) == []


def test_a_period_the_colocated_run_only_generates_in_sets_no_job(tmp_path: Path) -> None:
    """job_units on the colocated plan with 50 servers of generation added in the first quarter,
    where it does not train: the job is still every role's units of the second quarter (the
    train rate is the update's; no update runs in the first), while the hold's cap
    (every_period) counts the first quarter's 50 too. A separate-pool run's is its train
    role's units alone (role_units)."""
    from planner.kinds.pretrain import in_service, role_units
    from planner.kinds.rl import job_units

    sc = colocated(tmp_path)
    plan = planner.solve(sc)
    demand = next(d for d in planner.demands(sc) if d.name == "rl")
    train = next(r for r in demand.roles if r.name == "train")
    share = sum(a.units for a in plan.allocations if a.period == 1)
    generate = next(a for a in plan.allocations if a.role == "generate")
    plan.allocations = [*plan.allocations, dataclasses.replace(generate, period=0, units=50.0)]
    held = in_service(plan)
    ((system, (units, _)),) = job_units(plan, demand, train, held).items()
    assert system == SYSTEM and units == pytest.approx({1: share}, rel=1e-12)
    ((_, (every, _)),) = job_units(plan, demand, train, held, every_period=True).items()
    assert every == pytest.approx({0: 50.0, 1: share}, rel=1e-12)
    sep = squeezed(tmp_path, name="rlsep2")
    separate = planner.solve(sep)
    demand = next(d for d in planner.demands(sep) if d.name == "rl")
    train = next(r for r in demand.roles if r.name == "train")
    held = in_service(separate)
    assert job_units(separate, demand, train, held) == role_units(separate, held)[("rl", "train")]
