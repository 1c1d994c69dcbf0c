"""The relaxed aggregated LP (issue 14): a fast, exact lower bound for fleet-scale plans.

A serving tier with `prefill: disaggregated` (the default) has one `colocate` row per site and
period: its decode work at the site minus its prefill work at the site, over every system of
the site, = 0 (a tier with disaggregate_across_sites also has its KV moves in them, +1 at the
prefill's site and -1 at the decode's). `relax_colocation` replaces each tier's colocate rows
of one period by their sum over the sites. A sum of rows is implied by the rows, so every
solution of the LP relaxation is a solution of this relaxed LP: its optimum is at most the LP
relaxation's, which is at most the MIP's (every whole-unit plan is a solution of the LP
relaxation). The relaxed LP's optimum is therefore a valid lower bound on every plan, the
bound a plan's gap is proven against (planner/lp/solve.py `_solve_fast`).

With the colocate rows summed, a role's allocation columns u[w,r,d,s,p] are parallel across
sites: each enters the same site-free rows (the demand, the summed colocate row) with the same
coefficient at every site, and its pool rows (units in service, power) with the same
coefficient as the other roles of its block at each site. `aggregate` finds such blocks J x D
(roles J, sites D, one system s, one period p) on the arrays, never by name, and replaces them
by U[j] (the role's work on s in p, any site) and B[d] (the block's busy units at (d, s) in p)
with a balance row sum_j U[j] - sum_d B[d] = 0. This is exact: a solution x of the relaxed LP
gives U[j] = sum_d x[j,d], B[d] = sum_j x[j,d] with every kept row's value and the cost
unchanged, and a solution (U, B) maps back (`map_back`) by the proportional split x[j,d] =
U[j] B[d] / sum_d B[d], which keeps every row's value too. So the aggregated LP's optimum is
the relaxed LP's, and a valid lower bound on the plan.

Measured (bench/aggregate_serving_lp.py, bench_lp's fleets at --scale 3): the relaxed
aggregated LP holds ~50-120k columns and solves by simplex in 2.3-5.7 s; its optimum equals the
full LP relaxation's to 2e-5 or closer (exactly at 50 sites x 24 months and 100 x 20 quarters)
where the full LP takes 52-200 s.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

INF = float("inf")


@dataclass
class Arrays:
    """An LP: min cost x + constant, rlo <= A x <= rhi, lo <= x <= hi (integrality dropped:
    `integer` says which columns the MIP would hold whole)."""

    cost: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    integer: np.ndarray
    a: sp.csr_matrix
    rlo: np.ndarray
    rhi: np.ndarray
    constant: float = 0.0
    row_family: list[str] = field(default_factory=list)  # for the report only

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.a.shape[1], self.a.shape[0], int(self.a.nnz + np.count_nonzero(self.cost))


def _homogeneous(arr: Arrays) -> np.ndarray:
    """Rows with right-hand side 0: lo and hi each 0 or infinite, not both infinite."""
    lo_ok = (arr.rlo == 0) | np.isneginf(arr.rlo)
    hi_ok = (arr.rhi == 0) | np.isposinf(arr.rhi)
    return lo_ok & hi_ok & ~(np.isneginf(arr.rlo) & np.isposinf(arr.rhi))


def _row_code_range(a: sp.csr_matrix, code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the least and the largest code of its columns (-1 for a column with none;
    an empty row gets (-1, -1))."""
    m = a.shape[0]
    low = np.full(m, -1, dtype=np.int64)
    high = np.full(m, -1, dtype=np.int64)
    filled = np.diff(a.indptr) > 0
    if a.nnz:
        c = code[a.indices]
        starts = a.indptr[:-1][filled]
        low[filled] = np.minimum.reduceat(c, starts)
        high[filled] = np.maximum.reduceat(c, starts)
    return low, high


def _candidates(arr: Arrays, keys: dict[int, tuple]) -> dict[int, tuple]:
    """The allocation columns that may be aggregated: continuous, bounds [0, inf)."""
    return {
        c: k
        for c, k in keys.items()
        if not arr.integer[c] and arr.lo[c] == 0 and np.isposinf(arr.hi[c])
    }


def relax_colocation(
    arr: Arrays, keys: dict[int, tuple]
) -> tuple[Arrays, list[np.ndarray], np.ndarray]:
    """The relaxed LP of `--relax-colocation`: the equality rows with right-hand side 0 whose
    allocation columns (at least one) are all of one site and one period are grouped by
    (period, the (workload, role) pairs of their allocation columns); a group with a row over
    two or more systems, at most one row per site (a tier's `colocate` rows, one per site) and
    whose other columns cancel in its sum (a KV move x[a,b] of a tier with
    disaggregate_across_sites enters a's row with +1 and b's with -1) is replaced by its sum
    over the sites (= 0). A sum of rows is implied by them: a relaxation. Returns (relaxed LP,
    the original indices of each group's rows, the relaxed LP's index of each group's summed
    row); the relaxed LP's rows are the original's other rows, in their order, then the
    sums."""
    cand = _candidates(arr, keys)
    n = arr.a.shape[1]
    dp_id: dict[tuple, int] = {}
    dsp_id: dict[tuple, int] = {}
    dp = np.full(n, -1, dtype=np.int64)
    dsp = np.full(n, -1, dtype=np.int64)
    for c, (_, _, d, s, p) in cand.items():
        dp[c] = dp_id.setdefault((d, p), len(dp_id))
        dsp[c] = dsp_id.setdefault((d, s, p), len(dsp_id))
    # code ranges over the allocation columns only: the others get a code above every one for
    # the least and -1 for the largest
    big = np.int64(len(dp_id) + len(dsp_id) + 1)
    low, _ = _row_code_range(arr.a, np.where(dp >= 0, dp, big))
    _, high = _row_code_range(arr.a, dp)
    slow, _ = _row_code_range(arr.a, np.where(dsp >= 0, dsp, big))
    _, shigh = _row_code_range(arr.a, dsp)
    equality = (arr.rlo == 0) & (arr.rhi == 0)
    one_site = np.flatnonzero(equality & (low == high) & (low >= 0))
    csr = arr.a
    groups: dict[tuple, list[int]] = {}
    site_of: dict[int, str] = {}
    for r in one_site:
        cols = [int(c) for c in csr.indices[csr.indptr[r] : csr.indptr[r + 1]] if c in cand]
        site_of[int(r)] = cand[cols[0]][2]
        roles = frozenset((cand[c][0], cand[c][1]) for c in cols)
        groups.setdefault((cand[cols[0]][4], roles), []).append(int(r))
    chosen: list[np.ndarray] = []
    others = np.ones(n, dtype=bool)  # the columns that are not allocations (KV moves, ...)
    others[list(cand)] = False
    for rows in groups.values():
        sites = [site_of[r] for r in rows]
        if len(set(sites)) != len(sites) or len(rows) < 2:
            continue
        if not any(slow[r] != shigh[r] for r in rows):
            continue
        total = np.asarray(csr[rows].sum(axis=0)).ravel()
        if np.any(np.abs(total[others]) > 1e-12):
            continue
        chosen.append(np.array(sorted(rows), dtype=np.int64))
    if not chosen:
        return arr, [], np.zeros(0, dtype=np.int64)
    keep = np.ones(arr.a.shape[0], dtype=bool)
    for summed in chosen:
        keep[summed] = False
    n_kept = int(keep.sum())
    # the sums: a 0/1 matrix (group x original row) times A
    g_rows = np.concatenate([np.full(len(rows), g) for g, rows in enumerate(chosen)])
    members = np.concatenate(chosen)
    summing = sp.csr_matrix(
        (np.ones(len(members)), (g_rows, members)), shape=(len(chosen), arr.a.shape[0])
    )
    sums = (summing @ arr.a).tocsr()
    sums.eliminate_zeros()
    a = sp.vstack([arr.a[keep], sums]).tocsr()
    families: list[str] = []
    if arr.row_family:  # names for the bench's report; the planner's arrays have none
        families = [f for f, k in zip(arr.row_family, keep, strict=True) if k]
        families += [arr.row_family[rows[0]] + "/summed-over-sites" for rows in chosen]
    relaxed = Arrays(
        arr.cost,
        arr.lo,
        arr.hi,
        arr.integer,
        a,
        np.concatenate([arr.rlo[keep], np.zeros(len(chosen))]),
        np.concatenate([arr.rhi[keep], np.zeros(len(chosen))]),
        arr.constant,
        families,
    )
    return relaxed, chosen, n_kept + np.arange(len(chosen))


def used_pools(keys: dict[int, tuple], x: np.ndarray, tol: float = 1e-9) -> set[tuple]:
    """The pools (site, system) where some allocation column of x is above tol in some
    period."""
    return {(d, s) for c, (_, _, d, s, _) in keys.items() if x[c] > tol}


@dataclass
class Block:
    system: str
    period: int
    roles: list[tuple[str, str]]
    sites: list[str]
    cols: np.ndarray  # original column index, [role, site]
    # coupling rows of the first site: (lo, hi, coefficient per role)
    patterns: list[tuple[float, float, np.ndarray]] = field(default_factory=list)


@dataclass
class Aggregation:
    lp: Arrays  # the aggregated LP
    kept: np.ndarray  # original indices of the columns kept as they are (new index = position)
    blocks: list[Block]
    u_start: list[int]  # per block: new index of U[first role]; B[first site] follows U's
    n_orig: int
    coupling_dropped: int
    not_aggregated: collections.Counter  # (kind of reason, role) -> columns
    kept_rows: np.ndarray  # original row index of each of the aggregated LP's first rows
    summed_of: dict[int, int]  # original coupling row -> the aggregated row that sums it


def aggregate(arr: Arrays, keys: dict[int, tuple]) -> Aggregation:
    """The aggregated LP of `arr` (module docstring): blocks found on the arrays, each checked;
    what is left out is counted by reason and role in `not_aggregated`."""
    m, n = arr.a.shape
    cand = _candidates(arr, keys)
    reasons: collections.Counter = collections.Counter()
    for c, (w, r, *_rest) in keys.items():
        if c not in cand:
            reasons[("integer or bounded column", (w, r))] += 1
    # the objective as row m
    full = sp.vstack([arr.a, sp.csr_matrix(arr.cost.reshape(1, -1))]).tocsc()
    full.sum_duplicates()
    csr_rows = arr.a
    dsp_id: dict[tuple, int] = {}
    dsp = np.full(n, -1, dtype=np.int64)
    for c, (_, _, d, s, p) in cand.items():
        dsp[c] = dsp_id.setdefault((d, s, p), len(dsp_id))
    low, high = _row_code_range(csr_rows, dsp)
    coupling = np.zeros(m + 1, dtype=bool)
    coupling[:m] = _homogeneous(arr) & (low == high) & (low >= 0)
    # a homogeneous row of one site and period over several systems (a tier's `colocate`
    # row): blocks are per system, so it cannot be a coupling row of one
    dp_id: dict[tuple, int] = {}
    dp = np.full(n, -1, dtype=np.int64)
    for c, (_, _, d, _, p) in cand.items():
        dp[c] = dp_id.setdefault((d, p), len(dp_id))
    plow, phigh = _row_code_range(csr_rows, dp)
    spanning = np.zeros(m + 1, dtype=bool)
    spanning[:m] = _homogeneous(arr) & (plow == phigh) & (plow >= 0) & (low != high)

    by_role: dict[tuple, dict[str, int]] = {}
    for c, (w, r, d, s, p) in cand.items():
        by_role.setdefault((w, r, s, p), {})[d] = c
    signatures: dict[tuple, int] = {}
    block_of: dict[tuple, list[tuple]] = {}
    site_free: dict[tuple, set[int]] = {}
    for j, at in by_role.items():
        w, r, s, p = j
        if len(at) < 2:
            reasons[("on one site only", (w, r))] += len(at)
            continue
        entries = {}
        seen: collections.Counter = collections.Counter()
        for d, c in at.items():
            rows = full.indices[full.indptr[c] : full.indptr[c + 1]]
            vals = full.data[full.indptr[c] : full.indptr[c + 1]]
            entries[d] = (rows, vals)
            seen.update(zip(rows.tolist(), vals.tolist(), strict=True))
        free = {row for (row, _), k in seen.items() if k == len(at)}
        site_free[j] = free
        if any(spanning[row] for rows, _ in entries.values() for row in rows):
            reasons[("in a coupling row over several systems (colocate)", (w, r))] += len(at)
            continue
        sig = []
        for d in sorted(at):
            rows, vals = entries[d]
            pool = tuple(
                (int(row), float(v))
                for row, v in zip(rows, vals, strict=True)
                if row not in free and not coupling[row]
            )
            sig.append((d, signatures.setdefault(pool, len(signatures))))
        block_of.setdefault((s, p, tuple(sig)), []).append(j)

    blocks: list[Block] = []
    for (s, p, sig), roles in block_of.items():
        sites = [d for d, _ in sig]
        roles = sorted(roles)
        while True:
            if len(roles) < 2:
                for w, r, _, _ in roles:
                    reasons[("no other role with the same pool-row coefficients", (w, r))] += len(
                        sites
                    )
                break
            bad = _check_coupling(arr, full, coupling, roles, sites, by_role)
            if isinstance(bad, set):
                for j in roles:
                    if j in bad:
                        reasons[("coupled to a column outside its block", j[:2])] += len(sites)
                roles = [j for j in roles if j not in bad]
                continue
            cols = np.array([[by_role[j][d] for d in sites] for j in roles], dtype=np.int64)
            blocks.append(Block(s, p, [j[:2] for j in roles], sites, cols, bad))
            break
    return _build_aggregated(arr, full, coupling, blocks, site_free, reasons)


def _check_coupling(
    arr: Arrays,
    full: sp.csc_matrix,
    coupling: np.ndarray,
    roles: list[tuple],
    sites: list[str],
    by_role: dict[tuple, dict[str, int]],
) -> set[tuple] | list[tuple[float, float, np.ndarray]]:
    """The block's coupling patterns (those of its first site: lo, hi, coefficient per role),
    or the set of roles to take out of it: those in a coupling row holding a column outside the
    block, or whose coupling rows differ between its sites."""
    index = {by_role[j][d]: (i, k) for i, j in enumerate(roles) for k, d in enumerate(sites)}
    rows_at: list[set[int]] = [set() for _ in sites]
    for c, (_, k) in index.items():
        for row in full.indices[full.indptr[c] : full.indptr[c + 1]]:
            if coupling[row]:
                rows_at[k].add(int(row))
    csr = arr.a
    bad: set[tuple] = set()
    per_site: list[collections.Counter] = []
    shapes: dict[tuple, tuple[float, float, np.ndarray]] = {}
    for rows in rows_at:
        counter: collections.Counter = collections.Counter()
        for row in rows:
            cols = csr.indices[csr.indptr[row] : csr.indptr[row + 1]]
            vals = csr.data[csr.indptr[row] : csr.indptr[row + 1]]
            coef = np.zeros(len(roles))
            outside = False
            for c, v in zip(cols.tolist(), vals.tolist(), strict=True):
                if c in index:
                    coef[index[c][0]] = v
                else:
                    outside = True
            if outside:
                bad.update(roles[index[c][0]] for c in cols.tolist() if c in index)
                continue
            key = (float(arr.rlo[row]), float(arr.rhi[row]), tuple(coef.tolist()))
            shapes[key] = (key[0], key[1], coef)
            counter[key] += 1
        per_site.append(counter)
    if bad:
        return bad
    first = per_site[0]
    for counter in per_site[1:]:
        if counter != first:
            differ = set(counter) ^ set(first)
            return {roles[i] for key in differ for i in np.flatnonzero(np.array(key[2]))}
    return [shapes[key] for key in first]


def _build_aggregated(arr, full, coupling, blocks, site_free, reasons) -> Aggregation:  # noqa: ANN001
    m, n = arr.a.shape
    member = np.zeros(n, dtype=bool)
    for b in blocks:
        member[b.cols.ravel()] = True
    kept = np.flatnonzero(~member)
    # the coupling rows of the blocks (every column in one block: `_check_coupling`); other
    # coupling rows (of roles left out) stay as they are
    dropped = np.zeros(m + 1, dtype=bool)
    for b in blocks:
        for c in b.cols.ravel():
            rows = full.indices[full.indptr[c] : full.indptr[c + 1]]
            dropped[rows[coupling[rows]]] = True
    coupling = dropped
    new_col = np.full(n, -1, dtype=np.int64)
    new_col[kept] = np.arange(len(kept))
    keep_row = ~coupling[:m]
    kept_rows = np.flatnonzero(keep_row)
    new_row = np.full(m + 1, -1, dtype=np.int64)
    new_row[kept_rows] = np.arange(len(kept_rows))
    new_row[m] = -2  # the objective
    # kept columns: their entries as they are
    sub = full[:, kept].tocoo()
    r_list = [new_row[sub.row]]
    c_list = [sub.col.astype(np.int64)]
    v_list = [sub.data]
    next_col = len(kept)
    next_row = len(kept_rows)
    u_start = []
    extra_r, extra_c, extra_v, extra_lo, extra_hi = [], [], [], [], []
    named = bool(arr.row_family)
    families = [arr.row_family[i] for i in kept_rows] if named else []
    summed_of: dict[int, int] = {}  # a dropped coupling row -> its block's summed row
    for b in blocks:
        n_j, n_d = b.cols.shape
        u0, b0 = next_col, next_col + n_j
        u_start.append(u0)
        next_col += n_j + n_d
        for i, j in enumerate(b.roles):
            free = site_free[(*j, b.system, b.period)]
            for k in range(n_d):
                c = b.cols[i, k]
                rows = full.indices[full.indptr[c] : full.indptr[c + 1]]
                vals = full.data[full.indptr[c] : full.indptr[c + 1]]
                for row, v in zip(rows, vals, strict=True):
                    if coupling[row]:
                        continue
                    if row in free:
                        if k == 0:
                            extra_r.append(new_row[row])
                            extra_c.append(u0 + i)
                            extra_v.append(v)
                    elif i == 0:
                        extra_r.append(new_row[row])
                        extra_c.append(b0 + k)
                        extra_v.append(v)
        summed_row = {}
        for lo, hi, coef in b.patterns:
            summed_row[(float(lo), float(hi), tuple(coef.tolist()))] = next_row
            for q in np.flatnonzero(coef).tolist():
                extra_r.append(next_row)
                extra_c.append(u0 + q)
                extra_v.append(coef[q])
            extra_lo.append(lo)
            extra_hi.append(hi)
            families.append("coupling (summed over sites)")
            next_row += 1
        role_of = {int(c): i for i, row in enumerate(b.cols) for c in row}
        for c in b.cols.ravel():
            for row in full.indices[full.indptr[c] : full.indptr[c + 1]]:
                if coupling[row] and int(row) not in summed_of:
                    coef = np.zeros(n_j)
                    lo_r, hi_r = arr.a.indptr[row], arr.a.indptr[row + 1]
                    for cc, v in zip(arr.a.indices[lo_r:hi_r], arr.a.data[lo_r:hi_r], strict=True):
                        coef[role_of[int(cc)]] = v
                    key = (float(arr.rlo[row]), float(arr.rhi[row]), tuple(coef.tolist()))
                    summed_of[int(row)] = summed_row[key]
        for i in range(n_j):
            extra_r.append(next_row)
            extra_c.append(u0 + i)
            extra_v.append(1.0)
        for k in range(n_d):
            extra_r.append(next_row)
            extra_c.append(b0 + k)
            extra_v.append(-1.0)
        extra_lo.append(0.0)
        extra_hi.append(0.0)
        families.append("balance")
        next_row += 1
    rows = np.concatenate([*r_list, np.array(extra_r, dtype=np.int64)])
    cols = np.concatenate([*c_list, np.array(extra_c, dtype=np.int64)])
    vals = np.concatenate([*v_list, np.array(extra_v, dtype=float)])
    objective = rows == -2
    cost = np.zeros(next_col)
    np.add.at(cost, cols[objective], vals[objective])
    a = sp.csr_matrix(
        (vals[~objective], (rows[~objective], cols[~objective])), shape=(next_row, next_col)
    )
    a.sum_duplicates()
    n_new = next_col - len(kept)
    lp = Arrays(
        cost,
        np.concatenate([arr.lo[kept], np.zeros(n_new)]),
        np.concatenate([arr.hi[kept], np.full(n_new, INF)]),
        np.concatenate([arr.integer[kept], np.zeros(n_new, dtype=bool)]),
        a,
        np.concatenate([arr.rlo[kept_rows], np.array(extra_lo)]),
        np.concatenate([arr.rhi[kept_rows], np.array(extra_hi)]),
        arr.constant,
        families if named else [],
    )
    return Aggregation(
        lp, kept, blocks, u_start, n, int(coupling[:m].sum()), reasons, kept_rows, summed_of
    )


def map_back(agg: Aggregation, solution: np.ndarray) -> np.ndarray:
    """The original LP's columns from an aggregated solution: kept columns as they are, each
    block's by the proportional split U[j] B[d] / sum_d B[d]."""
    x = np.zeros(agg.n_orig)
    x[agg.kept] = solution[: len(agg.kept)]
    for b, u0 in zip(agg.blocks, agg.u_start, strict=True):
        n_j, n_d = b.cols.shape
        u = solution[u0 : u0 + n_j]
        busy = solution[u0 + n_j : u0 + n_j + n_d]
        total = busy.sum()
        if total > 0:
            x[b.cols] = np.outer(u, busy) / total
    return x


def from_highs(highs: Any, constant: float = 0.0) -> Arrays:
    """The LP a loaded highspy.Highs holds (integrality read, not imposed), as arrays; its
    columns and rows in HiGHS's order. `constant` is the objective's constant (PuLP leaves it
    out of HiGHS's model)."""
    import highspy

    lp = highs.getLp()
    n, m = lp.num_col_, lp.num_row_
    mat = lp.a_matrix_
    start = np.asarray(mat.start_, dtype=np.int64)
    index = np.asarray(mat.index_, dtype=np.int64)
    value = np.asarray(mat.value_, dtype=np.float64)
    if mat.format_ == highspy.MatrixFormat.kColwise:
        a = sp.csc_matrix((value, index, start), shape=(m, n)).tocsr()
    else:
        a = sp.csr_matrix((value, index, start), shape=(m, n))
    a.sum_duplicates()
    integrality = list(lp.integrality_)
    integer = np.zeros(n, dtype=bool)
    if integrality:
        integer = np.array([t == highspy.HighsVarType.kInteger for t in integrality], dtype=bool)
    big = highspy.kHighsInf

    def finite(v: Any) -> np.ndarray:
        out = np.asarray(v, dtype=np.float64).copy()
        out[out >= big] = INF
        out[out <= -big] = -INF
        return out

    return Arrays(
        cost=np.asarray(lp.col_cost_, dtype=np.float64).copy(),
        lo=finite(lp.col_lower_),
        hi=finite(lp.col_upper_),
        integer=integer,
        a=a,
        rlo=finite(lp.row_lower_),
        rhi=finite(lp.row_upper_),
        constant=constant,
    )


def load_highs(highs: Any, arr: Arrays) -> None:
    """Pass the LP `arr` (continuous) to an empty highspy.Highs: columns, then rows row-wise."""
    import highspy

    lp = highspy.HighsLp()
    lp.num_col_ = arr.a.shape[1]
    lp.col_cost_ = arr.cost
    lp.col_lower_ = np.where(np.isfinite(arr.lo), arr.lo, -highspy.kHighsInf)
    lp.col_upper_ = np.where(np.isfinite(arr.hi), arr.hi, highspy.kHighsInf)
    highs.passModel(lp)
    a = arr.a.tocsr()
    if a.shape[0]:
        highs.addRows(
            a.shape[0],
            np.where(np.isfinite(arr.rlo), arr.rlo, -highspy.kHighsInf),
            np.where(np.isfinite(arr.rhi), arr.rhi, highspy.kHighsInf),
            a.nnz,
            a.indptr[:-1].astype(np.int32),
            a.indices.astype(np.int32),
            a.data,
        )


@dataclass
class RelaxedBound:
    """The relaxed aggregated LP's answer: its objective (the constant included: the lower
    bound), its solution mapped back on the original columns, and what it took."""

    objective: float
    x: np.ndarray
    summed_rows: int  # colocate rows summed over the sites
    groups: int  # the sums
    blocks: int
    columns: int  # of the aggregated LP
    prepare_s: float  # the relaxation and the aggregation
    solve_s: float


def aggregable(
    arr: Arrays, keys: dict[int, tuple]
) -> tuple[Arrays, list[np.ndarray], Aggregation] | None:
    """The relaxed LP (`relax_colocation`), the original rows of each sum, and the relaxed LP
    aggregated (`aggregate`); None when it has no colocate rows to sum or no block to
    aggregate (then the fast bound does not apply)."""
    relaxed, groups, _ = relax_colocation(arr, keys)
    if not groups:
        return None
    agg = aggregate(relaxed, keys)
    if not agg.blocks:
        return None
    return relaxed, groups, agg
