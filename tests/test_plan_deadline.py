"""solver.time_limit is a deadline for the whole plan (planner/api.py `solve`): every solve of
the re-rating, the held plan and the diagnosis of an infeasible scenario get what is left of it,
and a stage it leaves no time for is not run and said to be (a solver note, or the error's
text), never skipped silently. No wall-clock asserts: the planner's clock is replaced by one
that jumps when told (`_Clock`), or frozen, and the deadlines each stage is given are read."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from test_properties import _write
from test_rl_rerate import squeezed

import cli
import planner
from fleetcore.errors import InfeasibleError
from planner import api
from planner.lp import solve as solve_module

# One H100 server allowed at a 50 kW site, two billion requests a day: infeasible (the
# diagnosis asks for 11 more units and 84.6 kW more power).
SITE = {
    "s0": {
        "power_cap": "0.05 MW",
        "pue": 1.1,
        "electricity_usd_per_kwh": 0.1,
        "systems": {"hgx-h100": {"max_units": 1, "owned": 0}},
    }
}
TIER = {
    "kind": "inference",
    "model": "llama-3.1-8b",
    "precision": "bf16",
    "requests_per_day": 2_000_000_000,
    "prompt_tokens": 100,
    "output_tokens": 50,
    "tokens_per_s_per_user": 10,
}


def _infeasible(tmp_path: Path, limit_s: float = 7.0) -> Path:
    econ = {"horizon": "365 days", "pricing": "rental"}
    path = _write(tmp_path, SITE, {"tier0": TIER}, econ)
    text = path.read_text() + f"solver: {{time_limit: {limit_s:g} s}}\n"
    path.write_text(text)
    return path


class _Clock:
    """The `time` module with perf_counter moved on by `offset_s` (a stage that "took" an hour
    at no cost), or frozen at `frozen` when set."""

    def __init__(self) -> None:
        self.offset_s = 0.0
        self.frozen: float | None = None

    def perf_counter(self) -> float:
        return self.frozen if self.frozen is not None else time.perf_counter() + self.offset_s

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(api, "time", fake)
    monkeypatch.setattr(solve_module, "time", fake)
    return fake


def _diagnosis(exc: InfeasibleError) -> str:
    return "\n".join([str(exc), *exc.diagnosis])


def test_a_diagnosis_with_no_time_left_does_not_run_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = planner.load_scenario(_infeasible(tmp_path))
    ran: list[Any] = []
    monkeypatch.setattr(solve_module, "_phase_one", lambda *args, **kw: ran.append(args))
    monkeypatch.setattr(solve_module, "build", lambda *args, **kw: ran.append(args))
    past = time.perf_counter() - 1.0
    error = solve_module.diagnose(
        scenario, api.demands(scenario), "highs", 7.0, "choose", deadline=past
    )
    assert ran == []  # no elastic model built, no phase 1 run
    assert error.exit_code == 2
    assert error.diagnosis == [
        "solver.time_limit was used up before the diagnosis could start: raise "
        "solver.time_limit (7 s; --time-limit) to see what falls short"
    ]
    assert str(error).startswith(
        "no plan meets every demand within the constraints (the solver proved the LP "
        "relaxation has no solution); the diagnosis did not run"
    )


def _spy_phase_one(monkeypatch: pytest.MonkeyPatch, whole_ends: str, clock: _Clock | None = None):
    """Phase 1 runs recorded as (whole, deadline); the whole-unit one ends `whole_ends`
    (TIME_LIMIT: not run, moving `clock` an hour on when given; INCUMBENT: run, then said to
    have been stopped with a solution)."""
    real = solve_module._phase_one
    runs: list[tuple[bool, float]] = []

    def spy(elastic, solver, method, deadline, whole):  # noqa: ANN001, ANN202
        runs.append((whole, deadline))
        if whole and whole_ends == solve_module.TIME_LIMIT:
            if clock is not None:
                clock.offset_s += 3600.0
            return solve_module.TIME_LIMIT
        how = real(elastic, solver, method, deadline, whole)
        return solve_module.INCUMBENT if whole else how

    monkeypatch.setattr(solve_module, "_phase_one", spy)
    return runs


def test_the_whole_unit_diagnosis_gets_its_share_and_the_lp_one_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: _Clock
) -> None:
    """Clock frozen at 1,000 s, deadline 1,010 s: the whole-unit diagnosis is given until
    1,000 + 0.5 x 10 = 1,005 s (WHOLE_DIAGNOSIS_SHARE); it finds nothing, and the LP relaxation's
    diagnosis is given the rest, to 1,010 s, and says what falls short."""
    scenario = planner.load_scenario(_infeasible(tmp_path))
    runs = _spy_phase_one(monkeypatch, solve_module.TIME_LIMIT)
    clock.frozen = 1000.0
    error = solve_module.diagnose(
        scenario, api.demands(scenario), "highs", 7.0, "choose", deadline=1010.0
    )
    assert runs[:2] == [(True, 1005.0), (False, 1010.0)]
    assert {deadline for whole, deadline in runs[1:]} == {1010.0}  # any whole-unit commits too
    text = _diagnosis(error)
    assert "the smallest relaxation found" in text
    assert "s0: needs" in text and "more hgx-h100 units than max_units allows" in text
    assert error.diagnosis[-1] == (
        "(no whole-unit diagnosis within 5 s (its share of what was left of solver.time_limit, "
        "7 s): the amounts above are the LP relaxation's, on fractional units, with a whole unit "
        "wherever work runs on less than one: at least this much)"
    )


def test_a_whole_unit_diagnosis_that_used_up_the_limit_leaves_no_lp_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: _Clock
) -> None:
    """The whole-unit diagnosis stopped with nothing and the clock past the deadline: the LP
    relaxation's diagnosis does not run, and the error says both, naming the limit."""
    scenario = planner.load_scenario(_infeasible(tmp_path))
    runs = _spy_phase_one(monkeypatch, solve_module.TIME_LIMIT, clock)
    deadline = time.perf_counter() + 60.0
    error = solve_module.diagnose(
        scenario, api.demands(scenario), "highs", 60.0, "choose", mip=True, deadline=deadline
    )
    assert [whole for whole, _ in runs] == [True]
    assert str(error).splitlines()[0] == (
        "no plan meets every demand within the constraints (the solver proved the whole-unit "
        "model has no solution); the diagnosis stopped at the time limit"
    )
    (line,) = error.diagnosis
    assert line.startswith("no whole-unit diagnosis within ")
    assert line.endswith(
        "; the LP relaxation's diagnosis did not run: raise solver.time_limit (60 s; "
        "--time-limit) to see what falls short"
    )


def test_a_diagnosis_stopped_with_an_answer_says_it_is_not_the_smallest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = planner.load_scenario(_infeasible(tmp_path))
    _spy_phase_one(monkeypatch, solve_module.INCUMBENT)
    error = solve_module.diagnose(scenario, api.demands(scenario), "highs", 7.0, "choose")
    assert "s0: needs 11 more hgx-h100 units than max_units allows" in _diagnosis(error)
    assert error.diagnosis[-1] == (
        "(the diagnosis stopped at the time limit: the amounts above make the scenario feasible "
        "but are not proven the smallest; raise solver.time_limit (7 s; --time-limit) to see "
        "what falls short)"
    )


def test_the_diagnosis_after_a_solve_gets_what_the_solve_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, clock
) -> None:
    """`planner plan`: the relaxation (proven infeasible) is made to take an hour of a 7 s
    limit: the diagnosis is given the plan's deadline, not a fresh 7 s, so it does not run;
    exit 2, the message names the limit, no traceback. Without the jump: the diagnosis."""
    path = _infeasible(tmp_path)
    real = solve_module._run

    def slow_relaxation(model, solver, deadline=None):  # noqa: ANN001, ANN202
        out = real(model, solver, deadline)
        if not model.slacks:  # the model itself, not the diagnosis's elastic one
            clock.offset_s += 3600.0
        return out

    monkeypatch.setattr(solve_module, "_run", slow_relaxation)
    code = cli.main(["plan", str(path), "-q"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert "the diagnosis did not run" in err
    assert "raise solver.time_limit (7 s; --time-limit) to see what falls short" in err
    monkeypatch.setattr(solve_module, "_run", real)
    assert cli.main(["plan", str(path), "-q"]) == 2
    assert "more hgx-h100 units than max_units allows" in capsys.readouterr().err


def test_no_time_left_before_the_first_solve_is_a_time_limit_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A limit used up before the first workload is rated: nothing is rated or solved, exit 3,
    the message names the limit and the stage, and says what to raise (qa28b: it said "used
    up before the LP relaxation could run (rating the workloads, building the model, earlier
    solves)", after rating every workload past the limit)."""
    path = _infeasible(tmp_path)
    code = cli.main(["plan", str(path), "--time-limit", "1e-9", "-q"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "Traceback" not in err
    assert (
        "no plan found within the time limit (1e-09 s, for the whole plan): it ran out while "
        "rating the workloads (0 of 1 rated in "
    ) in err
    assert "; tier0 not started), before the model was built" in err
    assert "raise solver.time_limit (--time-limit)" in err


def test_no_time_left_after_the_build_is_named_before_the_first_solve(
    tmp_path: Path, clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build of a model started in time finishes (not bounded); a first solve that then has
    nothing left does not start: a TimeLimitError naming the limit."""
    real = api.build

    def slow_build(*args: Any, **kw: Any) -> Any:
        out = real(*args, **kw)
        clock.offset_s += 3600.0
        return out

    monkeypatch.setattr(api, "build", slow_build)
    with pytest.raises(solve_module.TimeLimitError) as err:
        planner.solve(_infeasible(tmp_path))
    assert "it was used up before the LP relaxation could run" in str(err.value)


def _rating_spy(monkeypatch: pytest.MonkeyPatch, clock: _Clock, jump_before: int | None) -> None:
    """api.demands_for with the clock moved an hour before workload number `jump_before` is
    rated (None: after the last one)."""
    real = api.demands_for

    def spy(workloads, catalog, systems, horizon_s, before):  # noqa: ANN001, ANN202
        def jumpy(name: str, rated: int) -> None:
            if rated == jump_before:
                clock.offset_s += 3600.0
            before(name, rated)

        out = real(workloads, catalog, systems, horizon_s, jumpy)
        if jump_before is None:
            clock.offset_s += 3600.0
        return out

    monkeypatch.setattr(api, "demands_for", spy)


def test_rating_past_the_deadline_stops_at_the_next_workload_naming_the_stage(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """qa28b: rating (most of a cold plan's time) ran every workload to the end past the limit.
    A workload whose rating would start past it is not rated: the error says how many were and
    which was next, and no model is built."""
    _rating_spy(monkeypatch, clock, jump_before=1)
    monkeypatch.setattr(api, "build", lambda *a, **k: pytest.fail("built past the deadline"))
    sc = planner.load_scenario("frontier-lab")
    names = list(sc.data.workloads)
    with pytest.raises(solve_module.TimeLimitError) as err:
        planner.solve(sc)
    text = str(err.value)
    assert "(60 s, for the whole plan): it ran out while rating the workloads" in text, text
    assert f"(1 of {len(names)} rated in " in text and f"{names[1]} not started)" in text, text


def test_a_rating_that_uses_up_the_limit_builds_nothing_and_says_so(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every workload rated, the limit gone: the model is not built, the error names rating."""
    _rating_spy(monkeypatch, clock, jump_before=None)
    monkeypatch.setattr(api, "build", lambda *a, **k: pytest.fail("built past the deadline"))
    with pytest.raises(solve_module.TimeLimitError) as err:
        planner.solve("frontier-lab")
    assert "rating the workloads took " in str(err.value)
    assert "s, all of it, and the model was not built" in str(err.value)


def _spy_solves(
    monkeypatch: pytest.MonkeyPatch,
    clock: _Clock,
    jump_after: int | None,
    diagnosed: list[bool] | None = None,
):
    """solve_model's `deadline` at each call (and in `diagnosed` whether an infeasible model
    would be diagnosed); after call `jump_after` the clock moves an hour."""
    real = api.solve_model
    deadlines: list[float] = []

    def spy(model, **kw):  # noqa: ANN001, ANN202
        deadlines.append(kw["deadline"])
        if diagnosed is not None:
            diagnosed.append(kw["diagnose_infeasible"])
        out = real(model, **kw)
        if jump_after is not None and len(deadlines) == jump_after:
            clock.offset_s += 3600.0
        return out

    monkeypatch.setattr(api, "solve_model", spy)
    return deadlines


def test_every_solve_of_the_re_rating_shares_one_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: _Clock
) -> None:
    """The squeezed RL run (tests/test_rl_rerate.py) is solved, held and re-rated: several
    solves, each given the one deadline the plan started with (its time_limit from the call),
    not a fresh limit each."""
    sc = squeezed(tmp_path)
    diagnosed: list[bool] = []
    deadlines = _spy_solves(monkeypatch, clock, None, diagnosed)
    before = clock.perf_counter()
    plan = planner.solve(sc)
    after = clock.perf_counter()
    limit_s = sc.data.solver.time_limit_s
    assert len(deadlines) >= 2
    (deadline,) = set(deadlines)
    assert before + limit_s <= deadline <= after + limit_s
    assert not any("time_limit" in note for note in plan.solver_notes)
    # only the first solve's infeasibility would be diagnosed: a re-solve's or a held plan's
    # keeps the plan before, and its diagnosis would only spend the limit
    assert diagnosed == [True] + [False] * (len(diagnosed) - 1)


def test_an_infeasible_model_asked_for_no_diagnosis_is_not_diagnosed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from planner.lp.build import build

    def no(*args: Any, **kw: Any) -> None:
        raise AssertionError("diagnosed")

    monkeypatch.setattr(solve_module, "diagnose", no)
    scenario = planner.load_scenario(_infeasible(tmp_path))
    model = build(scenario, api.demands(scenario))
    with pytest.raises(InfeasibleError) as caught:
        solve_module.solve_model(model, "highs", 0.01, 7.0, "choose", False, None, False)
    assert str(caught.value) == (
        "no plan meets every demand within the constraints (not diagnosed)"
    )


def test_a_re_rating_the_limit_leaves_no_time_for_keeps_its_plan_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: _Clock
) -> None:
    """The first solve takes an hour: the held plan and the re-rating's next solve do not run.
    The first plan is the answer, its run stated as not converged, the notes name the stages
    left out and the limit, and the plan verifies."""
    sc = squeezed(tmp_path)
    deadlines = _spy_solves(monkeypatch, clock, 1)
    plan = planner.solve(sc)
    assert len(deadlines) == 1
    (job,) = plan.rl_jobs or []
    assert job.status == "not converged" and job.solves == 1
    limit = f"solver.time_limit ({sc.data.solver.time_limit_s:g} s, for the whole plan)"
    assert (
        f"the plan with the squeezed runs held to their rated jobs did not run: {limit} was used "
        "up; raise it (--time-limit) to have it solved"
    ) in plan.solver_notes
    assert (
        f"the re-rating's solve 2 did not run: {limit} was used up; raise it (--time-limit) to "
        "have it solved"
    ) in plan.solver_notes
    assert "placed_rate" in plan.checks  # verified (solve raises on a violation), the rule
    # that reads "not converged" against the placed job's rate among those passed


def test_solve_takes_a_time_limit_with_its_unit_as_the_scenario_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """planner.solve(sc, time_limit_s="2 min") passed validation (the scenario's `solver:` block
    reads a time with its unit) and was then kept as the string: the deadline's float + str
    raised TypeError. It is taken as the validated 120 s."""
    seen: list[float] = []
    real = api._solve_rerated

    def spy(scenario, rated, relax, options, save_model, deadline):  # type: ignore[no-untyped-def]
        seen.append(options.time_limit_s)
        return real(scenario, rated, relax, options, save_model, deadline)

    monkeypatch.setattr(api, "_solve_rerated", spy)
    with pytest.raises(InfeasibleError):
        planner.solve(_infeasible(tmp_path), time_limit_s="2 min")
    assert seen == [120.0]


@pytest.mark.parametrize(
    ("command", "option", "value"),
    [
        ("plan", "--time-limit", "inf"),
        ("plan", "--time-limit", "nan"),
        ("plan", "--gap", "nan"),
        ("sensitivity", "--time-limit", "inf"),
    ],
)
def test_a_limit_that_is_not_finite_is_refused_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, option: str, value: str
) -> None:
    """click's FloatRange let inf and nan through, and the error then named
    `<planner.solve>: time_limit_s` (or mip_gap), not the option the user typed."""
    code = cli.main([command, str(_infeasible(tmp_path)), option, value])
    err = capsys.readouterr().err
    assert code == 1
    assert f"Invalid value for '{option}': {value} is not a finite number." in err
    assert "<planner.solve>" not in err
