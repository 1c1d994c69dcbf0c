"""The value of every limit (counterfactual re-solves, planner/limits.py) and sensitivity to every
estimate (planner/sensitivity.py), on tiny scenarios whose optima are computed here from the
catalog figures, as tests/test_lp.py does."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from test_lp import (
    REL,
    S_PER_H,
    by_name,
    capex_per_unit,
    ceil,
    fleet,
    rl_link_case,
    rl_link_expectations,
    site,
    unit_need,
    usd_per_busy_hour,
    write_scenario,
)

import cli
import planner
from fleetcore.errors import ConfigError
from hardware.catalog import estimates, load_catalog
from planner.limits import value_limits
from planner.report import format_plan
from planner.sensitivity import sensitivity

H100_W = 10200.0


def pretrain(tokens: str = "1T") -> dict[str, Any]:
    return {
        "kind": "pretrain",
        "model": "llama-3.1-8b",
        "tokens": tokens,
        "deadline": "30 days",
        "goodput": 0.9,
        "global_batch_tokens": "4M",
    }


# -- the value of a power cap that moves a one-site training job ----------------------------


def capped_job(tmp_path: Path, units_under_cap: float) -> Path:
    """Site a (PUE 1.2, $0.05/kWh) has a cap that fits `units_under_cap` HGX H100; site b
    (PUE 1.3, $0.12/kWh) has no binding cap. A pretraining job runs on one site."""
    cap_w = units_under_cap * H100_W * 1.2
    return write_scenario(
        tmp_path,
        {
            "a": site({"hgx-h100": {"max_units": 100}}, cap=f"{cap_w} W", pue=1.2, price=0.05),
            "b": site({"hgx-h100": {"max_units": 100}}, pue=1.3, price=0.12),
        },
        {"pt": pretrain()},
        name="capped-job",
    )


def test_power_cap_value_equals_the_hand_computed_saving(tmp_path: Path) -> None:
    """The job needs n = ceil(need) units; a's cap fits n - 0.5, so the whole job goes to b
    (one site) though a's energy is cheaper. Lifting a's cap moves it back: the saving is the
    energy of its busy hours at b minus at a (the capex is the same n units either way):
        saving = busy_h x (usd_per_busy_hour(b) - usd_per_busy_hour(a)),
        busy_h = work / rate / 3600.
    The LP relaxation splits the job instead, so the row is not binding in the whole-unit plan
    (slack of half a unit's power is reported only when less than one unit is left): the
    counterfactual is what values it. +10% of the cap (n - 0.5 -> 1.1 (n - 0.5) units) fits the
    job again when 1.1 (n - 0.5) >= n, i.e. n >= 5.5."""
    probe = planner.load_scenario(capped_job(tmp_path, 1000.0))
    demand = by_name(probe)["pt"]
    (role,) = demand.roles
    n = ceil(unit_need(demand, role, "hgx-h100"))
    assert n >= 6
    sc = planner.load_scenario(capped_job(tmp_path, n - 0.5))
    plan = planner.solve(sc)
    assert fleet(plan) == {("a", "hgx-h100"): 0, ("b", "hgx-h100"): n}
    busy_h = role.amount / role.rates["hgx-h100"].per_unit_s / S_PER_H
    at_b = n * capex_per_unit(sc, "hgx-h100") + busy_h * usd_per_busy_hour(sc, "b", "hgx-h100")
    assert math.isclose(plan.total_cost_usd, at_b, rel_tol=REL)
    saving = busy_h * (
        usd_per_busy_hour(sc, "b", "hgx-h100") - usd_per_busy_hour(sc, "a", "hgx-h100")
    )
    assert saving > 0

    rows = value_limits(sc, plan, jobs=2)
    by_key = {(r.limit, r.step.startswith("+")): r for r in rows}
    lifted = by_key[("power:a", False)]
    assert lifted.status == "optimal" and lifted.unused
    assert lifted.saving_usd is not None and lifted.saving_proven_usd is not None
    assert math.isclose(lifted.saving_usd, saving, rel_tol=1e-6)
    assert math.isclose(lifted.saving_proven_usd, saving, rel_tol=1e-6)  # gap 0
    step = by_key[("power:a", True)]
    assert step.saving_usd is not None and math.isclose(step.saving_usd, saving, rel_tol=1e-6)
    # Site b's cap (100 MW) cannot bind: not re-solved. Nothing else is worth anything.
    assert ("power:b", False) not in by_key
    for r in rows:
        if r.kind == "limit" and r.limit != "power:a":
            assert r.saving_usd is not None and abs(r.saving_usd) <= 1e-6 * plan.total_cost_usd
    # Forcing the job off b's pool leaves nowhere to run it: infeasible, recorded as such.
    assert by_key[("choice:pool:b:hgx-h100", False)].status == "infeasible"

    plan.limit_values = rows
    assert plan.limits_with_value == ["power:a"]
    data = json.loads(plan.to_json())
    assert data["limits_with_value"] == ["power:a"]
    assert {r["limit"] for r in data["limit_values"]} >= {"power:a", "avail:a:hgx-h100"}
    text = format_plan(plan)
    assert "none: no power cap" not in text
    assert "counterfactual re-solves find value in: power:a" in text
    assert "Value of limits" in text


def test_thin_link_value_is_the_split_it_forbids(tmp_path: Path) -> None:
    """tests/test_lp.py's RL link case: a link thinner than the weight stream alone (c < w)
    keeps everything at g; lifted x10 (10 c >= w + k, enough for any split) the plan splits
    generation from training. The link's value is the cost of "all at g" minus the cheaper
    split, both computed by rl_link_expectations. At +10% (1.1 c < w) it is still too thin: 0."""
    probe = rl_link_expectations(planner.load_scenario(rl_link_case(tmp_path, 1000.0)))
    w_gbs, k_gbs, options = probe["w_gbs"], probe["k_gbs"], probe["options"]
    low = (w_gbs + k_gbs) / 10 * 1.01
    assert low <= 0.9 * w_gbs  # a capacity that is thin, yet fat enough once lifted x10
    sc = planner.load_scenario(rl_link_case(tmp_path, 0.9 * w_gbs))
    plan = planner.solve(sc)
    assert math.isclose(plan.total_cost_usd, options["all_at_g"][0], rel_tol=REL)
    split = min(options["trainer_t"][0], options["trainer_g"][0])
    rows = {(r.limit, r.step.startswith("+")): r for r in value_limits(sc, plan, jobs=1)}
    lifted, step = rows[("link:t--g", False)], rows[("link:t--g", True)]
    assert lifted.saving_usd is not None and step.saving_usd is not None
    assert math.isclose(lifted.saving_usd, options["all_at_g"][0] - split, rel_tol=1e-6)
    assert abs(step.saving_usd) <= 1e-6 * plan.total_cost_usd


def test_plan_without_the_flag_has_no_limit_keys(tmp_path: Path) -> None:
    sc = planner.load_scenario(capped_job(tmp_path, 1000.0))
    plan = planner.solve(sc)
    data = json.loads(plan.to_json())
    assert "limit_values" not in data and "limits_with_value" not in data
    assert "Value of limits" not in format_plan(plan)


def test_value_limits_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = capped_job(tmp_path, 3.5)
    out = tmp_path / "out"
    args = ["plan", str(path), "--value-limits", "--jobs", "1", "--json", "--out", str(out)]
    assert cli.main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert "power:a" in data["limits_with_value"]
    assert "saving_usd" in (out / "limit_values.csv").read_text().splitlines()[0]
    assert cli.main(["plan", str(path), "--value-limits", "--relax"]) == 1


# -- sensitivity: a capex range that flips the system choice at the computed break-even -----


def two_systems(tmp_path: Path, ranges: dict[str, Any] | None = None) -> Path:
    """One site with HGX H100 ($100k) and HGX B200 ($300k), electricity 0: the cost is capex
    alone, so the job picks the system with the lower ceil(need_s) x capex_s."""
    b200: dict[str, Any] = {"capex_usd": 300000}
    if ranges is not None:
        b200["ranges"] = ranges
    return write_scenario(
        tmp_path,
        {"a": site({"hgx-h100": {"max_units": 100}, "hgx-b200": {"max_units": 100}})},
        {"pt": pretrain()},
        catalog={"systems": {"hgx-h100": {"capex_usd": 100000}, "hgx-b200": b200}},
        name="two",
    )


def test_capex_range_flips_the_system_at_the_break_even(tmp_path: Path) -> None:
    """Break-even B200 capex: n_b x capex_b = n_h x $100k (same lifetime, energy 0), so
    capex_b* = n_h x 100,000 / n_b. The range's low end lies below it (B200 wins there), the
    default $300k above it (H100 wins); bisection to 0.1% of the range finds capex_b* within
    its half-width."""
    probe = planner.load_scenario(two_systems(tmp_path))
    demand = by_name(probe)["pt"]
    (role,) = demand.roles
    n_h = ceil(unit_need(demand, role, "hgx-h100"))
    n_b = ceil(unit_need(demand, role, "hgx-b200"))
    break_even = n_h * 100000 / n_b
    assert break_even < 300000  # H100 wins at the default
    low = round(break_even * 0.6)
    sc = planner.load_scenario(
        two_systems(
            tmp_path,
            {"capex_usd": {"low": low, "high": 400000, "source": "test: a range across the tie"}},
        )
    )
    tolerance = 0.001
    result = sensitivity(sc, only=["systems.hgx-b200.capex_usd"], jobs=1, tolerance=tolerance)
    (row,) = result.rows
    lifetime_share = sc.data.economics.horizon_s / sc.catalog.system("hgx-b200").lifetime_s
    assert result.base_cost_usd == pytest.approx(n_h * 100000 * lifetime_share, rel=REL)
    assert row.low_cost_usd == pytest.approx(n_b * low * lifetime_share, rel=REL)
    assert row.high_cost_usd == pytest.approx(result.base_cost_usd, rel=REL)  # still H100
    assert row.swing_usd == pytest.approx(result.base_cost_usd - row.low_cost_usd, rel=REL)
    assert "pt moves to a/hgx-b200" in row.low_choice and not row.high_choice
    assert row.flips and row.break_even_low is not None and row.break_even_high is None
    half = row.break_even_halfwidth["low"]
    assert half <= tolerance * (300000 - low) / 2 + 1e-6
    assert abs(row.break_even_low - break_even) <= half + 1e-6
    text = result.table()
    assert "flip the choice of system or site" in text and "systems.hgx-b200.capex_usd" in text
    data = json.loads(result.to_json())
    assert data["flips"] == ["systems.hgx-b200.capex_usd"]


def test_sensitivity_cli_plot_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = two_systems(tmp_path)
    png = tmp_path / "tornado.png"
    args = ["sensitivity", str(path), "--only", "systems.hgx-h100.capex_usd", "--jobs", "1"]
    assert cli.main([*args, "--json", "--plot", str(png)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["figure"] for f in data["figures"]] == ["systems.hgx-h100.capex_usd"]
    assert png.read_bytes()[:4] == b"\x89PNG"
    # args[:3] ended in "--only": the call failed on a stray argument, not on the glob
    assert cli.main([*args[:2], "--only", "nothing.*"]) == 1
    assert "matches 'nothing.*' (names are kind.entry.figure" in capsys.readouterr().err


# -- ranges in the catalog ------------------------------------------------------------------


def test_every_shipped_estimate_has_a_range_with_a_source() -> None:
    found = estimates(load_catalog())
    assert found, "the shipped catalog marks estimates"
    for est in found:
        assert est.low is not None and est.high is not None, est.path
        assert est.low <= est.default <= est.high, est.path
        assert est.range_source, est.path


def test_trn2_capex_range_is_parsed(tmp_path: Path) -> None:
    trn2 = {e.figure: e for e in estimates(load_catalog()) if e.entry == "trn2-server"}
    assert (trn2["capex_usd"].low, trn2["capex_usd"].high) == (150000.0, 450000.0)
    assert (trn2["power"].low, trn2["power"].high) == (8500.0, 12000.0)  # '8.5 kW', '12 kW'
    assert trn2["lifetime"].low == 4 * 365 * 86400.0


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"capex_usd": {"low": 350000, "high": 400000, "source": "x-test"}}, "low <= default"),
        ({"power": {"low": 9, "high": "20 kW", "source": "x-test"}}, "written like the figure"),
        ({"capex": {"low": 1, "high": 2, "source": "x-test"}}, "not a figure of this entry"),
    ],
)
def test_bad_ranges_are_clear_errors(tmp_path: Path, ranges: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        planner.load_scenario(two_systems(tmp_path, ranges))
    assert message in str(err.value)
    assert "two-catalog.yaml" in str(err.value)


def test_an_estimate_without_a_range_is_a_clear_error(tmp_path: Path) -> None:
    path = write_scenario(
        tmp_path,
        {"a": site({"hgx-h100": {"max_units": 100}})},
        {"pt": pretrain()},
        catalog={"systems": {"hgx-h100": {"sources": {"rental_usd_per_hour": "estimate: mine"}}}},
        name="norange",
    )
    sc = planner.load_scenario(path)
    with pytest.raises(ConfigError) as err:
        sensitivity(sc, only=["systems.hgx-h100.rental_usd_per_hour"], jobs=1)
    assert "systems.hgx-h100.rental_usd_per_hour" in str(err.value)
    assert "no range" in str(err.value)


def test_hardware_show_lists_ranges(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["hardware", "show", "trn2-server", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    figures = {f["key"]: f for f in data["figures"]}
    assert "ranges.capex_usd" not in figures
    assert figures["capex_usd"]["range"]["low"] == 150000.0
    assert figures["power"]["range"]["high"] == 12000.0
    assert figures["accelerators"]["range"] is None
    assert cli.main(["hardware", "show", "trn2-server"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "8.5 kW - 12 kW" in rows["power"]
    # in the value column's units, without float noise or a Python repr: the lead time's range
    # was in seconds beside a value in days, 0.11249999999999999, Contract(term_s=...)
    assert "182.5 days" in rows["lead_time"]
    # the range its source states, 2-4 quarters (session 34; the generic +-25% before,
    # "136.875 days - 228.125 days")
    assert "182.5 days - 1 years" in rows["lead_time"]
    assert "$150,000 - $450,000" in rows["capex_usd"]
    assert "0.1125 - 0.1875" in rows["network_storage_capex_fraction"]
    assert "term 1 years, usd_per_hour $23.24/h; term 3 years" in rows["contracts"]
    assert "Contract(" not in out and "99999" not in out and "00000000" not in out


def test_generation_on_a_system_the_run_cannot_train_on_spreads_over_the_run(
    tmp_path: Path,
) -> None:
    """rl-verifiers with trn2-server closed to training (what --value-limits' choice:system
    re-solve does): its generation was rated at the fewest units holding the training state,
    one 16-chip instance holding all 256K samples of an update (a 66,620 s batch against a
    1,244 s pace), 29% above the same generation on the run's 1,344 chips, and the forced
    choice came out $413K cheaper than the optimal plan. Rated over the run's accelerators, as
    the trainable trn2-ultraserver sizes them, forcing the choice costs more, as it must."""
    import shutil

    from planner.limits import Counterfactual, _row

    scen = tmp_path / "rl.yaml"
    shutil.copy(Path(planner.__file__).parent / "scenarios/rl-verifiers.yaml", scen)
    (tmp_path / "notrain.yaml").write_text("systems:\n  trn2-server:\n    training: null\n")
    text = scen.read_text().replace(
        "\ntopology: rainier-campus\n", "\ntopology: rainier-campus\ncatalog: [notrain.yaml]\n", 1
    )
    scen.write_text(text)
    base = planner.solve(planner.load_scenario("rl-verifiers"))
    forced = planner.solve(planner.load_scenario(scen))
    gen = [
        a
        for a in forced.allocations
        if (a.workload, a.role, a.system) == ("rl-code", "generate", "trn2-server")
    ]
    assert gen and all("(1,344 accelerators)" in a.rate_derivation for a in gen)
    assert base.lower_bound_usd is not None
    assert forced.total_cost_usd >= base.lower_bound_usd
    # and a forced choice that does come out cheaper is proven by the plan's bound, not by
    # plan cost - its own bound (which overstated the saving)
    cf = Counterfactual("choice:system:x", "choice", "", "", "", ())
    cheaper = base.lower_bound_usd - 1000.0
    result = {
        "outputs": {"status": "optimal", "total_cost_usd": cheaper},
        "plan": {"allocations": [], "lower_bound_usd": cheaper - 5000.0},
    }
    row = _row(base, cf, result)
    assert row.saving_usd == pytest.approx(base.total_cost_usd - cheaper)
    assert row.saving_proven_usd == pytest.approx(1000.0)
    # within the gap: cheaper than the plan but not than its bound proves nothing, and is not
    # read as an extra cost proven
    within = base.total_cost_usd - 1.0
    result["outputs"]["total_cost_usd"] = within
    assert within > base.lower_bound_usd
    row = _row(base, cf, result)
    assert row.saving_proven_usd == 0.0
    base.limit_values = [row]
    assert base.limits_with_value == []


def test_a_sensitivity_end_that_fails_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`planner sensitivity --time-limit` short enough to stop one end's re-solve printed
    "$250,000 -> failed" with no reason anywhere (the row's status read "failed at an end of
    the range"). The row's status and the text under the table now give the end, its status
    and its error. The failure is made here (a replaced re-solve), not timed."""
    from test_after_horizon import _tail

    import planner.sensitivity as sens_module

    real = sens_module.solve_variants

    def one_end_fails(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        results = real(*args, **kwargs)
        outputs = {"status": "failed", "error": "TimeLimitError: no plan found", "diagnosis": []}
        return [results[0], {"plan": None, "outputs": outputs}, *results[2:]]

    monkeypatch.setattr(sens_module, "solve_variants", one_end_fails)
    result = sens_module.sensitivity(
        _tail(tmp_path, "ends"), only=["systems.hgx-h100.capex_usd"], jobs=1, break_even=False
    )
    (row,) = result.rows
    why = "low end failed: TimeLimitError: no plan found"
    assert row.status == f"failed at an end of the range ({why})"
    assert f"  systems.hgx-h100.capex_usd: failed at an end of the range ({why})" in result.table()
    # "no estimate flips" is said only of the ends solved: the failed one is unknown
    assert "among the ends that were solved (1 figure(s) with an end that failed" in (
        result.table()
    )


def test_a_value_limits_re_solve_that_fails_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--value-limits under a short --time-limit: a re-solve stopped by it printed status
    "failed" and "-" with no reason. Its row's status now carries the error. The failure is
    made here (a replaced re-solve), not timed."""
    from test_after_horizon import _tail

    import planner.limits as limits_module

    real = limits_module.solve_variants

    def all_fail(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        outputs = {"status": "failed", "error": "TimeLimitError: no plan found", "diagnosis": []}
        return [{"plan": None, "outputs": outputs} for _ in real(*args, **kwargs)]

    monkeypatch.setattr(limits_module, "solve_variants", all_fail)
    sc = _tail(tmp_path, "ends")
    rows = value_limits(sc, planner.solve(sc), jobs=1)
    assert rows and {r.status for r in rows} == {"failed: TimeLimitError: no plan found"}
    assert all(r.total_cost_usd is None for r in rows)
