"""Measurement (issue 14): aggregate allocation columns over sites, at the array level, and time
HiGHS on the LP relaxation before and after. Not a product change: the planner's model is built
as bench/bench_lp.py `run` builds it, then taken apart into arrays.

The aggregation. Columns u[w,r,d,s,p] (their (workload, role, site, system, period) index is
model.u's key: the only thing taken from the model besides the arrays) are grouped into blocks
J x D of one system s and one LP period p: roles j in J, sites d in D, a column for every pair.
A block is aggregated into U[j] (the role's work on s in p, any site) and B[d] (the block's busy
units at (d, s) in p) with a balance row sum_j U[j] - sum_d B[d] = 0, which is exact when, on
the arrays (never on names or row families):
- every column of the block is continuous, with bounds [0, inf);
- each row a column enters is either "site-free" for its role (the role's columns at every d of
  D enter it with one and the same coefficient: it becomes one term of U[j]), or a "pool row"
  (at each d, every role of the block enters it with the same coefficient, the objective
  included: it becomes one term of B[d]; this is what makes two roles one block: their
  columns' pool-row (row, coefficient) lists are identical at every site), or a "coupling row":
  right-hand side 0, only columns of this block at one site; every site of D holds the same
  coupling rows (same coefficients over J, same sense); each pattern becomes one row over U.
Exactness: a solution x of the original gives U[j] = sum_d x[j,d], B[d] = sum_j x[j,d], the
same value on every kept row and the same cost (a coupling pattern summed over the sites); a
solution (U, B) of the aggregated LP maps back by the proportional split x[j,d] = U[j] B[d] / S
(S = sum_d B[d] = sum_j U[j]): site-free and pool rows keep their values, and each site's
coupling row is B[d] / S times the aggregated one. So the optima are equal; `main` checks it on
the numbers and checks the mapped-back x against every row and the cost of the original LP.

What is not aggregated is reported with the reason: a role on one site only, a role whose
pool-row coefficients match no other role's at the same pools, or a role in a coupling row that
spans several blocks (a serving tier with `prefill: disaggregated`, the default, has one
`colocate` row per site and period summing decode and prefill over every system of the site:
prefill at the site of its decode, on any system there; the proportional split per system does
not keep it). `--restrict-colocation` measures what that costs: each such row (rhs 0, equality,
columns of one site and period) is replaced by its parts per system, each = 0 (prefill on the
same system type as its decode, per pool, as `prefill: aggregated`'s rows say), a restriction of
the original LP; the restricted LP is then aggregated exactly, and its mapped-back solution is a
feasible solution of the original LP whose cost is compared with the original optimum.

`--relax-colocation` is the other side: each tier's colocate rows (one per site, same period)
are replaced by their sum over the sites (prefill anywhere, as long as each period's totals
balance; a tier with disaggregate_across_sites has its KV moves in those rows, +1 at the
prefill's site and -1 at the decode's, and they cancel in the sum). A sum of rows is implied by
them: the relaxed LP's optimum is a lower bound on the original LP's (and on the MIP's). Its
serving columns are parallel across sites (a role's coefficient in the summed row is its
rate x len_p / (amount x share), one per system: checked on the arrays by `aggregate`, which
finds every serving column in a block), so it is aggregated exactly. What it gives away in a
solution is measured as the prefill work off its decode's site (`prefill_off_site`), for the
proportional split and, with `--least-off-site`, for the split of the same aggregated solution
with the least of it (an LP over the block columns with each block's U and B fixed:
`least_off_site`). `--pools-plan` solves the original LP with every allocation column outside
the pools (site, system) the relaxed solution uses fixed at 0: a restriction, so an upper
bound and a solution of the original LP (`on_pools`). `--across-sites` sets every bench tier's
disaggregate_across_sites.

HiGHS runs as the planner runs the relaxation (planner/lp/solve.py): PuLP's configuration
(createAndConfigureSolver: one thread, no output, the time limit), then solve.py's own helpers
`_scale_objective`, `_choose_method` and `_scale_matrix` (objective scaling from 50,000 columns,
interior point from 200,000 when the method is left to HiGHS, simplex max-value scaling from
50,000), the matrix handed row-wise as planner/lp/transfer.py does. Not replicated: the race of
simplex and interior point in two children that solve.py runs from 150,000 to 200,000 columns
with the method left to HiGHS (planner/lp/race.py); here such an LP is solved by HiGHS's own
choice (simplex) alone.

    python bench/aggregate_serving_lp.py --sites 5 --period '1 quarter' --horizon '3 years'
    python bench/aggregate_serving_lp.py --sites 50 --period '1 month' --horizon '2 years' \
        --scale 3 --methods choose ipm simplex

Measured (session 18, one run each on the shared 2-core machine, HiGHS CPU s of the relaxation;
bench_lp's fleet, 12 serving tiers, 5 systems a site):
- bench_lp's tiers as they are (prefill disaggregated, colocate rows): nothing of theirs is
  aggregated exactly (at every size, 8,400 to 264,000 serving columns left out for their
  colocate rows). With --restrict-colocation the restricted LP aggregates exactly (rel 0 to
  its optimum at 5 sites) but costs more than the original: +0.22% at 5 sites x 12 quarters,
  +0.030% at 50 x 20 quarters, +0.87% at 50 x 24 months, +0.030% at 100 x 20 quarters; priced
  on the original LP, 71-89% of the colocate rows have a column (prefill on another system of
  the site) that its duals price in. Time there: 50 x 20q 33.2 s (simplex, original) -> 1.9 s;
  50 x 24m 101.8 s (interior point) -> 2.2 s (simplex); 100 x 20q 183.5 s (interior point)
  -> 6.6 s (simplex); interior point on the aggregated LPs 14.5, 26.8 and 65.7 s.
- The same fleets with `--prefill aggregated` (per-pool aggregate rows): exact, objectives
  within 2e-16 relative, the split meets every original row within 6e-10, the aggregated
  duals price every original column out (least reduced cost -2e-9 relative by simplex, -4e-8
  by interior point). 50 x 20q: 174,715 -> 50,855 columns, 101,350 -> 36,780 rows, 1.22M ->
  0.66M nonzeros, 5.1 s (simplex) -> 1.9 s (simplex; interior point 14.9 s); 50 x 24m:
  206,915 -> 60,535 columns, 120,798 -> 44,488 rows, 1.68M -> 1.01M nonzeros, 67.2 s (interior
  point, the planner's choice) -> 2.0 s (simplex, the planner's choice at 60k; interior point
  28.0 s); 100 x 20q: 369,415 -> 119,055 columns, 222,158 -> 91,588 rows, 2.91M -> 1.79M
  nonzeros, 97.0 s (interior point) -> 6.1 s (simplex; interior point 47.1 s).

Measured (session 18, follow-up; `--restrict-colocation --relax-colocation`, and `--pools-plan`;
bench_lp's tiers as they are; objectives in the scenario's currency; wall s of HiGHS, the
machine loaded by other sessions (CPU s lower): the original's times here are 1.5-2x the
earlier runs'):

  fleet            original LP            relaxed aggregated        restricted aggr.  pools plan
                   objective      s       objective      s   gap    over orig.        s    over LB
  5 x 12q          594,821,546.7  0.3     594,809,257.0  0.1 2.1e-5 +0.224%           0.1  9.4e-5
  5 x 24m (sc. 1)  259,424,780.1  1.5     259,424,780.1  0.2 0      +0.720%           0.1  0
  50 x 20q         13,242,089,465 52      13,242,082,882 2.3 5.0e-7 +0.030%           0.5  6.0e-6
  50 x 24m         644,290,008.6  200     644,290,008.6  2.5 0      +0.870%           1.4  9.8e-5
  100 x 20q        13,182,540,367 200     13,182,540,367 5.7 0      +0.030%           6.3  3.5e-6

(gap: (original - relaxed) / original; 0: equal to every printed digit, < 1e-15. The relaxed
rows: 840 / 1,560 / 13,200 / 15,600 / 26,400 colocate rows -> 168 / 312 / 264 / 312 / 264
sums; every serving column aggregated, 0 coupling rows left. Restricted - relaxed over relaxed:
0.226%, 0.720%, 0.0305%, 0.870%, 0.0303%. The aggregation itself, in this script's Python
then: 0.2-0.7 s at 5 sites, 5-9 s at 50 and 100; since moved to planner/lp/aggregate.py
(solver.bound auto) and vectorised, the same blocks and optima: relaxation + aggregation 0.8
s at 50 x 24 months, 3 systems a site (129k columns). Pools plan: the original LP on the 8 /
7 / 36 / 12 / 37 of 25 / 25 / 250 / 250 / 500 pools the relaxed solution uses, HiGHS's choice
(interior point at 50 x 24m and 100 x 20q by the full column count; presolve drops the fixed
columns), its solution meeting every original row within 4e-11; on the restricted solution's
pools instead it is +0.42% at 5 x 24m, +0.014% at 50 x 24m, and on the union of both the same as the
relaxed pools' but at 100 x 20q (1.3e-6).)
- The relaxed LP is the original LP's optimum to 2e-5 or closer: a lower bound that loses
  nothing. Yet its solutions put prefill off site: the proportional split 23.6% / 30.8% /
  36.6% / 56.9% / 42.9% of the prefill work, some tier-periods 100%; the split with the least
  (`--least-off-site`, 0.1-0.3 s) 20.4% / 27.4% / 21.7% / 34.8% / -; HiGHS's own vertex of the
  unaggregated relaxed LP at 5 x 12q 40.2%. The relaxed optimal face is wide and holds the
  original's optimum (or a point within 2e-5 of it), not at the vertices found.
- The restriction (prefill on its decode's system) is what costs: the original's solution
  runs 62% (the test fleet), 67% (5 x 24m) of its prefill on another system of the site than its
  decode (decode mostly on gb200-nvl72 and trn2-ultraserver, prefill on hgx-h100 33% at 12q,
  42% at 24m): at monthly periods the restricted LP is 0.72-0.87% over.
- KV flows: bench_lp's tiers have none (no kv moves, no kvflow / kvpeak rows; its 5 link rows
  carry RL's trajectories and weights). With `--across-sites` at 5 x 12q the original LP has
  3,360 KV-move columns (3,600 columns and 310 rows more in all), and its optimum is unchanged
  to every digit, every move at 0 (no prefill crosses: the links cost); the restriction cannot split colocate rows holding moves
  (restricted = original there); the relaxed LP is the same as without (594,809,257.0).
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pulp
import scipy.sparse as sp
import yaml

from planner.api import demands
from planner.lp.aggregate import (  # the aggregation itself, moved into the planner
    INF,
    Aggregation,
    Arrays,
    _candidates,
    _row_code_range,
    aggregate,
    load_highs,
    map_back,
    relax_colocation,
    used_pools,
)
from planner.lp.build import build
from planner.lp.linear import LinearProblem
from planner.lp.model import Model
from planner.lp.solve import (
    _choose_method,
    _quiet_stdout,
    _scale_matrix,
    _scale_objective,
    make_solver,
)
from planner.lp.transfer import _bounds, _costs, _rowwise
from planner.scenario import load_scenario


def lp_arrays(model: Model) -> tuple[Arrays, dict[int, tuple]]:
    """The model's LinearProblem as arrays, columns and rows in planner/lp/transfer.py's order
    (the order HiGHS gets them in), and {column index: (w, r, d, s, p)} of the allocations."""
    prob = model.prob
    columns = prob.variables()
    for i, var in enumerate(columns):
        var.index = i
    rows = list(prob._constraints.values())
    for i, row in enumerate(rows):
        row.index = i
    start, index, value = _rowwise(rows)
    n = len(columns)
    a = sp.csr_matrix((value, index, start), shape=(len(rows), n))
    a.sum_duplicates()
    family = {row.index: label.family for label, row in model.constraints.items()}
    arrays = Arrays(
        cost=_costs(prob, n),
        lo=_bounds([v.lowBound for v in columns], -INF),
        hi=_bounds([v.upBound for v in columns], INF),
        integer=np.array([v.cat == pulp.LpInteger for v in columns], dtype=bool),
        a=a,
        rlo=_bounds([c.getLb() for c in rows], -INF),
        rhi=_bounds([c.getUb() for c in rows], INF),
        constant=float(prob.objective.constant),
        row_family=[family.get(i, "?") for i in range(len(rows))],
    )
    keys = {var.index: key for key, var in model.u.items()}
    return arrays, keys


# -- the aggregation ----------------------------------------------------------------------------


def restrict_colocation(arr: Arrays, keys: dict[int, tuple]) -> tuple[Arrays, np.ndarray, int]:
    """The restricted LP of `--restrict-colocation`: every equality row with right-hand side 0
    whose columns are all allocations of one site and one period, on two or more systems, is
    replaced by its part on each system (= 0 each). Returns (restricted LP, the original indices
    of the rows split, rows added); the restricted LP's rows are the original's other rows, in
    their order, then the parts."""
    cand = _candidates(arr, keys)
    dp_id: dict[tuple, int] = {}
    dsp_id: dict[tuple, int] = {}
    dp = np.full(arr.a.shape[1], -1, dtype=np.int64)
    dsp = np.full(arr.a.shape[1], -1, dtype=np.int64)
    for c, (_, _, d, s, p) in cand.items():
        dp[c] = dp_id.setdefault((d, p), len(dp_id))
        dsp[c] = dsp_id.setdefault((d, s, p), len(dsp_id))
    low, high = _row_code_range(arr.a, dp)
    slow, shigh = _row_code_range(arr.a, dsp)
    equality = (arr.rlo == 0) & (arr.rhi == 0)
    split = np.flatnonzero(equality & (low == high) & (low >= 0) & (slow != shigh))
    if not len(split):
        return arr, split, 0
    keep = np.ones(arr.a.shape[0], dtype=bool)
    keep[split] = False
    parts_r, parts_c, parts_v = [], [], []
    families = [f for f, k in zip(arr.row_family, keep, strict=True) if k]
    n_rows = int(keep.sum())
    for r in split:
        cols = arr.a.indices[arr.a.indptr[r] : arr.a.indptr[r + 1]]
        vals = arr.a.data[arr.a.indptr[r] : arr.a.indptr[r + 1]]
        by_system: dict[int, list[int]] = {}
        for i, c in enumerate(cols):
            by_system.setdefault(int(dsp[c]), []).append(i)
        for members in by_system.values():
            for i in members:
                parts_r.append(n_rows)
                parts_c.append(int(cols[i]))
                parts_v.append(float(vals[i]))
            families.append(arr.row_family[r] + "/per-system")
            n_rows += 1
    added = n_rows - int(keep.sum())
    parts = sp.csr_matrix((parts_v, (parts_r, parts_c)), shape=(n_rows, arr.a.shape[1]))
    kept = arr.a[keep]
    a = sp.vstack([kept, parts[int(keep.sum()) :]]).tocsr()
    restricted = Arrays(
        arr.cost,
        arr.lo,
        arr.hi,
        arr.integer,
        a,
        np.concatenate([arr.rlo[keep], np.zeros(added)]),
        np.concatenate([arr.rhi[keep], np.zeros(added)]),
        arr.constant,
        families,
    )
    return restricted, split, added


def prefill_off_site(arr: Arrays, groups: list[np.ndarray], x: np.ndarray) -> dict[str, float]:
    """What the relaxation gives away in a solution x of the original columns: per relaxed
    group (a tier's colocate rows, one per site: decode work minus prefill work, each as the
    share of the period's requests it serves), the work whose prefill runs at another site
    than its decode, sum_d max(0, row_d) (= sum_d max(0, -row_d) when the sum holds), over
    the prefill work sum_d (the row's negative terms). Returns the share over all groups, the
    largest group's share, and the number of groups with more than 1% off site."""
    csr = arr.a
    act = csr @ x
    neg = csr.copy()
    neg.data = np.minimum(neg.data, 0.0)
    prefill = -(neg @ x)
    moved_total, prefill_total, worst, over = 0.0, 0.0, 0.0, 0
    for rows in groups:
        moved = float(np.maximum(act[rows], 0.0).sum())
        pre = float(prefill[rows].sum())
        moved_total += moved
        prefill_total += pre
        if pre > 0:
            worst = max(worst, moved / pre)
            over += moved / pre > 0.01
    return {
        "share": moved_total / prefill_total if prefill_total > 0 else 0.0,
        "worst": worst,
        "groups_over_1pct": over,
        "groups": len(groups),
    }


def prefill_off_system(
    arr: Arrays, keys: dict[int, tuple], split: np.ndarray, x: np.ndarray
) -> dict[str, float]:
    """What the restriction takes away in a solution x of the original LP: per colocate row
    split by `restrict_colocation` (a tier, a site, a period), its terms grouped by system: the
    work whose prefill runs on another system of the site than its decode, sum_s max(0,
    part_s) over the prefill work (the row's negative terms), over all those rows."""
    csr = arr.a
    moved_total, prefill_total = 0.0, 0.0
    for r in split:
        cols = csr.indices[csr.indptr[r] : csr.indptr[r + 1]]
        terms = csr.data[csr.indptr[r] : csr.indptr[r + 1]] * x[cols]
        by_system: dict[str, float] = collections.defaultdict(float)
        for c, t in zip(cols.tolist(), terms.tolist(), strict=True):
            by_system[keys[c][3]] += t
        moved_total += sum(max(0.0, v) for v in by_system.values())
        prefill_total += float(-terms[terms < 0].sum())
    return {"share": moved_total / prefill_total if prefill_total > 0 else 0.0}


def on_pools(arr: Arrays, keys: dict[int, tuple], pools: set[tuple]) -> Arrays:
    """The LP `arr` with every allocation column outside `pools` fixed at 0 (upper bound 0):
    a restriction, so its optimum is at least arr's and its solution is one of arr's."""
    hi = arr.hi.copy()
    for c, (_, _, d, s, _) in keys.items():
        if (d, s) not in pools:
            hi[c] = 0.0
    return Arrays(
        arr.cost,
        arr.lo,
        hi,
        arr.integer,
        arr.a,
        arr.rlo,
        arr.rhi,
        arr.constant,
        arr.row_family,
    )


def least_off_site(
    arr: Arrays,
    agg: Aggregation,
    groups: list[np.ndarray],
    solution: np.ndarray,
    time_limit_s: float = 600.0,
) -> dict[str, Any]:
    """The least prefill off site over every split of a relaxed aggregated solution: the
    block columns x[j,d] >= 0 with sum_d x[j,d] = U[j] and sum_j x[j,d] = B[d] (so every row
    but the colocate rows keeps its value, and the cost its own), the other columns as
    solved; minimise sum over the relaxed groups' original rows (a tier's colocate row at
    each site) of |row| (twice the work prefilled off its decode's site: the group's sum is 0
    for every such split). 0 means the relaxed optimum is a solution of the original LP: the
    relaxation gave nothing away. Returns the share of the prefill work off site at that
    least, the x, HiGHS's time and status."""
    import highspy

    x0 = map_back(agg, solution)
    rows = np.concatenate(groups)
    member = np.concatenate([b.cols.ravel() for b in agg.blocks])
    n_x = len(member)
    pos = np.full(agg.n_orig, -1, dtype=np.int64)
    pos[member] = np.arange(n_x)
    # the colocate rows over the block columns, the rest fixed at the solved values
    sub = arr.a[rows]
    fixed = x0.copy()
    fixed[member] = 0.0
    rest = sub @ fixed
    part = sub[:, member].tocoo()
    r_i, c_i, v_i = [part.row], [part.col], [part.data]
    lo_r, hi_r = [-rest], [-rest]
    n_rows = len(rows)
    # t+ and t- of each colocate row: row + t- - t+ = 0 (t+ - t- = the row's value)
    n_t = len(rows)
    r_i += [np.arange(n_rows), np.arange(n_rows)]
    c_i += [n_x + np.arange(n_t), n_x + n_t + np.arange(n_t)]
    v_i += [-np.ones(n_t), np.ones(n_t)]
    for b, u0 in zip(agg.blocks, agg.u_start, strict=True):
        n_j, n_d = b.cols.shape
        u = solution[u0 : u0 + n_j]
        busy = solution[u0 + n_j : u0 + n_j + n_d]
        idx = pos[b.cols]
        for i in range(n_j):
            r_i.append(np.full(n_d, n_rows))
            c_i.append(idx[i])
            v_i.append(np.ones(n_d))
            lo_r.append(np.array([u[i]]))
            hi_r.append(np.array([u[i]]))
            n_rows += 1
        for k in range(n_d):
            r_i.append(np.full(n_j, n_rows))
            c_i.append(idx[:, k])
            v_i.append(np.ones(n_j))
            lo_r.append(np.array([busy[k]]))
            hi_r.append(np.array([busy[k]]))
            n_rows += 1
    n_cols = n_x + 2 * n_t
    a = sp.csr_matrix(
        (np.concatenate(v_i), (np.concatenate(r_i), np.concatenate(c_i))), shape=(n_rows, n_cols)
    )
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    highs.setOptionValue("time_limit", time_limit_s)
    lp = highspy.HighsLp()
    lp.num_col_ = n_cols
    lp.col_cost_ = np.concatenate([np.zeros(n_x), np.ones(2 * n_t)])
    lp.col_lower_ = np.zeros(n_cols)
    lp.col_upper_ = np.full(n_cols, highspy.kHighsInf)
    highs.passModel(lp)
    lo, hi = np.concatenate(lo_r), np.concatenate(hi_r)
    highs.addRows(
        n_rows, lo, hi, a.nnz, a.indptr[:-1].astype(np.int32), a.indices.astype(np.int32), a.data
    )
    wall0 = time.perf_counter()
    highs.run()
    wall = time.perf_counter() - wall0
    status = highs.modelStatusToString(highs.getModelStatus())
    y = np.array(highs.getSolution().col_value)
    x = x0.copy()
    x[member] = y[:n_x]
    off = prefill_off_site(arr, groups, x)
    return {**off, "x": x, "wall_s": wall, "status": status}


def violation(arr: Arrays, x: np.ndarray) -> dict[str, Any]:
    """The largest violation of a row (absolute, and relative to 1 + |bound|) and of a column
    bound, the cost, and the family of the worst row."""
    act = arr.a @ x
    over = np.maximum(act - arr.rhi, 0.0)
    under = np.maximum(arr.rlo - act, 0.0)
    worst = np.maximum(over, under)
    bound = np.where(over > under, arr.rhi, arr.rlo)
    rel = worst / (1.0 + np.abs(np.where(np.isfinite(bound), bound, 0.0)))
    i = int(np.argmax(worst)) if len(worst) else 0
    col = np.maximum(np.maximum(arr.lo - x, 0.0), np.maximum(x - arr.hi, 0.0))
    return {
        "row_abs": float(worst.max(initial=0.0)),
        "row_rel": float(rel.max(initial=0.0)),
        "worst_family": arr.row_family[i] if len(worst) and arr.row_family else "",
        "col": float(col.max(initial=0.0)),
        "cost": float(arr.cost @ x + arr.constant),
    }


def price_colocation(
    orig: Arrays, split: np.ndarray, agg: Aggregation, row_dual: np.ndarray
) -> dict[str, Any]:
    """Whether the restricted optimum (`--restrict-colocation`, aggregated) is also optimal for
    the original LP, by LP duality: the aggregated LP's row duals give every original row but
    the split ones its dual; each split row r (one tier, site and period) needs one dual
    sigma_r that leaves every column in it a reduced cost >= 0: c_k - (A^T y)_k - a_rk
    sigma_r >= 0, an interval per row. An empty interval is a (tier, site, period) where the
    original LP can do better (prefill on another system of the site than its decode): an
    exact scheme (aggregate, price, disaggregate there, repeat) would have to open it up."""
    m = orig.a.shape[0]
    keep_idx = np.setdiff1d(np.arange(m), split)
    y = np.zeros(m)
    base_rows = agg.kept_rows
    inside = base_rows < len(keep_idx)
    y[keep_idx[base_rows[inside]]] = row_dual[: len(base_rows)][inside]
    rc = orig.cost - orig.a.T @ y
    in_split = np.zeros(orig.a.shape[1], dtype=bool)
    csr = orig.a
    empty, widths = 0, []
    for r in split:
        cols = csr.indices[csr.indptr[r] : csr.indptr[r + 1]]
        coef = csr.data[csr.indptr[r] : csr.indptr[r + 1]]
        in_split[cols] = True
        ratio = rc[cols] / coef
        upper = ratio[coef > 0].min(initial=INF)
        lower = ratio[coef < 0].max(initial=-INF)
        if lower > upper + 1e-7 * (1.0 + abs(lower) + abs(upper)):
            empty += 1
            widths.append(lower - upper)
    scale = np.maximum(1.0, np.abs(orig.cost))
    other = (rc / scale)[~in_split & (orig.hi > orig.lo)]
    return {
        "rows": len(split),
        "unpriceable": empty,
        "worst": max(widths, default=0.0),
        "other_min_rc": float(np.min(other, initial=0.0)),
    }


def original_duals(arr: Arrays, agg: Aggregation, row_dual: np.ndarray) -> dict[str, float]:
    """The aggregated LP's row duals as duals of the original LP (`arr`, the LP aggregated): a
    kept row its own, each site's coupling row the dual of the row that sums it. By the
    derivation in the report, the original columns' reduced costs are then rc(U[j]) + rc(B[d])
    >= 0: these duals are optimal for the original (what explain, value-limits and the report's
    shadow prices read). Returns the least reduced cost over the columns with bounds [0, inf)
    (relative to max(1, |cost|)) and the dual objective's relative gap to the primal."""
    y = np.zeros(arr.a.shape[0])
    y[agg.kept_rows] = row_dual[: len(agg.kept_rows)]
    for row, summed in agg.summed_of.items():
        y[row] = row_dual[summed]
    rc = arr.cost - arr.a.T @ y
    free = (arr.lo == 0) & np.isposinf(arr.hi)
    least = float(np.min(rc[free] / np.maximum(1.0, np.abs(arr.cost[free])), initial=0.0))
    return {"least_rc": least}


# -- HiGHS -------------------------------------------------------------------------------------


def solve(arr: Arrays, method: str = "choose", time_limit_s: float = 1500.0) -> dict[str, Any]:
    """The LP relaxation of `arr` by HiGHS configured as planner/lp/solve.py configures the
    relaxation (module docstring). Returns objective (constant included), solution, wall and
    CPU seconds of the run, iterations, status and the method HiGHS was set to."""

    solver = make_solver("highs", False, 0.01, time_limit_s, method)
    holder = LinearProblem("aggregate_bench")
    with _quiet_stdout():
        solver.createAndConfigureSolver(holder)
        highs = holder.solverModel
        load_highs(highs, arr)
        _scale_objective(highs)
        _choose_method(highs, solver)
        _scale_matrix(highs)
        set_to = highs.getOptionValue("solver")[1]
        wall0, cpu0 = time.perf_counter(), time.process_time()
        highs.run()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    info = highs.getInfo()
    status = highs.modelStatusToString(highs.getModelStatus())
    solution = highs.getSolution()
    x = np.array(solution.col_value)
    return {
        "row_dual": np.array(solution.row_dual),
        "col_dual": np.array(solution.col_dual),
        "objective": float(info.objective_function_value) + arr.constant,
        "x": x,
        "wall_s": wall,
        "cpu_s": cpu,
        "status": status,
        "method": set_to,
        "iterations": (
            f"simplex {info.simplex_iteration_count}, ipm {info.ipm_iteration_count}, "
            f"crossover {info.crossover_iteration_count}"
        ),
        "objective_scale": highs.getOptionValue("user_objective_scale")[1],
        "scale_strategy": highs.getOptionValue("simplex_scale_strategy")[1],
    }


# -- the bench -----------------------------------------------------------------------------------


def build_fleet(args: argparse.Namespace) -> Model:
    """The bench fleet's model, as bench/bench_lp.py `run` builds it."""
    from bench_lp import write_fleet

    with tempfile.TemporaryDirectory() as tmp:
        path = write_fleet(Path(tmp), args)
        across = getattr(args, "across_sites", False)
        if args.prefill or across:
            data = yaml.safe_load(path.read_text())
            for spec in data["workloads"].values():
                if spec["kind"] == "inference":
                    if args.prefill:
                        spec["prefill"] = args.prefill
                    if across:
                        spec["disaggregate_across_sites"] = True
            path.write_text(yaml.safe_dump(data))
        scenario = load_scenario(path)
        return build(scenario, demands(scenario))


def report_aggregation(agg: Aggregation, orig: Arrays) -> None:
    n_cols = sum(b.cols.size for b in agg.blocks)
    roles = collections.Counter()
    for b in agg.blocks:
        roles[len(b.roles)] += 1
    print(
        f"aggregated: {len(agg.blocks):,} blocks (system x period; roles per block: "
        f"{dict(sorted(roles.items()))}), {n_cols:,} allocation columns -> "
        f"{sum(b.cols.shape[0] + b.cols.shape[1] for b in agg.blocks):,} U + B columns, "
        f"{agg.coupling_dropped:,} coupling rows -> "
        f"{sum(len(b.patterns) for b in agg.blocks):,} summed + {len(agg.blocks):,} balance rows"
    )
    by_reason: dict[str, collections.Counter] = {}
    for (reason, (_w, r)), k in agg.not_aggregated.items():
        by_reason.setdefault(reason, collections.Counter())[r] += k
    for reason, counter in by_reason.items():
        total = sum(counter.values())
        top = ", ".join(f"{r} {k:,}" for r, k in counter.most_common(8))
        print(f"not aggregated ({reason}): {total:,} columns ({top})")


def line(name: str, arr: Arrays, res: dict[str, Any] | None) -> None:
    cols, rows, nnz = arr.shape
    if res is None:
        print(f"{name:<28} {cols:>9,} {rows:>9,} {nnz:>10,}")
        return
    print(
        f"{name:<28} {cols:>9,} {rows:>9,} {nnz:>10,} {res['method']:>8} {res['wall_s']:>8.1f} "
        f"{res['cpu_s']:>8.1f} {res['objective']:>20.6f}  {res['status']}; {res['iterations']}; "
        f"obj scale {res['objective_scale']}, simplex scaling {res['scale_strategy']}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=5)
    parser.add_argument("--systems", type=int, default=5)
    parser.add_argument("--inference", type=int, default=12)
    parser.add_argument("--rl", type=int, default=2)
    parser.add_argument("--period", default="1 quarter")
    parser.add_argument("--horizon", default="3 years")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument(
        "--prefill",
        choices=["aggregated", "disaggregated"],
        help="set every serving tier's prefill (default: the bench's, disaggregated)",
    )
    parser.add_argument(
        "--across-sites",
        action="store_true",
        help="set every serving tier's disaggregate_across_sites (prefill at another site, its "
        "KV cache on the links: KV moves in the colocate rows)",
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["choose"],
        choices=["choose", "simplex", "ipm"],
        help="methods for the aggregated LP (choose: as the planner would at its size)",
    )
    parser.add_argument(
        "--original-method", default="choose", choices=["choose", "simplex", "ipm", "skip"]
    )
    parser.add_argument(
        "--restrict-colocation",
        action="store_true",
        help="split each site's colocate row per system (a restriction: module docstring)",
    )
    parser.add_argument(
        "--relax-colocation",
        action="store_true",
        help="sum each tier's colocate rows over the sites (a relaxation: module docstring)",
    )
    parser.add_argument(
        "--solve-unaggregated",
        "--solve-restricted",
        action="store_true",
        help="with --restrict-colocation or --relax-colocation, also solve that LP unaggregated",
    )
    parser.add_argument(
        "--least-off-site",
        action="store_true",
        help="with --relax-colocation, also find the split of the relaxed aggregated solution "
        "with the least prefill off its decode's site (an LP: least_off_site)",
    )
    parser.add_argument(
        "--pools-plan",
        action="store_true",
        help="with --relax-colocation, also solve the original LP on the pools (site, system) "
        "the relaxed aggregated solution uses (every other allocation column at 0): a "
        "restriction, an upper bound",
    )
    parser.add_argument("--time-limit", type=float, default=1500.0)
    args = parser.parse_args()
    t0, c0 = time.perf_counter(), time.process_time()
    model = build_fleet(args)
    orig, keys = lp_arrays(model)
    print(
        f"fleet: {args.sites} sites x {args.systems} systems, {args.period} over {args.horizon}, "
        f"scale {args.scale:g}, prefill {args.prefill or 'as bench_lp'}"
        f"{', across sites' if args.across_sites else ''}; build + arrays "
        f"{time.perf_counter() - t0:.1f} s wall, {time.process_time() - c0:.1f} s CPU; "
        f"{len(keys):,} allocation columns"
    )
    variants = [
        name
        for name, asked in (
            ("restricted", args.restrict_colocation),
            ("relaxed", args.relax_colocation),
        )
        if asked
    ] or ["as built"]
    print(
        f"{'LP':<28} {'columns':>9} {'rows':>9} {'nonzeros':>10} {'method':>8} {'wall s':>8} "
        f"{'CPU s':>8} {'objective':>20}"
    )
    ref = None
    if args.original_method != "skip":
        ref = solve(orig, args.original_method, args.time_limit)
        line("original", orig, ref)
        v = violation(orig, ref["x"])
        print(
            f"  original's own solution: max row violation {v['row_abs']:.3g} "
            f"(rel {v['row_rel']:.3g}, {v['worst_family']}), bound {v['col']:.3g}"
        )
    else:
        line("original", orig, None)
    best: dict[str, float] = {}
    for variant in variants:
        print(f"-- {variant}")
        base, split, groups = orig, np.zeros(0, dtype=np.int64), []
        if variant == "restricted":
            base, split, added = restrict_colocation(orig, keys)
            print(
                f"restricted: {len(split):,} colocate-type rows split into {added:,} per-system rows"
            )
            if ref is not None and len(split):
                off = prefill_off_system(orig, keys, split, ref["x"])
                print(
                    f"  the original's solution: prefill on another system of the site than its "
                    f"decode {off['share']:.3%} of the prefill work (what the restriction forbids)"
                )
        elif variant == "relaxed":
            base, groups, _ = relax_colocation(orig, keys)
            print(
                f"relaxed: {sum(len(g) for g in groups):,} colocate-type rows summed over sites "
                f"into {len(groups):,} rows"
            )
        t1, c1 = time.perf_counter(), time.process_time()
        agg = aggregate(base, keys)
        print(
            f"aggregation: {time.perf_counter() - t1:.1f} s wall, "
            f"{time.process_time() - c1:.1f} s CPU"
        )
        report_aggregation(agg, base)
        own_ref = None
        if variant != "as built" and args.solve_unaggregated:
            own_ref = solve(base, args.original_method, args.time_limit)
            line(f"{variant} (unaggregated)", base, own_ref)
            if variant == "relaxed":
                off = prefill_off_site(orig, groups, own_ref["x"])
                print(
                    f"  its own solution: prefill off its decode's site {off['share']:.3%} of "
                    f"the prefill work, worst tier-period {off['worst']:.3%}"
                )
        for method in args.methods:
            res = solve(agg.lp, method, args.time_limit)
            line(f"{variant} aggregated ({method})", agg.lp, res)
            best[variant] = res["objective"]
            x = map_back(agg, res["x"])
            v = violation(orig, x)
            print(
                f"  mapped back on the original LP: max row violation {v['row_abs']:.3g} (rel "
                f"{v['row_rel']:.3g}, {v['worst_family']}), bound {v['col']:.3g}; cost "
                f"{v['cost']:.6f} vs aggregated objective {res['objective']:.6f} (rel "
                f"{abs(v['cost'] - res['objective']) / abs(res['objective']):.2e})"
            )
            if variant == "relaxed":
                vr = violation(base, x)
                off = prefill_off_site(orig, groups, x)
                print(
                    f"  mapped back on the relaxed LP: max row violation {vr['row_abs']:.3g}; "
                    f"prefill off its decode's site (proportional split): {off['share']:.3%} of "
                    f"the prefill work, worst tier-period {off['worst']:.3%}, "
                    f"{off['groups_over_1pct']:,} of {off['groups']:,} tier-periods over 1%"
                )
                if args.least_off_site:
                    least = least_off_site(orig, agg, groups, res["x"], args.time_limit)
                    lv = violation(orig, least["x"])
                    print(
                        f"  least off site over the splits: {least['share']:.4%} of the prefill "
                        f"work, worst tier-period {least['worst']:.3%}, "
                        f"{least['groups_over_1pct']:,} tier-periods over 1% ({least['status']}, "
                        f"{least['wall_s']:.1f} s); that split on the original LP: max row "
                        f"violation {lv['row_abs']:.3g} ({lv['worst_family']}), cost "
                        f"{lv['cost']:.6f}"
                    )
            if variant == "relaxed" and args.pools_plan:
                pools = used_pools(keys, x)
                every = {(d, s) for _, _, d, s, _ in keys.values()}
                narrow = on_pools(orig, keys, pools)
                plan = solve(narrow, args.original_method, args.time_limit)
                line("  original on its pools", narrow, plan)
                pv = violation(orig, plan["x"])
                best["pools"] = plan["objective"]
                print(
                    f"  on its {len(pools):,} of {len(every):,} pools: max row violation "
                    f"{pv['row_abs']:.3g} on the original LP; over the relaxed optimum "
                    f"{(plan['objective'] - res['objective']) / abs(res['objective']):+.3e}"
                )
            own = violation(agg.lp, res["x"])
            print(f"  aggregated LP's own solution: max row violation {own['row_abs']:.3g}")
            duals = original_duals(base, agg, res["row_dual"])
            print(
                f"  its duals on the {variant} LP: least reduced cost / max(1, |cost|) "
                f"{duals['least_rc']:.3g}"
            )
            if variant == "restricted" and len(split):
                priced = price_colocation(orig, split, agg, res["row_dual"])
                print(
                    f"  priced on the original LP: {priced['unpriceable']:,} of "
                    f"{priced['rows']:,} colocate rows with no dual that prices every column "
                    f"out (widest gap {priced['worst']:.3g}); other columns' least reduced cost "
                    f"/ max(1, |cost|): {priced['other_min_rc']:.3g}"
                )
            for name, other in (("original", ref), (f"{variant} unaggregated", own_ref)):
                if other is not None:
                    diff = (res["objective"] - other["objective"]) / abs(other["objective"])
                    print(f"  objective vs {name}: {diff:+.3e} relative")
    if ref is not None and "pools" in best:
        lp = ref["objective"]
        print(f"pools plan over the original optimum: {(best['pools'] - lp) / abs(lp):+.3e}")
    if ref is not None and "relaxed" in best and "restricted" in best:
        lb, ub, lp = best["relaxed"], best["restricted"], ref["objective"]
        print(
            f"gaps: (original - relaxed) / original {(lp - lb) / abs(lp):+.3e}; (restricted - "
            f"original) / original {(ub - lp) / abs(lp):+.3e}; (restricted - relaxed) / relaxed "
            f"{(ub - lb) / abs(lb):+.3e}"
        )


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
