"""A training run held to its rated job (planner/api.py _solve_rerated, `_held`): the job's size
against the work its window needs, the status of a run held at more units than that job, the
held rate's reason, and the verifier's recomputation of the hold (rule placed_rate).

Worked case (tests/test_rl_order.py's run: Llama 3.1 8B, 200M problems x 16 samples, separate
pools, H100 BF16 pinned at 0.602, two quarters): its trainer was rated at 24 accelerators (3
servers) from the train rate at the fewest units before the update's idle share; at the rate of
the 24-accelerator job itself, 1.92e23 FLOP over 182.5 days needs 3.09 servers, so a hold at
the rated job could not do its work (session 33 pgE)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_rl_order import SYSTEM, two_quarters

import planner
from planner.demand.types import Role, WorkloadDemand
from planner.kinds.base import window_units

PER_UNIT = 8  # accelerators of an HGX H100 server


def _train(sc: planner.Scenario) -> tuple[WorkloadDemand, Role]:
    (demand,) = [d for d in planner.demands(sc) if d.name == "rl"]
    (train,) = [r for r in demand.roles if r.name == "train"]
    return demand, train


def test_an_rl_trainer_s_rated_job_does_its_work_in_its_window(tmp_path: Path) -> None:
    """The rated job's whole units do the train role's work in the window at the job's own rate
    (separate pools: the trainer's pool holds the train role alone): units >= amount / (rate x
    window). Before session 34 the job was 24 accelerators, whose own rate needs 3.09 servers;
    at 32 (4 servers) the rate is 3.0% higher (4.060e15 against 3.941e15 FLOP/s a server:
    fewer micro-batches a rank on 24) and the work needs 3.00 servers, so 4 hold it and the
    rates of 24 do not."""
    from planner.kinds.rl import rates_at

    sc = two_quarters(tmp_path, "held-size")
    demand, train = _train(sc)
    rate = train.rates[SYSTEM]
    need = train.amount / (rate.per_unit_s * demand.window_s)
    assert rate.job_accelerators % PER_UNIT == 0
    assert need <= rate.job_accelerators / PER_UNIT
    assert rate.job_accelerators == 32 and 2.99 < need < 3.0
    # the job below it: its own rate cannot do the work on its 3 servers
    spec = sc.data.workloads["rl"]
    assert demand.rl is not None
    rates, _ = rates_at(spec, sc.catalog, SYSTEM, 24, demand.rl.updates, demand.window_s)  # type: ignore[arg-type]
    short = train.amount / (rates["train"].per_unit_s * demand.window_s)
    assert 3.08 < short < 3.1
    assert window_units(train.amount / rates["train"].per_unit_s, demand.window_s) == 4
    assert window_units(train.amount / rate.per_unit_s, demand.window_s) == 3


def test_window_units_rounds_up_past_rounding_noise() -> None:
    """ceil(unit-seconds / window x (1 - 1e-9)): 3 windows of work are 3 units, 3 x (1 +
    1e-12) too (rounding), 3 x (1 + 1e-6) are 4."""
    assert window_units(3.0 * 86400, 86400) == 3
    assert window_units(3.0 * (1 + 1e-12) * 86400, 86400) == 3
    assert window_units(3.0 * (1 + 1e-6) * 86400, 86400) == 4
    assert window_units(0.2, 86400) == 1
    assert math.ceil(3.09) == window_units(3.09 * 7, 7)


def _rated_at_24(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's rates as sized before session 34: every role's at the 24-accelerator job
    (rates_at there, the figures rated_on gave), below the 3.09 servers its train work needs
    in its window at that job's rate."""
    import planner.kinds.rl as rl

    def at_24(spec, catalog, system, amounts, window_s, updates):  # type: ignore[no-untyped-def]
        return rl.rates_at(spec, catalog, system, 3 * PER_UNIT, updates, window_s)

    monkeypatch.setattr(rl, "rated_on", at_24)


def test_a_raised_hold_says_so_and_keeps_the_rated_reason_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """planner/kinds/pretrain.py held_to_rated on the trainer rated at 24 H100s: held to its
    rated job, the cap is its 3 servers and the reason is held_note(3, 3, .) before the rated
    reason; within_window, the cap is the 4 its work needs (3.09 by hand below) and the reason
    is held_note(4, 3, 3.09) before the same rated reason, whole: nothing of the rated-job
    note is left in it or stripped from the rated reason (session 33's `_within_window` cut the
    rated-job note off by its exact wording, so a drift of that wording left both in). A cap
    the rated job already meets is not raised (the same demands returned)."""
    from planner.kinds import held_to_rated
    from planner.kinds.pretrain import held_note

    _rated_at_24(monkeypatch)
    sc = two_quarters(tmp_path, "held-note")
    demand, train = _train(sc)
    rated = train.rates[SYSTEM]
    assert rated.job_accelerators == 3 * PER_UNIT
    need = train.amount / (rated.per_unit_s * demand.window_s)
    assert 3.08 < need < 3.1
    hold = {("rl", "train", SYSTEM)}
    work = planner.demands(sc)
    _, held = _train_of(held_to_rated(work, hold, sc))
    assert held.max_units == {SYSTEM: 3}
    assert held.rates[SYSTEM].reason == held_note(3, 3, 0.0) + rated.reason
    _, raised = _train_of(held_to_rated(work, hold, sc, within_window=True))
    assert raised.max_units == {SYSTEM: 4}
    reason = raised.rates[SYSTEM].reason
    assert reason == held_note(4, 3, need) + rated.reason
    assert reason.startswith("held to at most 4 units") and f"({need:.4g};" in reason
    assert held_note(3, 3, 0.0) not in reason and "the 3 units of the job" not in reason
    assert raised.rates[SYSTEM].per_unit_s == rated.per_unit_s
    # at its own (session 34) sizing the rated job's 4 servers do the work: nothing raised
    monkeypatch.undo()
    sc = two_quarters(tmp_path, "held-note-34")
    work = planner.demands(sc)
    assert held_to_rated(work, hold, sc, within_window=True) == held_to_rated(work, hold, sc)


def _train_of(work: list[WorkloadDemand]) -> tuple[WorkloadDemand, Role]:
    (demand,) = [d for d in work if d.name == "rl"]
    (train,) = [r for r in demand.roles if r.name == "train"]
    return demand, train


def test_a_run_held_above_its_rated_job_says_so_and_the_verifier_checks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/test_rl_order.py's unordered plan (its order rows removed) with the trainer rated
    at 24 H100s: the first solve squeezes the training onto 7 servers in the first quarter, 6%
    below the rated rate; held to the rated job's 3 servers the model has no plan (3.09 needed),
    held to 4 (within_window) it costs the hand optimum, US$285,000 (19 server-quarters at
    US$15,000), its trainer at the 24-accelerator job's rate on 4 servers in the first quarter
    (whose 32-accelerator job rates no lower) and 2.18 in the second. Its record says `held to the units its window needs`, not `held to its
    rated job` (session 33's label, which its reason contradicted: "held to at most 4
    units"). Rule placed_rate accepts it, and catches each lie: the rated-job status at the
    raised cap, the raised status at a cap of the rated job's units, a hold of the rated job's
    3 servers where the window needs 4, and a raised record that runs on more than its 4."""
    import dataclasses

    from test_rl_order import no_rows

    import planner.api
    from planner.kinds.pretrain import HELD, HELD_WINDOW
    from planner.lp.model import FAMILIES
    from planner.verify import check_plan

    _rated_at_24(monkeypatch)
    sc = two_quarters(tmp_path, "held-window")
    for name in ("rlorder", "rllead"):
        monkeypatch.setitem(FAMILIES, name, dataclasses.replace(FAMILIES[name], add=no_rows))
    seen: list[list[WorkloadDemand]] = []

    def unverified(plan, scenario, work):  # type: ignore[no-untyped-def]
        seen.append(work)
        return []  # its update_order fails by design (tests/test_rl_order.py)

    monkeypatch.setattr(planner.api, "verify", unverified)
    plan = planner.solve(sc)
    (work,) = seen
    _, held = _train_of(work)
    assert held.max_units == {SYSTEM: 4}
    (job,) = plan.rl_jobs or []
    trained = {a.period: a.units for a in plan.allocations if a.role == "train"}
    assert trained[0] == pytest.approx(4.0) and 2 < trained[1] < 3
    # the binding (lowest-rated) period's job: the second quarter's 3 servers, as rated
    assert (job.rate_job_accelerators, job.placed_units) == (3 * PER_UNIT, 3)
    assert job.placed_rate_per_unit_s >= job.rate_per_unit_s * (1 - 1e-9)
    assert job.status == HELD_WINDOW == "held to the units its window needs"
    assert plan.total_cost_usd == pytest.approx(19 * 15_000.0, rel=1e-9)
    assert all(
        a.rate_derivation.startswith("held to at most 4 units")
        for a in plan.allocations
        if a.role == "train"
    )

    def placed_rate() -> list[str]:
        return check_plan(plan, sc, work)["placed_rate"]

    assert placed_rate() == []
    plan.rl_jobs = [dataclasses.replace(job, status=HELD)]
    found = placed_rate()
    assert any(
        "so held to the units its window needs; the record says held to its" in x for x in found
    ), found
    # a hold of the rated job's 3 servers, below its window's 4: the hold and the raised status
    # are both caught
    plan.rl_jobs = [job]
    three = [
        dataclasses.replace(
            d,
            roles=[
                dataclasses.replace(r, max_units={SYSTEM: 3}) if r.name == "train" else r
                for r in d.roles
            ],
        )
        if d.name == "rl"
        else d
        for d in work
    ]
    found = check_plan(plan, sc, three)["placed_rate"]
    assert any(f"held to 3 units of {SYSTEM}" in x and "need 4" in x for x in found), found
    assert any("so held to its rated job; the record says held to the units" in x for x in found), (
        found
    )
    # a raised record whose trainer runs on 5 servers in a period
    (a,) = [a for a in plan.allocations if a.role == "train" and a.period == 0]
    plan.allocations[plan.allocations.index(a)] = dataclasses.replace(a, units=5.0)
    found = placed_rate()
    assert any(
        "record says held to the units its window needs (4 units), runs on 5" in x for x in found
    ), found
