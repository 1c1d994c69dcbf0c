"""The indexes of the allocation columns that declare_allocations fills as it declares them
(planner/lp/variables.py; Model.index_allocations) hold what a scan of u builds (the scans
the model made before: by pool, by role and period, by workload, role, period and site, each
list in declaration order); the column groups by pool of planner/lp/incumbent.py
`pool_columns` and the allocations in use (`Model.u_in_use`) are those of a scan of every
column; the columns made at once are new_var's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from planner.api import demands
from planner.lp.build import build
from planner.lp.incumbent import pool_columns
from planner.lp.model import Model
from planner.scenario import SCENARIO_DIR, load_scenario

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_lp import write_scenario  # noqa: E402


def _model(path: Path) -> Model:
    scenario = load_scenario(path)
    return build(scenario, demands(scenario))


@pytest.fixture(
    scope="module", params=["fleet", "frontier-3y", "frontier-lab", "rl-verifiers--rental"]
)
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Model:
    if request.param == "fleet":  # quarters with mixed pricing, pretraining, RL, serving
        directory = tmp_path_factory.mktemp("fleet")
        return _model(write_scenario(directory, 4, 3, 4, 1, "1 quarter", "2 years", 2.0))
    name, _, override = request.param.partition("--")
    scenario = load_scenario(SCENARIO_DIR / f"{name}.yaml", [override] if override else [])
    return build(scenario, demands(scenario))


def _scanned(model: Model) -> tuple[dict, dict, dict]:
    """The three indexes as scans of u and u_by_role build them."""
    by_pool: dict = {}
    for key, var in model.u.items():
        by_pool.setdefault((key[2], key[3]), []).append((key, var))
    by_role_period: dict = {}
    grouped: dict = {}
    for key, var in model.u.items():
        grouped.setdefault(key[:1], []).append((key, var))
    for (w, r), entries in model.u_by_role.items():
        for entry in entries:
            by_role_period.setdefault((w, r, entry[2].index), []).append(entry)
            grouped.setdefault((w, r, entry[2].index, entry[0]), []).append(entry)
            grouped.setdefault((w, r, None, entry[0]), []).append(entry)
    return by_pool, by_role_period, grouped


def test_declared_indexes_are_the_scans(model: Model) -> None:
    by_pool, by_role_period, grouped = _scanned(model)
    assert model.u, "a model with allocations"
    # By pool: the same pools in the same order (pool_columns reads them in order).
    assert list(model.u_by_pool().items()) == list(by_pool.items())
    for key, entries in by_role_period.items():
        period = model.periods[key[2]]
        assert model.u_of_role(key[0], key[1], period) == entries
    for key, entries in grouped.items():
        if len(key) == 1:
            demand = next(d for d in model.demands if d.name == key[0])
            roles = {r.name for r in demand.roles}
            assert list(model.work_of(demand, roles)) == entries
        else:
            w, r, p, d = key
            period = None if p is None else model.periods[p]
            assert model.u_of_role_at(w, r, period, d) == entries
    # u_by_role as the scalar declaration made it: an entry per u, in u's order.
    flat = [(w, r, d, s, p.index) for (w, r), es in model.u_by_role.items() for d, s, p, _ in es]
    assert sorted(flat) == sorted(model.u) and len(flat) == len(model.u)
    for (w, r), entries in model.u_by_role.items():
        assert entries, (w, r)
        keys = [(w, r, d, s, p.index) for d, s, p, _ in entries]
        order = list(model.u)
        assert [order.index(k) for k in keys] == sorted(order.index(k) for k in keys)


def test_pool_and_period_indexes_are_the_scans(model: Model) -> None:
    """u by (d, s, LP period) and by (d, s, calendar period) as families units and ownedbusy
    scanned u for them: keys in first-appearance order, each list in u's order; by calendar
    period the columns and their LP periods' lengths in hours."""
    by_p: dict = {}
    by_t: dict = {}
    for (_w, _r, d, s, p), var in model.u.items():
        by_p.setdefault((d, s, p), []).append(var)
        held = by_t.setdefault((d, s, model.periods[p].calendar), ([], []))
        held[0].append(var)
        held[1].append((model.periods[p].end_s - model.periods[p].start_s) / 3600.0)
    declared = model.u_by_pool_period()
    assert list(declared[0].items()) == list(by_p.items())
    assert list(declared[1].items()) == list(by_t.items())
    model._u_by_period = None  # made again by a scan: the same
    assert model.u_by_pool_period() == declared


def test_units_in_service_are_the_scan_of_serving_orders(model: Model) -> None:
    """in_service, leased and orders_serving (made per pool, each order put into the periods it
    serves in) hold what testing every order of the pool against serving_orders(s, t) finds:
    bought units that arrived and are not retired, then rent, the contracts covering t, spot,
    each in declaration order."""
    model._memo.clear()  # made again from the orders, as a family asks first

    def scanned(pool: tuple[str, str], t: int) -> tuple[list, list]:
        d, s = pool
        serving, covering = model.serving_orders(s, t)
        bought = [
            var for (d2, s2, t0), var in model.buy.items() if (d2, s2) == pool and t0 in serving
        ]
        contracted = [
            var
            for (d2, s2, t0, k), var in model.contract.items()
            if (d2, s2) == pool and (t0, k) in covering
        ]
        leased = [model.rent[(d, s, t)]] if (d, s, t) in model.rent else []
        leased += contracted
        leased += [model.spot[(d, s, t)]] if (d, s, t) in model.spot else []
        return bought, leased

    seen_bought = seen_contracted = 0
    for pool in model.pools():
        for c in model.calendar:
            bought, leased = scanned(pool, c.index)
            assert model.in_service_cols(pool, c.index) == bought + leased
            assert model.in_service_cols(pool, c.index, rented=False) == bought
            assert model.in_service(pool, c.index) == [(v, 1.0) for v in bought + leased]
            assert model.leased_cols(pool, c.index) == leased
            assert model.leased(pool, c.index) == [(v, 1.0) for v in leased]
            serving, covering = model.orders_serving(pool, c.index)
            assert serving == bought
            assert covering == [v for v in leased if v in set(model.contract.values())]
            seen_bought += len(bought)
            seen_contracted += len(covering)
    assert seen_bought > 0 or not model.buy
    assert seen_contracted > 0 or not model.contract


def test_allocation_columns_are_new_vars_names_and_bounds(model: Model) -> None:
    """Named by new_var's counter in declaration order (u1, u2, ... between the other
    prefixes), continuous, >= 0, no upper bound."""
    numbers = [int(var.name[1:]) for var in model.u.values()]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert all(v.name.startswith("u") for v in model.u.values())
    assert {(v.lowBound, v.upBound, v.cat) for v in model.u.values()} == {(0, None, "Continuous")}
    assert max(numbers) <= model.n_vars


def test_pool_columns_and_allocations_in_use_are_the_scans(model: Model) -> None:
    for i, var in enumerate(model.prob.variables()):
        var.index = i
        var.varValue = [0.0, None, 1.5, -0.0, 1e-12][i % 5]
    expected: dict = {}
    for fleet in (model.buy, model.rent, model.spot, model.owned_busy_h):
        for key, var in fleet.items():
            expected.setdefault((key[0], key[1]), []).append(var.index)
    for key, var in model.contract.items():
        expected.setdefault((key[0], key[1]), []).append(var.index)
    for work in (model.u, model.running):
        for key, var in work.items():
            expected.setdefault((key[2], key[3]), []).append(var.index)
    for key, var in model.serves.items():
        expected.setdefault((key[1], key[2]), []).append(var.index)
    assert list(pool_columns(model).items()) == list(expected.items())
    in_use = [(k, v) for k, v in model.u.items() if v.varValue is None or v.varValue != 0]
    assert model.u_in_use() == in_use
    assert any(v.varValue is None for _, v in in_use) and any(v.varValue for _, v in in_use)


def test_check_magnitudes_finds_every_coefficient_the_solver_cannot_hold() -> None:
    """planner/lp/solve.py `check_magnitudes` finds the largest magnitude of all coefficients
    at once before naming rows (`_large_rows`): a coefficient of +-2e15 in any one row, or a
    right-hand side of +-3e15, is refused as bad input naming that row; the model as built
    passes; 1e15 - 1 (just below the solver's limit) passes."""
    from fleetcore.errors import ConfigError
    from planner.lp.solve import MAX_COEFFICIENT, check_magnitudes

    scenario = load_scenario(SCENARIO_DIR / "frontier-3y.yaml")
    model = build(scenario, demands(scenario))
    check_magnitudes(model)
    labels = list(model.constraints)
    for label in (labels[0], labels[len(labels) // 2], labels[-1]):
        row = model.constraints[label]
        col, coef = next(iter(row.items()))
        for bad in (2e15, -2e15):
            row[col] = bad
            with pytest.raises(ConfigError, match=f"row {label}"):
                check_magnitudes(model)
        row[col] = MAX_COEFFICIENT - 1
        check_magnitudes(model)
        row[col] = coef
        constant = row.constant
        for bad in (3e15, -3e15):
            row.constant = bad
            with pytest.raises(ConfigError, match=f"row {label}"):
                check_magnitudes(model)
        row.constant = constant
    check_magnitudes(model)
