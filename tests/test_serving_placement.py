"""Serving placement and failure headroom: N+k racks (spare units of every pool a tier serves
from) and N+k sites (any k sites lost, the rest serve the load), with optima computed here from
the inputs (tests/test_lp.py helpers): electricity 0, so a plan's cost is its units' capex."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from test_lp import REL, by_name, capex_per_unit, ceil, fleet, inference, site, write_scenario

import planner
from fleetcore.errors import ConfigError


def one_pool(tmp_path: Path, **tier: Any) -> planner.Scenario:
    sites = {"a": site({"hgx-h100": {"max_units": 200}})}
    path = write_scenario(tmp_path, sites, {"chat": inference("300M", **tier)}, name="pool")
    return planner.load_scenario(path)


def units_needed(sc: planner.Scenario) -> float:
    """Units of hgx-h100 busy all year to serve the tier: decode + prefill."""
    demand = by_name(sc)["chat"]
    return sum(r.amount / (r.rates["hgx-h100"].per_unit_s * demand.window_s) for r in demand.roles)


@pytest.mark.parametrize("k", [1, 2])
def test_n_plus_k_racks_adds_exactly_k_spare_units(tmp_path: Path, k: int) -> None:
    base = one_pool(tmp_path)
    need = units_needed(base)
    plain = planner.solve(base)
    assert fleet(plain) == {("a", "hgx-h100"): ceil(need)}
    (row,) = plain.serving
    assert row.headroom == "none" and row.spare_units == {}

    sc = one_pool(tmp_path, headroom={"k": k, "domain": "rack"})
    plan = planner.solve(sc)
    units = ceil(need + k)
    assert units == ceil(need) + k  # exactly k more units than without headroom
    assert fleet(plan) == {("a", "hgx-h100"): units}
    assert math.isclose(plan.total_cost_usd, units * capex_per_unit(sc, "hgx-h100"), rel_tol=REL)
    (row,) = plan.serving
    assert row.headroom == f"N+{k} racks" and row.spare_units == {"a/hgx-h100/p0": k}
    assert "rack_headroom" in plan.checks


def test_n_plus_2_sites_of_three_puts_the_whole_load_at_every_site(tmp_path: Path) -> None:
    # Losing any two of three equal sites leaves one, which must serve all of the load alone.
    sites = {d: site({"hgx-h100": {"max_units": 200}}) for d in ("a", "b", "c")}
    tier = inference("300M", headroom={"k": 2, "domain": "site"})
    sc = planner.load_scenario(write_scenario(tmp_path, sites, {"chat": tier}, name="sites"))
    per_site = ceil(units_needed(sc))
    plan = planner.solve(sc)
    assert fleet(plan) == {(d, "hgx-h100"): per_site for d in ("a", "b", "c")}
    expected = 3 * per_site * capex_per_unit(sc, "hgx-h100")
    assert math.isclose(plan.total_cost_usd, expected, rel_tol=REL)
    assert plan.serving[0].headroom == "N+2 sites" and "site_loss" in plan.checks


def test_prefill_runs_with_its_decode_and_its_unit_ratio_is_reported(tmp_path: Path) -> None:
    sc = one_pool(tmp_path)
    demand = by_name(sc)["chat"]
    roles = {r.name: r for r in demand.roles}
    rate = {n: r.amount / r.rates["hgx-h100"].per_unit_s for n, r in roles.items()}
    (row,) = planner.solve(sc).serving
    assert row.prefill == "co-located with its decode"
    assert row.kv_bytes_per_s_between_sites == 0.0
    assert math.isclose(row.prefill_to_decode_units, rate["prefill"] / rate["decode"], rel_tol=REL)


def test_headroom_and_survive_site_loss_are_one_or_the_other(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="survive_site_loss is headroom"):
        one_pool(tmp_path, survive_site_loss=True, headroom={"k": 1, "domain": "site"})
    with pytest.raises(ConfigError, match="domain"):
        one_pool(tmp_path, headroom={"k": 1, "domain": "row"})
