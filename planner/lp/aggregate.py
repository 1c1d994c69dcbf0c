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
import operator
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
    cols = np.fromiter(keys, dtype=np.int64, count=len(keys))
    ok = ~arr.integer[cols] & (arr.lo[cols] == 0) & np.isposinf(arr.hi[cols])
    return {c: keys[c] for c in cols[ok].tolist()}


@dataclass
class _Codes:
    """The candidate allocation columns (`_candidates`) and their key's parts as integer codes:
    role (workload, role), site, system, period; `roles`, `systems`, `periods` count them."""

    cols: np.ndarray
    role: np.ndarray
    site: np.ndarray
    system: np.ndarray
    period: np.ndarray
    roles: int
    systems: int
    periods: int

    def per_column(self, n: int, code: np.ndarray) -> np.ndarray:
        """A code per column of an LP of n columns (-1 where not a candidate)."""
        out = np.full(n, -1, dtype=np.int64)
        out[self.cols] = code
        return out


def _factor(values: list) -> tuple[np.ndarray, int]:
    """Integer codes of the values (first seen, first numbered) and how many there are."""
    ids = {v: i for i, v in enumerate(dict.fromkeys(values))}
    return np.fromiter(map(ids.__getitem__, values), np.int64, len(values)), len(ids)


def _row_ids(table: np.ndarray) -> np.ndarray:
    """An id per row of an integer table, equal exactly where the rows are equal (the numbering
    is any: callers read only which rows share an id). The rows are hashed to two 64-bit words
    (random odd multipliers, wrapping), the hash pairs told apart by a stable sort on the two
    words (np.lexsort: np.unique over the pairs as 16-byte records compared them bytewise,
    0.076 s of 0.22 at 95k rows x 13), and every row compared with its hash group's first row:
    a collision (never seen) falls back to np.unique over the rows themselves (slower: a sort
    of the whole rows)."""
    rng = np.random.default_rng(20261127)
    words = table.astype(np.uint64, copy=False)
    mult = rng.integers(1, 2**63, size=(2, table.shape[1]), dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        h1 = (words * mult[0]).sum(axis=1, dtype=np.uint64)
        h2 = ((words ^ np.uint64(0x9E3779B97F4A7C15)) * mult[1]).sum(axis=1, dtype=np.uint64)
    order = np.lexsort((h2, h1))
    s1, s2 = h1[order], h2[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = (s1[1:] != s1[:-1]) | (s2[1:] != s2[:-1])
    ids = np.empty(len(order), dtype=np.int64)
    ids[order] = np.cumsum(new) - 1
    first = order[new]  # each hash group's first row (the stable sort keeps the rows' order)
    if np.array_equal(table, table[first[ids]]):
        return ids
    _, ids = np.unique(table, axis=0, return_inverse=True)
    return ids.ravel()


def _site_free(
    e_role: np.ndarray, e_row: np.ndarray, e_val: np.ndarray, n_sites: np.ndarray, rows: int
) -> np.ndarray:
    """Per entry (role, row, value) of a candidate column: whether it is site-free, i.e. the
    same (role, row, value) is found as many times as the role has sites (n_sites[role]; one
    column per site). The entries are sorted by (role, row) as one integer key role x (rows +
    1) + row (rows: above every row index), then value, the order of a sort by role, row and
    value (two keys sort faster than three), and equal runs counted."""
    role_row = e_role * np.int64(rows + 1) + e_row
    order = np.lexsort((e_val, role_row))
    s_role, s_role_row, s_val = e_role[order], role_row[order], e_val[order]
    new_run = np.ones(len(order), dtype=bool)
    new_run[1:] = (s_role_row[1:] != s_role_row[:-1]) | (s_val[1:] != s_val[:-1])
    run_id = np.cumsum(new_run) - 1
    run_len = np.bincount(run_id)
    e_free = np.empty(len(order), dtype=bool)
    e_free[order] = run_len[run_id] == n_sites[s_role]
    return e_free


def _codes(arr: Arrays, keys: dict[int, tuple], known: _Codes | None = None) -> _Codes:
    """The candidates' codes; `known` when already made for an LP with the same columns and
    column bounds (the relaxed LP of `relax_colocation` and the LP it came from)."""
    if known is not None:
        return known
    cand = _candidates(arr, keys)
    cols = np.fromiter(cand, dtype=np.int64, count=len(cand))
    # each part of the keys listed by itemgetter (in C; a zip(*keys) over 160k keys cost 75
    # ms of making one iterator per key)
    values = list(cand.values())
    role, roles = _factor(list(map(operator.itemgetter(0, 1), values)))
    site, _ = _factor(list(map(operator.itemgetter(2), values)))
    system, systems = _factor(list(map(operator.itemgetter(3), values)))
    period, periods = _factor(list(map(operator.itemgetter(4), values)))
    return _Codes(cols, role, site, system, period, roles, max(systems, 1), max(periods, 1))


def _first_seen(raw: np.ndarray) -> tuple[np.ndarray, int]:
    """`_factor` of integer ids (>= 0): codes numbered in the order the ids are first seen, and
    how many there are, in numpy (each id's first place by minimum.at, the ids ranked by it)."""
    n = len(raw)
    if not n:
        return np.zeros(0, dtype=np.int64), 0
    first = np.full(int(raw.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first, raw, np.arange(n, dtype=np.int64))
    seen = np.flatnonzero(first < n)
    rank = np.full(len(first), -1, dtype=np.int64)
    rank[seen[np.argsort(first[seen], kind="stable")]] = np.arange(len(seen))
    return rank[raw], len(seen)


def codes_of(arr: Arrays, columns: np.ndarray, u_codes: np.ndarray) -> _Codes:
    """`_codes(arr, keys)` from arrays: `columns` the LP column of each allocation, in the
    order of `keys` (u's), and `u_codes` their keys' parts as integer ids in that order
    (planner/lp/model.py `Model.u_codes`: (workload, role), site, system, period). The same
    candidates and codes, numbered as first seen among the candidates (`_factor`'s order;
    tests/test_u_codes.py compares them with `_codes`), without a Python loop per column."""
    ok = ~arr.integer[columns] & (arr.lo[columns] == 0) & np.isposinf(arr.hi[columns])
    cols = columns[ok].astype(np.int64, copy=False)
    role, roles = _first_seen(u_codes[0][ok])
    site, _ = _first_seen(u_codes[1][ok])
    system, systems = _first_seen(u_codes[2][ok])
    period, periods = _first_seen(u_codes[3][ok])
    return _Codes(cols, role, site, system, period, roles, max(systems, 1), max(periods, 1))


def relax_colocation(
    arr: Arrays, keys: dict[int, tuple], known: _Codes | None = None
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
    n = arr.a.shape[1]
    codes = _codes(arr, keys, known)
    dp = codes.per_column(n, codes.site * codes.periods + codes.period)
    dsp = codes.per_column(
        n, (codes.site * codes.systems + codes.system) * codes.periods + codes.period
    )
    # code ranges over the allocation columns only: the others get a code above every one for
    # the least and -1 for the largest
    big = np.int64(max(int(dp.max(initial=0)), int(dsp.max(initial=0))) + 1)
    low, _ = _row_code_range(arr.a, np.where(dp >= 0, dp, big))
    _, high = _row_code_range(arr.a, dp)
    slow, _ = _row_code_range(arr.a, np.where(dsp >= 0, dsp, big))
    _, shigh = _row_code_range(arr.a, dsp)
    equality = (arr.rlo == 0) & (arr.rhi == 0)
    one_site = np.flatnonzero(equality & (low == high) & (low >= 0))
    chosen: list[np.ndarray] = []
    if len(one_site):
        # each row's (period, set of (workload, role)) over its allocation columns: a dense
        # row x role table, told apart by np.unique
        sub = arr.a[one_site].tocoo()
        role = codes.per_column(n, codes.role)[sub.col]
        alloc = role >= 0
        table = np.zeros((len(one_site), codes.roles + 1), dtype=np.int64)
        table[sub.row[alloc], 1 + role[alloc]] = 1
        first = np.full(n, -1, dtype=np.int64)
        first[codes.cols] = np.arange(len(codes.cols))
        pos = first[sub.col]
        row_pos = np.full(len(one_site), -1, dtype=np.int64)
        row_pos[sub.row[alloc]] = pos[alloc]  # one allocation column of each row
        table[:, 0] = codes.period[row_pos]
        site = codes.site[row_pos]
        group = _row_ids(table)
        # which rows each group holds; the non-allocation columns (KV moves) of each group's
        # sum must cancel
        order = np.argsort(group, kind="stable")
        bounds = np.flatnonzero(np.diff(group[order])) + 1
        grouped = np.split(order, bounds)
        summing = sp.csr_matrix(
            (np.ones(len(one_site)), (group, np.arange(len(one_site)))),
            shape=(int(group.max()) + 1, len(one_site)),
        )
        others = np.ones(n, dtype=bool)  # the columns that are not allocations (KV moves, ...)
        others[codes.cols] = False
        totals = (summing @ arr.a[one_site][:, np.flatnonzero(others)]).tocsr()
        totals.data[np.abs(totals.data) <= 1e-12] = 0.0
        totals.eliminate_zeros()
        spans = slow[one_site] != shigh[one_site]
        for rows_at in grouped:
            g_id = int(group[rows_at[0]])
            sites = site[rows_at]
            if len(rows_at) < 2 or len(np.unique(sites)) != len(sites):
                continue
            if not spans[rows_at].any():
                continue
            if totals.indptr[g_id + 1] > totals.indptr[g_id]:
                continue
            chosen.append(np.sort(one_site[rows_at]).astype(np.int64))
        chosen.sort(key=lambda rows: int(rows[0]))  # as the rows come: the first row's order
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


def aggregate(arr: Arrays, keys: dict[int, tuple], known: _Codes | None = None) -> Aggregation:
    """The aggregated LP of `arr` (module docstring): blocks found on the arrays, each checked;
    what is left out is counted by reason and role in `not_aggregated`. Vectorised over the
    matrix entries (numpy); Python loops run per role and per block only."""
    m, n = arr.a.shape
    codes = _codes(arr, keys, known)
    reasons: collections.Counter = collections.Counter()
    if len(codes.cols) < len(keys):
        candidate = np.zeros(n, dtype=bool)
        candidate[codes.cols] = True
        for c, (w, r, *_rest) in keys.items():
            if not candidate[c]:
                reasons[("integer or bounded column", (w, r))] += 1
    # the objective as row m
    full = sp.vstack([arr.a, sp.csr_matrix(arr.cost.reshape(1, -1))]).tocsc()
    full.sum_duplicates()
    full.sort_indices()
    csr_rows = arr.a
    cand_cols = codes.cols
    dsp = codes.per_column(
        n, (codes.site * codes.systems + codes.system) * codes.periods + codes.period
    )
    dp = codes.per_column(n, codes.site * codes.periods + codes.period)
    low, high = _row_code_range(csr_rows, dsp)
    coupling = np.zeros(m + 1, dtype=bool)
    coupling[:m] = _homogeneous(arr) & (low == high) & (low >= 0)
    # a homogeneous row of one site and period over several systems (a tier's `colocate`
    # row): blocks are per system, so it cannot be a coupling row of one
    plow, phigh = _row_code_range(csr_rows, dp)
    spanning = np.zeros(m + 1, dtype=bool)
    spanning[:m] = _homogeneous(arr) & (plow == phigh) & (plow >= 0) & (low != high)

    # a role of a block: (workload, role, system, period), numbered in the order first seen
    _, first, jid = np.unique(
        (codes.role * codes.systems + codes.system) * codes.periods + codes.period,
        return_index=True,
        return_inverse=True,
    )
    jid = jid.ravel()
    key_of = [keys[int(c)] for c in cand_cols[first]]
    roles = [(w, r, s, p) for w, r, _, s, p in key_of]
    did = codes.site
    _, site_first = np.unique(did, return_index=True)
    sites = [keys[int(cand_cols[i])][2] for i in site_first]
    n_sites = np.bincount(jid, minlength=len(roles))
    # the candidates' entries (objective included), in column order, rows sorted
    sub = full[:, cand_cols]
    counts = np.diff(sub.indptr)
    e_pos = np.repeat(np.arange(len(cand_cols)), counts)
    e_row = sub.indices.astype(np.int64)
    e_val = sub.data
    e_role = jid[e_pos]
    e_free = _site_free(e_role, e_row, e_val, n_sites, m + 1)
    span_role = np.zeros(len(roles), dtype=bool)
    span_role[e_role[spanning[e_row]]] = True
    # each column's pool entries (neither site-free nor coupling) as one exact signature: rows
    # and the values' bit patterns, padded, told apart by np.unique
    pool = ~e_free & ~coupling[e_row]
    p_pos = e_pos[pool]
    p_count = np.bincount(p_pos, minlength=len(cand_cols))
    width = int(p_count.max(initial=0))
    table = np.full((len(cand_cols), 2 * width + 1), -1, dtype=np.int64)
    table[:, 0] = p_count
    if width:
        starts = np.zeros(len(cand_cols), dtype=np.int64)
        np.cumsum(p_count[:-1], out=starts[1:])
        slot = np.arange(len(p_pos)) - starts[p_pos]
        table[p_pos, 1 + slot] = e_row[pool]
        table[p_pos, 1 + width + slot] = e_val[pool].view(np.int64)
    signature = _row_ids(table)

    # each role's columns in the order of its sites' names; a role's block key is its system,
    # period and (site, signature) sequence, told apart as rows of a table
    rank = np.empty(len(sites), dtype=np.int64)
    rank[sorted(range(len(sites)), key=sites.__getitem__)] = np.arange(len(sites))
    order = np.lexsort((rank[did], jid))
    seg = np.searchsorted(jid[order], np.arange(len(roles) + 1))
    widest = int(n_sites.max(initial=0))
    key_table = np.full((len(roles), 3 + 2 * widest), -1, dtype=np.int64)
    key_table[:, 0] = codes.system[first]
    key_table[:, 1] = codes.period[first]
    key_table[:, 2] = n_sites
    slot = np.arange(len(order)) - seg[jid[order]]
    key_table[jid[order], 3 + slot] = rank[did[order]]
    key_table[jid[order], 3 + widest + slot] = signature[order]
    block_id = _row_ids(key_table)
    block_of: dict[int, list[int]] = {}
    for j in range(len(roles)):
        w, r, _, _ = roles[j]
        if n_sites[j] < 2:
            reasons[("on one site only", (w, r))] += int(n_sites[j])
        elif span_role[j]:
            reasons[("in a coupling row over several systems (colocate)", (w, r))] += int(
                n_sites[j]
            )
        else:
            block_of.setdefault(int(block_id[j]), []).append(j)

    def columns_of(j: int) -> np.ndarray:
        return cand_cols[order[seg[j] : seg[j + 1]]]

    # the candidates' entries, for _build_aggregated
    entry = (cand_cols, sub.indptr, e_row, e_val, e_free)

    blocks: list[Block] = []
    has_coupling = np.zeros(n, dtype=bool)
    has_coupling[cand_cols[np.unique(e_pos[coupling[e_row]])]] = True
    for members in block_of.values():
        s, p = roles[members[0]][2:]
        block_sites = [sites[k] for k in did[order[seg[members[0]] : seg[members[0] + 1]]]]
        column = {roles[j]: columns_of(j) for j in members}
        group = sorted(column)
        while True:
            if len(group) < 2:
                for w, r, _, _ in group:
                    reasons[("no other role with the same pool-row coefficients", (w, r))] += len(
                        block_sites
                    )
                break
            cols = np.stack([column[role] for role in group]).astype(np.int64)
            bad: set[tuple] | list[tuple[float, float, np.ndarray]] = []
            if has_coupling[cols].any():
                by_role = {
                    role: dict(zip(block_sites, column[role].tolist(), strict=True))
                    for role in group
                }
                bad = _check_coupling(arr, full, coupling, group, block_sites, by_role)
            if isinstance(bad, set):
                for role in group:
                    if role in bad:
                        reasons[("coupled to a column outside its block", role[:2])] += len(
                            block_sites
                        )
                group = [role for role in group if role not in bad]
                continue
            blocks.append(Block(s, p, [role[:2] for role in group], block_sites, cols, bad))
            break
    return _build_aggregated(arr, full, coupling, blocks, entry, reasons)


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
            # the patterns held a different number of times (a Counter gives 0 for a missing
            # one): their roles leave the block; all of them if none is named (a pattern of
            # zeros), so that every call takes at least one role out and the search ends
            differ = {key for key in set(counter) | set(first) if counter[key] != first[key]}
            out = {roles[i] for key in differ for i in np.flatnonzero(np.array(key[2]))}
            return out or set(roles)
    return [shapes[key] for key in first]


def _build_aggregated(
    arr: Arrays,
    full: sp.csc_matrix,
    coupling: np.ndarray,
    blocks: list[Block],
    entry: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    reasons: collections.Counter,
) -> Aggregation:
    """The aggregated LP from the blocks; `entry` holds the candidate columns' matrix entries
    (columns, CSC pointers, rows, values, whether site-free for the column's role)."""
    m, n = arr.a.shape
    cand_cols, e_ptr, e_row, e_val, e_free = entry
    member = np.zeros(n, dtype=bool)
    for b in blocks:
        member[b.cols.ravel()] = True
    kept = np.flatnonzero(~member)
    # every block column's entries, with its block, role i and site k
    pos_of = np.full(n, -1, dtype=np.int64)
    pos_of[cand_cols] = np.arange(len(cand_cols))
    n_blocks = len(blocks)
    b_cols = [b.cols.ravel() for b in blocks]
    m_col = np.concatenate(b_cols) if blocks else np.zeros(0, dtype=np.int64)
    m_block = np.repeat(np.arange(n_blocks), [len(c) for c in b_cols])
    m_i = (
        np.concatenate([np.repeat(np.arange(b.cols.shape[0]), b.cols.shape[1]) for b in blocks])
        if blocks
        else np.zeros(0, dtype=np.int64)
    )
    m_k = (
        np.concatenate([np.tile(np.arange(b.cols.shape[1]), b.cols.shape[0]) for b in blocks])
        if blocks
        else np.zeros(0, dtype=np.int64)
    )
    pos = pos_of[m_col]
    lengths = e_ptr[pos + 1] - e_ptr[pos]
    take = np.repeat(e_ptr[pos], lengths) + (
        np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    )
    x_row, x_val, x_free = e_row[take], e_val[take], e_free[take]
    x_block = np.repeat(m_block, lengths)
    x_i, x_k = np.repeat(m_i, lengths), np.repeat(m_k, lengths)
    # the coupling rows of the blocks (every column in one block: `_check_coupling`); other
    # coupling rows (of roles left out) stay as they are
    dropped = np.zeros(m + 1, dtype=bool)
    dropped[x_row[coupling[x_row]]] = True
    coupling = dropped
    keep_row = ~coupling[:m]
    kept_rows = np.flatnonzero(keep_row)
    new_row = np.full(m + 1, -1, dtype=np.int64)
    new_row[kept_rows] = np.arange(len(kept_rows))
    new_row[m] = -2  # the objective
    # kept columns: their entries as they are
    sub = full[:, kept].tocoo()
    n_j = np.array([b.cols.shape[0] for b in blocks], dtype=np.int64)
    n_d = np.array([b.cols.shape[1] for b in blocks], dtype=np.int64)
    u_first = len(kept) + np.concatenate([[0], np.cumsum(n_j + n_d)[:-1]]).astype(np.int64)
    u_start = u_first.tolist()
    next_col = len(kept) + int((n_j + n_d).sum())
    # U[j] takes a site-free entry once (its first site's), B[d] a pool entry once (its first
    # role's); coupling entries go to the summed rows below
    live = ~coupling[x_row]
    to_u = live & x_free & (x_k == 0)
    to_b = live & ~x_free & (x_i == 0)
    r_parts = [new_row[sub.row], new_row[x_row[to_u]], new_row[x_row[to_b]]]
    c_parts = [
        sub.col.astype(np.int64),
        u_first[x_block[to_u]] + x_i[to_u],
        u_first[x_block[to_b]] + n_j[x_block[to_b]] + x_k[to_b],
    ]
    v_parts = [sub.data, x_val[to_u], x_val[to_b]]
    next_row = len(kept_rows)
    extra_r: list[int] = []
    extra_c: list[int] = []
    extra_v: list[float] = []
    extra_lo: list[float] = []
    extra_hi: list[float] = []
    named = bool(arr.row_family)
    families = [arr.row_family[i] for i in kept_rows] if named else []
    summed_of: dict[int, int] = {}  # a dropped coupling row -> its block's summed row
    for index, b in enumerate(blocks):
        u0, jn = int(u_first[index]), int(n_j[index])
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
        if b.patterns:
            role_of = {int(c): i for i, row in enumerate(b.cols) for c in row}
            mine = (x_block == index) & coupling[x_row]
            for row in np.unique(x_row[mine]).tolist():
                if row in summed_of:
                    continue
                coef = np.zeros(jn)
                lo_r, hi_r = arr.a.indptr[row], arr.a.indptr[row + 1]
                for cc, v in zip(arr.a.indices[lo_r:hi_r], arr.a.data[lo_r:hi_r], strict=True):
                    coef[role_of[int(cc)]] = v
                key = (float(arr.rlo[row]), float(arr.rhi[row]), tuple(coef.tolist()))
                summed_of[row] = summed_row[key]
    # the balance rows: sum_j U[j] - sum_d B[d] = 0, one per block
    balance = next_row + np.arange(n_blocks)
    r_parts += [np.repeat(balance, n_j), np.repeat(balance, n_d)]
    c_parts += [
        np.concatenate([u0 + np.arange(j) for u0, j in zip(u_first, n_j, strict=True)])
        if n_blocks
        else np.zeros(0, dtype=np.int64),
        np.concatenate([u0 + j + np.arange(d) for u0, j, d in zip(u_first, n_j, n_d, strict=True)])
        if n_blocks
        else np.zeros(0, dtype=np.int64),
    ]
    v_parts += [np.ones(int(n_j.sum())), -np.ones(int(n_d.sum()))]
    extra_lo += [0.0] * n_blocks
    extra_hi += [0.0] * n_blocks
    families += ["balance"] * n_blocks
    next_row += n_blocks
    rows = np.concatenate([*r_parts, np.array(extra_r, dtype=np.int64)])
    cols = np.concatenate([*c_parts, np.array(extra_c, dtype=np.int64)])
    vals = np.concatenate([*v_parts, np.array(extra_v, dtype=float)])
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


def from_highs(highs: Any, constant: float = 0.0, handed: Any = None) -> Arrays:
    """The LP a loaded highspy.Highs holds (integrality read, not imposed), as arrays; its
    columns and rows in HiGHS's order. `constant` is the objective's constant (PuLP leaves it
    out of HiGHS's model). `handed`: the matrix planner/lp/transfer.py handed to `highs`
    (`transfer.handed_matrix`, checked there to be the one HiGHS holds), read instead of
    HiGHS's copy (the same entries; HiGHS's comes back through Python lists)."""
    import highspy

    lp = highs.getLp()
    n, m = lp.num_col_, lp.num_row_
    if handed is not None:
        # a copy: sum_duplicates sorts each row's entries in place, and the handed arrays
        # keep HiGHS's order (incumbent._RowCheck reads them too)
        a = sp.csr_matrix((handed.value, handed.index, handed.start), shape=(m, n), copy=True)
    else:
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
    row_dual: np.ndarray  # a dual per row of the original LP (`original_row_duals`)
    summed_rows: int  # colocate rows summed over the sites
    groups: int  # the sums
    blocks: int
    columns: int  # of the aggregated LP
    prepare_s: float  # the relaxation and the aggregation
    solve_s: float  # HiGHS's run


def aggregable(
    arr: Arrays, keys: dict[int, tuple], known: _Codes | None = None
) -> tuple[Arrays, list[np.ndarray], Aggregation] | None:
    """The relaxed LP (`relax_colocation`), the original rows of each sum, and the relaxed LP
    aggregated (`aggregate`); None when it has no colocate rows to sum or no block to
    aggregate (then the fast bound does not apply). `known`: the candidates' codes when made
    already (`codes_of`)."""
    codes = _codes(arr, keys, known)
    relaxed, groups, _ = relax_colocation(arr, keys, codes)
    if not groups:
        return None
    agg = aggregate(relaxed, keys, codes)
    if not agg.blocks:
        return None
    return relaxed, groups, agg


def original_row_duals(
    m: int, groups: list[np.ndarray], agg: Aggregation, row_dual: np.ndarray
) -> np.ndarray:
    """The aggregated LP's row duals as duals of the original LP of m rows (the one
    `relax_colocation` relaxed into the LP `agg` aggregates): a kept row its own; a coupling
    row the dual of the row that sums it over the sites; each colocate row of a group the dual
    of its sum. Every original column's reduced cost is then what it was in the relaxed
    (aggregated) LP, so these duals are feasible for the original LP's dual with the relaxed
    optimum as their objective: optimal where the relaxation gives nothing away (measured
    within 2e-5 on the bench fleets), the plan's shadow prices."""
    summed = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
    keep = np.ones(m, dtype=bool)
    keep[summed] = False
    kept = np.flatnonzero(keep)
    y_relaxed = np.zeros(len(kept) + len(groups))
    y_relaxed[agg.kept_rows] = row_dual[: len(agg.kept_rows)]
    for row, into in agg.summed_of.items():
        y_relaxed[row] = row_dual[into]
    y = np.zeros(m)
    y[kept] = y_relaxed[: len(kept)]
    for g, rows in enumerate(groups):
        y[rows] = y_relaxed[len(kept) + g]
    return y
