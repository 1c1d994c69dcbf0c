"""A GEMM K-width term in serving prefill, measured: does it close the Llama 3.1 8B FP4 misses?

    PYTHONPATH=$PWD python bench/prefill_width_term.py               (~2 min)
    PYTHONPATH=$PWD python bench/prefill_width_term.py --amd-sweep   (MI355X's needed W, ~4 min)

Flips planner.demand.serving_physics.PREFILL_GEMM_WIDTH (a script switch, off in the shipped
model): each prefill GEMM's time x (K + W_p)/K at its per-chip inner dimension K (QKV and
gate/up K = hidden, o-proj heads x head_dim / TP, down ffn / TP; routed experts gate/up hidden,
down expert_ffn) with W_p the catalog's measured training.gemm_half_width at the GEMM's
precision (the serving block has none). With the term on, every serving compute_utilisation
fitted on prefill-bound points is refitted by its own documented procedure (catalog source
text; the tests that recompute each fit), the fitted value given to the accelerators that take
it over ("taken equal to"), then the whole accuracy table is compared before / after. The
result (docs/models.md, Prefill: "No GEMM shape term") is negative: not adopted.
"""

from __future__ import annotations

import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hardware.catalog import Catalog, load_catalog
from planner.calibration import AccuracyRow
from planner.calibration import rl as rl_cal
from planner.calibration import serving as serving_cal
from planner.calibration import training as training_cal
from planner.demand import serving_physics
from planner.demand.inference import clear_physics_caches


@dataclass(frozen=True)
class Fit:
    """One fitted serving compute_utilisation: the accelerator, the ones taking its figure over,
    the precision, its fit points and the 0.01 grid its procedure minimises their MAE on."""

    accelerator: str
    takers: tuple[str, ...]
    precision: str
    points: tuple[str, ...]
    grid: tuple[float, ...]


def grid(lo: int, hi: int) -> tuple[float, ...]:
    return tuple(i / 100 for i in range(lo, hi + 1))


# In fit order (B200's FP4 DeepSeek-R1 fit point keeps its dense part at FP8: FP8 first).
FITS = [
    Fit(
        "h100-sxm",
        ("h200-sxm",),
        "fp8",
        ("mlperf5-h100-llama2-70b-offline", "inferencex-h100-dsr1-fp8-1k1k-42"),
        grid(40, 75),
    ),
    Fit(
        "b200",
        ("gb200", "gb300", "b300"),
        "fp8",
        (
            "inferencex-b200-llama3-70b-fp8-1k1k-76",
            "inferencex-b200-llama3-70b-fp8-1k1k-108",
            "inferencex-b200-llama3-70b-fp8-1k1k-139",
            "inferencex-b200-dsr1-fp8-8k1k-75",
            "inferencex-b200-dsr1-fp8-1k1k-42",
        ),
        grid(20, 45),
    ),
    Fit(
        "b200",
        ("gb200",),
        "fp4",
        ("mlperf5-b200-llama2-70b-server", "inferencex-b200-dsr1-fp4-1k1k-125"),
        grid(25, 70),
    ),
    Fit(
        "gb300",
        ("b300",),
        "fp4",
        ("mlperf51-gb300-llama31-405b-offline", "mlperf51-gb300-llama31-405b-server"),
        grid(20, 60),
    ),
    Fit(
        "mi355x",
        ("mi350x",),
        "fp4",
        ("mlperf6-mi355x-llama2-70b-offline", "mlperf6-mi355x-llama2-70b-server"),
        grid(25, 60),
    ),
    Fit(
        "mi300x",
        ("mi325x",),
        "fp8",
        ("mlperf51-mi300x-llama2-70b-offline", "mlperf51-mi300x-llama2-70b-server"),
        grid(25, 60),
    ),
]
TRAINIUM_POINTS = (
    "nxdi-trn2-llama33-70b-bf16-prefill-10k",
    "nxdi-trn2-llama31-405b-bf16-prefill-10k",
)
FOCUS = ("llama31-8b",)


def set_term(on: bool) -> None:
    serving_physics.PREFILL_GEMM_WIDTH = on
    clear_physics_caches()


def catalog_with(values: dict[tuple[str, str], float], tmp: Path) -> Catalog:
    """The catalog with the serving compute_utilisation figures `values` ((acc, p) -> u)."""
    if not values:
        return load_catalog()
    by_acc: dict[str, dict[str, float]] = defaultdict(dict)
    for (acc, p), u in values.items():
        by_acc[acc][p] = u
    text = "accelerators:\n"
    for acc, figs in by_acc.items():
        inner = ", ".join(f"{p}: {u:.4f}" for p, u in figs.items())
        text += f"  {acc}:\n    serving:\n      compute_utilisation: {{{inner}}}\n"
    path = tmp / f"overlay{abs(hash(text))}.yaml"
    path.write_text(text)
    clear_physics_caches()
    return load_catalog([path])


def point_map() -> dict[str, serving_cal.ServingPoint]:
    return {p.id: p for p in serving_cal.points()}


def fit_mae(fit: Fit, values: dict[tuple[str, str], float], tmp: Path) -> Callable[[float], float]:
    pts = point_map()

    def mae(u: float) -> float:
        trial = dict(values)
        for acc in (fit.accelerator, *fit.takers):
            trial[(acc, fit.precision)] = u
        cat = catalog_with(trial, tmp)
        errs = [
            abs(serving_cal.point_value(pts[i], cat) / pts[i].published - 1) for i in fit.points
        ]
        return sum(errs) / len(errs)

    return mae


def trainium_fit(values: dict[tuple[str, str], float], tmp: Path) -> tuple[float, list[float]]:
    """Trainium2 BF16: the mean of the two prefill points' implied u (each point's compute
    share of its measured per-token time, link and padding figures held), rounded to 0.01:
    u_implied = u · compute_s / (measured / padding − allreduce_s), u the catalog's."""
    pts = point_map()
    cat = catalog_with(values, tmp)
    u_now = cat.accelerators["trainium2"].serving.compute_utilisation["bf16"]  # type: ignore[union-attr]
    implied = []
    for pid in TRAINIUM_POINTS:
        p = pts[pid]
        run = serving_cal.run_layout(p, cat)
        assert run is not None and p.spec.model is not None
        hw, lay = run
        padded = serving_physics.padded_prompt_tokens(p.spec.prompt_tokens, p.spec.prefill_buckets)
        t = serving_physics.prefill_time(
            hw,
            cat.models[p.spec.model],
            "bf16",
            lay,
            padded / 2,
            padded,
            padded / p.spec.prompt_tokens,
        )
        measured = 1 / (p.published * lay.accelerators)
        implied.append(u_now * t.compute_s / (measured / t.padding - t.allreduce_s))
    return round(sum(implied) / len(implied), 2), implied


def refit(tmp: Path, verbose: bool = True) -> dict[tuple[str, str], float]:
    """Every prefill-fitted serving compute_utilisation, refitted in order with the term on."""
    values: dict[tuple[str, str], float] = {}
    base = load_catalog()
    for fit in FITS:
        mae = fit_mae(fit, values, tmp)
        maes = {u: mae(u) for u in fit.grid}
        best = min(fit.grid, key=maes.__getitem__)
        old = base.accelerators[fit.accelerator].serving.compute_utilisation[fit.precision]  # type: ignore[union-attr]
        for acc in (fit.accelerator, *fit.takers):
            values[(acc, fit.precision)] = best
        if verbose:
            near = ", ".join(
                f"{u:.2f}: {maes[u] * 100:.2f}%" for u in fit.grid if abs(u - best) <= 0.0201
            )
            print(
                f"{fit.accelerator} {fit.precision}: {old:.2f} -> {best:.2f} "
                f"(fit MAE at {old:.2f} {mae(old) * 100:.2f}%; near the minimum {near})"
            )
    u, implied = trainium_fit(values, tmp)
    values[("trainium2", "bf16")] = u
    if verbose:
        print(f"trainium2 bf16: 0.39 -> {u:.2f} (implied u {implied[0]:.3f} / {implied[1]:.3f})")
    return values


def all_rows(cat: Catalog) -> list[AccuracyRow]:
    clear_physics_caches()
    return serving_cal.rows(cat) + training_cal.rows() + rl_cal.rows(cat)


def tolerances() -> dict[str, float]:
    return {p.id: p.tolerance for p in serving_cal.points()}


def base_id(point: str) -> str:
    return point.removesuffix(" (fit)")


def family_mae(rows: list[AccuracyRow], in_band_ids: set[str]) -> dict[str, float]:
    """Per family: MAE over its points that are not known misses."""
    out: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if not r.known_miss:
            out[r.family].append(abs(r.error))
    return {f: sum(v) / len(v) for f, v in out.items()}


def compare(
    before: list[AccuracyRow], after: list[AccuracyRow], verbose: bool = True
) -> dict[str, object]:
    tol = tolerances()
    regressions, entered, moved = [], [], []
    for b, a in zip(before, after, strict=True):
        assert b.point == a.point
        t = tol.get(base_id(b.point))
        if abs(a.error - b.error) > 0.001:
            moved.append((b, a))
        if t is None:
            continue
        if abs(b.error) <= t < abs(a.error):
            regressions.append((b, a, t))
        if b.known_miss and abs(a.error) <= t:
            entered.append((b, a, t))
    mb, ma = family_mae(before, set()), family_mae(after, set())
    worse = {f: (mb[f], ma[f]) for f in mb if ma.get(f, 0) > mb[f] + 0.005}
    if verbose:
        print(f"\n{'family':16} {'point':48} {'before':>8} {'after':>8}")
        for b, a in moved:
            star = " *" if b.known_miss else ""
            print(f"{b.family:16} {b.point:48} {b.error * 100:+7.1f}% {a.error * 100:+7.1f}%{star}")
        print("\nin-band MAE per family (known misses left out): before -> after")
        for f in sorted(mb):
            flag = "  WORSE by > 0.5 points" if f in worse else ""
            print(f"  {f:16} {mb[f] * 100:5.1f}% -> {ma[f] * 100:5.1f}%{flag}")
        print(f"\npassing points leaving their band: {len(regressions)}")
        for b, a, t in regressions:
            print(f"  {b.point}: {b.error * 100:+.1f}% -> {a.error * 100:+.1f}% (band {t:.0%})")
        print(f"known misses entering their band: {len(entered)}")
        for b, a, t in entered:
            print(f"  {b.point}: {b.error * 100:+.1f}% -> {a.error * 100:+.1f}% (band {t:.0%})")
        focus = [(b, a) for b, a in zip(before, after, strict=True) if "llama31-8b" in b.point]
        print("\nLlama 3.1 8B serving points: before -> after")
        for b, a in focus:
            if b.family in ("training", "rl-checks"):
                continue
            print(f"  {b.point:50} {b.error * 100:+7.1f}% -> {a.error * 100:+7.1f}%")
    return {"regressions": regressions, "entered": entered, "worse": worse, "moved": moved}


def amd_sweep(widths: tuple[float, ...] = (128, 1000, 2000, 3500)) -> None:
    """What MI355X's FP4 half-width (an estimated 128: no AMD GEMM-versus-K table) would need:
    for each swept W (MI355X and MI350X, FP4 only) the term on, MI355X's FP4 fit redone by its
    procedure (0.01 grid minimising its two Llama 2 70B points' MAE), the AMD 8B and 70B points."""
    pts = point_map()
    fit = ("mlperf6-mi355x-llama2-70b-offline", "mlperf6-mi355x-llama2-70b-server")
    ids = [i for i in pts if ("mi355x" in i or "mi350x" in i) and ("8b" in i or "70b" in i)]
    orig = serving_physics._half_width
    set_term(True)
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            for w in widths:

                def half(hw, p, w=w):  # type: ignore[no-untyped-def]
                    amd = hw.system.accelerator in ("mi355x", "mi350x")
                    return float(w) if amd and p == "fp4" else orig(hw, p)

                serving_physics._half_width = half  # type: ignore[assignment]

                def cat_at(u: float) -> Catalog:
                    return catalog_with({("mi355x", "fp4"): u, ("mi350x", "fp4"): u}, tmp)

                def mae(u: float) -> float:
                    cat = cat_at(u)
                    return sum(
                        abs(serving_cal.point_value(pts[i], cat) / pts[i].published - 1)
                        for i in fit
                    ) / len(fit)

                best = min(grid(30, 70), key=mae)
                cat = cat_at(best)
                err = {i: serving_cal.point_value(pts[i], cat) / pts[i].published - 1 for i in ids}

                def span(sel: Callable[[str], bool], err: dict[str, float] = err) -> str:
                    v = [e * 100 for i, e in err.items() if sel(i)]
                    return f"{min(v):+.1f}..{max(v):+.1f}%"

                print(
                    f"MI355X/MI350X FP4 W {w:,.0f}: u {best:.2f} (fit MAE {mae(best) * 100:.2f}%); "
                    f"MI355X 8B {span(lambda i: 'mi355x' in i and '8b' in i)}, "
                    f"MI350X 8B {span(lambda i: 'mi350x' in i and '8b' in i)}, "
                    f"MI355X 70B Offline/Server "
                    f"{span(lambda i: 'mi355x' in i and '70b' in i and 'interactive' not in i)}"
                    f", Interactive {span(lambda i: 'mi355x' in i and '70b-interactive' in i)}",
                    flush=True,
                )
    finally:
        serving_physics._half_width = orig  # type: ignore[assignment]
        set_term(False)


def main() -> None:
    if "--amd-sweep" in sys.argv:
        amd_sweep()
        return
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        set_term(False)
        before = all_rows(load_catalog())
        set_term(True)
        print("Refits with the K-width term on (each by its catalog procedure):")
        values = refit(tmp)
        after = all_rows(catalog_with(values, tmp))
        set_term(False)
        verdict = compare(before, after)
        adopt = not verdict["regressions"] and not verdict["worse"]
        print(
            "\nadoption conditions (a) no passing point out, (b) no family MAE worse by > 0.5 "
            f"points: {'met' if adopt else 'NOT met'}; (c) see the 8B rows above"
        )


if __name__ == "__main__":
    main()
