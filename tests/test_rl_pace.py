"""RL update pace (planner/kinds/rl.py `add_pace`, verify rule `update_pace`): a synchronous
update cannot finish generating before its longest sample has decoded alone, so with
max_completion_tokens C_max an update lasts at least F = C_max x the fastest decode step at the
smallest batch, and generation runs at most max(1, staleness) x samples_per_update x C decode
tokens per F seconds. The runs here are separate pools (colocated: false), whose weight sync
after every update (planner/demand/rl.py pool_sync_s) the generators pause for: it lengthens
F to the pace P = F + sync; a colocated run's refit, offload and overhead lengthen F instead
(tests/test_rl_colocated.py).

Worked case: Llama 3.1 8B on the h100-cluster preset, 32 samples of 127 + 1,019 tokens per
problem, 2,048 samples per update, a one-day window (one period), C_max 3,969: updates x P must
fit in 86,400 s."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import planner
from fleetcore.errors import PlannerError
from planner.demand.rl import update_floor_s
from planner.verify import check_plan

DAY = 86_400.0
SCENARIO = """\
description: RL update pace
topology: h100-cluster
economics:
  horizon: 30 days
  pricing: amortised
workloads:
  rl:
    kind: rl
    policy: llama-3.1-8b
    problems: {problems}
    samples_per_problem: 32
    prompt_tokens: 127
    completion_tokens: 1019
    kept_fraction: 1.0
    samples_per_update: 2048
    deadline: 1 day
    colocated: false
{extra}"""


def _scenario(tmp_path: Path, problems: int, extra: str = "    max_completion_tokens: 3969\n"):
    path = tmp_path / f"rl-{problems}-{len(extra)}.yaml"
    path.write_text(SCENARIO.format(problems=problems, extra=extra), encoding="utf-8")
    return planner.load_scenario(path)


def _floor(scenario) -> float:
    spec = scenario.data.workloads["rl"]
    floor = update_floor_s(spec, scenario.catalog, "hgx-h100")
    assert floor is not None
    return floor


def _pace(scenario) -> float:
    """P = F + the weight sync: W / min(min(8 x 50, 450) GB/s x 0.75, rl.refit_bandwidth 92 GB/s)
    + rl.sync_overhead 0.15 s on HGX H100 (pool_sync_s, by hand: the refit rate binds)."""
    sync = scenario.catalog.models["llama-3.1-8b"].params * 2 / min(400e9 * 0.75, 92e9) + 0.15
    return _floor(scenario) + sync


def test_pace_rows_by_hand(tmp_path: Path) -> None:
    sc = _scenario(tmp_path, 180_000)
    floor = _floor(sc)
    # F = 3,969 tokens x the fastest step at one sequence (8B BF16 on 8 H100s: ~5 ms).
    assert 3969 * 0.002 < floor < 3969 * 0.02
    pace = _pace(sc)
    from planner.lp.build import build

    demands = planner.demands(sc)
    model = build(sc, demands)
    rows = {lab: con for lab, con in model.constraints.items() if lab.family == "pace"}
    assert rows and all(lab.entity[0] == "rl" for lab in rows)
    role = next(r for r in demands[0].roles if r.name == "generate")
    generate = {var for key, var in model.u.items() if key[0] == "rl" and key[1] == "generate"}
    for con in rows.values():
        assert con.constant == pytest.approx(-2048 * 1019)  # <= samples_per_update x C
        assert set(con.expr) <= generate and con.expr
        for _coef in con.expr.values():
            assert _coef == pytest.approx(role.rates["hgx-h100"].per_unit_s * pace, rel=1e-12)


def test_updates_past_the_floor_leave_work_undone(tmp_path: Path) -> None:
    # 300k problems: 9.6M samples, 4,687.5 updates x P > one day (P = 18.8 + 0.32 s):
    # infeasible, and the diagnosis names the share of the work that does not fit,
    # 1 - day / (updates x P) (3.5%; with rlstep's 10 s sync it took 200k problems).
    sc = _scenario(tmp_path, 300_000)
    short = 1 - DAY / (300_000 * 32 / 2048 * _pace(sc))
    assert 0.01 < short < 0.05
    with pytest.raises(PlannerError, match=rf"rl:samples: {100 * short:.1f}% of the work"):
        planner.solve(sc)
    # Two updates in flight (max_staleness_updates 2) double the pace: it fits.
    two = _scenario(
        tmp_path, 300_000, "    max_completion_tokens: 3969\n    max_staleness_updates: 2\n"
    )
    assert planner.solve(two).status == "optimal"
    # Without max_completion_tokens nothing is paced, and the plan says so.
    free = planner.solve(_scenario(tmp_path, 300_000, ""))
    assert any("longest sample not checked for rl" in x for x in free.left_out)


def test_update_pace_rule_checks_the_plan_against_the_floor(tmp_path: Path) -> None:
    # 280k problems: 4,375 updates x P within the day (97% of it); generation in the one period
    # paced at updates x P / day of the bound. A floor 20% longer than the plan was made for
    # breaks the
    # rule, and only it.
    sc = _scenario(tmp_path, 280_000)
    demands = planner.demands(sc)
    plan = planner.solve(sc)
    assert check_plan(plan, sc, demands)["update_pace"] == []
    rl = demands[0].rl
    assert rl is not None
    longer = dataclasses.replace(
        rl, update_floor_s_by_system={s: 1.2 * f for s, f in rl.update_floor_s_by_system.items()}
    )
    broken = [dataclasses.replace(demands[0], rl=longer)]
    found = {name: msgs for name, msgs in check_plan(plan, sc, broken).items() if msgs}
    assert list(found) == ["update_pace"] and "rl: generation in period" in found["update_pace"][0]


def test_a_cap_below_the_mean_completion_is_bad_input(tmp_path: Path, capsys) -> None:
    import cli

    path = tmp_path / "bad.yaml"
    path.write_text(
        SCENARIO.format(problems=1000, extra="    max_completion_tokens: 500\n"), encoding="utf-8"
    )
    assert cli.main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:7: workloads.rl: max_completion_tokens (500) is below the mean" in err
    assert "Traceback" not in err


def test_a_colocated_update_alone_paces_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Colocated, no max_completion_tokens: the pace is the refit + offload + overhead alone.
    # 200k problems: 3,125 updates x ~19.2 s take ~70% of the day, so every role's rate keeps
    # the rest, and a colocated term 50% longer than the plan was made for (updates x it past
    # the day) breaks the pace rule, and only it. (The term is over the run's rated job, 40
    # H100s since session 34 sizes it at its own train rate's window need, 3.38 servers; 16
    # before, whose rate needed 4.24: ~21 s, ~77%, and 40% longer was past the day. The plan
    # runs the pool on 9 servers, whose job rates the trainer 4% below the 40's, so it is
    # re-rated at 72 H100s: 18.7 s, 67.7%; its cost US$66,038 -> US$80,710 on 11 servers, every
    # role's rate taken at that job, where main's one solve kept generation at the 16's.)
    path = tmp_path / "colocated.yaml"
    text = SCENARIO.format(problems=200_000, extra="")
    path.write_text(text.replace("colocated: false", "colocated: true"), encoding="utf-8")
    sc = planner.load_scenario(path)
    demands = planner.demands(sc)
    rl = demands[0].rl
    assert rl is not None and not rl.update_floor_s_by_system
    co = rl.colocated_update_s_by_system["hgx-h100"]
    assert rl.pace_s_by_system() == {"hgx-h100": co}
    assert 0.65 < rl.updates * co / DAY < 0.75
    train = next(r for r in demands[0].roles if r.name == "train")
    assert train.rates["hgx-h100"].job_accelerators == 40
    # the plan is re-rated (its pool's 9 servers rate the trainer 4% below the 40 H100s'), so
    # it is checked against the demands it was solved with, as planner.solve verifies it
    from planner import api
    from planner.demand.types import WorkloadDemand

    solved: list[list[WorkloadDemand]] = []
    real = api.verify

    def verify(plan, scenario, work):  # type: ignore[no-untyped-def]
        solved.append(work)
        return real(plan, scenario, work)

    monkeypatch.setattr(api, "verify", verify)
    plan = planner.solve(sc)
    (work,) = solved
    assert check_plan(plan, sc, work)["update_pace"] == []
    rl = work[0].rl
    assert rl is not None
    co = rl.colocated_update_s_by_system["hgx-h100"]
    # over the 72 H100s of the job it was re-rated at: 18.7 s, 67.7% of the day
    assert 0.65 < rl.updates * co / DAY < 0.7 < 1 < rl.updates * 1.5 * co / DAY
    longer = dataclasses.replace(rl, colocated_update_s_by_system={"hgx-h100": 1.5 * co})
    broken = [dataclasses.replace(work[0], rl=longer)]
    found = {name: msgs for name, msgs in check_plan(plan, sc, broken).items() if msgs}
    assert list(found) == ["update_pace"]


def test_an_moe_policy_s_generation_caveat_is_in_the_plan(tmp_path: Path) -> None:
    """The decode model is fitted on TensorRT-LLM/SGLang MoE serving; NeMo-RL's measured stage
    splits put its vLLM generation of MoE policies at 0.85x-1.0x the model's time (vLLM TP
    across servers at the fitted network hop) and its colocated update up to 1.7x, not from vLLM's MoE kernels (planner/calibration/rl.yaml,
    bench/rl_stage_split.py, bench/vllm_moe_bottom_up.py): a plan that rates an MoE policy's RL
    generation says so; a dense policy's does not."""
    dense = planner.solve(_scenario(tmp_path, 1_000))
    assert not any("MoE policy" in x for x in dense.left_out)
    path = tmp_path / "rl-moe.yaml"
    path.write_text(
        SCENARIO.format(problems=1_000, extra="    max_completion_tokens: 3969\n").replace(
            "policy: llama-3.1-8b", "policy: qwen3-30b-a3b"
        ),
        encoding="utf-8",
    )
    moe = planner.solve(planner.load_scenario(path))
    lines = [x for x in moe.left_out if "MoE policy" in x]
    assert len(lines) == 1 and "rl (qwen3-30b-a3b)" in lines[0] and "1.0x" in lines[0]
    assert "outside the decode kernels" in lines[0]
