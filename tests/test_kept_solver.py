"""Sweeps keep one HiGHS object per process (planner/lp/transfer.py `kept_solver`): every point is
still solved from nothing in it, so a sweep's CSV, JSON and plans are the same bytes as with a
new object per point (`keep_solver=False`, `planner sweep --fresh-solver`), whatever order the
points are solved in. Grids of >= 30 points over several axes, one of which changes the model's
structure (the topology, the scenario's named overrides), with infeasible and bad-input points
among them; solved forwards, backwards and shuffled. No tolerance on the bytes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import bench_module
import highspy
import pulp
import pytest
from test_fast_bound import fleet

import planner
from planner.lp import transfer
from planner.lp.linear import LinearProblem
from planner.lp.solve import _quiet_stdout, make_solver
from planner.lp.transfer import _configure, _kept, kept_solver

ROOT = Path(__file__).resolve().parents[1]
RL = str(ROOT / "planner" / "scenarios" / "rl-verifiers.yaml")

# bench/bench_sweep.py's chat tier (one site, llama-3.1-70b on h100-cluster)
CHAT = bench_module.load("bench_sweep").SCENARIO


def _orders(n: int) -> dict[str, list[int]]:
    shuffled = list(range(n))
    random.Random(19).shuffle(shuffled)
    return {
        "forwards": list(range(n)),
        "backwards": list(range(n))[::-1],
        "shuffled": shuffled,
    }


def _bytes(sw: planner.Sweep) -> tuple[str, str, str]:
    plans = json.dumps(sw.plans, sort_keys=True)
    return sw.to_csv(), sw.to_json(), plans


def _check(path: str, grid: dict, scenarios=None, min_points: int = 30) -> planner.Sweep:
    reference = planner.sweep(path, grid, scenarios, keep_plans=True, keep_solver=False)
    n = len(reference)
    assert n >= min_points
    want = _bytes(reference)
    for name, order in _orders(n).items():
        kept = planner.sweep(path, grid, scenarios, keep_plans=True, order=order)
        assert _bytes(kept) == want, f"kept solver, {name}: differs from a new object per point"
    # The reference itself does not depend on the order either.
    fresh = planner.sweep(
        path, grid, scenarios, keep_plans=True, keep_solver=False, order=_orders(n)["shuffled"]
    )
    assert _bytes(fresh) == want
    return reference


def test_chat_grid_with_a_topology_axis(tmp_path: Path) -> None:
    path = tmp_path / "chat.yaml"
    path.write_text(CHAT, encoding="utf-8")
    sw = _check(
        str(path),
        {
            "topology": ["h100-cluster", "h200-cluster", "multi-dc"],  # changes the structure
            "workloads.chat.requests_per_day": ["1M", "30M", "300M", "3B", -1],
            "workloads.chat.output_tokens": [200, 500],
            "workloads.chat.tokens_per_s_per_user": [30],
        },
    )
    statuses = {p["status"] for p in sw.points}
    assert {"optimal", "bad_input"} <= statuses, statuses
    # Several structures: the points' models do not all have the same columns.
    assert len({p["topology"] for p in sw.points if p["status"] == "optimal"}) == 3


def test_chat_grid_with_infeasible_points(tmp_path: Path) -> None:
    path = tmp_path / "chat.yaml"
    path.write_text(CHAT, encoding="utf-8")
    sw = _check(
        str(path),
        {
            "workloads.chat.requests_per_day": ["10M", "1B", "10B"],
            "topology_changes.datacenters.cluster.power_cap": ["1 MW", "20 MW", "150 MW"],
            "workloads.chat.prompt_tokens": [500, 1000, 4000, 8000],
        },
    )
    statuses = [p["status"] for p in sw.points]
    assert "infeasible" in statuses and "optimal" in statuses, statuses
    assert all(p["diagnosis"] for p in sw.points if p["status"] == "infeasible")


def test_rl_grid_over_systems_and_samples() -> None:
    sw = _check(
        RL,
        {
            "workloads.rl-code.samples_per_problem": [4, 8, 16, 32, 64],
            "economics.pricing": ["amortised", "rental"],
        },
        scenarios=["rainier", "nvl72", "rainier+rental"],
    )
    assert {p["status"] for p in sw.points} == {"optimal"}


def test_a_kept_object_is_configured_as_a_new_one(tmp_path: Path) -> None:
    """Every option of the kept object, after a solve that changed some, is a new object's."""
    solver = make_solver("highs", True, 0.003, 42.0, "simplex")

    def options(highs) -> str:
        out = tmp_path / "options.txt"
        highs.writeOptions(str(out))
        return out.read_text(encoding="utf-8")

    with _quiet_stdout():
        fresh = LinearProblem("fresh")
        solver.createAndConfigureSolver(fresh)
        want = options(fresh.solverModel)
        with kept_solver():
            first = LinearProblem("first")
            _configure(first, solver)
            kept = first.solverModel
            kept.setOptionValue("mip_rel_gap", 0.5)
            kept.setOptionValue("presolve", "off")
            kept.setOptionValue("user_objective_scale", -3)
            kept.cbSimplexInterrupt += lambda event: None
        with kept_solver():
            second = LinearProblem("second")
            _configure(second, solver)
            assert second.solverModel is kept
            assert options(kept) == want
            assert all(not c.callbacks for c in kept.callbacks)
            # A second problem during the same point (a diagnosis) gets a new object.
            other = LinearProblem("other")
            _configure(other, solver)
            assert other.solverModel is not kept
        assert _kept()["owner"] is None and not _kept()["active"]
        # Off: a new object every time.
        with kept_solver(on=False):
            third = LinearProblem("third")
            _configure(third, solver)
            assert third.solverModel is not kept


def test_pulp_options_the_kept_object_cannot_copy_are_refused() -> None:
    solver = pulp.HiGHS(msg=False, callbacksToActivate=[highspy.cb.HighsCallbackType(1)])
    with _quiet_stdout(), kept_solver():
        first = LinearProblem("first")
        _configure(first, make_solver("highs", False, 0.01, 10.0, "choose"))
        _kept()["owner"] = None
        with pytest.raises(ValueError, match="callbacks"):
            _configure(LinearProblem("second"), solver)


def test_parsed_data_is_copied_as_deepcopy_would() -> None:
    """fleetcore.yamlio.copy_tree (the parse cache's copy) gives deepcopy's tree: equal, no
    container shared with the cached one, other objects deep-copied."""
    import copy

    from fleetcore import yamlio
    from hardware.catalog import shipped_files

    for path in [*shipped_files(), ROOT / "planner" / "scenarios" / "rl-verifiers.yaml"]:
        data = yamlio.load_yaml(path).data
        copied = yamlio.copy_tree(data)
        assert copied == copy.deepcopy(data)
        assert json.dumps(copied, sort_keys=True) == json.dumps(data, sort_keys=True)

        def containers(value, out):
            if isinstance(value, (dict, list)):
                out.add(id(value))
                for sub in value.values() if isinstance(value, dict) else value:
                    containers(sub, out)
            return out

        assert not containers(copied, set()) & containers(data, set())
    odd = {"a": [Path("x"), {"b": (1, [2])}]}
    copied = yamlio.copy_tree(odd)
    assert copied == odd and copied["a"][1]["b"][1] is not odd["a"][1]["b"][1]


def test_a_large_model_is_not_kept_after_its_point(monkeypatch) -> None:
    solver = make_solver("highs", False, 0.01, 10.0, "choose")
    prob = LinearProblem("p")
    with _quiet_stdout(), kept_solver():
        _configure(prob, solver)
        prob.solverModel.addVars(3, [0.0] * 3, [1.0] * 3)
    assert _kept()["highs"] is prob.solverModel  # 3 columns: kept
    monkeypatch.setattr(transfer, "KEEP_COLUMNS", 2)
    with _quiet_stdout(), kept_solver():
        _configure(LinearProblem("q"), solver)
        assert _kept()["highs"] is prob.solverModel  # the kept object (its model passed anew)
        _kept()["highs"].addVars(3, [0.0] * 3, [1.0] * 3)
    assert _kept()["highs"] is None


def test_cli_fresh_solver_and_two_workers_give_the_same_bytes(tmp_path: Path, capsys) -> None:
    """`planner sweep --fresh-solver` (a new object per point) and the default (the kept object in
    each of 2 spawned workers, which take the points in whatever order they finish) print the
    same JSON and write the same files."""
    from cli import main

    path = tmp_path / "chat.yaml"
    path.write_text(CHAT, encoding="utf-8")
    base = [
        "sweep",
        str(path),
        "--set",
        "workloads.chat.requests_per_day=2M,20M,200M,2B",
        "--set",
        "topology=h100-cluster,multi-dc",
        "--json",
    ]
    outs = []
    for extra in (["--fresh-solver"], ["--jobs", "2"]):
        out_dir = tmp_path / extra[0].strip("-")
        assert main([*base, *extra, "--out", str(out_dir)]) == 0
        out, _ = capsys.readouterr()
        files = [(out_dir / f).read_bytes() for f in ("sweep.csv", "sweep.json")]
        outs.append((out, files))
    assert outs[0] == outs[1]
    assert json.loads(outs[0][0])["points"][0]["status"] == "optimal"


def test_an_order_that_is_not_a_permutation_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat.yaml"
    path.write_text(CHAT, encoding="utf-8")
    grid = {"workloads.chat.requests_per_day": ["1M", "2M"]}
    with pytest.raises(ValueError, match="permutation"):
        planner.sweep(str(path), grid, order=[0, 0])


@pytest.mark.parametrize("relax", [False, True])
def test_fast_path_and_relax_solve_the_same_in_the_kept_object(monkeypatch, relax) -> None:
    """The paths a sweep point may take beyond the chat tier's: the fast bound's (forced on the
    4-site bench fleet of tests/test_fast_bound.py: the plan's model transferred twice, the
    relaxed aggregated LP in its own object) and --relax; each plan solved in the kept object
    after another model's is the one a new object gives, to the byte."""

    from planner.lp import solve as solve_module
    from planner.readplan import read_plan

    monkeypatch.setattr(solve_module, "FAST_BOUND_COLUMNS", 0)

    def plan_json(scale: float, kept: bool) -> str:
        model = fleet(scale)  # tests/test_fast_bound.py's 4-site fleet
        with kept_solver(kept):
            stats = solve_module.solve_model(model, "highs", 0.01, 60.0, "choose", relax)
        assert kept == (_kept()["highs"] is model.prob.solverModel)
        if scale == 10.0 and not relax:
            assert stats.proof == "rounded-aggregated"  # the fast path's plan
        return read_plan(model, stats, relaxed=relax).to_json()

    fresh = {scale: plan_json(scale, False) for scale in (10.0, 3.0)}
    for scale in (10.0, 3.0, 10.0):  # each after the other's model in the kept object
        assert plan_json(scale, True) == fresh[scale]


def _busy_lp(seed: int) -> highspy.HighsLp:
    """A dense-ish random LP of 700 x 450 that HiGHS's simplex takes ~0.1 s on."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n, m = 700, 450
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n, m
    lp.col_cost_ = rng.random(n) - 0.5
    lp.col_lower_, lp.col_upper_ = np.zeros(n), np.full(n, 10.0)
    lp.row_lower_, lp.row_upper_ = np.full(m, -highspy.kHighsInf), rng.random(m) * 100
    a = rng.random((m, n))
    a[a < 0.7] = 0.0
    rows, cols = np.nonzero(a.T)  # column-wise: a.T's rows are the columns
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(rows, np.arange(n + 1)).astype(np.int32)
    lp.a_matrix_.index_ = cols.astype(np.int32)
    lp.a_matrix_.value_ = a.T[rows, cols]
    return lp


# The point's limit in the test below, and the kept object's run clock before it, 1.2x that:
# the limit is 2 s, not 0.5 s (session 34), so a point solved in ~30 ms (the first plan of the
# scenario, its rates not yet cached, ~0.3 s at load ~6) is not stopped by a loaded machine's
# clock; past 1.2x the object would stop it at once however fast the machine is.
POINT_LIMIT_S = 2.0


def test_the_kept_objects_run_clock_does_not_eat_a_later_points_time_limit(tmp_path: Path) -> None:
    """HiGHS's run clock (getRunTime) adds up over every run of an object, passModel, clear and
    resetOptions do not zero it, and HiGHS's LP solver stops at time_limit on that clock: a
    kept object that has run 2.4 s in all would stop the next point's LP relaxation at once
    under a 2 s limit, a point a new object solves in milliseconds. The kept object is let
    go once its clock has run past a small share of the point's limit (KEEP_RUN_S). The first
    plan (the object's first runs) gets the default limit: it only makes the kept object."""
    from planner.scenario import load_scenario

    path = tmp_path / "chat.yaml"
    path.write_text(CHAT, encoding="utf-8")
    scenario = load_scenario(path)
    with kept_solver():
        planner.solve(scenario)
    highs = _kept()["highs"]
    assert highs is not None
    highs.setOptionValue("time_limit", highspy.kHighsInf)
    clock_s = 1.2 * POINT_LIMIT_S
    seed = 0
    while highs.getRunTime() < clock_s and seed < 400:  # earlier points' runs, 2.4 s in all
        highs.passModel(_busy_lp(seed))
        highs.run()
        seed += 1
    assert highs.getRunTime() >= clock_s
    with kept_solver():
        plan = planner.solve(scenario, time_limit_s=POINT_LIMIT_S)
    assert plan.status == "optimal"
    assert _kept()["highs"] is not highs  # a new object, its clock at 0


def test_quiet_stdout_from_two_threads_restores_fd1_once_both_are_done() -> None:
    """fd 1 is process-wide: with two threads solving at once (the kept objects are per thread
    for that), the redirection must last until the last one leaves and be undone then. The
    nesting count was a bare global: thread A (the outermost) leaving reset it to 0 and put
    fd 1 back while B still solved, and B's leaving took it to -1, after which no solve ever
    redirected again (HiGHS banners in --json output)."""
    import os
    import threading

    from planner.lp import solve as solve_module

    def ident() -> tuple[int, int]:
        st = os.fstat(1)
        return st.st_dev, st.st_ino

    before = ident()
    devnull = os.stat(os.devnull)
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen: dict[str, tuple[int, int]] = {}

    def a() -> None:
        with _quiet_stdout():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b() -> None:
        a_in.wait(5)
        with _quiet_stdout():
            b_in.set()
            a_out.wait(5)
            seen["b after a left"] = ident()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen["b after a left"] == (devnull.st_dev, devnull.st_ino)  # still quiet for B
    assert ident() == before  # fd 1 back once both left
    assert solve_module._QUIET_DEPTH == 0
    with _quiet_stdout():  # and the next solve redirects again
        assert ident() == (devnull.st_dev, devnull.st_ino)
    assert ident() == before


@pytest.mark.parametrize("order", [[0, 1.0], [0, "1"], [True, 0]])
def test_an_order_of_other_than_whole_indices_is_refused(tmp_path: Path, order) -> None:
    # [0, 1.0] sorted equals [0, 1], so it passed the permutation check and failed later with
    # a TypeError from the task list (list indices must be integers)
    path = tmp_path / "chat.yaml"
    path.write_text(CHAT, encoding="utf-8")
    grid = {"workloads.chat.requests_per_day": ["1M", "2M"]}
    with pytest.raises(ValueError, match="permutation"):
        planner.sweep(str(path), grid, order=order)


def test_an_order_of_numpy_integers_is_taken(tmp_path: Path) -> None:
    import numpy as np

    path = tmp_path / "chat.yaml"
    path.write_text(CHAT, encoding="utf-8")
    grid = {"workloads.chat.requests_per_day": ["1M", "2M"]}
    sw = planner.sweep(str(path), grid, order=np.array([1, 0]))
    assert [p["status"] for p in sw.points] == ["optimal", "optimal"]


def test_bench_times_highs_runs_inside_a_point_and_restores_run(tmp_path: Path) -> None:
    """bench_sweep's split of a sweep point into HiGHS's own runs and the rest: the chat tier's
    points make three runs each (relaxation, MIP, polish: planner/lp/solve.py), HiGHS's share is
    part of the point's time, and `Highs.run` is HiGHS's own again afterwards."""
    bench = bench_module.load("bench_sweep")
    path = tmp_path / "chat.yaml"
    path.write_text(CHAT, encoding="utf-8")
    run = highspy.Highs.run
    tasks = bench._tasks(str(path), bench.AXIS, ["1M", "2M", "3M"], True)
    highs_s, runs, total_s = bench._highs_share(tasks)
    assert runs == 3
    assert 0 < highs_s < total_s
    assert highspy.Highs.run is run


def test_bench_timed_runs_counts_by_caller_and_restores_run_on_error() -> None:
    """bench_sweep's one patch of `Highs.run` (`_timed_runs`, used by `_highs_share` and
    `_run_kinds`): a run called from a function named as a kind (`_polish`) counts under that
    kind, one from elsewhere under "other", and `Highs.run` is HiGHS's own again when the body
    raises."""
    bench = bench_module.load("bench_sweep")
    run = highspy.Highs.run
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.addVar(0.0, 1.0)

    def _polish() -> None:  # named as RUN_KINDS's polish caller
        highs.run()

    with pytest.raises(RuntimeError, match="body failed"), bench._timed_runs() as spent:
        _polish()
        highs.run()
        highs.run()
        raise RuntimeError("body failed")
    assert {k: r for k, (_, r) in spent.items()} == {
        "relaxation": 0,
        "MIP": 0,
        "polish": 1,
        "other": 2,
    }
    assert highspy.Highs.run is run


def test_bench_splits_a_point_into_stages_and_restores_them(tmp_path: Path) -> None:
    """bench_sweep's split of a kept sweep point by stage: every stage is timed (each ran, so
    each took CPU time, HiGHS's runs too), the solve's Python is solve_model less HiGHS's runs
    inside it, the stages and the rest add up to the point, and every function is the planner's
    own again afterwards."""
    import importlib

    bench = bench_module.load("bench_sweep")
    path = tmp_path / "chat.yaml"
    path.write_text(CHAT, encoding="utf-8")
    before = [getattr(importlib.import_module(m), a) for _, m, a in bench.STAGES]
    run = highspy.Highs.run
    tasks = bench._tasks(str(path), bench.AXIS, ["1M", "2M", "3M"], True)
    stages, total_s = bench._stages(tasks)
    labels = [label for label, _, _ in bench.STAGES]
    assert list(stages) == [*labels, bench.HIGHS_RUNS, "the rest"]
    assert all(stages[k] > 0 for k in [*labels, bench.HIGHS_RUNS]), stages
    assert sum(stages.values()) == pytest.approx(total_s)
    assert stages[bench.HIGHS_RUNS] < total_s
    assert [getattr(importlib.import_module(m), a) for _, m, a in bench.STAGES] == before
    assert highspy.Highs.run is run


def test_every_kept_sweep_point_is_the_plan_solved_alone(tmp_path: Path) -> None:
    """Each point of a kept-solver sweep, solved shuffled in one process's kept HiGHS object after
    points of other structures (three topologies), is byte for byte the plan `planner.solve`
    gives for that point alone, outside any sweep (a cold solve: a new HiGHS object)."""
    from planner.scenario import load_scenario

    path = tmp_path / "chat.yaml"
    path.write_text(CHAT, encoding="utf-8")
    grid = {
        "topology": ["h100-cluster", "h200-cluster", "multi-dc"],
        "workloads.chat.requests_per_day": ["1M", "7M", "30M", "300M"],
    }
    n = 12
    sw = planner.sweep(str(path), grid, keep_plans=True, order=_orders(n)["shuffled"])
    assert len(sw) == n and {p["status"] for p in sw.points} == {"optimal"}
    for name, task in sw.tasks.items():
        with _quiet_stdout():
            alone = planner.solve(load_scenario(str(path), sets=list(task["sets"])))
        want = json.loads(alone.to_json())
        want["checks"] = list(alone.checks)
        assert json.dumps(sw.plans[name], sort_keys=True) == json.dumps(want, sort_keys=True), name


def test_bench_counts_the_runs_that_could_be_skipped_and_restores_them(tmp_path: Path) -> None:
    """bench_sweep's count of HiGHS runs a point could leave out: the chat tier's relaxations are
    fractional (its need is not a whole number of units), each point reaches the polish with
    its MIP integers whole, and the solve's functions are the planner's own again
    afterwards."""
    from planner.lp import solve

    bench = bench_module.load("bench_sweep")
    path = tmp_path / "chat.yaml"
    path.write_text(CHAT, encoding="utf-8")
    polish, resolve = solve._polish, solve._resolve_as_mip
    tasks = bench._tasks(str(path), bench.AXIS, ["1M", "2M", "3M"], True)
    integral, exact, unchanged = bench._skippable(tasks)
    assert integral == 0
    assert exact == 3 and 0 <= unchanged <= 3
    assert solve._polish is polish and solve._resolve_as_mip is resolve


def test_bench_splits_highs_runs_by_kind_and_counts_builds(tmp_path: Path) -> None:
    """bench_sweep's split of HiGHS's runs by kind: a chat-tier point is one solve (one model
    built; no re-rated run to place) of one relaxation, one MIP and one polish; its runs add up
    to less than the point; an RL point whose trainer is re-rated at its placed job builds and
    solves a second model (rl-verifiers at samples_per_problem 6: two of each run); `Highs.run` and planner.api.build are the planner's own again afterwards."""
    import planner.api as api

    bench = bench_module.load("bench_sweep")
    path = tmp_path / "chat.yaml"
    path.write_text(CHAT, encoding="utf-8")
    run, build = highspy.Highs.run, api.build
    tasks = bench._tasks(str(path), bench.AXIS, ["1M", "2M", "3M"], True)
    kinds, built, total_s = bench._run_kinds(tasks)
    assert list(kinds) == [kind for kind, _ in bench.RUN_KINDS] + ["other"]
    assert {k: r for k, (_, r) in kinds.items()} == {
        "relaxation": 1,
        "MIP": 1,
        "polish": 1,
        "other": 0,
    }
    assert built == 1
    assert 0 < sum(s for s, _ in kinds.values()) < total_s
    # samples_per_problem 6: the trainer re-rated at the job placed, its re-solve ran (the plan
    # held to the first: rl_jobs 'held to its rated job'): two models, each solved in full
    rl_kinds, rl_built, _ = bench._run_kinds(bench._tasks(RL, bench.RL_AXIS, ["6"], True))
    assert rl_built == 2
    assert {k: r for k, (_, r) in rl_kinds.items()} == {
        "relaxation": 2,
        "MIP": 2,
        "polish": 2,
        "other": 0,
    }
    assert highspy.Highs.run is run and api.build is build
