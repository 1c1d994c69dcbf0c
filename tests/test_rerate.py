"""Pretraining re-rated at the job the plan places it on (planner/kinds/pretrain.py placed_jobs,
planner/api.py): a run whose units arrive only in the second half of its window is squeezed
onto ~2x the units its rate was derived for; the plan is re-solved at the rate of the job it
places, states both jobs and the rate used (pretrain_jobs), and the verifier (rule
placed_rate) catches a record that hides a lower placed rate.

The expected rates are recomputed here from the step model's layout search (best_layout) and
the LP rate formula, rate = accelerators per unit x FLOP per token x tokens/s per accelerator x
goodput, with the goodput from the failure physics (derive_goodput), not through the planner's
rating functions."""

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
from fleetcore.schema import BYTES_PER_VALUE
from planner.kinds.pretrain import RERATE_TOL
from planner.verify import check_plan

DAY = 86400.0
QUARTER_S = 91.25 * DAY
SYSTEM = "hgx-h100"
PER_UNIT = 8  # accelerators of an HGX H100 server

# 70B on 8.5T tokens in 182.5 days: the layout search's job for the whole window is 64 units
# (TP4 x DP128, FSDP over 128: the 4M batch's 488 sequences are 4 micro-batches a DP rank, MFU
# 49.4%). Squeezed into one quarter it needs 126.6 unit-quarters at that rate, 127 units, where
# TP4 would be FSDP over 254 at 2 micro-batches a rank, its per-layer gathers exposed (MFU
# 45.3%); the search takes TP8 x DP127 (MFU 47.2%), 4.77% lower per unit: 133 units at that
# rate, whose job (TP8 x DP133) rates 0.02% lower still, within RERATE_TOL. (2T with 15 units,
# TP2 x DP30 x CP2, until each training linear was rated at its own GEMM shape: the 15-unit
# job became TP4 x DP30 and its doubled job TP4 x DP60 rated only 0.22% lower, within
# RERATE_TOL, so nothing was re-rated.)
TOKENS = 8.5e12
GLOBAL_BATCH_TOKENS = 4e6
JOB = {
    "kind": "pretrain",
    "model": "llama-3.1-70b",
    "tokens": "8.5T",
    "deadline": "182.5 days",
    "global_batch_tokens": "4M",
}


def squeezed(tmp_path: Path, max_units: int = 1000, name: str = "squeeze") -> planner.Scenario:
    """The run's window is two quarters; the H100s take a quarter to arrive (amortised, none
    owned), so every unit it runs on serves only the second quarter."""
    return scenario(
        tmp_path,
        {"a": site({SYSTEM: {"max_units": max_units}}, price=0.0)},
        {"pt": JOB},
        {"horizon": "182.5 days", "period": "1 quarter", "pricing": "amortised"},
        catalog={"systems": {SYSTEM: {"lead_time": "1 quarter"}}},
        name=name,
    )


def step_rate(sc: planner.Scenario, accelerators: int) -> float:
    """FLOP/s per unit of JOB on `accelerators` H100s, from the step model: the fastest layout
    of that many (or of the job rounded down to 2^k units, the rest idle), its tokens/s over
    every accelerator of the job, x FLOP per token x accelerators per unit x goodput."""
    from planner.demand.common import hardware
    from planner.demand.goodput import derive_goodput
    from planner.demand.training import RunFigures, best_layout, model_figures, train_figures

    arch = sc.catalog.models["llama-3.1-70b"]
    hw = hardware(sc.catalog, SYSTEM)
    assert hw is not None and hw.accelerators == PER_UNIT
    f = train_figures(hw, "bf16")
    assert f is not None
    mf = model_figures(arch, 8192, True)
    run = RunFigures(8192, GLOBAL_BATCH_TOKENS, 16.0, BYTES_PER_VALUE["bf16"])
    sizes = [accelerators] + [
        accelerators // (PER_UNIT << k) * (PER_UNIT << k)
        for k in range(1, 7)
        if accelerators // (PER_UNIT << k)
    ]
    steps = [s for s in (best_layout(g, mf, f, run).best for g in sizes) if s is not None]
    best = max(steps, key=lambda s: s.tokens_per_s)
    assert hw.system.reliability is not None
    goodput = derive_goodput(hw.system.reliability, best.layout.accelerators, 16.0 * arch.params)
    demand = by_name(sc)["pt"]
    flop_per_token = demand.roles[0].amount / TOKENS
    return PER_UNIT * flop_per_token * best.tokens_per_s / accelerators * goodput.goodput


def test_a_squeezed_run_is_re_rated_at_the_job_it_runs_on(tmp_path: Path) -> None:
    sc = squeezed(tmp_path)
    demand = by_name(sc)["pt"]
    role = demand.roles[0]
    rated = role.rates[SYSTEM]
    assert rated.job_accelerators == 64 * PER_UNIT  # the whole window's job
    assert math.isclose(rated.per_unit_s, step_rate(sc, 64 * PER_UNIT), rel_tol=1e-9)
    # before: the second quarter alone on units rated for the whole window
    before = math.ceil(role.amount / (rated.per_unit_s * QUARTER_S))
    assert before == 127 >= 2 * 64 - 1  # ~2x the rated job
    plan = planner.solve(sc)
    (job,) = plan.pretrain_jobs or []
    units = {r.period: r.units for r in plan.schedule}
    n = int(units[1])
    assert units[0] == 0
    assert (job.rated_accelerators, job.placed_units, job.placed_accelerators) == (
        64 * PER_UNIT,
        n,
        n * PER_UNIT,
    )
    used = {a.rate_per_unit_s for a in plan.allocations}
    assert used == {job.rate_per_unit_s}
    # the rate used is the step model's at the job it names, a placed job of a previous solve
    assert job.rate_job_accelerators > 64 * PER_UNIT and job.solves >= 2
    assert math.isclose(job.rate_per_unit_s, step_rate(sc, job.rate_job_accelerators), rel_tol=1e-9)
    # ...4.77% below the whole window's rate, and within RERATE_TOL of the placed job's
    assert job.rate_job_accelerators == 127 * PER_UNIT
    assert rated.per_unit_s * (1 - 0.05) < job.rate_per_unit_s < rated.per_unit_s * (1 - 0.045)
    placed = step_rate(sc, n * PER_UNIT)
    assert math.isclose(job.placed_rate_per_unit_s, placed, rel_tol=1e-9)
    assert placed >= job.rate_per_unit_s * (1 - RERATE_TOL)
    assert job.status in ("as rated", "consistent", "conservative")
    # the fleet and the cost follow the rate used: n = ceil(FLOPs / (rate x quarter)) units,
    # each charged capex x its quarter in service / lifetime (energy is free here)
    assert n == math.ceil(role.amount / (job.rate_per_unit_s * QUARTER_S))
    assert n == 133 > before
    spec = sc.catalog.system(SYSTEM)
    assert math.isclose(
        plan.total_cost_usd, n * spec.capex_usd * QUARTER_S / spec.lifetime_s, rel_tol=1e-9
    )
    assert not any("re-rated to a fixed point" in x for x in plan.left_out)
    assert "placed_rate" in plan.checks
    # JSON round trip keeps the record, and the report states it
    data = json.loads(plan.to_json())
    assert data["pretrain_jobs"][0]["placed_accelerators"] == n * PER_UNIT
    assert planner.Plan.from_dict(data).to_json() == plan.to_json()
    from planner.report import format_plan

    text = format_plan(plan)
    assert "Pretraining jobs" in text and f"{n * PER_UNIT:,}" in text


def test_a_run_placed_as_rated_is_solved_once(tmp_path: Path) -> None:
    """Units there from day 0 (no lead time) and one LP period for the whole window: the run
    keeps the job its window needs. (In quarters, buying late is cheaper under amortised
    pricing, and the plan then squeezes the run into the second quarter by itself.)"""
    sc = scenario(
        tmp_path,
        {"a": site({SYSTEM: {"max_units": 1000}}, price=0.0)},
        {"pt": JOB},
        {"horizon": "182.5 days", "period": "182.5 days", "pricing": "amortised"},
        name="flat",
    )
    rated = by_name(sc)["pt"].roles[0].rates[SYSTEM]
    plan = planner.solve(sc)
    (job,) = plan.pretrain_jobs or []
    assert job.solves == 1 and job.status == "as rated"
    assert job.rate_per_unit_s == rated.per_unit_s
    assert job.placed_accelerators <= rated.job_accelerators


def _not_converged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> planner.Plan:
    import planner.api

    monkeypatch.setattr(planner.api, "RERATE_SOLVES", 1)
    return planner.solve(squeezed(tmp_path, name="once"))


def test_not_converged_is_stated_with_both_rates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One solve allowed: the squeezed run's placed job rates below the rate used; the plan says
    so in left_out with both figures, its record says not converged, and it verifies."""
    plan = _not_converged(tmp_path, monkeypatch)
    (job,) = plan.pretrain_jobs or []
    assert job.status == "not converged" and job.solves == 1
    assert job.placed_rate_per_unit_s < job.rate_per_unit_s * (1 - RERATE_TOL)
    (line,) = [x for x in plan.left_out if x.startswith("pt/pretrain on hgx-h100: not re-rated")]
    assert f"{job.placed_rate_per_unit_s:.4g}" in line and f"{job.rate_per_unit_s:.4g}" in line
    assert f"{job.placed_accelerators:,} accelerators" in line


def test_a_re_solve_that_cannot_hold_the_re_rated_job_keeps_the_plan_before(
    tmp_path: Path,
) -> None:
    """The site holds exactly the units the first solve needs: at the placed job's lower rate
    the run needs more than it has, so the re-solve finds no plan; the first is kept, said to be
    not converged (an honest plan, not an infeasible scenario)."""
    probe = squeezed(tmp_path, name="probe")
    role = by_name(probe)["pt"].roles[0]
    first = math.ceil(role.amount / (role.rates[SYSTEM].per_unit_s * QUARTER_S))
    plan = planner.solve(squeezed(tmp_path, max_units=first, name="tight"))
    (job,) = plan.pretrain_jobs or []
    assert job.status == "not converged" and job.solves == 1
    assert job.rate_per_unit_s == role.rates[SYSTEM].per_unit_s
    assert any(x.startswith("pt/pretrain on hgx-h100: not re-rated") for x in plan.left_out)


def _violations(plan: planner.Plan, sc: planner.Scenario) -> list[str]:
    from planner.api import demands

    work = demands(sc)
    return check_plan(plan, sc, work)["placed_rate"]


@pytest.mark.parametrize(
    "tamper",
    ["hide", "placed_units", "placed_rate", "rate_job", "no_record"],
)
def test_the_verifier_catches_a_tampered_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tamper: str
) -> None:
    """A plan at the pre-solve rate (one solve) with its record or left_out line changed: the
    hidden shortfall, a placed job or rate not the plan's, a rate job whose rate is not the one
    used, a missing record: each is a placed_rate violation."""
    plan = _not_converged(tmp_path, monkeypatch)
    sc = squeezed(tmp_path, name="once")
    assert _violations(plan, sc) == []
    (job,) = plan.pretrain_jobs or []
    changes: dict[str, Any] = {
        "hide": {"status": "consistent"},
        "placed_units": {"placed_units": job.placed_units - 1},
        "placed_rate": {"placed_rate_per_unit_s": job.rate_per_unit_s},
        "rate_job": {"rate_job_accelerators": job.placed_accelerators},
        "no_record": {},
    }
    if tamper == "no_record":
        plan.pretrain_jobs = []
    else:
        plan.pretrain_jobs = [dataclasses.replace(job, **changes[tamper])]
    if tamper == "hide":
        plan.left_out = [x for x in plan.left_out if "not re-rated" not in x]
    found = _violations(plan, sc)
    assert found, tamper
    assert all(x.startswith("pt/pretrain") for x in found)


def test_a_pool_short_of_the_rated_job_is_made_to_hold_it(tmp_path: Path) -> None:
    """405B on 985B tokens in one 90-day period, rented: the job its window needs is 96 units
    (TP8 x PP16 x DP3 x CP2, the smallest that meets 90 days at its own rate); at that rate
    94.43 units of work suffice, so the first solve rents 95, and the job on 95 units idles 56
    of its 760 accelerators in its layout (TP8 x PP11 x DP4 x CP2 on 704; 9.8% lower rate per
    unit). The plan is solved again holding the rated job's 96 units while the run runs (its
    min_units), at the rate it was rated at. (1T until each training linear was rated at its
    own GEMM shape with H100 BF16 refitted 0.61 -> 0.58: the 96-unit job's rate fell and 1T
    then needed 95.87 units of work, the rated job's 96, so nothing was short.)"""
    from planner.demand.pretrain import pretrain_rate_at

    job = {
        "kind": "pretrain",
        "model": "llama-3.1-405b",
        "tokens": "985B",
        "deadline": "90 days",
        "global_batch_tokens": "16M",
        "goodput": 0.9,
        "include_attention": False,
    }
    sc = scenario(
        tmp_path,
        {"a": site({SYSTEM: {"max_units": 1000}}, price=0.0)},
        {"pt": job},
        {"horizon": "90 days", "period": "90 days", "pricing": "rental"},
        name="held",
    )
    role = by_name(sc)["pt"].roles[0]
    rated = role.rates[SYSTEM]
    assert rated.job_accelerators == 96 * PER_UNIT
    need = role.amount / (rated.per_unit_s * 90 * DAY)
    assert 94 < need <= 95  # the first solve rents 95
    spec = sc.data.workloads["pt"]
    short = pretrain_rate_at(spec, sc.catalog, SYSTEM, 95 * PER_UNIT).per_unit_s  # type: ignore[arg-type]
    assert rated.per_unit_s * (1 - 0.1) < short < rated.per_unit_s * (1 - 0.095)
    plan = planner.solve(sc)
    (row,) = plan.pretrain_jobs or []
    assert (row.placed_units, row.status, row.solves) == (96, "as rated", 2)
    assert row.rate_per_unit_s == rated.per_unit_s
    assert {r.units for r in plan.schedule} == {96}
    rent = sc.catalog.system(SYSTEM).rental_usd_per_hour
    assert math.isclose(plan.total_cost_usd, 96 * rent * 90 * 24, rel_tol=1e-9)
    assert all("held on the 96 units" in a.rate_derivation for a in plan.allocations)


def test_rerate_tol_is_above_one_idle_unit_of_a_large_job() -> None:
    """RERATE_TOL's basis: frontier-3y's 2026 run is rated on 152 GB200 NVL72 racks (TP8 x PP2 x
    DP342 x CP2; 128 racks at TP4 x PP8 x DP144 x CP2 before session 34's B200-die BF16 fit,
    0.58 -> 0.48); on 153 its layout cannot use the extra rack, which idles: rate x 152/153,
    0.65% less, above the tolerance (re-solved), while one idle unit of the 2028 run's 12,195
    H100 servers (97,560 accelerators) is 0.008%, below it."""
    from planner.demand.pretrain import pretrain_rate, pretrain_rate_at

    sc = planner.load_scenario("frontier-3y")
    spec = sc.data.workloads["pretrain-2026"]
    rated = pretrain_rate(spec, sc.catalog, "gb200-nvl72")  # type: ignore[arg-type]
    assert rated.job_accelerators == 152 * 72
    more = pretrain_rate_at(spec, sc.catalog, "gb200-nvl72", 153 * 72)  # type: ignore[arg-type]
    assert math.isclose(more.per_unit_s, rated.per_unit_s * 152 / 153, rel_tol=1e-9)
    h100 = pretrain_rate(sc.data.workloads["pretrain-2028"], sc.catalog, "hgx-h100")  # type: ignore[arg-type]
    assert h100.job_accelerators == 12_195 * 8
    assert 1 - 152 / 153 > RERATE_TOL > 1 / 12_196


def test_a_squeeze_by_indifference_is_undone_by_holding_the_rated_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rented by the quarter, no lead time: a unit-quarter costs the same in either quarter, so
    the LP (one rate per system, whatever the job) is indifferent between running the run on
    its rated 64 units for both quarters and squeezing it onto ~2x that in one. The first solve
    squeezes it (the solver's arbitrary choice), the re-rating lowers its rate and the plan costs
    more; the plan held to at most the rated job's 64 units a quarter costs
    ceil(FLOPs / (rated rate x quarter)) = ceil(126.6) = 127 unit-quarters of rent, and is
    kept. (15 units until each training linear was rated at its own GEMM shape: JOB above.)"""
    import planner.api

    loops: list[Any] = []
    inner = planner.api._rerate_loop

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = inner(*args, **kwargs)
        loops.append(out)
        return out

    monkeypatch.setattr(planner.api, "_rerate_loop", spy)
    sc = scenario(
        tmp_path,
        {"a": site({SYSTEM: {"max_units": 1000}}, price=0.0)},
        {"pt": JOB},
        {"horizon": "182.5 days", "period": "1 quarter", "pricing": "rental"},
        name="indifferent",
    )
    role = by_name(sc)["pt"].roles[0]
    rated = role.rates[SYSTEM]
    assert rated.job_accelerators == 64 * PER_UNIT
    assert math.isclose(rated.per_unit_s, step_rate(sc, 64 * PER_UNIT), rel_tol=1e-9)
    unit_quarters = math.ceil(role.amount / (rated.per_unit_s * QUARTER_S))
    assert unit_quarters == 127 <= 2 * 64  # the rated job meets the window in two quarters
    plan = planner.solve(sc)
    # the first solve squeezed the run onto more than its rated job, where it rates lower...
    first_loop, held_loop, *rest = loops
    assert first_loop.stopped
    (first,) = first_loop.jobs
    assert first.status == "optimistic" and first.placed_accelerators > 64 * PER_UNIT
    assert first.placed_rate_per_unit_s < rated.per_unit_s * (1 - RERATE_TOL)
    # ...the held plan is solved at once and is within the gap target of that solve's bound,
    # which no re-rated model (rates only lowered) can beat: none is solved
    held, held_work = held_loop.plan, held_loop.work
    bound = first_loop.plan.lower_bound_usd
    assert bound is not None
    assert held.total_cost_usd - bound <= sc.data.solver.mip_gap * held.total_cost_usd
    assert not rest
    # the held plan is kept: at most 15 units a quarter, at the rated rate, its cost the
    # rented unit-quarters the rated rate needs
    assert plan is held
    (job,) = plan.pretrain_jobs or []
    assert job.status == "held to its rated job"
    assert job.rate_per_unit_s == rated.per_unit_s
    assert job.rate_job_accelerators == job.placed_accelerators == 64 * PER_UNIT
    per_quarter: dict[int, float] = {}
    for a in plan.allocations:
        per_quarter[a.period] = per_quarter.get(a.period, 0.0) + a.units
    assert max(per_quarter.values()) <= 64 + 1e-6
    assert all("held to at most the 64 units" in a.rate_derivation for a in plan.allocations)
    rent = sc.catalog.system(SYSTEM).rental_usd_per_hour
    assert math.isclose(plan.total_cost_usd, unit_quarters * rent * QUARTER_S / 3600, rel_tol=1e-9)
    assert "placed_rate" in plan.checks
    assert check_plan(plan, sc, held_work)["placed_rate"] == []
    # the verifier: a held run's record must say so, and a record saying so must hold the job
    plan.pretrain_jobs = [dataclasses.replace(job, status="as rated")]
    assert check_plan(plan, sc, held_work)["placed_rate"]
    plan.pretrain_jobs = [dataclasses.replace(job, rate_job_accelerators=14 * PER_UNIT)]
    found = check_plan(plan, sc, held_work)["placed_rate"]
    # (the hold is recomputed from the record's job and the work in its window, planner/kinds/pretrain.py
    # held_to_rated within_window, so a record naming another job is caught by the rate it names)
    assert any("not the rate of the 112-accelerator job it names" in x for x in found), found
    # a hold other than the rated job's 64 units (which its work needs in two quarters) is caught
    plan.pretrain_jobs = [job]
    (demand,) = [d for d in held_work if d.name == "pt"]
    (held_role,) = demand.roles
    caps = {**held_role.max_units, SYSTEM: 30}
    tampered = [
        dataclasses.replace(demand, roles=[dataclasses.replace(held_role, max_units=caps)])
        if d is demand
        else d
        for d in held_work
    ]
    found = check_plan(plan, sc, tampered)["placed_rate"]
    assert any(f"held to 30 units of {SYSTEM}" in x and "need 64" in x for x in found), found
