"""economics.discount_rate: the objective is a present value, each calendar period's charges
weighed by 1 / (1 + r)^(t_mid / year). On a hand-solvable candidate-site case the discount
flips the choice (an opening paid in Q1 against a facility saving earned in Q3-Q4); the
verifier recomputes the weights and catches a tampered one; bad rates name file, line and
field."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from test_capacity_over_time import YEAR_S, capex, flat_need, h100, scenario
from test_capacity_over_time import schedule as rows_of
from test_lp import ceil, inference

import planner
import planner.api
import planner.lp.objective as objective
from fleetcore.errors import ConfigError
from fleetcore.tables import usd
from planner.explain import format_unit_costs
from planner.report import format_decision, format_plan
from planner.verify import check_plan

REL = 1e-6
RATE = 0.10
FACILITY_A = 200.0  # US$ per kW-month at the open site
FACILITY_B = 120.0  # at the candidate
QUARTER_S = YEAR_S / 4


def weight(t: int) -> float:
    """Quarter t's weight by hand: 1 / 1.1^((t + 0.5) / 4)."""
    return (1 + RATE) ** -((t + 0.5) / 4)


def candidate_case(
    tmp_path: Path, opening_cost_usd: float, rate: float | None, name: str
) -> planner.Scenario:
    """Serving from Q3 on H100s bought for it (free electricity, straight-line capex); site a is
    open, site b a candidate with a cheaper facility and a two-quarter lead time (opened at Q1,
    ready at Q3)."""
    candidate = {"opening_cost_usd": opening_cost_usd, "lead_time": "2 quarters"}
    economics = {"horizon": "365 days", "period": "1 quarter", "pricing": "amortised"}
    if rate is not None:
        economics["discount_rate"] = rate
    return scenario(
        tmp_path,
        {
            "a": {**h100(), "facility_usd_per_kw_month": FACILITY_A},
            "b": {**h100(), "facility_usd_per_kw_month": FACILITY_B, "candidate": candidate},
        },
        {"chat": inference("20M", start="182.5 days")},
        economics,
        name=name,
    )


def test_discounting_flips_an_early_opening_to_the_dearer_open_site(tmp_path: Path) -> None:
    """n units serve Q3-Q4 at a, or at b once opened at Q1. At face value opening b at 0.97 x
    the facility saving S = n (f_a - f_b) kW x 6 months pays (0.97 S < S). In present value
    the opening weighs w_0 and the saving w_2 and w_3 (3 months each): S_pv = S (w_2 + w_3) / 2
    = 0.954 S < 0.97 S w_0 = 0.959 S, so the plan stays at a; both plans' costs by hand."""
    probe = candidate_case(tmp_path, 1.0, None, "probe")
    n = ceil(flat_need(probe, "chat"))
    kw = probe.catalog.system("hgx-h100").power_w / 1000
    saving = n * (FACILITY_A - FACILITY_B) * kw * 6
    opening = 0.97 * saving
    cx, life = capex(probe)
    late = weight(2) + weight(3)  # the two serving quarters' weights
    capital_q = n * cx * QUARTER_S / life  # straight-line capital per quarter
    stay_pv = (capital_q + n * FACILITY_A * kw * 3) * late
    open_pv = (capital_q + n * FACILITY_B * kw * 3) * late + opening * weight(0)
    assert stay_pv < open_pv  # staying is the cheaper present value
    stay_nominal = 2 * capital_q + n * FACILITY_A * kw * 6
    open_nominal = 2 * capital_q + n * FACILITY_B * kw * 6 + opening
    assert open_nominal < stay_nominal  # opening is the cheaper face value

    face = planner.solve(candidate_case(tmp_path, opening, None, "face"))
    (row,) = face.site_openings
    assert (row.opened, row.opened_period) == (True, 0)
    assert math.isclose(face.total_cost_usd, open_nominal, rel_tol=REL)
    assert face.present_value is None

    plan_scenario = candidate_case(tmp_path, opening, RATE, "pv")
    plan = planner.solve(plan_scenario)
    (row,) = plan.site_openings
    assert not row.opened
    assert [rows_of(plan, "a")[t].units for t in range(4)] == [0, 0, n, n]
    assert math.isclose(plan.total_cost_usd, stay_pv, rel_tol=REL)
    assert math.isclose(plan.nominal_cost_usd, stay_nominal, rel_tol=REL)
    assert plan.present_value is not None
    for t, pv in enumerate(plan.present_value):
        assert math.isclose(pv.discount_weight, weight(t), rel_tol=1e-12)
        assert math.isclose(pv.present_value_usd, weight(t) * pv.cost_usd, rel_tol=1e-12)
    assert {"cost_lines", "cash_flow", "cost_total", "solver_objective"} <= set(plan.checks)
    # The JSON carries both figures and reads back.
    data = json.loads(plan.to_json())
    assert math.isclose(data["nominal_cost_usd"], stay_nominal, rel_tol=REL)
    assert [r["period"] for r in data["present_value"]] == [0, 1, 2, 3]
    written = {p.name for p in plan.write(tmp_path / "out")}
    assert "present_value.csv" in written
    header = (tmp_path / "out" / "present_value.csv").read_text().splitlines()[0]
    assert "discount_weight" in header and "present_value_usd" in header
    # The report states the basis and both figures; the decision says what is discounted.
    text = format_plan(plan)
    assert f"present value at 10% a year, mid-period (what the plan minimised): {usd(stay_pv)}" in (
        " ".join(text.split())
    )
    assert f"nominal sum of the same charges (face value): {usd(stay_nominal)}" in text
    assert "present values at 10% a year" in " ".join(format_decision(plan).split())
    assert "Prices at face value, not discounted" in format_unit_costs([], RATE)
    assert "Prices at face value" not in format_unit_costs([])
    assert "present value" not in format_plan(face)
    back = planner.Plan.from_dict(data)
    assert back.present_value is not None and len(back.present_value) == 4
    assert not any(check_plan(back, plan_scenario, planner.demands(plan_scenario)).values())


def test_a_tampered_discount_weight_is_caught(tmp_path: Path) -> None:
    """The present_value record's weight of a period changed: cost_lines names it. The
    objective's period weights tampered (w_t x 1.05 in the LP): the cost rows no longer match
    the lines the verifier weighs itself."""
    sc = candidate_case(tmp_path, 1e12, RATE, "tamper")
    plan = planner.solve(sc)
    demands = planner.demands(sc)
    assert not any(check_plan(plan, sc, demands).values())
    assert plan.present_value is not None
    row = plan.present_value[2]
    plan.present_value[2] = dataclasses.replace(row, discount_weight=row.discount_weight * 1.01)
    found = {k: v for k, v in check_plan(plan, sc, demands).items() if v}
    assert list(found) == ["cost_lines"]
    assert "present_value period 2: discount_weight" in found["cost_lines"][0]


def test_a_tampered_objective_weight_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weigh = objective.period_weight
    monkeypatch.setattr(objective, "period_weight", lambda model, t: 1.05 * weigh(model, t))
    kept: dict[str, object] = {}

    def keep(plan: planner.Plan, scenario: object, demands: object) -> list[str]:
        kept.update(plan=plan, scenario=scenario, demands=demands)
        return []

    monkeypatch.setattr(planner.api, "verify", keep)
    planner.solve(candidate_case(tmp_path, 1e12, RATE, "lp"))
    plan = kept["plan"]
    assert isinstance(plan, planner.Plan)
    found = check_plan(plan, kept["scenario"], kept["demands"])  # type: ignore[arg-type]
    assert any("capex: the cost rows charge" in m for m in found["cost_lines"]), found


@pytest.mark.parametrize(("rate", "says"), [(-0.05, "greater than or equal to 0"), (1.5, "less")])
def test_a_bad_discount_rate_names_file_line_and_field(
    tmp_path: Path, rate: float, says: str
) -> None:
    with pytest.raises(ConfigError) as err:
        candidate_case(tmp_path, 1.0, rate, "bad")
    text = str(err.value)
    # line 6 of the file the fixture writes: topology, economics:, horizon, period, pricing
    assert "bad.yaml:6: economics.discount_rate" in text and says in text
    cli = Path(__file__).resolve().parent.parent / "cli.py"
    done = subprocess.run(
        [sys.executable, str(cli), "plan", str(tmp_path / "bad.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "bad.yaml:6: economics.discount_rate" in done.stderr


def test_a_sweep_that_mixes_bases_says_so_and_gives_face_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sweep over economics.discount_rate put a present value at 10% beside a face value in
    one total_cost_usd column, with no word of it. Its points now carry discount_rate (0 at face
    value) and nominal_cost_usd (the same charges at face value, comparable across points), and
    the CLI warns that the totals mix bases; a sweep at one basis has neither (its CSV as before)."""
    from cli import main

    candidate_case(tmp_path, 1e9, None, "sw")  # opening priced out: the plan stays at a
    path = tmp_path / "sw.yaml"
    out = tmp_path / "out"
    sets = ["--set", "economics.discount_rate=0,0.1", "--no-cache", "--jobs", "1"]
    assert main(["sweep", str(path), *sets, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning: total_cost_usd mixes bases: present values at discount rates 0, 0.1" in err
    points = json.loads((out / "sweep.json").read_text())["points"]
    by_rate = {p["discount_rate"]: p for p in points}
    assert set(by_rate) == {0.0, 0.1}
    face, pv = by_rate[0.0], by_rate[0.1]
    # the same plan at both rates: the same charges at face value, a lower present value
    assert face["nominal_cost_usd"] == pytest.approx(pv["nominal_cost_usd"], rel=REL)
    assert face["total_cost_usd"] == pytest.approx(face["nominal_cost_usd"], rel=REL)
    w = (weight(2) + weight(3)) / 2  # every charge in Q3-Q4, half in each
    assert pv["total_cost_usd"] == pytest.approx(pv["nominal_cost_usd"] * w, rel=REL)
    header = (out / "sweep.csv").read_text().splitlines()[0].split(",")
    assert header.index("nominal_cost_usd") == header.index("discount_rate") + 1
    # one basis: no warning, no basis columns
    assert (
        main(
            [
                "sweep",
                str(path),
                "--set",
                "workloads.chat.output_tokens=700,775",
                "--no-cache",
                "--jobs",
                "1",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "mixes bases" not in capsys.readouterr().err
    assert "discount_rate" not in (out / "sweep.csv").read_text().splitlines()[0]


def test_compare_of_a_discounted_scenario_shows_rate_and_face_value(tmp_path: Path) -> None:
    """compare printed the present value as "total cost" with nothing to say so; its table now
    has the discount rate and the nominal cost beside it."""
    candidate_case(tmp_path, 1e9, RATE, "cmp")
    sc = planner.load_scenario(tmp_path / "cmp.yaml")
    plan = planner.solve(sc)
    cmp = planner.compare(tmp_path / "cmp.yaml", [None])
    rows = {r["metric"]: r for r in cmp.table()}
    (name,) = list(cmp.columns)
    assert rows["discount rate"][name] == RATE
    assert rows["nominal cost"][name] == pytest.approx(plan.nominal_cost_usd, rel=REL)
    assert rows["total cost"][name] == pytest.approx(plan.total_cost_usd, rel=REL)


def test_workload_costs_split_the_present_value_by_discounted_unit_seconds(
    tmp_path: Path,
) -> None:
    """A pool's cost term is a present value, so the workloads' shares of it weigh their
    unit-seconds by their periods' discount weights, as the term weighs its charges: two tiers
    on the same bought H100s, one from Q2 and one from Q4. Before session 26 the shares were
    face-value unit-seconds, handing the late tier a larger share of the present value than its
    discounted use. Each share recomputed here from the plan's allocations, schedule and
    present-value weights; the late tier's share is below its face-value share."""
    economics = {
        "horizon": "365 days",
        "period": "1 quarter",
        "pricing": "amortised",
        "discount_rate": RATE,
    }
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {
            "early": inference("20M", start="91.25 days"),
            "late": inference("20M", start="273.75 days"),
        },
        economics,
        name="split",
    )
    plan = planner.solve(sc)
    w = {r.period: r.discount_weight for r in plan.present_value}
    assert w[3] == pytest.approx(weight(3), rel=1e-12)
    period_of = {(r.start_s, r.end_s): r.period for r in plan.present_value}

    def calendar(start_s: float) -> int:
        return max(t for (s0, _), t in period_of.items() if s0 <= start_s + 1e-6)

    in_service = sum(
        r.units * (r.end_s - r.start_s) * w[r.period]
        for r in plan.schedule
        if (r.datacenter, r.system) == ("a", "hgx-h100")
    )
    used: dict[str, float] = {}
    face: dict[str, float] = {}
    for a in plan.allocations:
        used[a.workload] = (
            used.get(a.workload, 0.0) + a.units * a.period_s * w[calendar(a.period_start_s)]
        )
        face[a.workload] = face.get(a.workload, 0.0) + a.units * a.period_s
    capex_rows = [c for c in plan.costs_rows if c.component == "capex"]
    term = sum(c.cost_usd for c in capex_rows)
    assert term > 0
    for c in capex_rows:
        if c.workload in used:
            assert c.cost_usd == pytest.approx(term * used[c.workload] / in_service, rel=1e-9)
    face_in_service = sum(
        r.units * (r.end_s - r.start_s)
        for r in plan.schedule
        if (r.datacenter, r.system) == ("a", "hgx-h100")
    )
    (late,) = [c for c in capex_rows if c.workload == "late"]
    assert late.cost_usd < term * face["late"] / face_in_service * (1 - 1e-3)
