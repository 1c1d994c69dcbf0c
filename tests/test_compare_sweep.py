"""planner compare and planner sweep: equal to single plans, deterministic, parallel, cached,
failures recorded, plots, Ray, and the what-if example."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import planner
from cli import main
from fleetcore.errors import ConfigError
from planner.comparison import plan_metrics
from planner.plan import Plan
from planner.sweeps import parse_set_axes, split_values

ROOT = Path(__file__).resolve().parents[1]
RL = str(ROOT / "planner" / "scenarios" / "rl-verifiers.yaml")
SAMPLES = "workloads.rl-code.samples_per_problem"
PNG = b"\x89PNG\r\n\x1a\n"


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def small_sweep():
    """Two points on the default topology (rainier-campus), solved in this process."""
    return planner.sweep(RL, {SAMPLES: [4, 16]})


# -- sweep ----------------------------------------------------------------------------------
def test_split_values_reads_yaml_and_keeps_brackets():
    assert split_values("200 MW, 300 MW") == ["200 MW", "300 MW"]
    assert split_values("[1,2],{a: 1, b: 2},'x,y'") == ["[1,2]", "{a: 1, b: 2}", "'x,y'"]
    assert parse_set_axes(["a.b=1,2", "c=x"]) == {"a.b": ["1", "2"], "c": ["x"]}


def test_sweep_point_equals_single_plan(small_sweep, capsys):
    assert small_sweep.names == ["samples_per_problem=4", "samples_per_problem=16"]
    for n in (4, 16):
        code, out, _ = run(capsys, "plan", RL, "--set", f"{SAMPLES}={n}", "--json")
        assert code == 0
        single = json.loads(out)
        point = small_sweep[f"samples_per_problem={n}"]
        assert point[SAMPLES] == n and point["status"] == "optimal" and point["cached"] is False
        assert point["total_cost_usd"] == pytest.approx(single["total_cost_usd"], rel=1e-9)
        for system in {f["system"] for f in single["fleet"]}:
            units = sum(f["units"] for f in single["fleet"] if f["system"] == system)
            assert point[f"units:{system}"] == units
        assert point["cpu_servers"] == sum(c["units"] for c in single["cpu_servers"])
        # The whole plan behind the point is the single plan, byte for byte.
        assert small_sweep.plan(f"samples_per_problem={n}").to_json() == out.rstrip("\n")


def test_sweep_collection_indexing_and_csv(small_sweep):
    assert len(small_sweep) == 2 and small_sweep[0] is small_sweep.points[0]
    with pytest.raises(KeyError, match="no point named"):
        small_sweep["nope"]
    csv_text = small_sweep.to_csv()
    header = csv_text.splitlines()[0].split(",")
    assert header[:3] == ["point", SAMPLES, "status"]
    assert "cached" not in header and "units:trn2-server" in header
    assert "facility_power_w:rainier" in header and "accelerators:trn2-server" in header
    assert len(csv_text.splitlines()) == 3
    assert isinstance(small_sweep.plan(0), Plan)


def test_parallel_equals_serial_and_json_is_byte_identical(small_sweep):
    parallel = planner.sweep(RL, {SAMPLES: [4, 16]}, jobs=2)
    assert parallel.to_json() == small_sweep.to_json()
    assert parallel.to_csv() == small_sweep.to_csv()
    again = planner.sweep(RL, {SAMPLES: [4, 16]})
    assert again.to_json() == small_sweep.to_json()


def test_failing_points_are_recorded_and_the_sweep_goes_on(capsys):
    code, out, err = run(
        capsys,
        "sweep",
        RL,
        "--set",
        "topology_changes.datacenters.rainier.power_cap=100 kW,300 MW",
        "--set",
        f"{SAMPLES}=4,-1",
        "--json",
    )
    assert code == 0, err
    points = {p["point"]: p for p in json.loads(out)["points"]}
    assert len(points) == 4
    small = points["power_cap=100 kW samples_per_problem=4"]
    assert small["status"] == "infeasible" and small["exit_code"] == 2
    assert any("power" in d for d in small["diagnosis"])
    bad = points["power_cap=300 MW samples_per_problem=-1"]
    assert bad["status"] == "bad_input" and bad["exit_code"] == 1
    assert any("samples_per_problem" in d for d in bad["diagnosis"])
    ok = points["power_cap=300 MW samples_per_problem=4"]
    assert ok["status"] == "optimal" and ok["total_cost_usd"] > 0
    assert "1 planned, 3 infeasible or failed; 2 solved in this run" in err


def test_every_point_failing_exits_with_its_code(capsys):
    code, _, err = run(
        capsys, "sweep", RL, "--set", "topology_changes.datacenters.rainier.power_cap=100 kW"
    )
    assert code == 2 and "every point failed" in err


def test_cache_reuses_solved_points(tmp_path, capsys):
    args = [
        "sweep",
        RL,
        "--set",
        f"{SAMPLES}=4,16",
        "--set",
        "topology_changes.datacenters.rainier.power_cap=100 kW,300 MW",
        "--out",
        str(tmp_path),
    ]
    code, first_out, err = run(capsys, *args)
    assert code == 0 and "4 solved in this run, 0 reused" in err
    first_json = (tmp_path / "sweep.json").read_bytes()
    assert len(list((tmp_path / ".cache").glob("*.json"))) == 4  # infeasible points cached too
    code, second_out, err = run(capsys, *args)
    assert code == 0 and "0 solved in this run, 4 reused" in err
    assert (tmp_path / "sweep.json").read_bytes() == first_json and second_out == first_out
    # The key is the resolved scenario: the same points, from the API, hit the cache.
    cap = "topology_changes.datacenters.rainier.power_cap"
    again = planner.sweep(RL, {SAMPLES: [4, 16, 32]}, sets=[f"{cap}=300 MW"], out_dir=tmp_path)
    assert [p["cached"] for p in again.points] == [True, True, False]
    assert again.solved == 1 and again.reused == 2
    assert (
        again.plan("samples_per_problem=4").to_json()
        == planner.solve(
            planner.load_scenario(RL, sets=[f"{cap}=300 MW", f"{SAMPLES}=4"])
        ).to_json()
    )
    fresh = planner.sweep(RL, {SAMPLES: [4]}, out_dir=tmp_path, use_cache=False)
    assert fresh.reused == 0


def test_sweep_scenario_axis_and_plot(tmp_path, capsys):
    png = tmp_path / "sweep.png"
    code, out, err = run(
        capsys,
        "sweep",
        RL,
        "--set",
        f"{SAMPLES}=4,16",
        "--scenario",
        "rainier,nvl72",
        "--plot",
        str(png),
        "--y",
        "cpu_servers",
    )
    assert code == 0, err
    assert png.read_bytes()[:8] == PNG
    assert "scenario" in out and "nvl72" in out and "gb200-nvl72" in out


# -- compare --------------------------------------------------------------------------------
def test_compare_columns_equal_individual_plans():
    topologies = ["rainier-campus", "nvl72-campus"]
    cmp = planner.compare(RL, topologies, sets=[f"{SAMPLES}=8"])
    assert list(cmp.columns) == topologies
    for t in topologies:
        single = planner.solve(planner.load_scenario(RL, sets=[f"{SAMPLES}=8"], topology=t))
        assert cmp.columns[t].to_json() == single.to_json()
        summary = cmp.to_dict()["columns"][t]
        assert summary["total_cost_usd"] == single.total_cost_usd
        assert summary["cost_by_workload_usd"] == {
            c.name: c.cost_usd for c in single.costs(by="workload")
        }
    assert cmp.to_json() == planner.compare(RL, topologies, sets=[f"{SAMPLES}=8"]).to_json()
    rows = {r["metric"]: r for r in cmp.table()}
    assert (
        rows["units: gb200-nvl72"]["rainier-campus"] == 0.0
        and rows["units: gb200-nvl72"]["nvl72-campus"] > 0
    )


def test_compare_states_the_economics_every_column_is_costed_on():
    # qa27b: a compare printed totals with no horizon, pricing or cost of capital to check
    # them against; it states them once (every column loads the same scenario and sets).
    sets = [f"{SAMPLES}=4", "economics.cost_of_capital=0.1", "economics.after_horizon=ends"]
    cmp = planner.compare(RL, ["nvl72-campus", "rainier-campus"], sets=sets)
    for plan in cmp.plans.values():
        assert plan.economics["horizon_s"] == 90 * 86400.0
    text = cmp.format()
    assert text.splitlines()[1] == (
        "basis of every column: horizon 90 days, pricing amortised, cost of capital 10%/year,"
        " no discount rate (face value), after the horizon: ends"
    )
    from planner.htmlreport import comparison_html

    assert f"<p>Basis of every column: {text.splitlines()[1].split(': ', 1)[1]}</p>" in (
        comparison_html(cmp)
    )
    econ = cmp.to_dict()["economics"]
    assert econ == cmp.columns["rainier-campus"].economics  # type: ignore[union-attr]
    assert econ["cost_of_capital"] == 0.1 and econ["after_horizon"] == "ends"


@pytest.mark.parametrize("jobs", [0, -1, "2", 2.0, True])
def test_python_jobs_that_are_not_a_whole_number_of_processes_are_bad_input(jobs) -> None:
    # qa27b: jobs=0 ran without a word, jobs="2" was a TypeError deep in the process pool.
    from planner.limits import value_limits
    from planner.sensitivity import sensitivity

    message = rf"jobs: expected a whole number >= 1, got {re.escape(repr(jobs))}"
    with pytest.raises(ConfigError, match=r"<planner.sweep>: " + message):
        planner.sweep(RL, {SAMPLES: [4]}, jobs=jobs)
    scenario = planner.load_scenario(RL)
    with pytest.raises(ConfigError, match=r"<sensitivity>: " + message):
        sensitivity(scenario, jobs=jobs)
    with pytest.raises(ConfigError, match=r"<value_limits>: " + message):
        value_limits(scenario, None, jobs=jobs)  # type: ignore[arg-type]


def test_compare_says_which_charge_and_which_site_differ():
    # qa27b: multi-dc cost more than nvl72-campus with no row saying why (its facility charge
    # and its owned H100s' maintenance); and a multi-site column showed only its total power.
    topologies = ["multi-dc", "nvl72-campus"]
    cmp = planner.compare(RL, topologies, sets=[f"{SAMPLES}=4"])
    rows = {r["metric"]: r for r in cmp.table()}
    for t in topologies:
        plan = cmp.columns[t]
        assert isinstance(plan, Plan)
        components = {
            r["metric"].removeprefix("cost component: "): r[t]
            for r in rows.values()
            if r["metric"].startswith("cost component: ")
        }
        by_hand: dict[str, float] = {}
        for term in plan.costs_rows:
            by_hand[term.component] = by_hand.get(term.component, 0.0) + term.cost_usd
        assert {c: v for c, v in components.items() if v} == pytest.approx(by_hand)
        assert sum(components.values()) == pytest.approx(plan.total_cost_usd, rel=1e-9)
        assert cmp.to_dict()["columns"][t]["cost_by_component_usd"] == pytest.approx(by_hand)
    # facility: owned units' IT nameplate x $/kW-month x 12 months, at multi-dc only
    assert rows["cost component: facility"]["nvl72-campus"] == 0.0
    # by hand: multi-dc's 500 owned HGX H100 at dc-central (10.2 kW each, $130/kW-month) over
    # the 90-day horizon; maintenance 5%/year of $300k x 1.15 (network and storage share)
    assert rows["cost component: facility"]["multi-dc"] == pytest.approx(
        500 * 10.2 * 130 * 12 * 90 / 365
    )
    assert rows["cost component: maintenance"]["multi-dc"] == pytest.approx(
        500 * 300e3 * 1.15 * 0.05 * 90 / 365
    )
    for site in ("dc-east", "dc-central", "dc-west"):
        power = next(
            p.facility_power_w for p in cmp.columns["multi-dc"].power if p.datacenter == site
        )  # type: ignore[union-attr]
        assert rows[f"facility power: {site}"]["multi-dc"] == power
        assert rows[f"facility power: {site}"]["nvl72-campus"] is None
    assert rows["facility power: campus"]["multi-dc"] is None
    text = cmp.format()
    assert "cost component: facility" in text and "facility power: dc-central" in text


def test_metrics_formulas():
    plan = planner.solve(planner.load_scenario(RL, sets=[f"{SAMPLES}=4"], topology="nvl72-campus"))
    m = plan_metrics(plan)
    decode = sum(
        a.work_done for a in plan.allocations if a.workload == "chat" and a.role == "decode"
    )
    chat_cost = next(c.cost_usd for c in plan.costs(by="workload") if c.name == "chat")
    assert m["usd_per_million_tokens"]["chat"] == pytest.approx(chat_cost / decode * 1e6)
    # 300M requests/day x 500 output tokens x 90 days
    assert decode == pytest.approx(300e6 * 500 * 90, rel=1e-6)
    assert m["cores_per_accelerator"] == pytest.approx(m["cpu_cores"] / m["accelerators"])
    assert m["cpu_cores"] == sum(f.cpu_cores for f in plan.fleet) + sum(
        c.cpu_cores for c in plan.cpu_servers
    )


def test_compare_pretrain_days_and_infeasible_column(tmp_path, capsys):
    tiny = tmp_path / "tiny.yaml"
    text = (ROOT / "topologies" / "presets" / "nvl72-campus.yaml").read_text()
    tiny.write_text(
        text.replace("power_cap: 150 MW", "power_cap: 5 MW").replace(
            "name: nvl72-campus", "name: tiny"
        )
    )
    png = tmp_path / "cmp.png"
    code, out, err = run(
        capsys,
        "compare",
        "--topology",
        "nvl72-campus",
        "--topology",
        str(tiny),
        "--json",
        "--plot",
        str(png),
    )
    assert code == 0, err
    assert png.read_bytes()[:8] == PNG
    cols = json.loads(out)["columns"]
    assert cols[str(tiny)]["status"] == "infeasible"
    assert any("power" in d for d in cols[str(tiny)]["diagnosis"])
    ok = cols["nvl72-campus"]
    assert ok["status"] == "optimal"
    assert 0 < ok["pretrain_days"]["pretrain-405b"] <= 90.0 + 1e-6
    assert set(ok["usd_per_million_tokens"]) == {"chat", "reasoning", "reasoning-sc5"}
    code, out, err = run(capsys, "compare", "--topology", str(tiny))
    assert code == 2 and "infeasible" in out and "power" in err


def test_compare_bad_topology_is_bad_input(capsys):
    code, _, err = run(
        capsys, "compare", RL, "--topology", "nvl72-campus", "--topology", "no-such-preset"
    )
    assert code == 1 and "no-such-preset" in err


# -- Ray ------------------------------------------------------------------------------------
def test_ray_missing_says_how_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code, _, err = run(capsys, "sweep", RL, "--set", f"{SAMPLES}=4", "--executor", "ray")
    assert code == 1 and "pip install -e '.[ray]'" in err


def test_ray_point_equals_local(small_sweep):
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install -e '.[ray]'")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = planner.sweep(RL, {SAMPLES: [4, 16]}, executor="ray")
    finally:
        ray.shutdown()
    assert on_ray.to_json() == small_sweep.to_json()
    assert on_ray.plan(0).to_json() == small_sweep.plan(0).to_json()


# -- the what-if example --------------------------------------------------------------------
def test_whatif_example_answers_its_question():
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "whatif.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "rainier-campus (Trainium2)" in out and "nvl72-campus (GB200 NVL72)" in out
    rows = {}
    section = None
    for line in out.splitlines():
        if line.startswith(("rainier", "nvl72")):
            section = line.split("-")[0]
        parts = line.split()
        if section and parts and parts[0].isdigit():
            rows[(section, int(parts[0]))] = line
    assert len(rows) == 10
    cpu_servers = {k: int(v.split()[-3]) for k, v in rows.items()}
    # Units busy serving chat lend no cores, so CPU servers carry the sandbox from the first
    # point on both campuses and grow with the samples; on Rainier the RL run's own x86 hosts
    # lend theirs, the NVL72's Grace (arm64) cores cannot run the x86 sandbox.
    for campus in ("rainier", "nvl72"):
        counts = [cpu_servers[(campus, n)] for n in (4, 8, 16, 32, 64)]
        assert counts[0] > 0 and counts == sorted(counts) and counts[-1] > counts[0]
    assert cpu_servers[("rainier", 64)] < cpu_servers[("nvl72", 64)]
    assert "CPU-only servers enter the cheapest fleet from" in out


def test_sweep_table_prints_cores_per_accelerator_as_compare_does() -> None:
    """rl-verifiers on nvl72-campus: compare prints cores per accelerator with one decimal, and
    so does the sweep table (it printed "52" where compare printed "52.0"; since session 23's
    RL re-rating the plan holds 14 racks: 50.857 cores per accelerator, "50.9" not "51")."""
    from planner.commands.sweep import format_sweep

    sw = planner.sweep("rl-verifiers", {"workloads.rl-code.samples_per_problem": [16]}, ["nvl72"])
    (point,) = sw.points
    cores = point["cores_per_accelerator"]
    assert abs(cores - round(cores)) > 0.05  # a figure whose one-decimal text is not an integer's
    text = f"{cores:.1f}"
    row = next(line for line in format_sweep(sw).splitlines() if "optimal" in line)
    assert f" {text} " in row
    cmp = planner.compare("rl-verifiers", ["nvl72-campus"])
    assert text in next(line for line in cmp.format().splitlines() if "cores per" in line)


def test_sweep_rejects_a_bad_y_or_a_plot_without_an_axis_before_solving(
    tmp_path, capsys, monkeypatch
):
    """`sweep --y BADCOL` was refused only after every point was solved: now the column is
    checked against the numeric outputs a sweep makes (and PREFIX:NAME for the per-system,
    per-site and per-workload ones) and --plot without a swept field is refused, both with the
    option and the valid names, exit 1, before any point is solved."""
    import planner.sweeps

    def no_solve(*_args, **_kwargs):
        raise AssertionError("a point was solved")

    monkeypatch.setattr(planner.sweeps, "sweep", no_solve)
    png = str(tmp_path / "s.png")
    code, out, err = run(capsys, "sweep", RL, "--set", f"{SAMPLES}=4,16", "--y", "BADCOL")
    assert code == 1 and out == ""
    assert err.startswith("<--y>: y: no numeric output column 'BADCOL'; columns: total_cost_usd,")
    assert "units:<system>" in err and "cost_usd:<workload>" in err
    assert not (tmp_path / "s.png").exists()
    code, out, err = run(capsys, "sweep", RL, "--y", "units:", "--plot", png)
    assert code == 1
    assert "no numeric output column 'units:'" in err
    assert "<--plot>: a plot needs at least one swept field" in err
    # a valid column and a swept field pass the check (and reach the solve)
    with pytest.raises(AssertionError, match="a point was solved"):
        main(["sweep", RL, "--set", f"{SAMPLES}=4", "--y", "units:trn2-server", "--plot", png])


def test_sweep_and_compare_refuse_an_unwritable_output_before_solving(
    tmp_path, capsys, monkeypatch
):
    """An --html or --plot in a folder that is not there failed only when written, after every
    point or topology was solved: now it is refused first, naming the path, exit 1."""
    import planner.comparison
    import planner.sweeps

    def no_solve(*_args, **_kwargs):
        raise AssertionError("solved")

    monkeypatch.setattr(planner.sweeps, "sweep", no_solve)
    monkeypatch.setattr(planner.comparison, "compare", no_solve)
    missing = tmp_path / "nope"
    code, _, err = run(capsys, "sweep", RL, "--set", f"{SAMPLES}=4", "--html", f"{missing}/s.html")
    assert (
        code == 1
        and err == f"error: cannot write {missing}/s.html: folder {missing} does not exist\n"
    )
    code, _, err = run(
        capsys, "compare", RL, "--topology", "nvl72-campus", "--plot", f"{missing}/c.png"
    )
    assert code == 1 and f"error: cannot write {missing}/c.png" in err
    code, _, err = run(
        capsys, "compare", RL, "--topology", "nvl72-campus", "--html", f"{missing}/c.html"
    )
    assert code == 1 and f"folder {missing} does not exist" in err


def test_a_failed_point_without_a_diagnosis_shows_its_whole_error() -> None:
    """A point stopped by solver.time_limit (TimeLimitError, no diagnosis) showed only
    "TimeLimitError: no plan fo..." in the table's cut column; the text under the table gives
    each failed point's whole error, as compare does for a failed column."""
    from planner.commands.sweep import format_sweep

    sw = planner.sweep(RL, {"solver.time_limit": ["1e-9 s"]})
    (point,) = sw.points
    assert point["status"] == "failed" and point["diagnosis"] == []
    assert point["error"].startswith("TimeLimitError: no plan found within the time limit")
    text = format_sweep(sw)
    assert f"{point['point']}: failed\n  - {point['error']}" in text


def test_compare_names_what_sets_each_systems_size() -> None:
    """qa28b: `planner compare` had no row saying what sets each fleet's size. frontier-lab on
    two shipped topologies, checked by hand from the plan's rows:
    - h100-cluster: nothing binds; period 0 allocates 1,486.7 H100 servers to pretrain-405b and
      47.8 to chat (1,534.5, whole: 1,535 units): demand, 97% and 3%;
    - multi-dc: dc-central holds the topology's 500 owned H100 (`owned: 500`, multi-dc.yaml)
      and chat uses 38.7 of them; dc-east's 59 GB200 NVL72 racks run pretrain-405b (99%) and
      chat (1%) in period 0, and cpu:dc-east binds (its sandbox cores).
    Session 32 (pergemm: each dense linear at its own GEMM shape, H100 BF16 0.61 -> 0.58): the
    H100 pretraining needs 1,486.7 servers (was 1,479.0, 1,527 units) and the GB200 run 59 racks
    (was 57; chat 45.5 of dc-central's 500). Session 34 (the B200-die BF16 fraction fitted 0.58 ->
    0.48): the GB200 pretraining takes 69.15 racks, so dc-east holds 70, and chat, 1% of their
    period-0 units, uses 36.2 of dc-central's 500 H100 (38.7 before); the H100 cluster unchanged."""
    import planner

    cmp = planner.compare("frontier-lab", ["multi-dc", "h100-cluster"])
    rows = {r["metric"]: r for r in cmp.table()}
    h100 = cmp.columns["h100-cluster"]
    assert isinstance(h100, planner.Plan)
    assert h100.binding_constraints == []
    by: dict[str, float] = {}
    for a in h100.allocations:
        if a.period == 0:
            by[a.workload] = by.get(a.workload, 0.0) + a.units
    assert sorted(by) == ["chat", "pretrain-405b"]
    held = by["chat"] + by["pretrain-405b"]
    assert 1534 < held <= 1535 and h100.fleet[0].units == 1535
    assert round(by["pretrain-405b"] / held, 2) == 0.97
    p0 = next(a for a in h100.allocations if a.period == 0)
    days = f"days {p0.period_start_s / 86400:g}-{p0.period_end_s / 86400:g}"
    assert rows["size set by: hgx-h100"]["h100-cluster"] == (
        f"cluster: demand pretrain-405b 97%, chat 3% ({held:,.1f} of 1,535 units, {days})"
    )
    multi = cmp.columns["multi-dc"]
    assert isinstance(multi, planner.Plan)
    assert [b.constraint for b in multi.binding_constraints] == ["cpu:dc-east"]
    central = rows["size set by: hgx-h100"]["multi-dc"]
    assert central.startswith("dc-central: owned 500; demand chat 100% (36.2 of 500 units"), central
    east = rows["size set by: gb200-nvl72"]["multi-dc"]
    assert east.startswith(
        "dc-east: CPU ratio binds (cpu:dc-east); demand pretrain-405b 99%, chat 1% (70.0 of 70 units"
    ), east
    assert rows["size set by: gb200-nvl72"]["h100-cluster"] is None  # no such system there


def test_size_set_by_names_a_binding_rows_period_by_its_days() -> None:
    """review28: frontier-3y on multi-dc (relaxed) printed "CPU ratio binds (cpu:dc-east:t2,
    ...)": a calendar index the report defines nowhere, beside "days 182.5-273.75" for the
    demand. Each periodic binding row carries its days, as the decision's limits do."""
    import planner
    from planner.comparison import size_drivers
    from planner.decision import label_span

    plan = planner.solve("frontier-3y", relax=True)
    periodic = [b.constraint for b in plan.binding_constraints if label_span(b.constraint, plan)]
    assert periodic, plan.binding_constraints  # the case needs a row with a period
    text = " ".join(size_drivers(plan).values())
    for label in periodic:
        if label.split(":")[0] in ("cpu", "power"):
            assert f"{label} ({label_span(label, plan)})" in text, (label, text)


def test_size_set_by_never_shows_more_units_held_than_the_pool_has() -> None:
    """review28: a relaxed plan's pool of 146.4 units read "146.4 of 146 units": the pool's
    fractional units were rounded to whole ones beside the allocated units to a tenth."""
    import planner
    from planner.comparison import size_drivers

    plan = planner.solve("frontier-3y", relax=True)
    assert any(f.units != round(f.units) for f in plan.fleet)  # the case needs a fraction
    pairs = re.findall(r"\(([\d,.]+) of ([\d,.]+) units", " ".join(size_drivers(plan).values()))
    assert pairs
    for held, units in pairs:
        assert float(held.replace(",", "")) <= float(units.replace(",", "")), (held, units)


def test_compares_binding_constraints_row_names_each_period_by_its_days() -> None:
    """The compare text's "binding constraints" row printed bare labels ("cpu:dc-east:t2"), a
    period index the text defines nowhere, where its size-set-by rows name days. The row now
    reads binding_constraints_days, each label with its days (decision.label_days); the JSON's
    binding_constraints keeps the bare labels."""
    import planner
    from planner.comparison import Comparison
    from planner.decision import label_days, label_span

    plan = planner.solve("frontier-3y", relax=True)
    comparison = Comparison("frontier-3y", {"relaxed": plan})
    summary = comparison.summary("relaxed")
    assert summary["binding_constraints"] == [b.constraint for b in plan.binding_constraints]
    periodic = [b.constraint for b in plan.binding_constraints if label_span(b.constraint, plan)]
    assert periodic
    assert summary["binding_constraints_days"] == [
        label_days(b.constraint, plan) for b in plan.binding_constraints
    ]
    row = next(
        line
        for line in comparison.format().splitlines()
        if line.strip().startswith("binding constraints")
    )
    for label in periodic:
        assert f"{label} ({label_span(label, plan)})" in row, row


def test_a_sweep_names_each_binding_rows_period_by_its_days() -> None:
    """Last session's compare row got the days of each binding row's period; a sweep's text
    table, CSV and JSON still carried bare labels ("cpu:dc-east:t2"), a period index a sweep
    defines nowhere. A point's binding_constraints_days is decision.label_days of each label;
    binding_constraints keeps the bare ones; the text's binding column reads the days."""
    import planner
    from planner.commands.sweep import format_sweep
    from planner.decision import label_days, label_span
    from planner.sweeps import Sweep, point_outputs

    plan = planner.solve("frontier-3y", relax=True)
    outputs = point_outputs(plan)
    bare = [b.constraint for b in plan.binding_constraints]
    assert outputs["binding_constraints"] == bare
    assert any(label_span(label, plan) for label in bare)  # the case needs a periodic row
    assert outputs["binding_constraints_days"] == [label_days(label, plan) for label in bare]
    sweep = Sweep("frontier-3y", [], [{"point": "p0", **outputs, "cached": False}])
    assert "binding_constraints_days" in sweep.columns()
    record = sweep.records()[0]
    assert record["binding_constraints_days"] == outputs["binding_constraints_days"]
    row = next(line for line in format_sweep(sweep).splitlines() if "relaxed" in line)
    first = label_days(bare[0], plan)
    assert first.startswith(bare[0] + " (days")
    cell = row.rsplit("  ", 1)[-1].strip()
    assert cell.removesuffix("...") and first.startswith(cell.removesuffix("...")), (cell, row)
