"""bench/aggregate_serving_lp.py (issue 14's measurement): allocation columns aggregated over
sites. On a small bench fleet whose serving tiers prefill on their decode pools (`prefill:
aggregated`: one `aggregate` row per pool), the aggregated LP's optimum equals the original's
to 1e-9 relative and its solution, split back over the sites, meets every row of the original
LP, and its duals price every original column out; with the bench's own tiers (prefill disaggregated: one `colocate` row per site over all its
systems) nothing of theirs may be aggregated, and the per-system restriction costs something; a
column made to differ from its block's others on one row leaves the block. The relaxation
(each tier's colocate rows summed over the sites, KV moves cancelled) is aggregated exactly and
bounds the original from below, the restriction from above, and the original LP on the pools
the relaxed solution uses is a solution of the original."""

from __future__ import annotations

import argparse
import dataclasses

import bench_module
import numpy as np
import pytest

AGG = bench_module.load("aggregate_serving_lp")

# HiGHS's primal feasibility tolerance: the original LP's own solution meets its rows within it.
FEASIBLE = 1e-7


def fleet(prefill: str | None, across_sites: bool = False):
    args = argparse.Namespace(
        across_sites=across_sites,
        sites=4,  # site i holds systems i..i+2 of bench_lp's five: each system at two sites or more
        systems=3,
        inference=4,
        rl=1,
        period="1 quarter",
        horizon="1 year",
        scale=1.0,
        prefill=prefill,
    )
    model = AGG.build_fleet(args)
    return AGG.lp_arrays(model)


@pytest.fixture(scope="module")
def aggregated_tiers():
    return fleet("aggregated")


@pytest.fixture(scope="module")
def bench_tiers():
    return fleet(None)


def relative(a: float, b: float) -> float:
    return abs(a - b) / abs(b)


def test_aggregated_optimum_equals_the_original(aggregated_tiers) -> None:
    orig, keys = aggregated_tiers
    agg = AGG.aggregate(orig, keys)
    # the serving roles were aggregated: every decode and prefill column is in a block
    serving = {c for c, (w, *_) in keys.items() if w.startswith("serve")}
    members = {int(c) for b in agg.blocks for c in b.cols.ravel()}
    assert serving and serving <= members
    # J x D allocation columns of a block become J + D
    blocks = sum(b.cols.size - b.cols.shape[0] - b.cols.shape[1] for b in agg.blocks)
    assert agg.lp.shape[0] == orig.shape[0] - blocks < orig.shape[0]
    assert agg.lp.shape[2] < orig.shape[2]
    ref = AGG.solve(orig)
    res = AGG.solve(agg.lp)
    assert ref["status"] == res["status"] == "Optimal"
    assert relative(res["objective"], ref["objective"]) <= 1e-9
    x = AGG.map_back(agg, res["x"])
    check = AGG.violation(orig, x)
    assert check["row_abs"] <= FEASIBLE and check["col"] <= FEASIBLE
    assert relative(check["cost"], res["objective"]) <= 1e-12
    # the aggregated duals, each site's coupling row given its summed row's, price every
    # original column out (HiGHS's dual feasibility tolerance): the shadow prices carry over
    assert AGG.original_duals(orig, agg, res["row_dual"])["least_rc"] >= -FEASIBLE
    # the split is proportional: each site does the same share of every role of a block
    block = max(agg.blocks, key=lambda b: x[b.cols].sum())
    totals = x[block.cols].sum(axis=1)
    used = totals > 1e-9
    shares = x[block.cols][used] / totals[used, None]
    assert used.sum() >= 2 and np.allclose(shares, shares[0])


def test_colocated_prefill_is_not_aggregated(bench_tiers) -> None:
    """A tier whose prefill may run on another system of its decode's site: its colocate row
    spans every system of the site, which blocks of one system cannot keep."""
    orig, keys = bench_tiers
    agg = AGG.aggregate(orig, keys)
    serving = {c for c, (w, *_) in keys.items() if w.startswith("serve")}
    members = {int(c) for b in agg.blocks for c in b.cols.ravel()}
    assert not serving & members
    reasons = {reason for reason, _ in agg.not_aggregated}
    assert "in a coupling row over several systems (colocate)" in reasons
    ref = AGG.solve(orig)
    res = AGG.solve(agg.lp)
    assert relative(res["objective"], ref["objective"]) <= 1e-9


def test_restricted_colocation_is_a_restriction(bench_tiers) -> None:
    """Prefill on its decode's system (the colocate rows split per system): aggregated exactly,
    its solution is feasible for the original LP and costs at least the original optimum."""
    orig, keys = bench_tiers
    restricted, split, added = AGG.restrict_colocation(orig, keys)
    assert len(split) > 0 and added > len(split)
    agg = AGG.aggregate(restricted, keys)
    assert agg.blocks
    ref = AGG.solve(orig)
    tight = AGG.solve(restricted)
    res = AGG.solve(agg.lp)
    assert relative(res["objective"], tight["objective"]) <= 1e-9
    assert res["objective"] >= ref["objective"] * (1 - 1e-9)
    check = AGG.violation(orig, AGG.map_back(agg, res["x"]))
    assert check["row_abs"] <= FEASIBLE and check["col"] <= FEASIBLE


def test_a_column_unlike_its_block_is_left_out(aggregated_tiers) -> None:
    """One decode column given a cost of its own (a pool-row coefficient no other role shares
    at its site): its role leaves the block, and the optimum still equals the original's."""
    orig, keys = aggregated_tiers
    agg = AGG.aggregate(orig, keys)
    block = agg.blocks[0]
    c = int(block.cols[0, 0])
    role = block.roles[0]
    cost = orig.cost.copy()
    cost[c] += 1000.0
    changed = dataclasses.replace(orig, cost=cost)
    again = AGG.aggregate(changed, keys)
    members = {int(x) for b in again.blocks for x in b.cols.ravel()}
    assert c not in members
    assert not any(
        role in b.roles and (b.system, b.period) == (block.system, block.period)
        for b in again.blocks
    )
    ref = AGG.solve(changed)
    res = AGG.solve(again.lp)
    assert relative(res["objective"], ref["objective"]) <= 1e-9
    check = AGG.violation(changed, AGG.map_back(again, res["x"]))
    assert check["row_abs"] <= FEASIBLE


def test_relaxed_colocation_is_an_exact_relaxation(bench_tiers) -> None:
    """Each tier's colocate rows summed over the sites (prefill anywhere, as long as each
    period's totals balance): every serving column is then aggregated, exactly (the aggregated
    optimum is the relaxed LP's), and relaxed <= original <= restricted."""
    orig, keys = bench_tiers
    relaxed, groups, summed = AGG.relax_colocation(orig, keys)
    assert groups and len(summed) == len(groups)
    csr = orig.a.tocsr()
    for rows, new in zip(groups, summed, strict=True):
        cols = [keys[int(c)] for r in rows for c in csr.indices[csr.indptr[r] : csr.indptr[r + 1]]]
        # one tier (a decode role and its prefill role), one period, one row per site
        assert len({(w, p) for w, _, _, _, p in cols}) == 1
        assert len({r for _, r, _, _, _ in cols}) == 2
        sites = [keys[int(csr.indices[csr.indptr[r]])][2] for r in rows]
        assert len(sites) == len(set(sites)) >= 2
        # the summed row is the rows' sum, and a role's coefficient on a system is the same
        # at every site (what makes the summed row site-free, so the columns parallel)
        expected = np.asarray(csr[rows].sum(axis=0)).ravel()
        assert np.array_equal(relaxed.a[int(new)].toarray().ravel(), expected)
        coef: dict[tuple, set[float]] = {}
        for c in np.flatnonzero(expected):
            w, r, _d, s, p = keys[int(c)]
            coef.setdefault((w, r, s, p), set()).add(float(expected[c]))
        assert all(len(v) == 1 for v in coef.values())
    assert relaxed.a.shape[0] == orig.a.shape[0] - sum(len(g) for g in groups) + len(groups)
    agg = AGG.aggregate(relaxed, keys)
    serving = {c for c, (w, *_) in keys.items() if w.startswith("serve")}
    members = {int(c) for b in agg.blocks for c in b.cols.ravel()}
    assert serving and serving <= members
    ref = AGG.solve(orig)
    loose = AGG.solve(relaxed)
    res = AGG.solve(agg.lp)
    assert ref["status"] == loose["status"] == res["status"] == "Optimal"
    assert relative(res["objective"], loose["objective"]) <= 1e-9
    restricted, _, _ = AGG.restrict_colocation(orig, keys)
    upper = AGG.solve(AGG.aggregate(restricted, keys).lp)
    assert res["objective"] <= ref["objective"] * (1 + 1e-9)
    assert ref["objective"] <= upper["objective"] * (1 + 1e-9)
    x = AGG.map_back(agg, res["x"])
    check = AGG.violation(relaxed, x)
    assert check["row_abs"] <= FEASIBLE and check["col"] <= FEASIBLE
    assert relative(check["cost"], res["objective"]) <= 1e-12
    # the split with the least prefill off site: still a solution of the relaxed LP at the
    # same cost, with no more off site than the proportional split
    least = AGG.least_off_site(orig, agg, groups, res["x"])
    assert least["status"] == "Optimal"
    assert least["share"] <= AGG.prefill_off_site(orig, groups, x)["share"] + 1e-9
    again = AGG.violation(relaxed, least["x"])
    assert again["row_abs"] <= FEASIBLE and again["col"] <= FEASIBLE
    assert relative(again["cost"], res["objective"]) <= 1e-9


def test_kv_moves_cancel_in_the_relaxed_rows() -> None:
    """Tiers with disaggregate_across_sites: each colocate row also holds the tier's KV moves
    (x[a,b]: +1 in a's row, -1 in b's), which cancel in the sum over the sites; the relaxed
    rows hold allocations only, the serving columns are aggregated, and relaxed <= original."""
    orig, keys = fleet(None, across_sites=True)
    relaxed, groups, summed = AGG.relax_colocation(orig, keys)
    assert groups
    moves = np.ones(orig.a.shape[1], dtype=bool)
    moves[list(keys)] = False
    # the original colocate rows do hold KV moves (else this test tests nothing)
    assert any(np.any(moves[orig.a[rows].indices]) for rows in groups)
    assert not np.any(moves[relaxed.a[summed].indices])
    agg = AGG.aggregate(relaxed, keys)
    serving = {c for c, (w, *_) in keys.items() if w.startswith("serve")}
    assert serving <= {int(c) for b in agg.blocks for c in b.cols.ravel()}
    ref = AGG.solve(orig)
    res = AGG.solve(agg.lp)
    assert relative(res["objective"], AGG.solve(relaxed)["objective"]) <= 1e-9
    assert res["objective"] <= ref["objective"] * (1 + 1e-9)


def test_the_original_on_the_relaxed_pools_is_an_upper_bound(bench_tiers) -> None:
    """The original LP with every allocation column outside the pools (site, system) the
    relaxed aggregated solution uses fixed at 0: a restriction (optimum >= the original's),
    its solution one of the original LP's; relaxed <= original <= it."""
    orig, keys = bench_tiers
    relaxed, _, _ = AGG.relax_colocation(orig, keys)
    agg = AGG.aggregate(relaxed, keys)
    res = AGG.solve(agg.lp)
    x = AGG.map_back(agg, res["x"])
    pools = AGG.used_pools(keys, x)
    every = {(d, s) for _, _, d, s, _ in keys.values()}
    assert pools < every
    narrow = AGG.on_pools(orig, keys, pools)
    outside = [c for c, (_, _, d, s, _) in keys.items() if (d, s) not in pools]
    assert outside and np.all(narrow.hi[outside] == 0)
    inside = [c for c, (_, _, d, s, _) in keys.items() if (d, s) in pools]
    assert np.array_equal(narrow.hi[inside], orig.hi[inside])
    ref = AGG.solve(orig)
    plan = AGG.solve(narrow)
    assert plan["status"] == "Optimal"
    assert res["objective"] <= ref["objective"] * (1 + 1e-9)
    assert ref["objective"] <= plan["objective"] * (1 + 1e-9)
    check = AGG.violation(orig, plan["x"])
    assert check["row_abs"] <= FEASIBLE and check["col"] <= FEASIBLE
    assert np.all(plan["x"][outside] == 0)
