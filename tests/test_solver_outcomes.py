"""Solver outcomes told apart, alike under HiGHS and CBC (issue 16): a proven infeasibility is
exit 2 with a diagnosis, no solution within a limit is exit 3 "no plan found within the time
limit", and figures past what the solver can plan with are bad input (exit 1) naming the field.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tiny_site import CHAT, write_site

import cli
from planner.lp import solve as solve_module

TOPOLOGY = textwrap.dedent(
    """\
    name: tiny
    description: "two sites, one H100 server each"
    source: "illustrative; solver-outcome tests"
    datacenters:
      dc-a:
        power_cap: 20 MW
        pue: 1.2
        electricity_usd_per_kwh: 0.07
        systems:
          hgx-h100: {max_units: 1}
      dc-b:
        power_cap: 20 MW
        pue: 1.2
        electricity_usd_per_kwh: 0.07
        systems:
          hgx-h100: {max_units: 1}
    links:
      - {a: dc-a, b: dc-b, capacity: 1.6 Tbps, latency: 10 ms, cost_usd_per_tb: 1.0}
    """
)

# A 70B pretraining job: its state (16 bytes a parameter) needs more than one 8 x 80 GB server,
# and a job runs on one pool at a time. The LP relaxation splits it over both sites; the
# whole-unit plan cannot: integer-infeasible.
PRETRAIN = textwrap.dedent(
    """\
    topology: topo.yaml
    economics: {horizon: 365 days, pricing: amortised}
    workloads:
      pt:
        kind: pretrain
        model: llama-3.1-70b
        tokens: 1B
        deadline: 300 days
        goodput: 0.9
        global_batch_tokens: 4M
    """
)


def _write(tmp_path: Path, scenario: str, topology: str = TOPOLOGY) -> Path:
    return write_site(tmp_path, scenario, topology)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_integer_infeasible_is_exit_2_with_a_diagnosis_under_both_solvers(
    tmp_path: Path, capsys, solver: str
) -> None:
    path = _write(tmp_path, PRETRAIN)
    code = cli.main(["plan", str(path), "--solver", solver, "-q"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert "more hgx-h100 units than max_units allows" in err


def _stop_at_once(monkeypatch) -> None:
    """Every solve stops before its first iteration: the deterministic stand-in for a time
    limit too short to find anything (a real tiny limit races the solver's presolve)."""
    make = solve_module.make_solver

    def limited(name: str, mip: bool, gap: float, time_limit_s: float, method: str):
        solver = make(name, mip, gap, time_limit_s, method)
        if name == "highs":
            solver.optionsDict |= {"presolve": "off", "simplex_iteration_limit": 0}
        else:
            solver.options = ["presolve off", "maxIterations 0"]
        return solver

    monkeypatch.setattr(solve_module, "make_solver", limited)


@pytest.mark.parametrize("scenario", ["feasible", "infeasible"])
@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_no_solution_within_the_limit_is_exit_3_under_both_solvers(
    tmp_path: Path, capsys, monkeypatch, solver: str, scenario: str
) -> None:
    """Stopped with nothing in hand is neither "infeasible" nor a plan, whatever the scenario."""
    path = _write(tmp_path, CHAT if scenario == "feasible" else PRETRAIN)
    _stop_at_once(monkeypatch)
    code = cli.main(["plan", str(path), "--solver", solver, "-q"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "Traceback" not in err
    assert "no plan found within the time limit" in err
    assert len(err.strip().splitlines()) == 1, err


def test_outcome_reads_cbc_integer_infeasible_as_infeasible() -> None:
    """PuLP maps CBC's "Integer infeasible" to no solution found, like a time limit; its status
    (Infeasible) is what tells them apart."""
    import pulp

    prob = pulp.LpProblem("p", pulp.LpMinimize)
    x = prob.add_variable("x", 0, 1, cat=pulp.LpInteger)
    prob += x
    prob += 2 * x == 1  # x = 0.5 is the only LP solution; no integer one
    prob.solve(solve_module.make_solver("cbc", True, 0.0, 10.0, "choose"))
    assert solve_module.outcome(prob) == solve_module.INFEASIBLE


def _assert_field_refused(
    capsys, path: Path, where: str, field: str, says: str = "than the solver can plan with"
) -> None:
    for solver in ("highs", "cbc"):
        code = cli.main(["plan", str(path), "--solver", solver, "-q"])
        err = capsys.readouterr().err
        assert code == 1, err
        assert "Traceback" not in err
        assert f"{where}: " in err and f".{field}: " in err, err
        assert says in err


def test_max_units_past_the_solver_is_bad_input_naming_the_field(tmp_path: Path, capsys) -> None:
    topology = TOPOLOGY.replace("{max_units: 1}", "{max_units: 1000000000000000}", 1)
    path = _write(tmp_path, CHAT, topology)
    line = next(i + 1 for i, ln in enumerate(topology.splitlines()) if "1000000000000000" in ln)
    _assert_field_refused(capsys, path, f"topo.yaml:{line}", "max_units")


def test_capex_past_the_solver_is_bad_input_naming_the_field(tmp_path: Path, capsys) -> None:
    scenario = CHAT.replace("topology: topo.yaml", "topology: topo.yaml\ncatalog: [prices.yaml]")
    (tmp_path / "prices.yaml").write_text("systems:\n  hgx-h100:\n    capex_usd: 1e19\n")
    path = _write(tmp_path, scenario)
    _assert_field_refused(capsys, path, "prices.yaml:3", "capex_usd")


def test_a_demand_too_small_for_the_solver_is_bad_input_naming_the_workload(
    tmp_path: Path, capsys
) -> None:
    """1e-12 requests a day puts a coefficient past 1e15 in the serving rows: HiGHS dropped
    those rows (and PuLP's reader failed with an IndexError), CBC's plan failed verification."""
    path = _write(tmp_path, CHAT.replace("requests_per_day: 1M", "requests_per_day: 1e-12"))
    line = next(i + 1 for i, ln in enumerate(CHAT.splitlines()) if ln.strip() == "chat:")
    _assert_field_refused(capsys, path, f"scenario.yaml:{line}", "chat", "the solver holds")


class _Highs:
    """A stand-in for highspy.Highs that ended with a given model status."""

    def __init__(self, status, primal_solution_status: int = 0) -> None:
        self.status = status
        self.primal = primal_solution_status

    def getModelStatus(self):  # noqa: N802 - highspy's name
        return self.status

    def getInfo(self):  # noqa: N802 - highspy's name
        return type("Info", (), {"primal_solution_status": self.primal})()


def test_highs_statuses_are_told_apart() -> None:
    """Every HiGHS ending maps to one outcome; PuLP's own mapping reads a time limit with an
    objective value as "integer feasible" and has no entry for a solution limit."""
    import highspy
    import pulp

    kind = highspy.HighsModelStatus
    cases = [
        (kind.kOptimal, 0, solve_module.OPTIMAL),
        (kind.kInfeasible, 0, solve_module.INFEASIBLE),
        (kind.kUnboundedOrInfeasible, 0, solve_module.INFEASIBLE),
        (kind.kUnbounded, 0, solve_module.UNBOUNDED),
        (kind.kTimeLimit, 0, solve_module.TIME_LIMIT),
        (kind.kTimeLimit, 1, solve_module.TIME_LIMIT),  # an infeasible iterate is no plan
        (kind.kTimeLimit, 2, solve_module.INCUMBENT),
        (kind.kSolutionLimit, 2, solve_module.INCUMBENT),
        (kind.kIterationLimit, 0, solve_module.TIME_LIMIT),
        (kind.kSolveError, 0, solve_module.TROUBLED),
        (kind.kUnknown, 0, solve_module.TROUBLED),
    ]
    for status, primal, expected in cases:
        prob = pulp.LpProblem("p", pulp.LpMinimize)
        prob.solverModel = _Highs(status, primal)
        assert solve_module.outcome(prob) == expected, status


def test_trouble_messages_say_which() -> None:
    assert "within the time limit (5 s" in str(solve_module._trouble("MIP", "time limit", 5.0))
    assert "unbounded" in str(solve_module._trouble("LP relaxation", "unbounded", 5.0))
    assert "numerical trouble" in str(solve_module._trouble("MIP", "numerical trouble", 5.0))


def test_the_time_limit_holds_past_the_relaxation(tmp_path: Path, capsys, monkeypatch) -> None:
    """After the relaxation, HiGHS's simplex and MIP are interrupted at the solve's deadline
    (HiGHS's own limit is not checked everywhere: its MIP root heuristics overran it at fleet
    scale): with the deadline already past, the MIP stops with nothing in hand, exit 3."""
    real = solve_module._stop_at
    stops: list[float] = []

    def past(highs, deadline: float) -> None:
        stops.append(deadline)
        real(highs, 0.0)

    monkeypatch.setattr(solve_module, "_stop_at", past)
    scenario = Path(solve_module.__file__).parents[1] / "scenarios" / "frontier-lab.yaml"
    code = cli.main(["plan", str(scenario), "-q"])
    err = capsys.readouterr().err
    assert stops, "the deadline was not set"
    assert code == 3, err
    assert "no plan found within the time limit" in err
    monkeypatch.setattr(solve_module, "_stop_at", real)
    assert cli.main(["plan", str(scenario), "-q"]) == 0  # the real deadline lets it finish
