"""An RL run's verifier cores follow its generation per LP period (rows verifier and cpu, rule
verifier_cores), not its average over the window. Before (session 23's finding), a tiny run over
a 200-day window under 30-day periods needed sandbox cores in each of its 7 periods, so the plan
rented a whole GB200 rack in each (US$ 3.81M) although it generated in one: now the rack is
rented in one period (US$ 0.544M). Here the sandboxes are x86_64, so they run on rented CPU
servers only (GB200's Grace hosts are arm64), and the servers show where the cores are needed.
Expected servers and costs are computed from the catalog figures and the plan's allocations."""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path

import pytest
import yaml

import planner
from planner.rows import AllocationRow
from planner.verify import check_plan

DAY_S = 86400.0
PERIOD_S = 30 * DAY_S
CORE_S_PER_SAMPLE = 2000.0  # x86 sandbox core-seconds a checked sample
APPLIES_TO = 0.5


def _topology(gb200_max: int) -> dict:
    return {
        "name": "gen",
        "description": "generated",
        "source": "test",
        "datacenters": {
            "s0": {
                "power_cap": "5 MW",
                "pue": 1.1,
                "electricity_usd_per_kwh": 0.2,
                "systems": {"gb200-nvl72": {"max_units": gb200_max, "owned": 0}},
                "cpu_servers": {"system": "cpu-server", "max_units": 10_000},
            }
        },
        "links": [],
    }


def _rl(problems: str, core_s: float, reward: bool) -> dict:
    scorer = {"name": "rm", "model": "llama-3.1-8b", "kind": "outcome"}
    return {
        "reward_models": [scorer] if reward else [],
        # with a reward model: separate generation and training pools, so the run's job (rule
        # placed_rate) is its train role's units, not every role's as a colocated run's
        "colocated": not reward,
        "kind": "rl",
        "policy": "llama-3.1-8b",
        "problems": problems,
        "samples_per_problem": 8,
        "prompt_tokens": 500,
        "completion_tokens": 2000,
        "kept_fraction": 0.25,
        "samples_per_update": "10K",
        "deadline": "200 days",
        "goodput": 0.9,
        "verifiers": [
            {
                "name": "sandbox",
                "core_seconds_per_sample": core_s,
                "applies_to": APPLIES_TO,
                "isa": "x86_64",
            }
        ],
    }


def _scenario(
    tmp_path: Path,
    problems: str,
    gb200_max: int,
    core_s: float = CORE_S_PER_SAMPLE,
    reward: bool = False,
) -> Path:
    (tmp_path / "topo.yaml").write_text(yaml.safe_dump(_topology(gb200_max), sort_keys=False))
    econ = {"horizon": "365 days", "pricing": "rental", "period": "30 days"}
    doc = {
        "topology": "topo.yaml",
        "economics": econ,
        "workloads": {"rl0": _rl(problems, core_s, reward)},
    }
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _generated(plan: planner.Plan, tokens_per_sample: float) -> dict[int, float]:
    """Samples generated per LP period, from the plan's generate rows."""
    out: dict[int, float] = {}
    for a in plan.allocations:
        if a.role == "generate" and a.work_done > 0:
            out[a.period] = out.get(a.period, 0.0) + a.work_done / tokens_per_sample
    return out


def _solve(tmp_path: Path, problems: str, gb200_max: int) -> tuple[planner.Plan, object]:
    sc = planner.load_scenario(_scenario(tmp_path, problems, gb200_max))
    return planner.solve(sc), sc  # verified (rule verifier_cores among them), else raises


def _servers(plan: planner.Plan) -> dict[int, float]:
    return {r.period: r.rented_units for r in plan.cpu_schedule if r.rented_units > 0}


def test_a_tiny_run_rents_cpu_servers_only_in_the_period_it_generates(tmp_path: Path) -> None:
    """8,000 samples x 1,000 core-s (2,000 on half of them) generated in one 30-day period need
    3.1 x86 cores there: one 192-core CPU server, rented in that period alone, with the one GB200
    rack that generates and trains (over the window's 7 periods, the LP's average put a share of
    the cores in every one of them)."""
    plan, sc = _solve(tmp_path, "1K", 151)
    catalog = sc.catalog
    generate = next(r for d in planner.demands(sc) for r in d.roles if r.name == "generate")
    generated = _generated(plan, generate.per_sample)
    assert len(generated) == 1 and sum(generated.values()) >= 8000 * (1 - 1e-6)
    ((period, samples),) = generated.items()
    per_server = catalog.system_cores("cpu-server")  # 2 x 96 EPYC cores
    cores = CORE_S_PER_SAMPLE * APPLIES_TO * samples / PERIOD_S
    assert math.ceil(8000 * CORE_S_PER_SAMPLE * APPLIES_TO / PERIOD_S / per_server) == 1
    assert _servers(plan) == {period: math.ceil(cores / per_server)} == {period: 1}
    assert plan.rl[0].verifier_cores_by_site["s0"] == pytest.approx(cores)
    rack_h = catalog.system("gb200-nvl72").rental_usd_per_hour
    server_h = catalog.system("cpu-server").rental_usd_per_hour
    assert rack_h is not None and server_h is not None
    hours = PERIOD_S / 3600
    assert plan.total_cost_usd == pytest.approx((rack_h + server_h) * hours)  # 551,412 US$


def test_a_run_generating_in_two_periods_splits_its_cores_pro_rata(tmp_path: Path) -> None:
    """1e9 samples on at most one GB200 rack need about a rack-period of generation and
    training: the run generates in two periods, and each period's CPU servers hold the cores of
    the samples generated in it, ceil(core_s x applies_to x samples_p / len_p / 192)."""
    plan, sc = _solve(tmp_path, "125M", 1)
    catalog = sc.catalog
    generate = next(r for d in planner.demands(sc) for r in d.roles if r.name == "generate")
    generated = _generated(plan, generate.per_sample)
    assert len(generated) == 2 and sum(generated.values()) >= 1e9 * (1 - 1e-6)
    per_server = catalog.system_cores("cpu-server")
    cores = {p: CORE_S_PER_SAMPLE * APPLIES_TO * n / PERIOD_S for p, n in generated.items()}
    assert _servers(plan) == {p: math.ceil(c / per_server) for p, c in cores.items()}
    # pro rata: the core-seconds over the periods are those of every sample generated
    total = CORE_S_PER_SAMPLE * APPLIES_TO * sum(generated.values())
    assert sum(c * PERIOD_S for c in cores.values()) == pytest.approx(total)
    assert plan.rl[0].verifier_cores_by_site["s0"] == pytest.approx(max(cores.values()))
    server_h = catalog.system("cpu-server").rental_usd_per_hour
    assert server_h is not None
    cpu_usd = sum(c.cost_usd for c in plan.costs_rows if c.component == "cpu_servers")
    assert cpu_usd == pytest.approx(sum(_servers(plan).values()) * server_h * PERIOD_S / 3600)


def test_verifier_cores_catches_cpu_servers_moved_off_the_generating_period(
    tmp_path: Path,
) -> None:
    """The tiny run's plan with its CPU server rented in a period it does not generate in instead
    of the one it does: rule verifier_cores names the generating period (an average over the
    window would have accepted a server in any period of it)."""
    plan, sc = _solve(tmp_path, "1K", 151)
    ((period, _),) = _servers(plan).items()
    other = next(
        r.period for r in plan.cpu_schedule if r.period != period and r.end_s <= 200 * DAY_S
    )
    broken = copy.copy(plan)
    rows = {r.period: r for r in plan.cpu_schedule}
    broken.cpu_schedule = [
        dataclasses.replace(
            r,
            units=rows[period if r.period == other else other].units,
            rented_units=rows[period if r.period == other else other].rented_units,
        )
        if r.period in (period, other)
        else r
        for r in plan.cpu_schedule
    ]
    found = {
        name: msgs for name, msgs in check_plan(broken, sc, planner.demands(sc)).items() if msgs
    }
    # cost_lines also sees the server's rental charged in another period than the cash flow's
    assert set(found) == {"verifier_cores", "cost_lines"}, found
    assert found["verifier_cores"] == [
        f"s0 in period {period}: verifier needs "
        f"{plan.rl[0].verifier_cores_by_site['s0']:,.1f} x86_64 cores, 0.0 available (units busy "
        "with pretraining or serving lend none)"
    ]


def test_scored_with_generation_catches_scoring_moved_to_another_period(tmp_path: Path) -> None:
    """A run with an outcome reward model (separate pools) generating in two periods (1.2e9
    samples on at most one GB200 rack): its plan scores each period's share of the samples in
    that period (row rlscore). A tenth of one period's scoring moved to the other (the same work,
    into whichever pool has room: the window's totals, every pool and rate still hold, which row
    pergen alone accepted) fails scored_with_generation alone, naming the period it left."""
    sc = planner.load_scenario(_scenario(tmp_path, "150M", 1, reward=True))
    plan = planner.solve(sc)
    rows = [a for a in plan.allocations if a.role == "reward:rm"]
    made = {a.period: a.share_of_role for a in plan.allocations if a.role == "generate"}
    assert len(rows) == 2 and {a.period: a.share_of_role for a in rows} == pytest.approx(made)
    first, second = sorted(rows, key=lambda a: a.period)
    assert first.period_s == second.period_s  # the same work is the same units in either

    def spare(row: AllocationRow) -> float:
        """Units of row's pool in its period that no allocation uses."""
        held = sum(
            r.units
            for r in plan.schedule
            if (r.period, r.datacenter, r.system) == (row.period, row.datacenter, row.system)
        )
        used = sum(
            a.units
            for a in plan.allocations
            if (a.period, a.datacenter, a.system) == (row.period, row.datacenter, row.system)
        )
        return held - used

    # move the tenth into whichever period's pool has room for it (the solver's path decides
    # which of the two is full)
    if spare(second) < 0.1 * first.units:
        first, second = second, first
    assert spare(second) >= 0.1 * first.units
    moved = 0.1 * first.units
    changed = {
        id(first): dataclasses.replace(
            first, units=first.units - moved, work_done=first.work_done * 0.9
        ),
        id(second): dataclasses.replace(
            second,
            units=second.units + moved,
            work_done=second.work_done + first.work_done * 0.1,
        ),
    }
    broken = copy.copy(plan)
    broken.allocations = [changed.get(id(a), a) for a in plan.allocations]
    # the schedule's busy units follow the allocations (rule busy_units): one LP period is one
    # calendar period here
    busy = {first.period: -moved, second.period: moved}
    broken.schedule = [
        dataclasses.replace(r, busy_units=r.busy_units + busy[r.period])
        if (r.datacenter, r.system) == (first.datacenter, first.system) and r.period in busy
        else r
        for r in plan.schedule
    ]
    found = {
        name: msgs for name, msgs in check_plan(broken, sc, planner.demands(sc)).items() if msgs
    }
    assert list(found) == ["scored_with_generation"], found
    (message,) = found["scored_with_generation"]
    assert message.startswith(f"rl0/reward:rm at s0 in period {first.period}: scores ")
