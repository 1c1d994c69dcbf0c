"""Session 22's analyst pass over the economics: cost lines, purchases and cash flow recomputed
by hand from the catalog and topology figures (docs/lp.md, Objective), not read back from the
LP, on the shipped frontier-3y plan (its golden JSON, tests/golden/frontier-3y.json)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from fleetcore.tables import usd
from planner.decision import decision, summary_lines
from planner.plan import Plan

GOLDEN = Path(__file__).parent / "golden" / "frontier-3y.json"
CPU_CAPEX_USD = 30000.0  # hardware/data/systems.yaml cpu-server capex_usd


@pytest.fixture(scope="module")
def golden_plan() -> Plan:
    plan = Plan.from_dict(json.loads(GOLDEN.read_text(encoding="utf-8")))
    # what planner.solve attaches (api._attach_context); a plan read back from JSON has none
    plan.catalog_prices = {
        "cpu-server": {"capex_usd": CPU_CAPEX_USD, "lifetime_s": 5 * 365 * 86400.0},
        "vera-rubin-nvl144": {"capex_usd": 7.8e6, "lifetime_s": 5 * 365 * 86400.0},
        "gb200-nvl72": {"capex_usd": 3.5e6, "lifetime_s": 5 * 365 * 86400.0},
        "hgx-h100": {"capex_usd": 3e5, "lifetime_s": 5 * 365 * 86400.0},
    }
    plan.economics = {"pricing": "mixed", "cost_of_capital": 0.10, "horizon_s": 3 * 365 * 86400.0}
    return plan


def test_the_decision_buys_the_cpu_servers_ordered_not_the_peak_with_rentals(golden_plan) -> None:
    """frontier-3y rents a few CPU servers at dc-east on top of the ones it buys (mixed
    pricing): the decision's "Buy N cpu-server" is the units ordered over the horizon (the
    schedule's `ordered` column), its purchase cash N x capex; the rented ones are rented."""
    plan = golden_plan
    ordered: dict[str, float] = defaultdict(float)
    rented: dict[str, float] = defaultdict(float)
    for r in plan.cpu_schedule:
        ordered[r.datacenter] += r.ordered
        rented[r.datacenter] = max(rented[r.datacenter], r.rented_units)
    assert any(v > 0 for v in rented.values()), "the golden plan rents CPU servers somewhere"
    d = decision(plan)
    cpu = {p.datacenter: p for p in d.pools if p.system == "cpu-server"}
    for site, n in ordered.items():
        if n == 0 and rented[site] == 0:
            continue
        assert cpu[site].bought_units == n, (site, cpu[site].bought_units, n)
        assert cpu[site].rented_units == rented[site]
        assert cpu[site].purchase_usd == n * CPU_CAPEX_USD
    lines = "\n".join(summary_lines(d))
    for site, n in ordered.items():
        if n:
            assert f"Buy {n:,.0f} cpu-server at {site} " in lines, lines


# hardware/data/systems.yaml cpu-server; planner topology preset multi-dc (PUE, US$/kWh,
# facility US$/kW-month); frontier-3y: 10%/year cost of capital, 3 years in quarters.
CPU = {"power_kw": 1.0, "lifetime_y": 5.0, "rent_h": 9.85, "ns": 0.10, "maint": 0.05}
SITES = {
    "dc-east": {"pue": 1.2, "kwh": 0.07, "facility": 150.0},
    "dc-central": {"pue": 1.3, "kwh": 0.0806, "facility": 130.0},
    "dc-west": {"pue": 1.15, "kwh": 0.09, "facility": 170.0},
}
RATE = 0.10
HOURS_PER_YEAR = 8760.0
HORIZON_Y = 3.0


def _crf(rate: float, years: float) -> float:
    return rate / (1 - (1 + rate) ** -years)


def test_cpu_servers_pay_their_catalog_ownership_costs(golden_plan) -> None:
    """A bought CPU-only server is charged as an accelerated unit is (docs/lp.md, Objective):
    capex x CRF x years in service x (1 + network_storage_capex_fraction), and per hour in
    service energy at nameplate (kW x PUE x US$/kWh), maintenance (capex x (1 +
    network_storage_capex_fraction) x 5%/year; capex alone before session 26) and facility
    (US$/kW-month x kW); rented ones their hourly price. Before session 22 the
    catalog's network/storage share, maintenance and the site's facility price were silently
    left out for CPU servers (planner sensitivity varied them for nothing)."""
    plan = golden_plan
    quarter_y = 0.25
    crf = _crf(RATE, CPU["lifetime_y"])
    for site, f in SITES.items():
        rows = sorted(
            (r for r in plan.cpu_schedule if r.datacenter == site), key=lambda r: r.period
        )
        unit_years = sum(r.arriving * (HORIZON_Y - r.period * quarter_y) for r in rows)
        rented_unit_h = sum(r.rented_units for r in rows) * quarter_y * HOURS_PER_YEAR
        per_h = (
            CPU["power_kw"] * f["pue"] * f["kwh"]
            + CPU_CAPEX_USD * (1 + CPU["ns"]) * CPU["maint"] / HOURS_PER_YEAR
            + f["facility"] * CPU["power_kw"] * 12 / HOURS_PER_YEAR
        )
        want = (
            unit_years * CPU_CAPEX_USD * crf * (1 + CPU["ns"])
            + unit_years * HOURS_PER_YEAR * per_h
            + rented_unit_h * CPU["rent_h"]
        )
        have = sum(
            c.cost_usd
            for c in plan.costs_rows
            if c.component == "cpu_servers" and c.datacenter == site
        )
        assert have == pytest.approx(want, rel=1e-9, abs=1e-6), site


def test_cash_flow_pays_for_the_cpu_servers_bought(golden_plan) -> None:
    """capex_paid_usd is the cash for every unit bought, CPU-only servers included (arriving x
    capex x (1 + network/storage share), economics.capex_paid_at: delivery), and the CPU
    servers' capital recovery is in the capital charge (not counted as cash a second time in
    cash_out = capex paid + every charge but the capital charge)."""
    plan = golden_plan
    accel = {"vera-rubin-nvl144": 7.8e6, "gb200-nvl72": 3.5e6, "hgx-h100": 3e5}
    paid: dict[int, float] = defaultdict(float)
    for r in plan.schedule:
        paid[r.period] += r.arriving * accel.get(r.system, 0.0) * 1.15  # NVL and HGX: 15%
    for r in plan.cpu_schedule:
        paid[r.period] += r.arriving * CPU_CAPEX_USD * (1 + CPU["ns"])
    assert any(r.arriving for r in plan.cpu_schedule)
    for row in plan.cash_flow:
        assert row.capex_paid_usd == pytest.approx(paid[row.period], rel=1e-12, abs=1e-6)
    crf = _crf(RATE, CPU["lifetime_y"])
    cpu_capital = sum(
        r.arriving * (HORIZON_Y - r.period * 0.25) * CPU_CAPEX_USD * crf * (1 + CPU["ns"])
        for r in plan.cpu_schedule
    )
    capex_rows = sum(
        c.cost_usd for c in plan.costs_rows if c.component in ("capex", "network_storage")
    )
    charged = sum(r.capital_charge_usd for r in plan.cash_flow)
    assert charged == pytest.approx(capex_rows + cpu_capital, rel=1e-9)
    # cumulative cash = every purchase + every cost but capital recovery
    cash = sum(paid.values()) + plan.total_cost_usd - capex_rows - cpu_capital
    assert plan.cash_flow[-1].cumulative_cash_usd == pytest.approx(cash, rel=1e-9)


def test_left_out_names_what_cpu_servers_are_not_charged(golden_plan) -> None:
    """The cpu-server catalog entry states an idle power fraction and term contracts the model
    does not use for CPU-only servers: the plan says so."""
    text = " ".join(golden_plan.left_out)
    assert "CPU-only servers (cpu-server) draw their nameplate power" in text
    assert "never under the catalog's term contracts" in text


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"mip_gap": 2.0}, "mip_gap"),
        ({"mip_gap": "x"}, "mip_gap"),
        ({"method": "foo"}, "method"),
        ({"solver": "cplex"}, "solver"),
        ({"time_limit_s": -1}, "time_limit_s"),
        ({"time_limit_s": "soon"}, "time_limit_s"),
    ],
)
def test_solve_arguments_are_validated_as_the_scenario_solver_block(kwargs, field) -> None:
    """planner.solve(scenario, mip_gap=..., method=..., ...) checks its arguments as the
    scenario's `solver:` block is checked: a ConfigError naming the argument, before anything
    is built (mip_gap=2 and method="foo" used to be taken, mip_gap="x" a TypeError from
    inside the solver, time_limit_s=-1 a SolverError)."""
    import planner

    sc = planner.load_scenario("frontier-lab")
    with pytest.raises(planner.ConfigError) as err:
        planner.solve(sc, **kwargs)
    assert f"<planner.solve>: {field}:" in str(err.value), str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"mip_gap": "1%"},
            "mip_gap: expected a number, got the text '1%': write a share as a fraction (0.01)",
        ),
        (
            {"mip_gap": "0.01"},
            "mip_gap: expected a number, got the text '0.01': write 0.01 without quotes",
        ),
        ({"mip_gap": True}, "mip_gap: expected a number, got true"),
        ({"mip_gap": -0.01}, "mip_gap: Input should be greater than or equal to 0, got -0.01"),
        ({"time_limit_s": float("nan")}, "time_limit_s: expected seconds, a finite number > 0"),
        (
            {"time_limit_s": "60"},
            "(time_limit_s: seconds as a number, 60, or a time with its unit, '1 min')",
        ),
        (
            {"solver": "HiGHS"},
            "solver: Input should be 'highs' or 'cbc', got 'HiGHS'; did you mean 'highs'?",
        ),
    ],
)
def test_solver_arguments_of_every_api_entry_get_the_yaml_paths_hints(kwargs, message) -> None:
    """qa28b: planner.solve(mip_gap="1%") got pydantic's "unable to parse string as a number"
    where the YAML path says "write a share as a fraction (0.01)"; "0.01" (text) and True were
    taken as numbers. Every entry of the API that takes solver arguments (solve, compare, sweep,
    sensitivity, value_limits) refuses them up front with the YAML path's words, naming itself."""
    import planner
    from planner.limits import value_limits
    from planner.sensitivity import sensitivity

    sc = planner.load_scenario("frontier-lab")
    calls = {
        "planner.solve": lambda: planner.solve(sc, **kwargs),
        "planner.compare": lambda: planner.compare("frontier-lab", ["multi-dc"], **kwargs),
        "planner.sweep": lambda: planner.sweep("frontier-lab", {}, **kwargs),
        "sensitivity": lambda: sensitivity(
            sc, **{k: v for k, v in kwargs.items() if k != "solver"}
        ),
        "value_limits": lambda: value_limits(sc, None, **kwargs),  # type: ignore[arg-type]
    }
    for caller, call in calls.items():
        if caller == "sensitivity" and "solver" in kwargs:
            continue  # sensitivity takes no solver argument
        with pytest.raises(planner.ConfigError) as err:
            call()
        assert f"<{caller}>: " in str(err.value), str(err.value)
        assert message in str(err.value), str(err.value)


@pytest.mark.parametrize("value", [0.1, "rental", {"a": 1}])
def test_a_sweep_axis_given_one_value_is_bad_input_naming_it(value) -> None:
    """planner.sweep(path, {"economics.pricing": "rental"}) swept the letters r, e, n, ... and
    {"economics.cost_of_capital": 0.1} raised TypeError: a bare value is a ConfigError naming
    the axis, before anything is solved."""
    import planner
    from planner.sweeps import grid_points

    with pytest.raises(planner.ConfigError) as err:
        grid_points({"economics.cost_of_capital": [0, 0.1], "economics.pricing": value})
    assert "economics.pricing: an axis is a list of values" in str(err.value)


def test_the_decision_states_the_purchases_with_network_and_storage(golden_plan) -> None:
    """The decision's purchase cash is at catalog capex; the cash flow's capex paid adds the
    network and storage share (15% on the racks and HGX servers, 10% on CPU servers): a second
    line states that figure, recomputed here from the units bought."""
    plan = golden_plan
    racks = sum(r.ordered for r in plan.schedule if r.system == "vera-rubin-nvl144")
    cpus = sum(r.ordered for r in plan.cpu_schedule)
    others = sum(r.ordered for r in plan.schedule if r.system != "vera-rubin-nvl144")
    assert others == 0  # frontier-3y buys only Vera Rubin racks and CPU servers
    want = racks * 7.8e6 * 1.15 + cpus * CPU_CAPEX_USD * 1.10
    d = decision(plan)
    assert d.capex_paid_usd == pytest.approx(want, rel=1e-12)
    lines = summary_lines(d)
    line = f"With their network and storage share the purchases pay {usd(want)}"
    assert any(x.startswith(line) for x in lines), lines


# -- period boundaries: a lifetime or a contract term that ends inside a calendar period ----
DAY = 86400.0


@pytest.fixture(scope="module")
def model_100_days(tmp_path_factory):
    """frontier-3y in 100-day periods (the 3-year horizon ends inside the 11th), HGX H100
    living 250 days: the model only (no solve)."""
    import planner
    from planner.api import demands
    from planner.lp.build import build, thaw

    overlay = tmp_path_factory.mktemp("econ") / "h100-250d.yaml"
    overlay.write_text("systems: {hgx-h100: {lifetime: 250 days}}\n", encoding="utf-8")
    sc = planner.load_scenario(
        "frontier-3y", sets=["economics.period=100 days", f"catalog=[{overlay}]"]
    )
    model = build(sc, demands(sc))
    thaw()
    return model


def test_a_unit_pays_for_every_period_it_serves_in(model_100_days) -> None:
    """An HGX H100 ordered at day 0 arrives after its 1-quarter lead time at the first period
    start from day 91.25: day 100. Its 250-day life ends at day 350, inside the period
    300-400, which it still serves whole (model.serving_orders: in service while the period
    starts before its end of life): it is charged 300 days, not 250 (before session 22 the
    last 50 days of capacity were free)."""
    from planner.lp.objective import recovered_capex_usd, service_s

    model = model_100_days
    serving = [c.index for c in model.calendar if 0 in model.serving_orders("hgx-h100", c.index)[0]]
    assert serving == [1, 2, 3]
    assert service_s(model, "hgx-h100", 0) == pytest.approx(300 * DAY)
    # r = 10%: capex x CRF(250 days) x 300/365 years
    years = 250 / 365
    crf = 0.10 / (1 - 1.10**-years)
    assert recovered_capex_usd(model, "hgx-h100", 0) == pytest.approx(3e5 * crf * 300 / 365)


def test_a_contract_pays_for_every_period_it_covers(model_100_days) -> None:
    """A GB200 NVL72 1-year contract signed at day 0 covers the periods starting at days 0,
    100, 200 and 300 (model.contract_covers): 400 days of units, paid for 400 days at
    $257/h (it was charged 365 days); one signed at day 1000 covers the last period, to the
    horizon's end at day 1095: 95 days."""
    from planner.lp.objective import contract_held_s

    model = model_100_days
    one_year = 0  # hardware/data/systems.yaml gb200-nvl72 contracts: [1 year $257/h, 3 years]
    covered = [
        c.index for c in model.calendar if model.contract_covers("gb200-nvl72", 0, 0, c.index)
    ]
    assert covered == [0, 1, 2, 3]
    assert contract_held_s(model, "gb200-nvl72", 0, one_year) == pytest.approx(400 * DAY)
    assert contract_held_s(model, "gb200-nvl72", 10, one_year) == pytest.approx(95 * DAY)
    # the objective's coefficient of that contract (an Affine: {column: coefficient})
    (term,) = [
        t
        for t in model.terms
        if (t.component, t.datacenter, t.system) == ("contracts", "dc-east", "gb200-nvl72")
    ]
    var = model.contract[("dc-east", "gb200-nvl72", 0, one_year)]
    assert term.expr[var] == pytest.approx(257 * 400 * 24)


def test_explain_prices_a_bought_unit_as_the_plan_charges_it() -> None:
    """`planner plan --explain`'s price of a unit-second on a bought GB200 NVL72 at
    frontier-3y's dc-east (10%/year cost of capital), by hand from the catalog and the site:
    capital $3.5M x CRF(10%, 5 y) x 1.15, maintenance 5%/year of capex x 1.15, facility
    $150/kW-month x 132 kW, energy 132 kW x PUE 1.2 x $0.07/kWh; it was capex / lifetime + energy (no cost
    of capital, network/storage, maintenance or facility: 51% of the plan's charge)."""
    import planner
    from planner.explain import bought_usd_per_s

    sc = planner.load_scenario("frontier-3y")
    year_h = 8760.0
    per_h = (
        3.5e6 * _crf(0.10, 5.0) * 1.15 / year_h
        + 3.5e6 * 1.15 * 0.05 / year_h
        + 150.0 * 132 * 12 / year_h
        + 132 * 1.2 * 0.07
    )
    assert bought_usd_per_s(sc, "gb200-nvl72", "dc-east") * 3600 == pytest.approx(per_h, rel=1e-12)


def test_estimate_amortised_price_is_what_the_plan_charges_a_bought_unit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`planner estimate --pricing amortised` given frontier-3y's dc-east figures (cost of
    capital 10%, facility $150/kW-month, PUE 1.2, $0.07/kWh) prices a GB200 NVL72 unit-hour as
    the objective and `--explain` charge a bought one: capex x CRF x (1 + network/storage
    share) + maintenance (x 1.15 since session 26: $179.40/h before) + facility + energy at
    PUE, $182.39/h (before session 23 it printed
    capex / lifetime + energy, $91.00/h, and a note naming what it left out); the breakdown
    it prints adds up to it."""
    import re

    import planner
    from cli import main
    from planner.explain import bought_usd_per_s

    sc = planner.load_scenario("frontier-3y")
    site = sc.topology.site("dc-east")
    rate = sc.data.economics.cost_of_capital
    assert (rate, site.facility_usd_per_kw_month, site.pue) == (0.10, 150.0, 1.2)
    year_h = 8760.0
    by_hand = (
        3.5e6 * _crf(rate, 5.0) * 1.15 / year_h
        + 3.5e6 * 1.15 * 0.05 / year_h
        + 150.0 * 132 * 12 / year_h
        + 132 * 1.2 * 0.07
    )
    explain_h = bought_usd_per_s(sc, "gb200-nvl72", "dc-east") * 3600
    assert explain_h == pytest.approx(by_hand, rel=1e-12)
    args = [
        "estimate",
        "inference",
        "--model",
        "llama-3.1-70b",
        "--system",
        "gb200-nvl72",
        "--pricing",
        "amortised",
        "--cost-of-capital",
        f"{rate}",
        "--facility-usd-per-kw-month",
        f"{site.facility_usd_per_kw_month}",
        "--pue",
        f"{site.pue}",
        "--electricity-usd-per-kwh",
        f"{site.electricity_usd_per_kwh}",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("unit-hour"))
    assert row.split()[-1] == f"${by_hand:,.2f}/h" == "$182.39/h"
    note = next(line for line in out.splitlines() if line.startswith("note: amortised"))
    total = float(note.split("$")[1].split("/h")[0].replace(",", ""))
    named = r"(?:capital|network/storage|maintenance|facility|energy) \$([\d,.]+)"
    figures = [float(v.replace(",", "")) for v in re.findall(named, note)]
    assert total == pytest.approx(by_hand, abs=0.005)
    assert len(figures) == 5 and sum(figures) == pytest.approx(by_hand, abs=0.03)
    # the JSON's unit price, unrounded
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unit_usd_per_hour"] == pytest.approx(
        by_hand, rel=1e-12
    )
    # pretraining is priced the same
    from planner.demand.pretrain import estimate_pretrain
    from planner.kinds.pretrain import PretrainSpec

    spec = PretrainSpec.model_validate(
        {
            "model": "llama-3.1-70b",
            "tokens": "1T",
            "deadline": "90 days",
            "global_batch_tokens": "16M",
        }
    )
    est = estimate_pretrain(
        spec,
        sc.catalog,
        "gb200-nvl72",
        10,
        pricing="amortised",
        electricity_usd_per_kwh=site.electricity_usd_per_kwh,
        pue=site.pue,
        cost_of_capital=rate,
        facility_usd_per_kw_month=150.0,
    )
    assert est.unit_usd_per_hour == pytest.approx(explain_h, rel=1e-12)
    assert est.cost_usd == pytest.approx(10 * explain_h * est.time_s / 3600, rel=1e-12)


def test_estimate_amortised_without_a_site_states_its_defaults() -> None:
    """Without --cost-of-capital and --facility-usd-per-kw-month an estimate takes a scenario's
    defaults (straight-line capex, no facility charge) and says so in its breakdown; rental
    pricing is the catalog's rental price, with no breakdown."""
    import planner
    from planner.demand.inference import estimate_inference
    from planner.kinds.inference import InferenceSpec

    sc = planner.load_scenario("frontier-lab")
    spec = sc.data.workloads["chat"]
    assert isinstance(spec, InferenceSpec)
    est = estimate_inference(spec, sc.catalog, "gb200-nvl72", pricing="amortised", pue=1.2)
    capital_h = 3.5e6 / (5 * 8760)
    by_hand = capital_h * 1.15 + 3.5e6 * 1.15 * 0.05 / 8760 + 132 * 1.2 * 0.0806
    assert est.unit_usd_per_hour == pytest.approx(by_hand, rel=1e-12)
    note = next(n for n in est.notes if n.startswith("amortised gb200-nvl72"))
    assert "at cost of capital 0," in note and "facility $0.00 ($0/kW-month)" in note
    rental = estimate_inference(spec, sc.catalog, "gb200-nvl72", pricing="rental")
    assert rental.unit_usd_per_hour == sc.catalog.system("gb200-nvl72").rental_usd_per_hour
    assert not any(n.startswith("amortised") for n in rental.notes)


def test_a_power_shadow_price_is_per_megawatt(golden_plan) -> None:
    """frontier-3y's power rows price a megawatt: the report printed "per mw" (a milliwatt)."""
    from planner.comparison import _friendly
    from planner.htmlreport import plan_html
    from planner.report import format_plan

    power = [p for p in golden_plan.shadow_prices if p.family == "power"]
    assert power and all(p.unit == "usd_per_mw" for p in power)
    text = format_plan(golden_plan)
    block = text.split("\nShadow prices", 1)[1].split("\n\n", 1)[0]
    rows = [line.split() for line in block.splitlines() if line.strip().startswith("power:")]
    assert rows and all(r[-1] == "MW" for r in rows), rows
    assert "/MW" in _friendly(power[0].value_usd, "usd_per_mw", "shadow price")
    assert ">mw<" not in plan_html(golden_plan)


def test_the_cost_by_workload_note_names_every_component_split_by_time(golden_plan) -> None:
    """The note said "capex split by unit-seconds used ..., the rest is (idle)": maintenance,
    network/storage, facility, rental and contracts are split so too, and have (idle) rows;
    the note now lists the components by how the plan's own rows split them. Energy's (idle)
    row is the idle draw of owned units not working (session 26), and the note says so."""
    from planner.report import attribution_note, format_plan

    shared = {
        c.component for c in golden_plan.costs_rows if c.attributed_by == "unit-seconds in service"
    }
    idle = {c.component for c in golden_plan.costs_rows if c.workload == "(idle)"}
    assert {"capex", "maintenance", "facility", "contracts"} <= shared
    assert idle - shared == {"energy"}
    note = attribution_note(golden_plan)
    head = note.split(" split by the unit-seconds", 1)[0]
    assert set(head.split(", ")) == shared
    assert "energy by busy unit-seconds" in note
    assert "energy's idle draw of owned units not working to (idle)" in note
    assert "(" + note in " ".join(format_plan(golden_plan).split())


def test_gap_option_given_a_percent_says_to_write_a_fraction(capsys) -> None:
    """qa28b: `--gap 1%` was click's "'1%' is not a valid float range"; it says what to write,
    as the YAML path and the API do, and exits 1 (bad input)."""
    import cli

    for command in (["plan", "frontier-lab"], ["sensitivity", "frontier-lab"]):
        assert cli.main([*command, "--gap", "1%"]) == 1
        err = capsys.readouterr().err
        assert "'1%' is a percent: write a share as a fraction (0.01)" in err, err
