"""The relaxed aggregated LP's codes (aggregate._codes: the key parts listed by itemgetter) and
site-free entries (aggregate._site_free: one integer key for role and row) are what the
previous code made, kept below as the reference: the same codes in the same numbering, the same
site-free flag per entry (so the blocks, and the aggregated LP built from them, are those of the
previous code; tests/test_fast_bound.py checks the aggregated LP itself)."""

from __future__ import annotations

import numpy as np
import pytest
from test_fast_bound import fleet

from planner.lp import aggregate
from planner.lp import solve as solve_module
from planner.lp.transfer import handed_matrix, transfer


def _reference_codes(arr: aggregate.Arrays, keys: dict[int, tuple]) -> aggregate._Codes:
    """aggregate._codes before: the key parts transposed by zip(*keys)."""
    cand = aggregate._candidates(arr, keys)
    cols = np.fromiter(cand, dtype=np.int64, count=len(cand))
    parts: list[tuple] = list(zip(*cand.values(), strict=True)) if cand else [()] * 5
    role, roles = aggregate._factor(list(zip(parts[0], parts[1], strict=True)))
    site, _ = aggregate._factor(list(parts[2]))
    system, systems = aggregate._factor(list(parts[3]))
    period, periods = aggregate._factor(list(parts[4]))
    return aggregate._Codes(
        cols, role, site, system, period, roles, max(systems, 1), max(periods, 1)
    )


def _reference_site_free(
    e_role: np.ndarray, e_row: np.ndarray, e_val: np.ndarray, n_sites: np.ndarray
) -> np.ndarray:
    """aggregate.aggregate's site-free entries before: a sort by role, row and value."""
    order = np.lexsort((e_val, e_row, e_role))
    s_role, s_row, s_val = e_role[order], e_row[order], e_val[order]
    new_run = np.ones(len(order), dtype=bool)
    new_run[1:] = (
        (s_role[1:] != s_role[:-1]) | (s_row[1:] != s_row[:-1]) | (s_val[1:] != s_val[:-1])
    )
    run_id = np.cumsum(new_run) - 1
    run_len = np.bincount(run_id)
    e_free = np.empty(len(order), dtype=bool)
    e_free[order] = run_len[run_id] == n_sites[s_role]
    return e_free


def _fleet_arrays(scale: float, prefill: str | None = None):  # noqa: ANN202
    model = fleet(scale, prefill)
    solver = solve_module.make_solver("highs", False, 0.01, 60.0, "choose")
    transfer(model.prob, solver)
    highs = model.prob.solverModel
    arr = aggregate.from_highs(highs, 0.0, handed_matrix(model.prob))
    return arr, {var.index: key for key, var in model.u.items()}


def _same_codes(got: aggregate._Codes, want: aggregate._Codes) -> None:
    for name in ("cols", "role", "site", "system", "period"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name
    assert (got.roles, got.systems, got.periods) == (want.roles, want.systems, want.periods)


@pytest.mark.parametrize("prefill", [None, "aggregated"])
def test_codes_and_site_free_entries_are_the_previous_codes(prefill: str | None) -> None:
    arr, keys = _fleet_arrays(1.0, prefill)
    codes = aggregate._codes(arr, keys)
    _same_codes(codes, _reference_codes(arr, keys))
    # the candidates' entries, as aggregate reads them
    full = arr.a.tocsc()
    sub = full[:, codes.cols]
    e_pos = np.repeat(np.arange(len(codes.cols)), np.diff(sub.indptr))
    e_row = sub.indices.astype(np.int64)
    role = codes.role * codes.systems + codes.system
    _, jid = np.unique(role * codes.periods + codes.period, return_inverse=True)
    e_role = jid.ravel()[e_pos]
    n_sites = np.bincount(jid.ravel())
    got = aggregate._site_free(e_role, e_row, sub.data, n_sites, arr.a.shape[0])
    want = _reference_site_free(e_role, e_row, sub.data, n_sites)
    assert np.array_equal(got, want)
    assert got.any() and not got.all()


def test_site_free_entries_on_made_up_entries() -> None:
    """Many roles, rows and values (signed zeros, values one ulp apart): the same flags."""
    rng = np.random.default_rng(3)
    n = 20_000
    e_role = rng.integers(0, 50, n)
    e_row = rng.integers(0, 400, n)
    values = np.array([1.0, -1.0, 0.0, -0.0, 2.5, np.nextafter(2.5, 3.0), 730.0])
    e_val = values[rng.integers(0, len(values), n)]
    n_sites = rng.integers(1, 4, 50)
    got = aggregate._site_free(e_role, e_row, e_val, n_sites, 400)
    assert np.array_equal(got, _reference_site_free(e_role, e_row, e_val, n_sites))
    assert got.any()


def test_codes_of_keys_with_repeats_number_first_seen_first() -> None:
    """_codes numbers each part in the order first seen, the role as a (workload, role) pair:
    the previous numbering on keys listed out of order."""
    keys = {
        0: ("w2", "decode", "s1", "b", 1),
        1: ("w1", "decode", "s2", "a", 0),
        2: ("w2", "prefill", "s1", "a", 1),
        3: ("w1", "decode", "s1", "b", 0),
    }
    n = 4
    arr = aggregate.Arrays(
        np.zeros(n),
        np.zeros(n),
        np.full(n, np.inf),
        np.zeros(n, dtype=bool),
        aggregate.sp.csr_matrix((1, n)),
        np.zeros(1),
        np.zeros(1),
    )
    codes = aggregate._codes(arr, keys)
    _same_codes(codes, _reference_codes(arr, keys))
    assert codes.role.tolist() == [0, 1, 2, 1] and codes.site.tolist() == [0, 1, 0, 0]
