"""What each cost figure is charged on and which basis it is printed at (session 26): maintenance
on a unit's capex with its network/storage share, the PUE an estimate's energy is priced at,
and the basis of compare's and sweep's $ per million tokens under economics.discount_rate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_cost_lines import LAB, only_cost_lines, solved_unverified

import planner
import planner.lp.objective as objective
from cli import main
from planner.plan import Plan

GOLDEN = Path(__file__).parent / "golden"
YEAR_S = 365 * 86400.0


def test_maintenance_is_charged_on_the_unit_with_its_network_and_storage() -> None:
    """frontier-lab (one 365-day period): each pool's maintenance = units held x capex x (1 +
    network_storage_capex_fraction) x maintenance_fraction_per_year x 1 year, by hand from the
    catalog: 59 GB200 NVL72 x $3.5M x 1.15 x 5% = $11,873,750 and 500 HGX H100 x $300k x 1.15
    x 5% = $8,625,000 (before session 26: capex alone, $10,325,000 at 59 units and $7,500,000).
    Session 33 (pergemm: each linear at its own GEMM shape, the B200-die BF16 fraction 0.61 ->
    0.58): the BF16 pretraining on GB200 reads MFU 51.7% (53.0% before) and takes 58.33 units
    (56.83), so the plan holds 59 racks (57 before: $11,471,250); the H100 pool is unchanged.
    Session 34 (the B200-die BF16 fraction fitted 0.58 -> 0.48 on the Megatron-Bridge GB200 BF16
    rows): the pretraining reads MFU 43.6% on TP4 x DP1260 and takes 69.15 units, so the plan
    holds 70 racks: 70 x $3.5M x 1.15 x 5% = $14,087,500."""
    scenario = planner.load_scenario(LAB)
    plan = Plan.from_dict(json.loads((GOLDEN / "frontier-lab.json").read_text()))
    assert scenario.data.economics.horizon_s == YEAR_S
    charged: dict[tuple[str, str], float] = {}
    for c in plan.costs_rows:
        if c.component == "maintenance":
            key = (c.datacenter or "", c.system or "")
            charged[key] = charged.get(key, 0.0) + c.cost_usd
    held = {(r.datacenter, r.system): r.owned_units for r in plan.schedule if r.owned_units}
    assert set(charged) == set(held) == {("dc-east", "gb200-nvl72"), ("dc-central", "hgx-h100")}
    for (d, s), units in held.items():
        spec = scenario.catalog.system(s)
        assert spec.network_storage_capex_fraction == 0.15
        assert spec.maintenance_fraction_per_year == 0.05
        by_hand = units * spec.capex_usd * 1.15 * 0.05
        assert charged[(d, s)] == pytest.approx(by_hand, rel=1e-9), (d, s)
    assert held[("dc-east", "gb200-nvl72")] == 70
    assert charged[("dc-east", "gb200-nvl72")] == pytest.approx(14_087_500, rel=1e-9)
    assert charged[("dc-central", "hgx-h100")] == pytest.approx(8_625_000, rel=1e-9)


def test_maintenance_on_capex_alone_is_caught_by_the_verifier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The LP built with the old maintenance (capex alone, network/storage left out): its cost
    rows, cash flow and objective agree with each other, and cost_lines, which recomputes
    maintenance from the catalog, names each pool's maintenance line."""

    def capex_alone(spec) -> float:
        return spec.capex_usd * (spec.maintenance_fraction_per_year or 0.0) / YEAR_S

    monkeypatch.setattr(objective, "maintenance_usd_per_s", capex_alone)
    plan, scenario, demands = solved_unverified(LAB, monkeypatch, "h100_only")
    msgs = only_cost_lines(plan, scenario, demands)
    pools = {(r.datacenter, r.system) for r in plan.schedule if r.owned_units > 0}
    assert pools
    for d, s in pools:
        assert any(m.startswith(f"{d}/{s} maintenance:") for m in msgs), msgs


ESTIMATE = ["estimate", "inference", "--model", "llama-3.1-70b", "--system", "gb200-nvl72"]


def _energy_note(out: str) -> tuple[float, str]:
    note = next(line for line in out.splitlines() if line.startswith("note: amortised"))
    found = re.search(r"energy \$([\d,.]+) \(([^;]+); ([^)]*\)?)\)", note)
    assert found, note
    return float(found.group(1).replace(",", "")), note


def test_estimate_says_its_default_pue_is_no_sites(capsys: pytest.CaptureFixture[str]) -> None:
    """`estimate inference --pricing amortised` without --pue prices energy at PUE 1 (IT power
    only) and says it is not a site's PUE; its energy figure by hand: 132 kW x 1 x $0.0806/kWh
    = $10.64/h. With --pue 1.2 (frontier-3y's dc-east): 132 x 1.2 x 0.0806 = $12.77/h, and the
    note says the PUE was given."""
    assert main([*ESTIMATE, "--pricing", "amortised"]) == 0
    energy_h, note = _energy_note(capsys.readouterr().out)
    assert energy_h == round(132 * 1.0 * 0.0806, 2) == 10.64
    assert "132 kW x PUE 1 x $0.0806/kWh; PUE 1, the default: IT power only, not a site's" in note
    assert "a plan charges its site's PUE" in note
    assert main([*ESTIMATE, "--pricing", "amortised", "--pue", "1.2"]) == 0
    energy_h, note = _energy_note(capsys.readouterr().out)
    assert energy_h == round(132 * 1.2 * 0.0806, 2) == 12.77
    assert "PUE 1.2 (--pue)" in note and "not a site's" not in note


def test_estimate_curve_says_its_pue(capsys: pytest.CaptureFixture[str]) -> None:
    """`estimate curve --pricing amortised` has no --pue: its header says the energy is at PUE 1,
    IT power only, not a site's; rental prices (energy in the price) say nothing of PUE."""
    args = ["estimate", "curve", "--model", "llama-3.1-70b", "--system", "gb200-nvl72"]
    assert main([*args, "--interactivity", "50", "--pricing", "amortised"]) == 0
    head = capsys.readouterr().out.splitlines()[1]
    assert head.startswith("amortised energy at PUE 1, the default: IT power only, not a site's")
    assert "--pue" not in head
    assert main([*args, "--interactivity", "50"]) == 0
    assert "PUE" not in capsys.readouterr().out


def test_usd_per_million_tokens_is_levelized_under_a_discount_rate(tmp_path: Path) -> None:
    """test_present_value's two-quarter case: chat serves 20M requests/day x 500 output tokens
    in Q3 and in Q4 (91.25 days each) on H100s at site a, the same plan at face value and at
    10%. At 10% its cost is a present value, each quarter's charges x w_t = 1 / 1.1^((t + 0.5) /
    4); $/M tokens divides it by the tokens weighed alike: chat_pv / (T_q (w_2 + w_3)) x 1e6.
    Cost and tokens fall evenly over Q3-Q4, so this is the face-value plan's $/M tokens (its
    cost / 2 T_q); before session 26 the present value was divided by tokens at face value,
    (w_2 + w_3) / 2 = 0.94 of it. compare says which basis: a "$/M tokens basis" row."""
    from test_present_value import RATE, candidate_case, weight

    from planner.comparison import plan_metrics

    tokens_q = 20e6 * 500 * 91.25
    metrics = {}
    for rate, name in ((None, "face"), (RATE, "pv")):
        candidate_case(tmp_path, 1e9, rate, name)  # the opening priced out: the plan stays at a
        plan = planner.solve(planner.load_scenario(tmp_path / f"{name}.yaml"))
        metrics[name] = plan_metrics(plan)
        assert metrics[name]["decode_tokens"]["chat"] == pytest.approx(2 * tokens_q, rel=1e-9)
    face, pv = metrics["face"], metrics["pv"]
    late = weight(2) + weight(3)
    chat_pv = pv["cost_by_workload_usd"]["chat"]
    chat_face = face["cost_by_workload_usd"]["chat"]
    assert chat_pv == pytest.approx(chat_face * late / 2, rel=1e-6)
    assert pv["usd_per_million_tokens"]["chat"] == pytest.approx(
        chat_pv / (tokens_q * late) * 1e6, rel=1e-9
    )
    assert face["usd_per_million_tokens"]["chat"] == pytest.approx(
        chat_face / (2 * tokens_q) * 1e6, rel=1e-9
    )
    assert pv["usd_per_million_tokens"]["chat"] == pytest.approx(
        face["usd_per_million_tokens"]["chat"], rel=1e-6
    )
    assert pv["usd_per_million_tokens_basis"].startswith("levelized")
    assert "usd_per_million_tokens_basis" not in face
    rows = {r["metric"]: r for r in planner.compare(tmp_path / "pv.yaml", [None]).table()}
    (column,) = [k for k in rows["total cost"] if k not in ("metric", "unit")]
    assert rows["$/M tokens basis"][column].startswith("levelized")
    assert rows["$/M tokens: chat"][column] == pytest.approx(
        pv["usd_per_million_tokens"]["chat"], rel=1e-9
    )
    face_rows = {r["metric"]: r for r in planner.compare(tmp_path / "face.yaml", [None]).table()}
    assert face_rows["$/M tokens basis"][column] == "face value"


def test_rl_verifiers_nvl72_cost_lines_reconcile_with_the_catalog() -> None:
    """Every cost line rl-verifiers --scenario nvl72 prints, by hand from the catalog and the
    site (90 days, straight line, PUE 1.2, $0.0806/kWh, no facility charge): 14 GB200 NVL72
    ($3.5M, 5 y, network/storage 0.15, maintenance 5%/y, 132 kW, idle draw 0.25) and 78 CPU
    servers ($30k, 5 y, 0.10, 5%/y, 1 kW). The idle line pays for units in service but not
    working, so it holds their idle draw too: 0.25 x (14 - busy units) x 2,160 h x 132 kW x
    1.2 x $0.0806 = $6,894 a rack idle; busy 13.067 units: 0.933 x $6,894 = $6,430, and the
    idle line $237,835 = the idle share of capex, network/storage and maintenance ($160,977 +
    $24,147 + $46,281) + $6,430 (before session 26 energy split by busy time alone: $238,548
    printed for $245,176, at busy 13.039). Session 33 (pergemm, B200-die BF16 0.61 -> 0.58):
    the trainer reads MFU 52.0% (54.0%), so busy rose 13.039 -> 13.067 and the idle line fell
    $245,176 -> $237,835 (idle draw $6,628 -> $6,430); the 14 racks and 78 servers held.
    Session 34 (the B200-die BF16 fraction fitted 0.58 -> 0.48): the trainer reads MFU 44.0%,
    busy 13.067 -> 13.203 units, idle draw 0.797 x $6,894 = $5,493 and the idle line $203,178
    ($137,520 + $20,628 + $39,537 + $5,493); the 14 racks and 78 servers held."""
    from planner.report import format_plan

    # solved (the golden, test_golden: the same plan), so the report has the catalog's prices
    plan = planner.solve(planner.load_scenario("rl-verifiers", ["nvl72"]))
    (pool,) = [r for r in plan.schedule if r.system == "gb200-nvl72"]
    (cpu,) = plan.cpu_schedule
    assert (pool.owned_units, pool.ordered, cpu.ordered) == (14, 14, 78)
    busy = pool.busy_units
    years = 90 / 365
    hours = 90 * 24
    kwh_usd = 1.2 * 0.0806
    capex = 14 * 3.5e6 * 90 / (5 * 365)
    by_hand = {
        "capex": capex,
        "network_storage": capex * 0.15,
        "maintenance": 14 * 3.5e6 * 1.15 * 0.05 * years,
        "energy": 132 * kwh_usd * hours * ((1 - 0.25) * busy + 0.25 * 14),
        "cpu_servers": 78
        * (30e3 * 1.10 * 90 / (5 * 365) + 1.0 * kwh_usd * hours + 30e3 * 1.10 * 0.05 * years),
    }
    charged: dict[str, float] = {}
    for c in plan.costs_rows:
        charged[c.component] = charged.get(c.component, 0.0) + c.cost_usd
    assert charged == pytest.approx(by_hand, rel=1e-9)
    assert plan.total_cost_usd == pytest.approx(sum(by_hand.values()), rel=1e-9)
    idle_share = (14 - busy) / 14
    idle_draw = 0.25 * (14 - busy) * hours * 132 * kwh_usd
    ownership = by_hand["capex"] + by_hand["network_storage"] + by_hand["maintenance"]
    idle_usd = ownership * idle_share + idle_draw
    assert busy == pytest.approx(13.203, abs=5e-4)
    assert round(idle_draw) == 5_493
    idle_rows = [c for c in plan.costs_rows if c.workload == "(idle)"]
    assert sum(c.cost_usd for c in idle_rows) == pytest.approx(idle_usd, rel=1e-9)
    (cash,) = plan.cash_flow
    assert cash.capex_paid_usd == pytest.approx(14 * 3.5e6 * 1.15 + 78 * 30e3 * 1.10, rel=1e-12)
    text = " ".join(format_plan(plan).split())
    assert f"Idle capacity: 5% of the cost (${idle_usd:,.0f}) pays for units" in text
    assert "Idle capacity: 5% of the cost ($203,178)" in text
    assert "Purchase cash $51.34M" in text and "purchases pay $58.92M" in text
    for component in ("maintenance", "energy", "network_storage", "cpu_servers"):
        assert f"{component} ${by_hand[component]:,.0f}" in text, component
    assert "energy's idle draw of owned units not working to (idle)" in text


def test_estimate_scaling_says_its_pue(capsys: pytest.CaptureFixture[str]) -> None:
    """`estimate scaling --pricing amortised` (no --pue) says its energy is at PUE 1, not a
    site's, above its priced table; rental pricing says nothing of PUE."""
    args = ["estimate", "scaling", "--like", "llama-3.1-70b", "--tokens", "15T"]
    args += ["--served-tokens", "1e15", "--system", "gb200-nvl72", "--ratios", "20"]
    assert main([*args, "--pricing", "amortised"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("amortised energy at PUE 1"))
    assert "not a site's" in lines[at] and lines[at + 1].split()[-1] == "$"
    assert main(args) == 0
    assert "PUE" not in capsys.readouterr().out
