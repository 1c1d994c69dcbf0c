"""The allocation columns' codes from arrays (planner/lp/model.py `Model.u_codes`, made from
`declare_allocations`' blocks; planner/lp/aggregate.py `codes_of`) against the previous code
that factors every key's parts in Python (`_factor` over `_candidates`, kept below as
`_reference_codes`): the same candidate columns and the same codes, numbered the same, on bench
fleets, shipped scenarios and tiers that prefill at another site; with some allocation columns
made integer or bounded (so the codes are numbered among the candidates only); and from a scan
of u when u was not made by the declaration."""

from __future__ import annotations

import operator
from pathlib import Path

import numpy as np
import pytest
from test_lp_rows import _scenario

from planner.api import demands
from planner.lp import aggregate
from planner.lp.build import build
from planner.lp.linear import variable
from planner.lp.model import _scan_codes
from planner.lp.solve import make_solver
from planner.lp.transfer import handed_matrix, transfer


def _reference_factor(values: list) -> tuple[np.ndarray, int]:
    ids = {v: i for i, v in enumerate(dict.fromkeys(values))}
    return np.fromiter(map(ids.__getitem__, values), np.int64, len(values)), len(ids)


def _reference_codes(arr: aggregate.Arrays, keys: dict[int, tuple]) -> aggregate._Codes:
    """aggregate._codes before codes_of: candidates by a dict, each key part factored."""
    cols = np.fromiter(keys, dtype=np.int64, count=len(keys))
    ok = ~arr.integer[cols] & (arr.lo[cols] == 0) & np.isposinf(arr.hi[cols])
    cand = {c: keys[c] for c in cols[ok].tolist()}
    values = list(cand.values())
    role, roles = _reference_factor(list(map(operator.itemgetter(0, 1), values)))
    site, _ = _reference_factor(list(map(operator.itemgetter(2), values)))
    system, systems = _reference_factor(list(map(operator.itemgetter(3), values)))
    period, periods = _reference_factor(list(map(operator.itemgetter(4), values)))
    return aggregate._Codes(
        np.fromiter(cand, dtype=np.int64, count=len(cand)),
        role,
        site,
        system,
        period,
        roles,
        max(systems, 1),
        max(periods, 1),
    )


def _same(got: aggregate._Codes, want: aggregate._Codes) -> None:
    for name in ("cols", "role", "site", "system", "period"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype == np.int64, name
        assert np.array_equal(a, b), name
    assert (got.roles, got.systems, got.periods) == (want.roles, want.systems, want.periods)


def _arrays(name: str, tmp_path: Path):  # noqa: ANN202
    scenario = _scenario(name, tmp_path)
    model = build(scenario, demands(scenario))
    transfer(model.prob, make_solver("highs", False, 0.01, 60.0, "choose"))
    arr = aggregate.from_highs(model.prob.solverModel, 0.0, handed_matrix(model.prob))
    keys = {var.index: key for key, var in model.u.items()}
    return model, arr, keys


NAMES = [
    "fleet-quarters",
    "fleet-year",
    "split",
    "growing-split",
    "frontier-3y",
    "frontier-3y--rental_only",
    "frontier-lab--rental",
    "rl-verifiers--rental",
]


@pytest.mark.parametrize("name", NAMES)
def test_codes_from_the_declaration_are_the_factored_keys(name: str, tmp_path: Path) -> None:
    model, arr, keys = _arrays(name, tmp_path)
    assert keys
    columns = np.fromiter(keys, dtype=np.int64, count=len(keys))
    u_codes = model.u_codes()
    assert isinstance(model._u_codes[1], np.ndarray)  # made once, from the blocks
    # the same parts told apart (the declaration's ids need not be numbered as first seen)
    scanned = _scan_codes(list(model.u))
    for row in range(3):
        assert np.array_equal(aggregate._first_seen(u_codes[row])[0], scanned[row])
    assert np.array_equal(u_codes[3], scanned[3])
    _same(aggregate.codes_of(arr, columns, u_codes), _reference_codes(arr, keys))
    # some allocation columns integer, some bounded above or below: not candidates, and the
    # codes numbered among the others (a part's value first seen on a non-candidate column
    # comes later in the numbering)
    rng = np.random.default_rng(7)
    for field_name, value in (("integer", True), ("hi", 5.0), ("lo", 1.0)):
        picked = rng.choice(columns, size=max(1, len(columns) // 3), replace=False)
        changed = aggregate.Arrays(**{k: getattr(arr, k) for k in arr.__dataclass_fields__})
        setattr(changed, field_name, getattr(arr, field_name).copy())
        getattr(changed, field_name)[picked] = value
        want = _reference_codes(changed, keys)
        assert len(want.cols) < len(columns)
        _same(aggregate.codes_of(changed, columns, u_codes), want)
    # every one a non-candidate: empty codes, as before
    none = aggregate.Arrays(**{k: getattr(arr, k) for k in arr.__dataclass_fields__})
    none.integer = np.ones_like(arr.integer)
    _same(aggregate.codes_of(none, columns, u_codes), _reference_codes(none, keys))


def test_u_grown_after_the_declaration_is_scanned(tmp_path: Path) -> None:
    model, arr, keys = _arrays("fleet-year", tmp_path)
    before = model.u_codes().copy()
    # a key of an existing role at a new period index, and of a new role: the scan numbers
    # them as first seen
    (w, r, d, s, p) = next(iter(model.u))
    model.u[(w, r, d, s, p + 1000)] = variable("extra_a", 0, None)
    model.u[("new-workload", "new-role", d, "new-system", 0)] = variable("extra_b", 0, None)
    grown = model.u_codes()
    assert grown.shape == (4, len(model.u))
    assert np.array_equal(grown[:, : before.shape[1]], before)
    assert grown[:, -2].tolist() == [before[0, 0], before[1, 0], before[2, 0], p + 1000]
    assert grown[0, -1] == before[0].max() + 1
    assert grown[2, -1] == before[2].max() + 1
    assert grown[3, -1] == 0


def test_first_seen_numbers_ids_as_factor_does() -> None:
    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 1000):
        raw = rng.integers(0, 40, size=n)
        got, count = aggregate._first_seen(raw)
        want, want_count = _reference_factor(raw.tolist())
        assert count == want_count
        assert np.array_equal(got, want)
