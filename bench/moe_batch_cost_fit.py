"""A batch-dependent MoE cost for 2026 software: t_layer = t0 + n x c per (accelerator family,
release), fitted on two runs at different batches a rank (analysis; no model change: a negative
result).

The decode step already charges an MoE layer a fixed part and a per-routed-token part:
moe_layer_latency (t0, 30 us, hardware/data/accelerators.yaml) and n x k x hidden x 3 B /
moe_token_bandwidth (c, 62 GB/s, 2.77 us a DeepSeek-R1 token) for the n tokens on the hottest EP
rank (planner/demand/serving_physics.py, moe_layer_s and moe_token_s), both fitted on 2025 runs.
The MLPerf v6.0 / v6.1 DeepSeek-R1 runs imply a per-token rate that rises with the batch a rank
(bench/moe_release_fit.py: one 2026 rate cannot serve them and the small-batch 2026 checks). The
hypothesis tested here: 2026 kernels cut c and not t0 (or raise t0), so that a (t0, c) pair per
(family, release) fits the large- and the small-batch runs at once. A grouped GEMM whose
efficiency is M / (M + M_half) at M = routed tokens per local expert is the same form: its time
is c_inf x (n + M_half x local experts), a fixed part per layer (local experts x M_half x c_inf)
plus a per-token part, so the grid over (t0, c) covers it for a given layout.

Procedure:
- Families: the B200 die (catalog entries b200 and gb200, which share their serving figures) and
  the B300 die (gb300 and b300). Both figures are set on every entry of the family together
  (catalog overlay), and only the 2026-software points are evaluated (under a release input the
  2025 points would keep the 2025 figures): NVIDIA's and its partners' MLPerf v6.0 and v6.1
  DeepSeek-R1 and gpt-oss-120b runs (TensorRT-LLM feat/1.2-mlpinf, Cisco's B300x16 rows 1.3.0rc0)
  and, on the B200 die, the two InferenceX GB200 DeepSeek-R1 runs dated to 2026 software.
- Release: each MLPerf round in turn (v6.0, v6.1). Fit points: the round's NVIDIA rack
  DeepSeek-R1 Offline run (512 sequences a rank on GB200, 1,280 on GB300: 4,096 / 10,240 routed
  tokens a rank at k = 8) and its Interactive run (DEP16, 40-44 sequences a rank x 4 verified
  tokens, MTP depth 3: ~1,300-1,400 routed tokens a rank): the widest span of batch a rank in
  one round on one system. The fit is the grid pair minimising the two runs' mean absolute error.
- Grid: t0 over T0_US, moe_token_bandwidth over BW_GBPS (every pair).
- Checks: every other 2026 point of the family (the round's and the other round's Server runs,
  the B200/B300 runs, the gpt-oss runs, the InferenceX runs). Windows, per t0 of the grid: the
  bandwidths at which both fit runs are in their bands, and those at which every check that
  passes at the 2025 pair (30 us, 62 GB/s) stays in its band. A release input stands only if
  the two meet at some t0.

Result (the printout; docs/models.md "A batch-dependent MoE cost", tests/test_moe_batch_cost_fit.py
recomputes parts of it): the windows never meet. Every fit lands at t0 300 us (340-450 GB/s), a
fixed MoE time of 17.4 ms a DeepSeek-R1 step, where the runs with a tight TPOT bound and few
sequences a rank cannot run (gpt-oss-120b Interactive on B200, GB200 and GB300, 15 ms p99;
InferenceX GB200 FP4 1k/1k at 125 tok/s/user, 8 ms: -56 to -100%). On the B200 die the fit runs
need >= 130-160 GB/s at every t0 while the passing checks allow at most 62 GB/s at t0 30 us, 80
at 60, nothing from 100 (gpt-oss B200 Offline/Server and InferenceX GB200 FP8 8k/1k leave first,
then the tight-TPOT runs); on the B300 die the fit runs need 200-450 GB/s and t0 >= 100 us, the
checks allow <= 100 GB/s there (gpt-oss B300 Offline leaves first) and 160 at t0 150.

Variant (per_routed_pair: the per-token cost per routed (token, expert) row, k x 7,168 x 3 B for
every model, so that gpt-oss-120b's token costs 2.49x its k x hidden x 3 B): the fits land at
the variant grid's largest t0 (150 us, 160 GB/s) with the same collapses; off the fit, on the
B200 die at (60 us, 160 GB/s) every MLPerf 2026 point is in band (gpt-oss and DeepSeek-R1 at one
rate) but the two InferenceX GB200 runs leave theirs (+46%, +58%); on the B300 die (100 us,
200 GB/s) keeps the v6.0 fit runs and every passing check in band, but the 1,280-a-rank Offline
runs of v6.1 stay out (-18 to -24%) and the B200 die has no such pair: a lead, not a model. At
the shipped pair the unit takes every gpt-oss-120b point (NVIDIA's and AMD's) 18-52% down, out of
band, and NeMo-RL's vLLM Qwen3-30B-A3B generation nearer its steps (shipped_moves).

    PYTHONPATH=$PWD python bench/moe_batch_cost_fit.py
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from hardware.catalog import Catalog, load_catalog
from planner.calibration.serving import ServingPoint, parametric_moe, point_value, points
from planner.demand import serving_physics
from planner.demand.inference import clear_physics_caches

T0_US = (30, 60, 100, 150, 200, 300, 400)
BW_GBPS = (62, 80, 100, 130, 160, 200, 260, 340, 450)
FIT_2025 = (30, 62)  # the catalog's (moe_layer_latency us, moe_token_bandwidth GB/s)

# The variant (per_routed_pair): a routed token costs k x PAIR_BYTES / moe_token_bandwidth, the
# same for every model (DeepSeek-R1's hidden 7,168 x 3 B: its own cost, the fit's unit, unchanged;
# gpt-oss-120b, k 4 of hidden 2,880, pays 2.49x its k x hidden x 3 B). Its grid:
PAIR_BYTES = 7168 * 3
PAIR_T0_US = (30, 60, 100, 150)
PAIR_BW_GBPS = (100, 130, 160, 200, 260, 340)

ENTRIES: dict[str, tuple[str, ...]] = {"b200-die": ("b200", "gb200"), "b300-die": ("gb300", "b300")}

# The 2026-software points of each family (planner/calibration/serving.yaml).
POINTS: dict[str, tuple[str, ...]] = {
    "b200-die": (
        "mlperf6-gb200-dsr1-offline",
        "mlperf6-gb200-dsr1-server",
        "mlperf6-gb200-dsr1-interactive",
        "mlperf61-gb200-dsr1-offline",
        "mlperf61-gb200-dsr1-server",
        "mlperf61-gb200-dsr1-interactive",
        "mlperf61-b200-dsr1-offline-nebius",
        "mlperf61-b200-dsr1-server-nebius",
        "mlperf6-gb200-gptoss-offline",
        "mlperf6-gb200-gptoss-server",
        "mlperf6-gb200-gptoss-interactive",
        "mlperf61-gb200-gptoss-offline",
        "mlperf61-gb200-gptoss-server",
        "mlperf61-gb200-gptoss-interactive",
        "mlperf6-b200-gptoss-offline",
        "mlperf6-b200-gptoss-server",
        "mlperf6-b200-gptoss-interactive",
        "mlperf61-b200-gptoss-offline-nebius",
        "mlperf61-b200-gptoss-server-nebius",
        "inferencex-gb200-dsr1-fp4-1k1k-125",
        "inferencex-gb200-dsr1-fp8-8k1k-75",
    ),
    "b300-die": (
        "mlperf6-gb300-dsr1-offline",
        "mlperf6-gb300-dsr1-server",
        "mlperf6-gb300-dsr1-interactive",
        "mlperf61-gb300-dsr1-offline",
        "mlperf61-gb300-dsr1-server",
        "mlperf61-gb300-dsr1-interactive",
        "mlperf6-b300-dsr1-offline",
        "mlperf6-b300-dsr1-server",
        "mlperf61-b300-dsr1-offline",
        "mlperf61-b300-dsr1-server",
        "mlperf61-b300-dsr1-offline-cisco",
        "mlperf6-gb300-gptoss-offline",
        "mlperf6-gb300-gptoss-server",
        "mlperf6-gb300-gptoss-interactive",
        "mlperf61-gb300-gptoss-offline",
        "mlperf61-gb300-gptoss-server",
        "mlperf61-gb300-gptoss-interactive",
        "mlperf6-b300-gptoss-offline",
        "mlperf6-b300-gptoss-server",
        "mlperf61-b300-gptoss-offline",
        "mlperf61-b300-gptoss-server",
        "mlperf61-b300-gptoss-offline-cisco",
        "mlperf61-b300-gptoss-server-cisco",
    ),
}

# The two fit runs of each (family, release): Offline (large batch a rank) and Interactive (small).
FIT: dict[tuple[str, str], tuple[str, str]] = {
    ("b200-die", "v6.0"): ("mlperf6-gb200-dsr1-offline", "mlperf6-gb200-dsr1-interactive"),
    ("b200-die", "v6.1"): ("mlperf61-gb200-dsr1-offline", "mlperf61-gb200-dsr1-interactive"),
    ("b300-die", "v6.0"): ("mlperf6-gb300-dsr1-offline", "mlperf6-gb300-dsr1-interactive"),
    ("b300-die", "v6.1"): ("mlperf61-gb300-dsr1-offline", "mlperf61-gb300-dsr1-interactive"),
}

Pair = tuple[int, int]  # (t0 us, moe_token_bandwidth GB/s)


def routed_tokens_per_expert(
    sequences_a_rank: float, tokens_a_sequence: int, k: int, experts: int, ep: int
) -> float:
    """M of a local expert's grouped GEMM: the routed tokens a rank receives (balanced: its own
    tokens' count x k, as many leaving as arriving) over its experts / ep local experts."""
    return sequences_a_rank * tokens_a_sequence * k / (experts / ep)


@dataclass(frozen=True)
class Grid:
    """errors[(t0, bw)][point] = planner / published - 1 with the family's catalog entries at
    moe_layer_latency t0 us and moe_token_bandwidth bw GB/s."""

    family: str
    errors: dict[Pair, dict[str, float]]
    tolerance: dict[str, float]
    # the shipped model's errors (the 2025 pair, cost per byte): what "passing" means; None:
    # errors[FIT_2025] (a variant's grid takes the shipped grid's)
    shipped: dict[str, float] | None = None

    @property
    def baseline(self) -> dict[str, float]:
        return self.errors[FIT_2025] if self.shipped is None else self.shipped

    def out_of_band(self, pair: Pair, ids: Iterable[str] | None = None) -> list[str]:
        e = self.errors[pair]
        return [p for p in (e if ids is None else ids) if abs(e[p]) > self.tolerance[p]]

    def mae(self, pair: Pair, ids: Sequence[str]) -> float:
        return sum(abs(self.errors[pair][p]) for p in ids) / len(ids)

    def fitted(self, release: str) -> Pair:
        """The grid pair minimising the release's two fit runs' mean absolute error (the
        smaller t0, then bandwidth, on a tie)."""
        ids = FIT[(self.family, release)]
        return min(self.errors, key=lambda pair: (self.mae(pair, ids), pair))

    def passing(self) -> list[str]:
        """The points within their tolerance in the shipped model: those no change may push
        out."""
        return [p for p, e in self.baseline.items() if abs(e) <= self.tolerance[p]]

    def checks(self, release: str) -> list[str]:
        """The passing points but the release's fit runs."""
        return [p for p in self.passing() if p not in FIT[(self.family, release)]]

    def fit_window(self, release: str, t0: int) -> list[int]:
        """Bandwidths (GB/s) at t0 where both fit runs are within their tolerance."""
        ids = FIT[(self.family, release)]
        return [
            b for (t, b) in sorted(self.errors) if t == t0 and not self.out_of_band((t, b), ids)
        ]

    def checks_window(self, release: str, t0: int) -> list[int]:
        """Bandwidths (GB/s) at t0 where every passing check stays within its tolerance."""
        ids = self.checks(release)
        return [
            b for (t, b) in sorted(self.errors) if t == t0 and not self.out_of_band((t, b), ids)
        ]


@contextmanager
def per_routed_pair() -> Iterator[None]:
    """Within the block the decode step charges each routed (token, expert) pair PAIR_BYTES at
    moe_token_bandwidth, whatever the model's hidden size (the routing, permute and finalize
    kernels' work per routed row, not per byte); the EP all-to-all keeps its bytes."""
    original = serving_physics.StepPhysics.__init__

    def init(self: serving_physics.StepPhysics, hw, load, lay) -> None:  # type: ignore[no-untyped-def]
        original(self, hw, load, lay)
        bw = serving_physics.figures(hw).moe_token_bandwidth_bytes_per_s
        if load.arch.moe is not None and bw is not None:
            self.moe_token_cost_s = load.arch.moe.active_experts * PAIR_BYTES / bw
            self._floor_slopes = self._tpot_floor_slopes()

    serving_physics.StepPhysics.__init__ = init  # type: ignore[method-assign]
    clear_physics_caches()
    try:
        yield
    finally:
        serving_physics.StepPhysics.__init__ = original  # type: ignore[method-assign]
        clear_physics_caches()


def catalog_at(family: str, t0_us: float, bw_gbps: float, folder: Path) -> Catalog:
    """The shipped catalog with every entry of the family at (t0, bw)."""
    overlay = folder / f"{family}-{t0_us:g}-{bw_gbps:g}.yaml"
    overlay.write_text(
        "accelerators:\n"
        + "".join(
            f"  {e}:\n    serving:\n      moe_layer_latency: {t0_us:g} us\n"
            f"      moe_token_bandwidth: {bw_gbps:g} GB/s\n"
            for e in ENTRIES[family]
        ),
        encoding="utf-8",
    )
    return load_catalog([overlay])


def grid(
    family: str,
    pairs: Iterable[Pair] | None = None,
    ids: Sequence[str] | None = None,
    t0s: Sequence[int] = T0_US,
    bws: Sequence[int] = BW_GBPS,
) -> Grid:
    """The errors of the family's points (or of `ids`) at each pair (default: every pair of
    t0s x bws; the 2025 pair always included). Physics caches cleared around each catalog."""
    by_id = {p.id: p for p in points()}
    ids = POINTS[family] if ids is None else tuple(ids)
    todo = sorted(
        {FIT_2025, *((t, b) for t in t0s for b in bws)} if pairs is None else {FIT_2025, *pairs}
    )
    errors: dict[Pair, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for t0, bw in todo:
            catalog = catalog_at(family, t0, bw, Path(tmp))
            clear_physics_caches()
            try:
                errors[(t0, bw)] = {p: _error(by_id[p], catalog) for p in ids}
            finally:
                clear_physics_caches()
    return Grid(family, errors, {p: by_id[p].tolerance for p in ids})


def _error(point: ServingPoint, catalog: Catalog) -> float:
    # the fitted terms' analysis: the parametric MoE terms even where the point names a
    # TensorRT-LLM release with a measured MoE table (parametric_moe)
    # the steady rate (run=False): the analysis predates the MLPerf run share (mlperf_run)
    return point_value(parametric_moe(point), catalog, run=False) / point.published - 1


def _span(values: list[int]) -> str:
    return f"{values[0]}-{values[-1]} GB/s" if values else "none"


def report(grids: dict[str, Grid]) -> str:
    lines = []
    for (family, release), fit_ids in FIT.items():
        g = grids[family]
        pair = g.fitted(release)
        lines.append(
            f"{family} {release}: fit t0 {pair[0]} us, {pair[1]} GB/s (fit runs' MAE "
            f"{sum(abs(g.baseline[p]) for p in fit_ids) / 2:.1%} shipped -> "
            f"{g.mae(pair, fit_ids):.1%})"
        )
        for p in POINTS[family]:
            e0, e1 = g.baseline[p], g.errors[pair][p]
            role = "fit  " if p in fit_ids else "check"
            mark = "  OUT of its band" if g.out_of_band(pair, (p,)) else ""
            lines.append(f"  {role} {p:36s} +-{g.tolerance[p]:.0%}  {e0:+7.1%} -> {e1:+7.1%}{mark}")
        for t0 in sorted({t for t, _ in g.errors}):
            lines.append(
                f"  t0 {t0:3d} us: fit runs in band at {_span(g.fit_window(release, t0))}; "
                f"passing checks stay in band at {_span(g.checks_window(release, t0))}"
            )
    return "\n".join(lines)


def shipped_moves(threshold: float = 0.005) -> dict[str, tuple[float, float]]:
    """The serving and RL points the variant moves (by more than threshold) at the shipped
    catalog, the 2025 pair (what a per-pair unit would do to the 2025 figures): point -> (error
    per byte, error per pair)."""
    from planner.calibration import rl, serving
    from planner.demand.rl import generation_point

    def errors() -> dict[str, float]:
        clear_physics_caches()
        generation_point.cache_clear()  # the RL generation memo (not a serving cache)
        return {r.point: r.error for m in (serving, rl) for r in m.rows()}

    per_byte = errors()
    with per_routed_pair():
        per_pair = errors()
    return {
        p: (per_byte[p], per_pair[p])
        for p in per_byte
        if abs(per_pair[p] - per_byte[p]) > threshold
    }


def main() -> None:
    grids = {family: grid(family) for family in ENTRIES}
    print(report(grids))
    print("\nVariant: a cost per routed (token, expert) pair, k x 7,168 x 3 B whatever the model")
    with per_routed_pair():
        pair_grids = {
            f: replace(grid(f, t0s=PAIR_T0_US, bws=PAIR_BW_GBPS), shipped=grids[f].errors[FIT_2025])
            for f in ENTRIES
        }
    print(report(pair_grids))
    print("\nThe variant at the shipped catalog (30 us, 62 GB/s): the points it moves")
    for p, (e0, e1) in shipped_moves().items():
        print(f"  {p:48s} {e0:+7.1%} -> {e1:+7.1%}")


if __name__ == "__main__":
    main()
