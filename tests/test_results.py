"""Results people can read and reuse (issue 13): DataFrames whose sums equal the plan, the
decision summary, a terminal report that fits 100 columns, the HTML report, model export,
shipped scenarios by name, --version and --quiet."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import cli
import planner
from fleetcore.tables import usd
from planner.decision import decision, share_text, summary_lines
from planner.plan import TABLES, Plan
from planner.report import format_plan
from planner.rows import CostTotalRow

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def plan() -> Plan:
    return planner.solve(planner.load_scenario("frontier-lab"))


@pytest.fixture(scope="module")
def rl_plan() -> Plan:
    return planner.solve(planner.load_scenario(ROOT / "planner/scenarios/rl-verifiers.yaml"))


# -- DataFrames -----------------------------------------------------------------------------
def test_every_table_is_a_dataframe_with_the_json_columns(plan: Plan) -> None:
    data = json.loads(plan.to_json())
    frames = plan.frames()
    assert set(frames) == set(TABLES)
    for name, frame in frames.items():
        assert len(frame) == len(data[name]), name
        if data[name]:
            assert sorted(frame.columns) == sorted(data[name][0]), name
    assert list(plan.df.fleet.columns) == list(frames["fleet"].columns)
    with pytest.raises(AttributeError, match="tables: periods"):
        _ = plan.df.nope


def test_dataframe_sums_equal_the_plan_totals(plan: Plan) -> None:
    df = plan.df
    assert df.costs["cost_usd"].sum() == pytest.approx(plan.total_cost_usd, rel=1e-9)
    assert df.fleet["units"].sum() == sum(f.units for f in plan.fleet)
    for by in ("workload", "system", "datacenter", "component"):
        grouped = plan.statistics.cost(by=by)
        assert grouped["cost_usd"].sum() == pytest.approx(plan.total_cost_usd, rel=1e-9), by
        assert list(grouped["cost_usd"]) == sorted(grouped["cost_usd"], reverse=True)
    by_workload = {c.name: c.cost_usd for c in plan.costs("workload")}
    stats = plan.statistics.cost(by="workload")["cost_usd"].to_dict()
    assert stats == pytest.approx(by_workload)
    two = plan.statistics.cost(by=["datacenter", "system"])
    assert two["cost_usd"].sum() == pytest.approx(plan.total_cost_usd, rel=1e-9)
    with pytest.raises(ValueError):
        plan.statistics.cost(by="colour")


def test_costs_by_are_typed_rows_recomputed_from_the_cost_terms(plan: Plan) -> None:
    # qa27b: plan.costs(by=...) was the one plan table of dicts; its rows are typed now, and
    # each total is recomputed here from the unsummed terms.
    for by in ("component", "datacenter", "system", "workload"):
        rows = plan.costs(by)
        assert all(isinstance(r, CostTotalRow) and r.by == by for r in rows), by
        for r in rows:
            terms = [t for t in plan.costs_rows if (getattr(t, by) or "(shared)") == r.name]
            assert r.cost_usd == pytest.approx(sum(t.cost_usd for t in terms), rel=1e-12), r
        assert sum(r.cost_usd for r in rows) == pytest.approx(plan.total_cost_usd, rel=1e-9)
    with pytest.raises(ValueError, match=r"costs\(by='workloads'\).*did you mean 'workload'"):
        plan.costs("workloads")


def test_units_statistics_follow_the_schedule(plan: Plan) -> None:
    units = plan.statistics.units(by="system")
    h100 = units.loc["hgx-h100"]
    assert h100["peak_units"] == 500
    assert h100["idle_share"] > 0.95  # 500 owned H100s, about 1% busy
    by_period = plan.statistics.units(by=["period", "datacenter"])
    assert by_period["unit_days"].sum() == pytest.approx(units["unit_days"].sum())
    per_pool = plan.statistics()
    # 59 racks since session 33's pergemm (each linear at its own GEMM shape, B200-die BF16
    # 0.61 -> 0.58): the 405B pretraining (15T tokens in 90 days at goodput 0.9) reads 510.4
    # tokens/s an accelerator, 15e12 / (7,776,000 s x 0.9 x 510.4 x 72) = 58.3 racks, so 59
    # (TP4 x DP1062 on 4,248 GB200). 57 from session 21's FSDP layouts to session 32 (523.8
    # tokens/s: 56.83 racks; TP4 x DP1026 on 4,104); 62 before, TP4 x PP8 x DP72 x CP2 on 4,608
    # 70 since session 34's B200-die BF16 fit (0.58 -> 0.48): 430.5 tokens/s an accelerator
    # on TP4 x DP1260, 15e12 / (7,776,000 s x 0.9 x 430.5 x 72) = 69.1 racks, so 70 (5,040 GB200)
    assert per_pool.loc[("dc-east", "gb200-nvl72"), "bought_units"] == 70


def test_notebook_reprs_are_short(plan: Plan) -> None:
    text = repr(plan)
    assert len(text) < 600 and "optimal" in text and usd(plan.total_cost_usd) in text
    html = plan._repr_html_()
    assert len(html.encode()) < 5000
    assert f"Buy {_nvl72_bought(plan)} gb200-nvl72 at dc-east" in html


def _nvl72_bought(plan: Plan) -> int:
    """NVL72 racks the default plan buys, from its fleet rows."""
    row = next(f for f in plan.fleet if (f.datacenter, f.system) == ("dc-east", "gb200-nvl72"))
    return int(row.bought_units)


def test_comparison_and_sweep_frames() -> None:
    cmp = planner.compare("frontier-lab", ["nvl72-campus", "h100-cluster"])
    frame = cmp.frame()
    assert list(frame.index) == ["nvl72-campus", "h100-cluster"]
    for name in frame.index:
        col = cmp.columns[name]
        assert isinstance(col, Plan)
        assert frame.loc[name, "total_cost_usd"] == col.total_cost_usd
    assert len(cmp._repr_html_()) < 20000
    sw = planner.sweep(
        ROOT / "planner/scenarios/rl-verifiers.yaml",
        {"workloads.rl-code.samples_per_problem": [4, 16]},
    )
    frame = sw.frame()
    assert list(frame.index) == sw.names
    assert list(frame["workloads.rl-code.samples_per_problem"]) == [4, 16]
    assert list(frame["total_cost_usd"]) == [r["total_cost_usd"] for r in sw.records()]
    assert "<table" in sw._repr_html_()


# -- the decision ---------------------------------------------------------------------------
def test_a_small_idle_share_is_not_printed_as_zero(rl_plan: Plan) -> None:
    """rl-verifiers' idle units cost ~$10k of ~$6.5M: the summary said "0% of the cost ($10,313)";
    the share is recomputed from the cost rows and printed to two significant figures."""
    idle = sum(c.cost_usd for c in rl_plan.costs_rows if c.workload == "(idle)")
    share = idle / rl_plan.total_cost_usd
    assert 0 < share < 0.005
    text = "\n".join(summary_lines(decision(rl_plan)))
    assert f"Idle capacity: {100 * share:.2g}% of the cost ({usd(idle)})" in text
    assert "Idle capacity: 0% of the cost" not in text


def test_share_text_reads_zero_and_whole_only_when_exact() -> None:
    assert [share_text(x) for x in (0.0, 0.0016, 0.25, 0.996, 1.0)] == [
        "0%",
        "0.16%",
        "25%",
        "99.6%",
        "100%",
    ]


def test_decision_states_purchases_idle_share_and_basis(plan: Plan) -> None:
    d = decision(plan)
    nvl = next(p for p in d.pools if p.system == "gb200-nvl72")
    capex = planner.load_scenario("frontier-lab").catalog.systems["gb200-nvl72"].capex_usd
    bought = _nvl72_bought(plan)
    assert bought > 0 and nvl.bought_units == bought
    assert nvl.purchase_usd == pytest.approx(bought * capex)
    catalog = planner.load_scenario("frontier-lab").catalog.systems
    cash = sum(f.bought_units * catalog[f.system].capex_usd for f in plan.fleet)
    cash += sum(c.bought_units * catalog[c.system].capex_usd for c in plan.cpu_servers)
    assert d.purchase_usd == pytest.approx(cash)
    capex_charged = sum(c.cost_usd for c in plan.costs_rows if c.component == "capex")
    assert d.capex_charged_usd == pytest.approx(capex_charged)
    idle = sum(c.cost_usd for c in plan.costs_rows if c.workload == "(idle)")
    assert d.idle_share == pytest.approx(idle / plan.total_cost_usd)
    assert [p.system for p in d.mostly_idle] == ["hgx-h100"]
    text = "\n".join(summary_lines(d))
    assert (
        f"Buy {bought} gb200-nvl72 at dc-east ({usd(bought * capex)} at {usd(capex)} each)" in text
    )
    assert (
        f"Purchase cash {usd(cash)}; charged to this horizon as capex: {usd(capex_charged)}"
    ) in text
    assert f"Idle capacity: {share_text(d.idle_share)} of the cost" in text
    h100 = next(f for f in plan.fleet if (f.datacenter, f.system) == ("dc-central", "hgx-h100"))
    busy = (
        f"500 hgx-h100 at dc-central (owned before the plan) are "
        f"{share_text(h100.utilisation or 0.0)} busy"
    )
    assert busy in text
    assert "straight line" in text and "gb200-nvl72 5 years" in text


def test_decision_reconciles_purchase_cash_with_capex_charged(rl_plan: Plan) -> None:
    """rl-verifiers buys trn2 servers and CPU-only servers for 90 days at 0% cost of capital:
    capex charged = the accelerated systems' cash x 90 days / 5 years of 365 days, by hand; the CPU-only
    servers' cash (charged under cpu_servers) is named so that the sum can be made."""
    catalog = planner.load_scenario("rl-verifiers").catalog.systems
    d = decision(rl_plan)
    cpu_cash = sum(c.new_units * catalog[c.system].capex_usd for c in rl_plan.cpu_servers)
    assert cpu_cash > 0 and d.cpu_purchase_usd == pytest.approx(cpu_cash)
    assert d.purchase_usd is not None
    accelerated_cash = d.purchase_usd - d.cpu_purchase_usd
    assert accelerated_cash * 90 / (5 * 365) == pytest.approx(d.capex_charged_usd, rel=1e-6)
    text = "\n".join(summary_lines(d))
    assert f"the {usd(cpu_cash)} of CPU-only servers is" in text.replace("\n    ", " ")


def test_decision_of_a_rental_plan_says_rent() -> None:
    p = planner.solve(planner.load_scenario("frontier-lab", scenarios=["rental"]))
    lines = summary_lines(decision(p))
    assert any(line.startswith("Rent up to") for line in lines)
    assert not any(line.startswith("Buy ") for line in lines)
    assert any("pricing rental" in line for line in lines)


def test_decision_without_catalog_prices_says_so(plan: Plan) -> None:
    back = Plan.from_dict(json.loads(plan.to_json()))
    text = "\n".join(summary_lines(decision(back)))
    # 59 racks since session 33's pergemm (57 before): test_units_statistics_follow_the_schedule
    # 70 since session 34's B200-die BF16 fit
    assert "Buy 70 gb200-nvl72 at dc-east\n" in text
    assert "unknown (no catalog prices)" in text


# -- terminal -------------------------------------------------------------------------------
def test_text_report_opens_with_the_decision_and_fits_100_columns(
    plan: Plan, rl_plan: Plan
) -> None:
    for p in (plan, rl_plan):
        text = format_plan(p)
        assert text.split("\n")[5] == "Decision"
        long = [line for line in text.splitlines() if len(line) > 100]
        assert long == []


def test_a_relaxed_fleet_table_shows_the_units_its_accelerators_count() -> None:
    """--relax buys 215.63 trn2 servers: the Fleet table said 216 units beside 3,450
    accelerators (216 x 16 = 3,456) and the decision's "Buy 215.63"; text and HTML now show the
    units as bought."""
    import html as htmlmod

    from planner.htmlreport import plan_html

    relaxed = planner.solve(planner.load_scenario("rl-verifiers"), relax=True)
    trn2 = next(f for f in relaxed.fleet if f.system == "trn2-server")
    assert abs(trn2.units - round(trn2.units)) > 0.01  # fractional: the case in point
    shown = f"{trn2.units:,.2f}"
    text = format_plan(relaxed)
    block = text.split("\nFleet\n", 1)[1].split("\n\n", 1)[0]
    row = next(line for line in block.splitlines() if "trn2-server" in line).split()
    assert row[2] == shown and row[4] == shown
    assert float(row[5].replace(",", "")) == pytest.approx(float(shown) * 16, abs=1)
    page = re.sub(r"\s+", " ", htmlmod.unescape(re.sub(r"<[^>]+>", " ", plan_html(relaxed))))
    assert f"rainier trn2-server {shown} 0 {shown} " in page


def test_cost_tables_are_sorted_by_cost_and_right_aligned(plan: Plan) -> None:
    text = format_plan(plan)
    block = text.split("\nCosts\n", 1)[1]
    workload_table = block.split("  workload", 1)[1].split("\n  (capex", 1)[0]
    rows = [line for line in workload_table.splitlines()[2:] if line.strip()]
    names = [r.split()[0] for r in rows]
    expected = [c.name for c in sorted(plan.costs("workload"), key=lambda c: -c.cost_usd)]
    assert names == expected
    assert len({len(r) for r in rows}) == 1  # right-aligned: every row ends at one column


def test_version_quiet_and_shipped_scenario_by_name(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # names work from any directory
    with pytest.raises(SystemExit) as exc:
        cli.planner.main(args=["--version"], prog_name="planner")
    assert exc.value.code == 0
    assert re.match(r"planner, version \d", capsys.readouterr().out)
    assert cli.main(["plan", "rl-verifiers", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("Plan for rl-verifiers: optimal")
    assert "Decision" in out and "Fleet" not in out and err == ""


def test_save_lp_and_mps_solve_to_the_plan_cost(tmp_path: Path, capsys) -> None:
    import highspy

    lp, mps = tmp_path / "model.lp", tmp_path / "model.mps"
    assert cli.main(["plan", "frontier-lab", "--save-lp", str(lp), "--json"]) == 0
    cost = json.loads(capsys.readouterr().out)["total_cost_usd"]
    assert lp.read_text().startswith("\\* capacity_plan *\\")
    assert cli.main(["plan", "frontier-lab", "--save-lp", str(mps), "-q"]) == 0
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.readModel(str(mps))
    h.run()
    # MPS carries no objective constant (costs of units owned before the plan): add it back.
    from planner.lp.build import build

    sc = planner.load_scenario("frontier-lab")
    constant = float(build(sc, planner.demands(sc)).prob.objective.constant)
    assert h.getInfo().objective_function_value + constant == pytest.approx(cost, rel=0.011)


# -- HTML -----------------------------------------------------------------------------------
def test_html_report_is_self_contained(tmp_path: Path, capsys) -> None:
    out = tmp_path / "plan.html"
    assert cli.main(["plan", "frontier-lab", "--html", str(out), "-q"]) == 0
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html
    # no external assets: no src= or href= at all, only SVG's namespace URI
    assert re.findall(r"(?:src|href)\s*=", html) == []
    assert set(re.findall(r"https?://[^\"' ]+", html)) <= {"http://www.w3.org/2000/svg"}
    for ident in ("decision", "cost-chart", "power-chart", "fleet", "power", "costs-workload"):
        assert f'id="{ident}"' in html
    assert 'fill="#b0b0b0"' in html  # idle capacity in grey


def test_notebook_example_runs_as_a_script_from_another_directory(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, str(ROOT / "examples/notebook.py")],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "_repr_html_:" in result.stdout


# -- plots ----------------------------------------------------------------------------------
def test_sweep_values_with_units_and_suffixes_are_numbers() -> None:
    from planner.sweeps import axis_number

    assert axis_number(32) == 32.0
    assert axis_number("10M") == 1e7
    assert axis_number("50 MW") == 5e7
    assert axis_number("90 days") == 90 * 86400.0
    assert axis_number("rental") is None
    assert axis_number(True) is None


def test_sweep_plot_marks_failed_points_and_starts_at_zero(tmp_path: Path) -> None:
    from planner.sweeps import Sweep

    points = [
        {"point": f"x={x}", "x": x, "status": s, "total_cost_usd": c, "cached": False}
        for x, s, c in [
            ("10M", "optimal", 2e6),
            ("100M", "optimal", 3e6),
            ("1B", "infeasible", None),
        ]
    ]
    for p in points:
        p.update({"binding_constraints": [], "error": None, "diagnosis": [], "exit_code": 0})
    out = Sweep(scenario="s", axes=["x"], points=points).plot(tmp_path / "p.png")
    assert out.stat().st_size > 1000


def test_compare_and_sweep_html_are_self_contained(tmp_path: Path, capsys) -> None:
    page = tmp_path / "cmp.html"
    args = ["compare", "frontier-lab", "--topology", "nvl72-campus", "--topology", "h100-cluster"]
    assert cli.main([*args, "--json", "--html", str(page)]) == 0
    data = json.loads(capsys.readouterr().out)
    text = page.read_text(encoding="utf-8")
    assert re.findall(r"(?:src|href)\s*=", text) == [] and "<script" not in text
    from fleetcore.tables import usd

    for name, col in data["columns"].items():
        assert f">{usd(col['total_cost_usd'])}<" in text, name
    page = tmp_path / "sweep.html"
    sets = ["--set", "topology_changes.datacenters.rainier.power_cap=0.5 MW,50 MW"]
    assert cli.main(["sweep", "rl-verifiers", *sets, "--html", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "infeasible" in text and 'id="total-chart"' in text and 'id="points"' in text


def test_plan_html_says_why_these_systems(tmp_path: Path) -> None:
    page = tmp_path / "plan.html"
    assert cli.main(["plan", "frontier-lab", "--html", str(page), "-q"]) == 0
    text = page.read_text(encoding="utf-8")
    assert '<pre id="explain"' in text and "gb200-nvl72" in text.split('id="explain"')[1]


def test_table_right_aligns_formatted_figures_and_cuts_free_text_to_width() -> None:
    from fleetcore.tables import table

    text = table(["name", "cost", "share"], [["a", "$1.2M", "5%"], ["bbbb", "$12.30M", "45%"]])
    assert text.splitlines()[2:] == ["  a       $1.2M     5%", "  bbbb  $12.30M    45%"]
    long = table(["name", "note", "more"], [["x", "word " * 40, "text " * 30]], width=60)
    assert max(len(line) for line in long.splitlines()) <= 60
    assert long.splitlines()[2].endswith("...")
    names = table(["name", "note"], [["a-very-long-name-" * 3, "short"]], width=20)
    assert "a-very-long-name-" * 3 in names  # names (the first column) are never cut


def test_html_report_has_the_rl_placement(rl_plan: Plan) -> None:
    """The text report's RL placement (verifier cores by site, the update interval) was not in
    the HTML report; its figures now are, as the text prints them."""
    import html as htmlmod

    from planner.htmlreport import plan_html

    (r,) = rl_plan.rl
    page = htmlmod.unescape(plan_html(rl_plan))
    assert "<h2>RL placement</h2>" in page
    cores = ", ".join(f"{d} {v:,.0f}" for d, v in r.verifier_cores_by_site.items())
    assert f"<td>{cores}</td>" in page
    assert f"{r.update_interval_s:,.0f}</td>" in page
    assert f"verifier cores required (busiest period): {cores}" in " ".join(
        format_plan(rl_plan).split()
    )


def test_the_fleet_table_does_not_round_a_busy_pool_up_to_100_percent(rl_plan: Plan) -> None:
    """rl-verifiers' trn2-server pool has idle unit-seconds (the "(idle)" cost row), yet the
    fleet table's busy column said 100%; it now prints the share the summary's idle figure
    implies, 0.17 percentage points short of whole."""
    trn2 = next(f for f in rl_plan.fleet if f.system == "trn2-server")
    assert trn2.utilisation is not None and 0.99 < trn2.utilisation < 1
    text = format_plan(rl_plan).splitlines()
    row = next(line for line in text if line.split()[:2] == ["rainier", "trn2-server"])
    assert row.split()[-1] == share_text(trn2.utilisation) != "100%"
