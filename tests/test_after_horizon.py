"""economics.after_horizon: continues (the default: a bought unit is charged the capital it
recovers inside the horizon, a term contract the periods it covers inside it) or ends (nothing
after the horizon has value: whole capex, every contract payment). Hand-solved cases: the
optimum and its cost are computed here from the catalog and the inputs."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from test_capacity_over_time import DAY, QUARTER_S, REL, capex, flat_need, h100, scenario
from test_capacity_over_time import schedule as rows_of
from test_lp import ceil, inference

import planner
from fleetcore.errors import ConfigError
from fleetcore.tables import usd
from planner.decision import decision, summary_lines
from planner.explain import explain_text
from planner.lp.objective import discount_weight
from planner.verify import check_plan


def _contract_only(term: str, usd_per_hour: float) -> dict[str, object]:
    """A catalog overlay: H100 buying priced out (capex x 100) and one term contract."""
    return {
        "systems": {
            "hgx-h100": {
                "capex_usd": 30_000_000,
                "contracts": [{"term": term, "usd_per_hour": usd_per_hour}],
            }
        }
    }


# A 3-year H100 contract at $13.6/h: the contracts_past_horizon case of
# tests/test_procurement.py.
THREE_YEAR = _contract_only("3 years", 13.6)


def _tail(tmp_path: Path, after: str | None) -> planner.Scenario:
    economics = {"horizon": "91.25 days", "pricing": "mixed"}
    if after is not None:
        economics["after_horizon"] = after
    return scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M")},
        economics,
        catalog=THREE_YEAR,
        name=f"tail-{after}",
    )


def _clean(plan: planner.Plan, sc: planner.Scenario) -> bool:
    return not any(check_plan(plan, sc, planner.demands(sc)).values())


def test_a_need_that_ends_at_the_horizon_rents_instead_of_a_3_year_contract(
    tmp_path: Path,
) -> None:
    """A quarter's flat serving load needing n units. continues (and the default): n 3-year
    contracts charged for the quarter only, n x $13.6 x 2,190 h. ends: a contract costs its
    whole term, n x $13.6 x 26,280 h, more than renting for the quarter, so the plan rents n
    units at the catalog's rental price for 2,190 h, and states no contract commitment."""
    n = ceil(flat_need(_tail(tmp_path, None), "chat"))
    hours = 91.25 * 24
    offer = THREE_YEAR["systems"]["hgx-h100"]["contracts"][0]
    for after in (None, "continues"):
        sc = _tail(tmp_path, after)
        plan = planner.solve(sc)
        assert [c.units for c in plan.contracts if c.units > 0] == [n]
        assert math.isclose(plan.total_cost_usd, n * offer["usd_per_hour"] * hours, rel_tol=REL)
        assert _clean(plan, sc)
    sc = _tail(tmp_path, "ends")
    rental = sc.catalog.system("hgx-h100").rental_usd_per_hour
    assert n * offer["usd_per_hour"] * 3 * 365 * 24 > n * rental * hours  # the case we meant
    plan = planner.solve(sc)
    assert not [c for c in plan.contracts if c.units > 0]
    assert rows_of(plan)[0].rented_units == n
    assert math.isclose(plan.total_cost_usd, n * rental * hours, rel_tol=REL)
    assert _clean(plan, sc)
    d = decision(plan)
    assert d.contracts_past_horizon_usd == 0.0
    assert "economics.after_horizon: ends" in d.basis and "no residual or resale" in d.basis
    # --explain's per-second prices say the plan charges whole lives and terms
    assert "economics.after_horizon: ends" in explain_text(sc, plan)
    assert "after_horizon" not in explain_text(_tail(tmp_path, None), None)


def _late_buy(tmp_path: Path, after: str, paid_at: str) -> planner.Scenario:
    """Serving from Q4 of a year in quarters, amortised, a 10% network and storage share."""
    return scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M", start="273.75 days")},
        {
            "horizon": "365 days",
            "period": "1 quarter",
            "pricing": "amortised",
            "after_horizon": after,
            "capex_paid_at": paid_at,
        },
        catalog={"systems": {"hgx-h100": {"network_storage_capex_fraction": 0.1}}},
        name=f"late-{after}-{paid_at}",
    )


def test_a_late_purchase_under_a_discount_rate_weighs_its_payment_period(tmp_path: Path) -> None:
    """ends with discount_rate 10%: the n H100s bought in Q4 cost n x capex x 1.1 x the weight of
    Q4 (paid at delivery, no lead time), 1 / 1.1^(0.875 years)."""
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M", start="273.75 days")},
        {
            "horizon": "365 days",
            "period": "1 quarter",
            "pricing": "amortised",
            "after_horizon": "ends",
            "discount_rate": 0.1,
        },
        catalog={"systems": {"hgx-h100": {"network_storage_capex_fraction": 0.1}}},
        name="late-pv",
    )
    n = ceil(flat_need(sc, "chat"))
    c, _ = capex(sc)
    plan = planner.solve(sc)
    weight = discount_weight(0.1, 3 * QUARTER_S, 4 * QUARTER_S)
    assert math.isclose(weight, 1.1**-0.875, rel_tol=1e-12)
    assert math.isclose(plan.total_cost_usd, n * c * 1.1 * weight, rel_tol=REL)
    assert _clean(plan, sc)


def test_cpu_servers_bought_under_ends_are_charged_their_whole_capex(tmp_path: Path) -> None:
    """An RL run with a CPU-heavy verifier in the last 20 days of a 40-day horizon, amortised,
    free electricity: the k CPU servers bought cost k x capex x 1.1 (a 10% network and storage
    share) under ends, in the cash flow's capital charge of the period they are paid in; under
    continues only their 20 days' recovery, k x capex x 1.1 x 20 days / lifetime. With
    economics.resale_fraction 0.3 (ends) they are sold at the horizon's end for 0.3 x capex x
    their life left at the horizon's end / lifetime each, in the cash flow's resale row at H."""
    from test_lp import RL_VERIFIER, rl_workload, site

    def case(after: str, resale: float = 0.0) -> planner.Scenario:
        job = rl_workload("llama-3.1-8b", "20M", verifiers=RL_VERIFIER, deadline="40 days")
        return scenario(
            tmp_path,
            {
                "r": site(
                    {"trn2-server": {"max_units": 100}},
                    cpu={"system": "cpu-server", "max_units": 50},
                )
            },
            {"rl": {**job, "start": "20 days"}},
            {
                "horizon": "40 days",
                "period": "10 days",
                "pricing": "amortised",
                "after_horizon": after,
                **({"resale_fraction": resale} if resale else {}),
            },
            catalog={"systems": {"cpu-server": {"network_storage_capex_fraction": 0.1}}},
            name=f"cpu-{after}-{resale:g}",
        )

    for after in ("continues", "ends"):
        sc = case(after)
        spec = sc.catalog.system("cpu-server")
        plan = planner.solve(sc)
        k = sum(c.ordered for c in plan.cpu_schedule)
        assert k >= 1  # the case we meant
        (row,) = [c for c in plan.costs_rows if c.component == "cpu_servers"]
        whole = k * spec.capex_usd * 1.1
        want = whole if after == "ends" else whole * 20 * DAY / spec.lifetime_s
        assert math.isclose(row.cost_usd, want, rel_tol=REL)
        assert _clean(plan, sc)
    sc = case("ends", 0.3)
    spec = sc.catalog.system("cpu-server")
    plan = planner.solve(sc)
    k = sum(c.ordered for c in plan.cpu_schedule)
    assert k >= 1 and spec.lifetime_s > 20 * DAY

    def resold(system: str, arrival_period: int) -> float:
        # straight-line value left at H = 40 days: capex x (birth + lifetime - H) / lifetime
        life = sc.catalog.system(system).lifetime_s
        birth = plan.cash_flow[arrival_period].start_s
        return 0.3 * sc.catalog.system(system).capex_usd * (birth + life - 40 * DAY) / life

    cpu_resold = sum(c.arriving * resold(c.system, c.period) for c in plan.cpu_schedule)
    assert 0 < cpu_resold < 0.3 * k * spec.capex_usd
    (row,) = [c for c in plan.costs_rows if c.component == "cpu_servers"]
    assert math.isclose(row.cost_usd, k * spec.capex_usd * 1.1 - cpu_resold, rel_tol=REL)
    # the Trainium servers bought for the run are sold too, in the row at the horizon's end
    resale = cpu_resold + sum(r.arriving * resold(r.system, r.period) for r in plan.schedule)
    (at_end,) = plan.resale_at_horizon or []
    assert at_end.at_s == 40 * DAY and at_end.resale_usd == pytest.approx(resale, rel=REL)
    last = plan.cash_flow[-1]
    # no resale in the last period any more: its capital charge is what it pays for
    assert last.capital_charge_usd == pytest.approx(last.capex_paid_usd, rel=REL)
    assert at_end.cumulative_cash_usd == pytest.approx(last.cumulative_cash_usd - resale, rel=REL)
    assert _clean(plan, sc)


@pytest.mark.parametrize("paid_at", ["order", "delivery"])
def test_a_purchase_late_in_the_horizon_is_charged_its_whole_capex(
    tmp_path: Path, paid_at: str
) -> None:
    """n H100s bought in Q4 serve one quarter. continues: charged n x capex x 1.1 x quarter /
    lifetime. ends: n x capex x 1.1 in full, in Q4 (paid then, no lead time), with no residual
    value; the verifier recomputes it, and the decision's capex charged is the purchase cash."""
    sc = _late_buy(tmp_path, "continues", paid_at)
    n = ceil(flat_need(sc, "chat"))
    c, life = capex(sc)
    plan = planner.solve(sc)
    assert [rows_of(plan)[t].ordered for t in range(4)] == [0, 0, 0, n]
    assert math.isclose(plan.total_cost_usd, n * c * 1.1 * QUARTER_S / life, rel_tol=REL)
    sc = _late_buy(tmp_path, "ends", paid_at)
    plan = planner.solve(sc)
    assert [rows_of(plan)[t].ordered for t in range(4)] == [0, 0, 0, n]
    assert math.isclose(plan.total_cost_usd, n * c * 1.1, rel_tol=REL)
    assert [r.capital_charge_usd for r in plan.cash_flow] == pytest.approx(
        [0.0, 0.0, 0.0, n * c * 1.1], rel=REL
    )
    assert [r.capex_paid_usd for r in plan.cash_flow] == pytest.approx(
        [0.0, 0.0, 0.0, n * c * 1.1], rel=REL
    )
    assert _clean(plan, sc)
    assert f"charged to this horizon as capex: {usd(n * c)}" in "\n".join(
        summary_lines(decision(plan))
    )
    # A plan charging only the quarter's recovery, as continues would, is caught.
    rows = [
        dataclasses.replace(r, cost_usd=r.cost_usd * QUARTER_S / life)
        if r.component in ("capex", "network_storage")
        else r
        for r in plan.costs_rows
    ]
    tampered = dataclasses.replace(plan, costs_rows=rows)
    found = check_plan(tampered, sc, planner.demands(sc))
    assert any("capex: the cost rows charge" in m for m in found["cost_lines"])


def _overhang(tmp_path: Path, rate: float | None) -> planner.Scenario:
    """90 days in 30-day periods, after_horizon ends; a 100-day contract at $13.6/h (cheaper
    than renting the 90 days even whole); buying priced out."""
    economics: dict[str, object] = {
        "horizon": "90 days",
        "period": "30 days",
        "pricing": "mixed",
        "after_horizon": "ends",
    }
    if rate is not None:
        economics["discount_rate"] = rate
    overlay = _contract_only("100 days", 13.6)
    return scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M")},
        economics,
        catalog=overlay,
        name=f"overhang-{rate}",
    )


MONTH_S = 365 * DAY / 12


@pytest.mark.parametrize("rate", [None, 0.1])
def test_a_term_past_the_horizon_is_charged_whole_at_its_own_times(
    tmp_path: Path, rate: float | None
) -> None:
    """ends: n 100-day contracts signed at day 0 cost every payment, n x $13.6 x 2,400 h: 720 h
    in each 30-day period and 240 h past the horizon. The cash flow's periods hold only the 90
    days inside the horizon; the 10 days after it are a row of their own, month 1 after the
    horizon (days 90-120.4: billed monthly from the horizon's end, a month a year / 12), so
    the periods and that row add up to the total. With a discount rate r each period weighs
    1 / (1 + r)^(mid / year), the month after the horizon at its own middle (day 90 + 15.2). A
    plan charging only the 90 days inside the horizon, or an after-the-horizon row that does
    not hold the 10 days' payments, is caught by the verifier."""
    sc = _overhang(tmp_path, rate)
    n = ceil(flat_need(sc, "chat"))
    usd_per_day = n * 13.6 * 24
    spans = [
        (0, 30 * DAY),
        (30 * DAY, 60 * DAY),
        (60 * DAY, 90 * DAY),
        (90 * DAY, 90 * DAY + MONTH_S),
    ]
    days = [30, 30, 30, 10]
    weights = [1.0 if rate is None else discount_weight(rate, a, b) for a, b in spans]
    expected = sum(usd_per_day * x * w for x, w in zip(days, weights, strict=True))
    plan = planner.solve(sc)
    assert [(c.period, c.units) for c in plan.contracts if c.units > 0] == [(0, n)]
    assert math.isclose(plan.total_cost_usd, expected, rel_tol=REL)
    contracts = sum(c.cost_usd for c in plan.costs_rows if c.component == "contracts")
    assert math.isclose(contracts, expected, rel_tol=REL)
    assert [r.contracts_usd for r in plan.cash_flow] == pytest.approx(
        [usd_per_day * 30] * 3, rel=REL
    )
    assert plan.after_horizon_payments is not None
    (after,) = plan.after_horizon_payments
    assert (after.month, after.start_s, after.end_s) == (1, 90 * DAY, pytest.approx(spans[3][1]))
    assert after.contracts_usd == pytest.approx(usd_per_day * 10, rel=REL)
    assert after.cumulative_cost_usd == pytest.approx(usd_per_day * 100, rel=REL)
    assert math.isclose(plan.nominal_cost_usd, usd_per_day * 100, rel_tol=REL)
    assert after.discount_weight == pytest.approx(weights[3], rel=1e-12)
    if rate is not None:
        assert plan.present_value is not None
        pv = [r.present_value_usd for r in plan.present_value]
        assert pv[-1] == pytest.approx(usd_per_day * 30 * weights[2], rel=REL)
        assert math.isclose(sum(pv) + after.present_value_usd, plan.total_cost_usd, rel_tol=REL)
    assert _clean(plan, sc)
    d = decision(plan)
    assert d.contracts_past_horizon_usd == pytest.approx(usd_per_day * 10, rel=REL)
    text = "\n".join(summary_lines(d))
    assert f"Term contracts, every payment of their terms: {usd(contracts)}" in text
    assert f"Of these, {usd(usd_per_day * 10)} (face value) falls due past the horizon" in text
    # The in-horizon share only (what continues charges): cost_lines reports the contract line.
    inside = expected - usd_per_day * 10 * weights[3]
    rows = [
        dataclasses.replace(r, cost_usd=r.cost_usd * inside / contracts)
        if r.component == "contracts"
        else r
        for r in plan.costs_rows
    ]
    tampered = dataclasses.replace(plan, costs_rows=rows)
    found = check_plan(tampered, sc, planner.demands(sc))
    assert any("contracts: the cost rows charge" in m for m in found["cost_lines"])
    # The month's payment booked at half its face value: its row is reported.
    half = dataclasses.replace(after, contracts_usd=after.contracts_usd / 2)
    tampered = dataclasses.replace(plan, after_horizon_payments=[half])
    found = check_plan(tampered, sc, planner.demands(sc))
    assert any("cash_flow_after_horizon month 1: contracts_usd" in m for m in found["cost_lines"])
    # No row at all for the payments due after the horizon: reported.
    found = check_plan(
        dataclasses.replace(plan, after_horizon_payments=None), sc, planner.demands(sc)
    )
    assert any("have payments due in months [1]" in m for m in found["cost_lines"])


def _year_term(tmp_path: Path, horizon_days: float) -> planner.Scenario:
    """One period (no `period`) of `horizon_days`, after_horizon ends, discount rate 10%; a
    365-day H100 contract at $2/h (cheaper, whole, than renting the horizon at $55/h); buying
    priced out."""
    overlay = _contract_only("365 days", 2.0)
    return scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M")},
        {
            "horizon": f"{horizon_days:g} days",
            "pricing": "mixed",
            "after_horizon": "ends",
            "discount_rate": 0.1,
        },
        catalog=overlay,
        name=f"year-term-{horizon_days:g}",
    )


def test_payments_past_the_horizon_weigh_the_same_whatever_the_horizon(tmp_path: Path) -> None:
    """A 365-day contract signed at day 0, planned over one period of a quarter or of half a
    year. Its payments past the horizon are billed monthly (a month = a year / 12), each
    month's weighed at its middle, 1 / 1.1^(mid / year): a payment due in a given month after
    half a year weighs the same under either horizon. Before, without a `period` they were
    weighed in horizon-long chunks: 1 / 1.1^(mid of a continued quarter, or half year). Total
    under the quarter: n x $2 x 24 x (91.25 days x 1 / 1.1^(0.125) + 30.42 days x sum over the
    9 months after it of their weights)."""
    plans = {}
    for quarters in (1, 2):
        horizon_s = quarters * QUARTER_S
        sc = _year_term(tmp_path, horizon_s / DAY)
        n = ceil(flat_need(sc, "chat"))
        usd_per_s = n * 2.0 / 3600
        plan = planner.solve(sc)
        assert [(c.period, c.units) for c in plan.contracts if c.units > 0] == [(0, n)]
        months = round((365 * DAY - horizon_s) / MONTH_S)
        assert months == 12 - 3 * quarters
        past = [
            discount_weight(0.1, horizon_s + i * MONTH_S, horizon_s + (i + 1) * MONTH_S)
            for i in range(months)
        ]
        want = usd_per_s * (horizon_s * discount_weight(0.1, 0, horizon_s) + MONTH_S * sum(past))
        assert math.isclose(plan.total_cost_usd, want, rel_tol=REL)
        assert plan.after_horizon_payments is not None
        assert [r.discount_weight for r in plan.after_horizon_payments] == pytest.approx(
            past, rel=1e-12
        )
        assert _clean(plan, sc)
        plans[quarters] = (n, plan.after_horizon_payments)
    (n1, quarter), (n2, half) = plans[1], plans[2]
    assert n1 == n2  # the same flat need: the same months' payments
    later = [(r.start_s, r.contracts_usd, r.discount_weight) for r in quarter[3:]]
    assert later == pytest.approx(
        [(r.start_s, r.contracts_usd, r.discount_weight) for r in half], rel=1e-12
    )


def test_a_bad_after_horizon_is_reported_with_its_file_line_and_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        _tail(tmp_path, "never")
    message = str(err.value)
    assert "tail-never.yaml" in message and "after_horizon" in message
    assert "'continues' or 'ends'" in message
    assert ":" in message.split("tail-never.yaml", 1)[1][:6]  # file:line


def test_a_sweep_or_compare_over_after_horizon_says_which_basis_each_total_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sweep over economics.after_horizon put a total charging a quarter of a 3-year contract
    beside one charging a quarter's rentals, in one total_cost_usd column with no word of it.
    Its points now carry after_horizon (continues for the default) and the CLI warns that the
    totals mix bases; compare adds an "after the horizon" row. A sweep without ends has neither
    (its CSV as before)."""
    import json

    from cli import main

    sc = _tail(tmp_path, None)
    n = ceil(flat_need(sc, "chat"))
    hours = 91.25 * 24
    rate = THREE_YEAR["systems"]["hgx-h100"]["contracts"][0]["usd_per_hour"]
    rental = sc.catalog.system("hgx-h100").rental_usd_per_hour
    path, out = tmp_path / "tail-None.yaml", tmp_path / "out"
    sets = ["--set", "economics.after_horizon=continues,ends", "--no-cache", "--jobs", "1"]
    assert main(["sweep", str(path), *sets, "--out", str(out)]) == 0
    assert "warning: total_cost_usd mixes what happens after the horizon" in capsys.readouterr().err
    points = json.loads((out / "sweep.json").read_text())["points"]
    by_basis = {p["after_horizon"]: p["total_cost_usd"] for p in points}
    assert by_basis["continues"] == pytest.approx(n * rate * hours, rel=1e-6)
    assert by_basis["ends"] == pytest.approx(n * rental * hours, rel=1e-6)
    assert "after_horizon" in (out / "sweep.csv").read_text().splitlines()[0].split(",")
    sets = ["--set", "workloads.chat.output_tokens=700,775", "--no-cache", "--jobs", "1"]
    assert main(["sweep", str(path), *sets, "--out", str(out)]) == 0
    assert "what happens after the horizon" not in capsys.readouterr().err
    assert "after_horizon" not in (out / "sweep.csv").read_text().splitlines()[0]
    cmp = planner.compare(path, [None], sets=["economics.after_horizon=ends"])
    rows = {r["metric"]: r for r in cmp.table()}
    (name,) = list(cmp.columns)
    assert rows["after the horizon"][name] == "ends"
    assert rows["total cost"][name] == pytest.approx(n * rental * hours, rel=1e-6)
    plain = {r["metric"] for r in planner.compare(path, [None]).table()}
    assert "after the horizon" not in plain


def test_the_plan_json_says_ends_and_reads_it_back(tmp_path: Path) -> None:
    """plan --json under ends: total_cost_usd holds the whole 3-year terms or capex, so the JSON
    says `after_horizon: ends` (it had no trace of the basis: the same keys as a continues plan
    charging a quarter); a plan read back from it states the ends basis; continues adds no key
    (every continues plan's JSON byte-identical)."""
    plan = planner.solve(_tail(tmp_path, "ends"))
    data = json.loads(plan.to_json())
    assert data["after_horizon"] == "ends"
    back = planner.Plan.from_dict(data)
    assert "economics.after_horizon: ends" in decision(back).basis
    assert "after_horizon" not in json.loads(planner.solve(_tail(tmp_path, None)).to_json())


def test_a_sweep_of_ends_plans_over_another_field_says_ends_in_its_tables(
    tmp_path: Path,
) -> None:
    """Every point ends, the swept field another (output_tokens): the text and HTML tables
    showed each total with no word that it charges whole terms (after_horizon was only in the
    CSV; a mix was warned of on stderr as "the after_horizon column says which", a column the
    text table did not have). Both tables now have the after_horizon column; a sweep of
    continues plans has none (its text as before)."""
    from planner.commands.sweep import format_sweep
    from planner.htmlreport import sweep_html

    _tail(tmp_path, "ends")
    sw = planner.sweep(tmp_path / "tail-ends.yaml", {"workloads.chat.output_tokens": [500, 600]})
    header, _, *rows = format_sweep(sw).splitlines()[1:5]
    assert header.split()[:3] == ["output_tokens", "after_horizon", "status"]
    assert [r.split()[1] for r in rows] == ["ends", "ends"]
    assert ">after_horizon<" in sweep_html(sw) and ">ends<" in sweep_html(sw)
    _tail(tmp_path, None)
    plain = planner.sweep(tmp_path / "tail-None.yaml", {"workloads.chat.output_tokens": [500]})
    assert "after_horizon" not in format_sweep(plain) + sweep_html(plain)


def test_the_headline_of_an_ends_plan_says_what_it_charges_past_the_horizon(
    tmp_path: Path,
) -> None:
    """Under ends the headline said every plan charged "whole capex and every contract
    payment, past the horizon too", a plan that only rents too. It now says what this plan is
    charged past the horizon, in text and HTML: the quarter's rentals nothing (the total is
    n x $55 x 2,190 h); the 100-day contracts on 90 days their payments due past the horizon;
    the H100s bought in Q4 their whole capex. A continues plan's headline is as before."""
    from planner.htmlreport import plan_html
    from planner.report import format_plan

    sc = _tail(tmp_path, "ends")
    rental = sc.catalog.system("hgx-h100").rental_usd_per_hour
    n = ceil(flat_need(sc, "chat"))
    plan = planner.solve(sc)
    said = (
        "total cost over the horizon (economics.after_horizon: ends; this plan buys no unit and "
        "owes no contract payment past the horizon)"
    )
    assert f"  {said}: {usd(n * rental * 91.25 * 24)}" in format_plan(plan)
    assert f"optimal: {said} <b" in plan_html(plan).replace("&#x27;", "'")
    for case, what in (
        (_overhang(tmp_path, None), "contract payments due past the horizon"),
        (_late_buy(tmp_path, "ends", "order"), "bought units' whole capex"),
    ):
        plan = planner.solve(case)
        said = f"total cost over the horizon with {what} (economics.after_horizon: ends)"
        assert f"  {said}: {usd(plan.total_cost_usd)}" in format_plan(plan)
        assert f"optimal: {said} <b" in plan_html(plan).replace("&#x27;", "'")
        assert "every contract payment" not in format_plan(plan)
    plain = planner.solve(_tail(tmp_path, None))
    assert "  total cost over the horizon: " in format_plan(plain)
    assert "after_horizon" not in format_plan(plain).split("\n", 2)[1]


def test_the_cash_flow_shows_the_payments_after_the_horizon_in_text_html_and_json(
    tmp_path: Path,
) -> None:
    """The 100-day contracts on a 90-day horizon: the text and HTML cash flow carry a row
    'days 90-120.417 after' holding the 10 days' payments, n x $13.6 x 240 h (before, they were
    added to the 60-90 period's contracts); the plan JSON has them as cash_flow_after_horizon
    and reads them back; the cumulative cost ends at the nominal cost, n x $13.6 x 2,400 h."""
    from planner.htmlreport import plan_html
    from planner.report import format_plan

    sc = _overhang(tmp_path, None)
    n = ceil(flat_need(sc, "chat"))
    plan = planner.solve(sc)
    past_m = n * 13.6 * 240 / 1e6
    text = format_plan(plan)
    cash = text.split("\nCash flow", 1)[1].split("\n\n", 1)[0]
    (row,) = [line.split() for line in cash.splitlines() if "after" in line.split()]
    assert row[:2] == ["90-120.417", "after"]
    assert float(row[5]) == pytest.approx(past_m, abs=0.05)  # rent+spot+contracts, US$ M
    assert float(row[9]) == pytest.approx(n * 13.6 * 2400 / 1e6, abs=0.05)  # cum. cost
    assert "rows marked 'after': contract payments due past the horizon" in cash
    html = plan_html(plan)
    assert "<td>90-120.417 after</td>" in html and "Rows marked &#x27;after&#x27;" in html
    data = json.loads(plan.to_json())
    (after,) = data["cash_flow_after_horizon"]
    assert after["month"] == 1 and after["contracts_usd"] == pytest.approx(past_m * 1e6, rel=1e-6)
    back = planner.Plan.from_dict(data)
    assert back.nominal_cost_usd == pytest.approx(n * 13.6 * 2400, rel=1e-6)
    from planner.report import cash_flow_table

    assert cash_flow_table(back)[1][-1] == cash_flow_table(plan)[1][-1]
    assert cash_flow_table(back)[1][-1][0] == "90-120.417 after"
    written = {p.name: p for p in plan.write(tmp_path / "out")}
    csv_rows = written["cash_flow_after_horizon.csv"].read_text().splitlines()
    assert csv_rows[0].startswith("month,start_s,end_s,contracts_usd") and len(csv_rows) == 2
    plain = json.loads(planner.solve(_tail(tmp_path, None)).to_json())
    assert "cash_flow_after_horizon" not in plain


def test_explain_and_sizing_prices_charge_whole_capex_and_terms_over_the_horizons_use(
    tmp_path: Path,
) -> None:
    """Under ends `--explain` priced a bought unit per second of its life (capex x CRF / year)
    and a contract per hour of its term, and its header said they understate. Now: 100-day
    contracts held 90 days cost $13.6 x 100 / 90 an hour of use, plan or no plan; H100s bought
    in Q4 of a year in quarters (no lead time) cost capex x 1.1 over the quarter they serve,
    plus maintenance, facility and energy a second (the catalog's and the site's figures); with
    no plan, over the 365 days one ordered at the start serves. The 3-year contract on a
    91.25-day horizon: $13.6 x 1,095 / 91.25 an hour (continues: $13.6). The sizing estimates'
    unit-hour price (planner/kinds/pretrain.py _unit_price) is explain's."""
    from planner.explain import options, unit_costs
    from planner.kinds.pretrain import _ends_basis, _unit_price

    def record(sc: planner.Scenario, plan: planner.Plan | None) -> dict[str, object]:
        rows = unit_costs(sc, planner.demands(sc), plan)
        return next(r for r in rows if (r["role"], r["system"]) == ("decode", "hgx-h100"))

    sc = _overhang(tmp_path, None)
    plan = planner.solve(sc)
    for held in (plan, None):
        r = record(sc, held)
        assert r["paid_as"] == "contract 100 days (whole term over 90 days)"
        assert float(r["usd_per_unit_s"]) * 3600 == pytest.approx(13.6 * 100 / 90, rel=1e-12)

    sc = _late_buy(tmp_path, "ends", "order")
    spec = sc.catalog.system("hgx-h100")
    site = sc.topology.site("a")
    assert spec.lead_time_s is None  # the case we meant: one ordered at the start serves a year
    running_per_s = (
        spec.capex_usd * 1.1 * (spec.maintenance_fraction_per_year or 0.0) / (365 * DAY)
        + (site.facility_usd_per_kw_month or 0.0) * spec.power_w / 1000 / MONTH_S
        + spec.power_w / 1000 * site.pue * site.electricity_usd_per_kwh / 3600
    )
    plan = planner.solve(sc)
    r = record(sc, plan)
    assert r["paid_as"] == "bought (whole capex over 91.25 days a unit)"
    want = spec.capex_usd * 1.1 / QUARTER_S + running_per_s
    assert float(r["usd_per_unit_s"]) == pytest.approx(want, rel=1e-9)
    r = record(sc, None)
    assert r["paid_as"] == "bought (whole capex over 365 days)"
    want = spec.capex_usd * 1.1 / (365 * DAY) + running_per_s
    assert float(r["usd_per_unit_s"]) == pytest.approx(want, rel=1e-9)
    assert _unit_price(sc, "hgx-h100", "a", True) == (
        pytest.approx(want * 3600, rel=1e-9),
        "bought (whole capex over 365 days)",
    )
    assert "economics.after_horizon ends: a bought unit's whole capex" in _ends_basis(plan)
    assert "understate" not in explain_text(sc, plan)

    for after, per_h in (("ends", 13.6 * 1095 / 91.25), (None, 13.6)):
        sc = _tail(tmp_path, after)
        (contract,) = [p for p in options(sc, "hgx-h100", "a", True) if "contract" in p.paid_as]
        assert contract.usd_per_s * 3600 == pytest.approx(per_h, rel=1e-12)
    assert _ends_basis(planner.solve(sc)) == ""


@pytest.mark.parametrize("rate", [None, 0.1])
def test_a_resale_fraction_gives_back_a_share_of_the_remaining_value_at_the_horizons_end(
    tmp_path: Path, rate: float | None
) -> None:
    """ends with economics.resale_fraction 0.3: the n H100s bought in Q4 (born at 273.75 days,
    so a lifetime L less the quarter left at the year's end) cost n x capex x 1.1 paid in Q4,
    weighed by Q4's 1 / (1 + r)^0.875, less n x capex x 0.3 x (L - quarter) / L received at the
    horizon's end, weighed 1 / (1 + r)^1 (before: 0.3 x capex in Q4 at Q4's weight). The cash
    flow's Q4 holds the capex alone; the resale is its own row at 365 days (text, HTML, JSON,
    CSV), and periods + resale row reconcile with the nominal cost and, discounted, with
    total_cost_usd. A plan without the resale cost row, or with a resale row weighed at Q4, is
    caught; resale_fraction under continues is refused naming its file and field."""
    from planner.htmlreport import plan_html
    from planner.report import cash_flow_table, format_plan

    economics: dict[str, object] = {
        "horizon": "365 days",
        "period": "1 quarter",
        "pricing": "amortised",
        "after_horizon": "ends",
        "resale_fraction": 0.3,
    }
    if rate is not None:
        economics["discount_rate"] = rate
    sc = scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M", start="273.75 days")},
        economics,
        catalog={"systems": {"hgx-h100": {"network_storage_capex_fraction": 0.1}}},
        name=f"resale-{rate}",
    )
    n = ceil(flat_need(sc, "chat"))
    c, life = capex(sc)
    assert life > QUARTER_S  # the case we meant: a unit bought in Q4 outlives the horizon
    q4 = 1.0 if rate is None else discount_weight(rate, 3 * QUARTER_S, 4 * QUARTER_S)
    at_end = 1.0 if rate is None else (1 + rate) ** -1.0
    resold = n * c * 0.3 * (3 * QUARTER_S + life - 4 * QUARTER_S) / life
    plan = planner.solve(sc)
    assert [rows_of(plan)[t].ordered for t in range(4)] == [0, 0, 0, n]
    assert math.isclose(plan.total_cost_usd, n * c * 1.1 * q4 - resold * at_end, rel_tol=REL)
    resale = sum(r.cost_usd for r in plan.costs_rows if r.component == "resale")
    assert resale == pytest.approx(-resold * at_end, rel=REL)
    last = plan.cash_flow[-1]
    assert last.capital_charge_usd == pytest.approx(n * c * 1.1, rel=REL)
    assert last.capex_paid_usd == pytest.approx(n * c * 1.1, rel=REL)
    assert last.cash_out_usd == pytest.approx(n * c * 1.1, rel=REL)
    (row,) = plan.resale_at_horizon or []
    assert row.at_s == 365 * DAY and row.resale_usd == pytest.approx(resold, rel=REL)
    assert row.cost_usd == pytest.approx(-resold, rel=REL)
    assert row.cumulative_cash_usd == pytest.approx(n * c * 1.1 - resold, rel=REL)
    assert row.discount_weight == pytest.approx(at_end, rel=1e-12)
    assert plan.nominal_cost_usd == pytest.approx(n * c * 1.1 - resold, rel=REL)
    if plan.present_value is not None:
        periods_pv = sum(p.present_value_usd for p in plan.present_value)
        total_pv = periods_pv + row.present_value_usd
        assert total_pv == pytest.approx(plan.total_cost_usd, rel=REL)
    assert _clean(plan, sc)
    # text, HTML, JSON (read back), CSV
    text = format_plan(plan)
    cash = text.split("\nCash flow", 1)[1].split("\n\n", 1)[0]
    (line,) = [x.split() for x in cash.splitlines() if "resale" in x.split()]
    assert line[:2] == ["365", "resale"]
    assert float(line[3]) == pytest.approx(-resold / 1e6, abs=0.05)  # capital charge, US$ M
    assert "the row marked 'resale'" in cash
    assert "<td>365 resale</td>" in plan_html(plan)
    data = json.loads(plan.to_json())
    (back_row,) = data["cash_flow_resale"]
    assert back_row["resale_usd"] == pytest.approx(resold, rel=1e-6)
    back = planner.Plan.from_dict(data)
    assert cash_flow_table(back)[1][-1] == cash_flow_table(plan)[1][-1]
    written = {p.name: p for p in plan.write(tmp_path / f"out-{rate}")}
    assert written["cash_flow_resale.csv"].read_text().startswith("at_s,resale_usd,cost_usd")
    assert "x capex x remaining life / lifetime received at the horizon's end" in (
        decision(plan).basis
    )
    assert "bought units' whole capex less 0.3 of it x remaining life / lifetime resold" in text
    assert (
        f"Resale at the horizon's end of the units still in their life: {usd(resold * at_end)}"
        in ("\n".join(summary_lines(decision(plan))))
    )
    # --explain: the Q4 units' capex less their resale over the quarter they serve (+ running)
    from planner.explain import running_usd_per_s, unit_costs

    (r,) = [
        r
        for r in unit_costs(sc, planner.demands(sc), plan)
        if (r["role"], r["system"]) == ("decode", "hgx-h100")
    ]
    want = (n * c * 1.1 - resold) / (n * QUARTER_S) + running_usd_per_s(sc, "hgx-h100", "a")
    assert float(r["usd_per_unit_s"]) == pytest.approx(want, rel=1e-9)
    tampered = dataclasses.replace(
        plan, costs_rows=[r for r in plan.costs_rows if r.component != "resale"]
    )
    found = check_plan(tampered, sc, planner.demands(sc))
    assert any("resale: the cost rows charge 0.00" in m for m in found["cost_lines"])
    # the old booking: the resale in Q4, weighed at Q4's middle, and no row at H
    flat = dataclasses.replace(row, resale_usd=n * c * 0.3)
    found = check_plan(dataclasses.replace(plan, resale_at_horizon=[flat]), sc, planner.demands(sc))
    assert any("cash_flow_resale: resale_usd" in m for m in found["cost_lines"])
    if rate is not None:
        mid = dataclasses.replace(row, discount_weight=q4, present_value_usd=-q4 * resold)
        found = check_plan(
            dataclasses.replace(plan, resale_at_horizon=[mid]), sc, planner.demands(sc)
        )
        assert any("cash_flow_resale: discount_weight" in m for m in found["cost_lines"])
    found = check_plan(dataclasses.replace(plan, resale_at_horizon=None), sc, planner.demands(sc))
    assert any("cash_flow_resale: 0 rows" in m for m in found["cost_lines"])


def test_a_resale_fraction_under_continues_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        scenario(
            tmp_path,
            {"a": h100()},
            {"chat": inference("20M")},
            {"horizon": "91.25 days", "pricing": "amortised", "resale_fraction": 0.3},
            name="resale-continues",
        )
    message = str(err.value)
    assert "resale-continues.yaml" in message and "resale_fraction" in message
    assert "needs after_horizon: ends" in message
    assert ":" in message.split("resale-continues.yaml", 1)[1][:6]  # file:line


def _one_fleet(
    tmp_path: Path, horizon: str, period: str | None, rate: float | None, lifetime: str | None
) -> planner.Scenario:
    """Serving all the horizon, amortised, ends, resale_fraction 0.3, a 10% network share."""
    economics: dict[str, object] = {
        "horizon": horizon,
        "pricing": "amortised",
        "after_horizon": "ends",
        "resale_fraction": 0.3,
    }
    if period is not None:
        economics["period"] = period
    if rate is not None:
        economics["discount_rate"] = rate
    system: dict[str, object] = {"network_storage_capex_fraction": 0.1}
    if lifetime is not None:
        system["lifetime"] = lifetime
    return scenario(
        tmp_path,
        {"a": h100()},
        {"chat": inference("20M")},
        economics,
        catalog={"systems": {"hgx-h100": system}},
        name=f"fleet-{horizon}-{period}-{rate}-{lifetime}".replace(" ", ""),
    )


def test_one_fleet_resells_at_the_horizons_end_weighed_there(tmp_path: Path) -> None:
    """No period, 3 years, a 5-year H100, 10% a year: the n units bought are sold at the end for
    0.3 x capex x 2 / 5 (2 years of life left of 5) each, weighed 1 / 1.1^3 = 0.751 (before:
    0.3 x capex at the one period's middle, 1 / 1.1^1.5 = 0.867, ~15% too much); their purchase
    at the start weighs 1 (before: 0.867 too). The one period's PV holds it so."""
    sc = _one_fleet(tmp_path, "1095 days", None, 0.1, None)
    n = ceil(flat_need(sc, "chat"))
    c, life = capex(sc)
    assert life == pytest.approx(5 * 365 * DAY)  # the case we meant
    plan = planner.solve(sc)
    resold = n * c * 0.3 * (life - 1095 * DAY) / life
    (row,) = plan.resale_at_horizon or []
    assert row.resale_usd == pytest.approx(resold, rel=REL)
    assert row.discount_weight == pytest.approx(1.1**-3, rel=1e-12)
    whole = n * c * 1.1  # paid at the start: weight 1 (before: the one period's middle, 0.867)
    assert plan.total_cost_usd == pytest.approx(whole - resold * 1.1**-3, rel=REL)
    # the one period's PV holds the purchase at its instant; with the resale row: the total
    (pv,) = plan.present_value or []
    assert pv.present_value_usd + row.present_value_usd == pytest.approx(plan.total_cost_usd)
    assert _clean(plan, sc)
    from planner.report import after_horizon_note

    assert "PV cost weighs its purchases at their own instants" in after_horizon_note(plan)
    # a present value booking the purchase at the period's middle is caught
    mid = dataclasses.replace(pv, present_value_usd=pv.discount_weight * pv.cost_usd)
    found = check_plan(dataclasses.replace(plan, present_value=[mid]), sc, planner.demands(sc))
    assert any("present_value_usd" in m for m in found["cost_lines"])


@pytest.mark.parametrize("rate", [None, 0.1])
def test_one_fleet_outliving_its_units_buys_their_replacements(
    tmp_path: Path, rate: float | None
) -> None:
    """No period, 2 years, an H100 living 547.5 days: each of the n units is bought twice
    (ceil(730 / 547.5) = 2: at 0 and at 547.5 days), n x 2 x capex x 1.1 in the one period
    (before: once), each weighed at its own instant, 1 and 1 / (1 + r)^1.5, and its replacement, born at 547.5 days, has 365 of its 547.5 days left at
    the end: resold for 0.3 x capex x 365 / 547.5, weighed 1 / (1 + r)^2. The same scenario in
    quarters retires the units after 6 quarters and buys them again: the same nominal capex and
    resale. A plan charging one purchase is caught."""
    single = _one_fleet(tmp_path, "730 days", None, rate, "547.5 days")
    n = ceil(flat_need(single, "chat"))
    c, life = capex(single)
    resold = n * c * 0.3 * (2 * life - 730 * DAY) / life
    at_end = 1.0 if rate is None else (1 + rate) ** -2.0
    # each purchase weighed at its own instant: 0 and 547.5 days (1.5 years)
    bought = 2.0 if rate is None else 1.0 + (1 + rate) ** -1.5
    plan = planner.solve(single)
    assert plan.total_cost_usd == pytest.approx(n * c * 1.1 * bought - resold * at_end, rel=REL)
    (period,) = plan.cash_flow
    assert period.capex_paid_usd == pytest.approx(n * 2 * c * 1.1, rel=REL)
    (row,) = plan.resale_at_horizon or []
    assert row.resale_usd == pytest.approx(resold, rel=REL)
    assert plan.nominal_cost_usd == pytest.approx(n * 2 * c * 1.1 - resold, rel=REL)
    assert _clean(plan, single)
    once = [
        dataclasses.replace(r, cost_usd=r.cost_usd / 2) if r.component == "capex" else r
        for r in plan.costs_rows
    ]
    found = check_plan(dataclasses.replace(plan, costs_rows=once), single, planner.demands(single))
    assert any("capex: the cost rows charge" in m for m in found["cost_lines"])
    if rate is not None:
        return
    quarters = _one_fleet(tmp_path, "730 days", "1 quarter", None, "547.5 days")
    periodic = planner.solve(quarters)
    assert [rows_of(periodic)[t].ordered for t in range(8)] == [n, 0, 0, 0, 0, 0, n, 0]
    assert sum(r.capex_paid_usd for r in periodic.cash_flow) == pytest.approx(
        period.capex_paid_usd, rel=REL
    )
    (periodic_row,) = periodic.resale_at_horizon or []
    assert periodic_row.resale_usd == pytest.approx(resold, rel=REL)
    assert periodic.nominal_cost_usd == pytest.approx(plan.nominal_cost_usd, rel=REL)
    assert _clean(periodic, quarters)


def test_the_decision_counts_a_one_fleet_units_replacements_in_its_purchase_cash(
    tmp_path: Path,
) -> None:
    """The decision's purchase cash is every purchase the plan charges: with one fleet for 730
    days and a 547.5-day life under ends, n units are each bought twice, so the Buy line and
    "Purchase cash" say n x 2 x capex (before: n x capex beside a capex charge of twice that),
    and the capex paid is that x 1.1 (network and storage). A quarterly plan names no repeat."""
    single = _one_fleet(tmp_path, "730 days", None, None, "547.5 days")
    n = ceil(flat_need(single, "chat"))
    c, _ = capex(single)
    plan = planner.solve(single)
    d = decision(plan)
    (pool,) = [p for p in d.pools if p.bought_units > 0]
    assert pool.purchases_per_unit == 2
    assert d.purchase_usd == pytest.approx(n * 2 * c, rel=REL)
    assert d.capex_charged_usd == pytest.approx(d.purchase_usd, rel=REL)
    assert d.capex_paid_usd == pytest.approx(d.purchase_usd * 1.1, rel=REL)
    text = " ".join(summary_lines(d))
    assert f"Purchase cash {usd(n * 2 * c)}" in text
    assert "each bought 2 times" in text
    quarters = planner.solve(_one_fleet(tmp_path, "730 days", "1 quarter", None, "547.5 days"))
    assert all(p.purchases_per_unit == 1 for p in decision(quarters).pools)
    assert "bought 2 times" not in " ".join(summary_lines(decision(quarters)))


def test_the_verifier_catches_a_slip_in_the_lps_own_past_horizon_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verifier writes the discounting and monthly-billing conventions itself
    (planner/verify_costs.py), not imported from the LP's objective: an LP whose shared
    convention weighs the 10 days past the horizon at the horizon's own instant (a plausible
    slip, 1 / (1 + r)^(H / year) instead of the month's middle) charges a different total, and
    the plan is refused by cost_lines. (Before, the verifier imported these functions; this
    slip was still caught, by the after-horizon rows read at their own weights.)"""
    import planner.lp.objective as objective
    from fleetcore.errors import VerificationError

    def at_the_horizon(rate: float, horizon_s: float, start_s: float, end_s: float) -> float:
        past_s = max(0.0, end_s - max(start_s, horizon_s))
        return past_s * (1.0 + rate) ** -(horizon_s / 31_536_000.0)

    # the function's own code replaced, so every module holding it (an import of it included)
    # runs the slip, as a bug in a shared convention would
    monkeypatch.setattr(objective.past_horizon_weighted_s, "__code__", at_the_horizon.__code__)
    with pytest.raises(VerificationError, match="cost_lines"):
        planner.solve(_overhang(tmp_path, 0.1))
