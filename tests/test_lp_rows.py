"""Families built from flat pieces (`Model.rows`: counts, columns, coefficients, the CSR form)
make the rows the term-by-term build made: `Model.rows` is `Model.row` called per row (the same
labels, names, terms in order, coefficients to the bit, constants; expr's rules for a
coefficient 0 or a column given twice; phase 1's slacks), and each family rewritten that way
(units, avail, power, ownedbusy, spotserve, serve, colocate) holds the rows of its previous
pairs-based code, kept below as the reference, on fleets with rentals, contracts and spot, on
shipped scenarios and on a serving tier that prefills at another site (colocate's KV moves,
which no scenario of bench/model_hash.py has)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pulp
import pytest
from test_serving_placement import growing_split, split_sites

from planner.api import demands
from planner.demand.types import WorkloadDemand
from planner.lp.build import build, thaw
from planner.lp.linear import LinearProblem
from planner.lp.model import Label, Model, Pairs, active
from planner.scenario import SCENARIO_DIR, Scenario, load_scenario

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_lp import write_scenario  # noqa: E402


def _bare(elastic: bool = False) -> Model:
    scenario = load_scenario(SCENARIO_DIR / "rl-verifiers.yaml")
    return Model(scenario=scenario, demands=[], prob=LinearProblem("p"), elastic=elastic)


def _rows(model: Model) -> list[tuple[Label, str, int, Any, list[tuple[str, float, type]]]]:
    """Every row as (label, name, sense, constant, [(column, coefficient, its type)])."""
    return [
        (label, row.name, row.sense, row.constant, [(c.name, a, type(a)) for c, a in row.items()])
        for label, row in model.constraints.items()
    ]


def _pieces(rows: list[Pairs]) -> tuple[list[int], list, list]:
    return (
        [len(pairs) for pairs in rows],
        [c for pairs in rows for c, _ in pairs],
        [a for pairs in rows for _, a in pairs],
    )


@pytest.mark.parametrize("elastic", [False, True])
def test_rows_are_row_calls(elastic: bool) -> None:
    """Plain rows, a coefficient 0, a column twice (its coefficients summed at its first
    place), terms that cancel, an integer coefficient, an empty row: as `row` makes them."""
    ours, theirs = _bare(elastic), _bare(elastic)
    columns = [m.new_var("v") for m in (ours, theirs) for _ in range(4)]
    mine, other = columns[:4], columns[4:]

    def pairs(v: list) -> list[Pairs]:
        return [
            [(v[0], 1.0), (v[1], -2.5)],
            [(v[2], 0.0), (v[3], 1.0)],
            [(v[0], 1.0), (v[1], 2.0), (v[0], 0.5)],
            [(v[1], 1.0), (v[1], -1.0), (v[2], 3.0)],
            [(v[3], 2)],
            [],
        ]

    entities = [("a", f"t{i}") for i in range(6)]
    rhs = [1.0, 0.0, 0, -2.0, 5, 0.0]
    weights = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    ours.rows("avail", entities, *_pieces(pairs(mine)), "<=", rhs, weights)
    for entity, row, bound, weight in zip(entities, pairs(other), rhs, weights, strict=True):
        theirs.row("avail", entity, row, "<=", bound, weight)
    assert _rows(ours) == _rows(theirs)
    assert [r.constant for r in ours.constraints.values()] == [-1.0, -0.0, 0, 2.0, -5, -0.0]
    assert [math.copysign(1, r.constant) for r in ours.constraints.values()] == [
        math.copysign(1, r.constant) for r in theirs.constraints.values()
    ]
    assert [v.name for v in ours.prob.variables()] == [v.name for v in theirs.prob.variables()]
    if elastic:
        assert [(s.weight, s.unit) for s in ours.slacks.values()] == [
            (s.weight, s.unit) for s in theirs.slacks.values()
        ]


def test_rows_refuse_what_row_refuses() -> None:
    model = _bare()
    x = model.new_var("v")
    model.rows("avail", [("a",)], [1], [x], [1.0], "<=", [1.0])
    with pytest.raises(ValueError, match="duplicate constraint label avail:a"):
        model.rows("avail", [("b",), ("a",)], [1, 1], [x, x], [1.0, 1.0], "<=", [1.0, 1.0])
    with pytest.raises(ValueError, match="duplicate constraint label avail:c"):
        model.rows("avail", [("c",), ("c",)], [1, 1], [x, x], [1.0, 1.0], "<=", [1.0, 1.0])
    with pytest.raises(pulp.PulpError, match="NaN/inf"):
        model.rows("avail", [("d",)], [1], [x], [1.0], "<=", [math.inf])
    with pytest.raises(ValueError, match="unequal pieces"):
        model.rows("avail", [("e",)], [2], [x], [1.0], "<=", [1.0])
    assert len(model.constraints) == 1


# -- the families' previous, term-by-term code (the reference) ---------------------------------


def _work_pairs(
    model: Model, demand: WorkloadDemand, role: Any, sites: set[str], scale: float, period: Any
) -> Pairs:
    return [
        (var, role.rates[s].per_unit_s * p.length_s / scale)
        for d, s, p, var in model.u_of_role(demand.name, role.name, period)
        if d in sites
    ]


def _units(model: Model) -> list[tuple[tuple, Pairs, float]]:
    by_pool: dict[tuple[str, str, int], Pairs] = {}
    for (_w, _r, d, s, p), var in model.u.items():
        by_pool.setdefault((d, s, p), []).append((var, 1.0))
    racks = {x.name: float(x.racks_lost) for x in model.demands}
    for (w, d, s, p), var in model.serves.items():
        by_pool.setdefault((d, s, p), []).append((var, racks[w]))
    calendar = {p.index: p.calendar for p in model.periods}
    out = []
    for (d, s, p), pairs in by_pool.items():
        spot = model.spot.get((d, s, calendar[p]))
        supply = [(v, -c) for v, c in model.in_service((d, s), calendar[p]) if v is not spot]
        if spot is not None:
            supply.append((spot, -model.spot_goodput(s)))
        out.append(((d, s, f"p{p}"), pairs + supply, float(model.owned((d, s)))))
    return out


def _avail(model: Model) -> list[tuple[tuple, Pairs, float]]:
    out = []
    for pool in model.pools():
        cap = model.max_units(pool)
        for t in model.calendar:
            pairs = model.in_service(pool, t.index)
            if pairs:
                out.append((model.at(pool, t.index), pairs, cap - model.owned(pool)))
    for d in model.sites:
        cpu = model.scenario.topology.site(d).cpu_servers
        if cpu is None:
            continue
        for t in model.calendar:
            pairs = model.cpu_in_service(d, t.index)
            if pairs:
                entity = model.at((d, cpu.system), t.index)
                out.append((entity, pairs, cpu.max_units - cpu.owned))
    return out


def _power(model: Model) -> list[tuple[tuple, Pairs, float]]:
    catalog = model.scenario.catalog
    out = []
    for d in model.sites:
        site = model.scenario.topology.site(d)
        for t in model.calendar:
            pairs: Pairs = []
            owned_mw = 0.0
            for s in site.systems:
                mw = catalog.system(s).power_w * site.pue / 1e6
                pairs += [(v, mw * c) for v, c in model.in_service((d, s), t.index)]
                owned_mw += mw * model.owned((d, s))
            if site.cpu_servers is not None:
                cpu_mw = catalog.system(site.cpu_servers.system).power_w * site.pue / 1e6
                pairs += [(v, cpu_mw * c) for v, c in model.cpu_in_service(d, t.index)]
                owned_mw += cpu_mw * site.cpu_servers.owned
            if pairs:
                cap_mw = site.power_cap_between(t.start_s, t.end_s) / 1e6
                out.append((model.at((d,), t.index), pairs, cap_mw - owned_mw))
    return out


def _ownedbusy(model: Model) -> list[tuple[tuple, Pairs, float]]:
    busy: dict[tuple[str, str, int], Pairs] = {key: [] for key in model.owned_busy_h}
    for (_w, _r, d, s, p), var in model.u.items():
        period = model.periods[p]
        if (d, s, period.calendar) in busy:
            busy[(d, s, period.calendar)].append((var, period.length_s / 3600.0))
    out = []
    for (d, s, t), o in model.owned_busy_h.items():
        hours = model.calendar[t].length_s / 3600.0
        spot = model.spot.get((d, s, t))
        leased = [(v, -c * hours) for v, c in model.leased((d, s), t) if v is not spot]
        if spot is not None:
            leased.append((spot, -model.spot_goodput(s) * hours))
        out.append((model.at((d, s), t), busy[(d, s, t)] + [(o, -1.0)] + leased, 0.0))
    return out


def _spotserve(model: Model) -> list[tuple[tuple, Pairs, float]]:
    calendar = {p.index: p.calendar for p in model.periods}
    serving = {d.name for d in model.demands if d.steady_load}
    by_pool: dict[tuple[str, str, int], Pairs] = {}
    for (w, _, d, s, p), var in model.u.items():
        if w in serving and (d, s, calendar[p]) in model.spot:
            by_pool.setdefault((d, s, p), []).append((var, 1.0))
    out = []
    for (d, s, p), pairs in by_pool.items():
        t = calendar[p]
        supply = [(v, -c) for v, c in model.in_service((d, s), t)]
        supply.append((model.spot[(d, s, t)], 1.0))
        out.append(((d, s, f"p{p}"), pairs + supply, float(model.owned((d, s)))))
    return out


def _serve(model: Model) -> list[tuple[tuple, Pairs, float]]:
    out = []
    for demand in model.demands:
        if not demand.steady_load:
            continue
        for role in demand.roles:
            if role.amount <= 0 or role.choice:
                continue
            for period in model.periods:
                if not active(period, demand):
                    continue
                share = role.amount * demand.load_between(period.start_s, period.end_s)
                pairs = _work_pairs(model, demand, role, set(model.sites), share, period)
                out.append(((demand.name, role.name, f"p{period.index}"), pairs, 1.0))
    return out


def _colocate(model: Model) -> list[tuple[tuple, Pairs, float]]:
    out = []
    for demand in model.demands:
        if demand.kind != "inference" or demand.prefill_on_decode_pools:
            continue
        for decode, prefill in demand.prefill_pairs():
            for period in model.periods:
                if not active(period, demand):
                    continue
                share = demand.load_between(period.start_s, period.end_s)
                moves = [
                    (a, b, var)
                    for (w, r, a, b, p), var in model.kv_moves.items()
                    if w == demand.name and r == decode.name and p == period.index
                ]
                for d in model.sites:
                    dec = _work_pairs(model, demand, decode, {d}, decode.amount * share, period)
                    pre = _work_pairs(model, demand, prefill, {d}, prefill.amount * share, period)
                    kv = [(var, -1.0 if b == d else 1.0) for a, b, var in moves if d in (a, b)]
                    if dec or pre or kv:
                        pairs = dec + [(v, -c) for v, c in pre] + kv
                        out.append(((demand.name, decode.name, d, f"p{period.index}"), pairs, 0.0))
    return out


REFERENCE = {
    "units": _units,
    "avail": _avail,
    "power": _power,
    "ownedbusy": _ownedbusy,
    "spotserve": _spotserve,
    "serve": _serve,
    "colocate": _colocate,
}


def _scenario(name: str, tmp_path: Path) -> Scenario:
    if name == "fleet-quarters":  # rentals, contracts and spot per quarter; RL, pretraining
        return load_scenario(write_scenario(tmp_path, 4, 3, 4, 1, "1 quarter", "2 years", 2.0))
    if name == "fleet-year":
        return load_scenario(write_scenario(tmp_path, 3, 2, 3, 1))
    if name == "split":  # prefill at the other site: colocate's moves, both signs
        return split_sites(tmp_path, disaggregate_across_sites=True)
    if name == "growing-split":  # the same over periods of a growing load
        return growing_split(tmp_path, "10 Tbps")
    stem, _, override = name.partition("--")
    return load_scenario(SCENARIO_DIR / f"{stem}.yaml", [override] if override else [])


@pytest.mark.parametrize(
    "name",
    [
        "fleet-quarters",
        "fleet-year",
        "split",
        "growing-split",
        "frontier-3y",
        "frontier-3y--rental_only",
        "frontier-lab--rental",
        "rl-verifiers--rental",
    ],
)
def test_families_hold_their_term_by_term_rows(name: str, tmp_path: Path) -> None:
    scenario = _scenario(name, tmp_path)
    model = build(scenario, demands(scenario))
    thaw()
    reference = _bare()
    reference.scenario = scenario
    for column in model.prob.variables():  # the reference's rows refer to the same columns
        reference.prob.objective[column] = 0.0
    made = 0
    for family, rows in REFERENCE.items():
        ours = [(label, row) for label, row in model.constraints.items() if label.family == family]
        theirs = rows(model)
        assert [label.entity for label, _ in ours] == [entity for entity, _, _ in theirs], family
        for (label, row), (_, pairs, rhs) in zip(ours, theirs, strict=True):
            reference.row(family, label.entity, pairs, "==", rhs)
            expected = reference.constraints[Label(family, label.entity)]
            got = [(c.name, a) for c, a in row.items()]
            assert got == [(c.name, a) for c, a in expected.items()], (family, label)
            assert all(type(a) is float for a in row.values()), (family, label)
            assert (row.constant, math.copysign(1, row.constant)) == (
                expected.constant,
                math.copysign(1, expected.constant),
            ), (family, label)
            made += 1
    assert made > 0
    if name in ("split", "growing-split"):
        assert model.kv_moves and any(k.family == "colocate" for k in model.constraints)
