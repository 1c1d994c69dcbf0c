"""The routes session moekernel2 tried to extend planner/data/moe_kernels.csv, and why none ships
(docs/models.md, "Measured MoE module tables", "Extending the tables"). Numbers only: it reads
aiconfigurator's measured TensorRT-LLM MoE tables (parquet) from the snapshot
github.com/ai-dynamo/aiconfigurator @COMMIT, builds scratch tables in a temporary directory, points
planner/demand/moe_kernels.py at each in turn and prices the calibration points that would read
them; the shipped table is not touched.

    PYTHONPATH=<worktree>:<dir with pyarrow> python bench/moe_kernel_routes.py

Routes (each prints its points, published vs the planner before -> after, and in/out of band):
  routing   the hot rank's routing: the shipped power-law rows (alpha 1.01, each a mean of 5 draws
            of the collector's power-law routing, its hottest rank), the balanced rows, and the
            balanced row x the mean over tables of (power-law / balanced) at the same EP size and
            tokens (all nine NVFP4 CUTLASS tables of B200 / GB200 / B300 / GB300 at 1.2.0rc5,
            1.3.0rc10, 1.3.0rc20: 45 draws; or per silicon, B200+GB200 25, B300+GB300 20)
  fp8       the FP8 block-scale tables (DeepGEMM on B200 / GB200 1.3.0rc20, CUTLASS on H100
            1.2.0rc5) on the InferenceX DeepSeek-R1 FP8 points, had they named those releases
  minlat    TensorRT-LLM's min-latency MoE kernel (the faster of it and CUTLASS per row, B200
            1.2.0rc5 / GB200 1.3.0rc10) on the InferenceX DeepSeek-R1 FP4 points, release 1.2
  v51       the 1.2 tables standing for TensorRT-LLM 1.0 on the MLPerf v5.1 DeepSeek-R1 runs
            (1.0.0rc6 / 1.1.0 MoE tables exist only as Git LFS pointers in the repository's
            history: aiconfigurator @507f0fb0 src/aiconfigurator/systems/data/b200_sxm/trtllm/
            1.0.0rc6/moe_perf.txt, gb200/trtllm/1.0.0rc6/moe_perf.txt, gb200/trtllm/1.1.0/
            wideep_moe_perf.txt: 131-133 byte pointers, the content not in the snapshot)
"""

from __future__ import annotations

import dataclasses
import io
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MIRROR = "/work/.mirror/ai-dynamo+aiconfigurator/repo"
COMMIT = "095f58a51c4ca8e61b66ec108d86f223f8d559ce"
ROOT = "aic-core/src/aiconfigurator_core/systems/data"
SHAPE = (7168, 2048, 256, 8)
SYSTEM = {"b200": "b200_sxm", "gb200": "gb200", "b300": "b300_sxm", "gb300": "gb300"}
SYSTEM.update({"h100-sxm": "h100_sxm", "h200-sxm": "h200_sxm"})
CUTLASS = "moe_torch_flow_cutlass"
# (part, release) of the NVFP4 CUTLASS tables whose power-law / balanced ratios are pooled
DRAWS = [
    ("b200", "1.2.0rc5"),
    ("b200", "1.3.0rc10"),
    ("b200", "1.3.0rc20"),
    ("gb200", "1.3.0rc10"),
    ("gb200", "1.3.0rc20"),
    ("b300", "1.3.0rc10"),
    ("b300", "1.3.0rc20"),
    ("gb300", "1.3.0rc10"),
    ("gb300", "1.3.0rc20"),
]
SILICON = {"b200": ("b200", "gb200"), "gb200": ("b200", "gb200")}
SILICON.update({"b300": ("b300", "gb300"), "gb300": ("b300", "gb300")})
SHIPPED = [("b200", "1.2.0rc5"), ("b200", "1.3.0rc10"), ("gb200", "1.3.0rc10")]
SHIPPED += [("b300", "1.3.0rc10"), ("gb300", "1.3.0rc10")]

Rows = dict[tuple[int, int], float]  # (ep, tokens) -> us


def measured(part: str, release: str, kernel: str, dtype: str, routing: str) -> Rows:
    """One table's rows: the MoE module's us on the hottest rank, whole experts a rank."""
    import pyarrow.parquet as pq  # type: ignore[import-not-found]

    path = f"{ROOT}/{SYSTEM[part]}/moe/trtllm/{release}/moe_perf.parquet"
    blob = subprocess.run(
        ["git", f"--git-dir={MIRROR}", "show", f"{COMMIT}:{path}"],
        check=True,
        capture_output=True,
    ).stdout
    out: Rows = {}
    for r in pq.read_table(io.BytesIO(blob)).to_pylist():
        shape = (r["hidden_size"], r["inter_size"], r["num_experts"], r["topk"])
        if shape != SHAPE or r["moe_tp_size"] != 1:
            continue
        if (r["kernel_source"], r["moe_dtype"], r["distribution"]) == (kernel, dtype, routing):
            out[(r["moe_ep_size"], r["num_tokens"])] = round(r["latency"] * 1e3, 2)
    return out


def write(path: Path, tables: dict[tuple[str, str, str], Rows]) -> Path:
    """A scratch table in the shipped CSV's columns."""
    lines = ["accelerator,release,precision,hidden,expert_ffn,experts,active_experts,ep,tokens,us"]
    shape = ",".join(str(v) for v in SHAPE)
    for (part, release, precision), rows in sorted(tables.items()):
        for (ep, tokens), us in sorted(rows.items()):
            lines.append(f"{part},{release},{precision},{shape},{ep},{tokens},{us}")
    path.write_text("\n".join(lines) + "\n")
    return path


def price(table: Path, release_of) -> list[tuple[str, float, float, float, bool]]:  # type: ignore[no-untyped-def]
    """(point, tolerance, error before, error after, known miss) for every serving point
    release_of names a release for (before: the point as shipped; after: with that release,
    priced on `table`)."""
    import planner.calibration.serving as serving
    import planner.demand.moe_kernels as mk
    from hardware.catalog import load_catalog
    from planner.demand.inference import clear_physics_caches
    from planner.kinds.base import EngineSpec

    catalog = load_catalog()
    out = []
    for p in serving.points():
        release = release_of(p)
        if release is None:
            continue
        mk.TABLE = SHIPPED_TABLE
        mk._tables.cache_clear()
        clear_physics_caches()
        before = serving.point_value(p, catalog)
        mk.TABLE = table
        mk._tables.cache_clear()
        clear_physics_caches()
        engine = (p.spec.engine or EngineSpec()).model_copy(
            update={"tensorrt_llm_version": release}
        )
        q = dataclasses.replace(p, spec=p.spec.model_copy(update={"engine": engine}))
        after = serving.point_value(q, catalog)
        err = [(v - p.published) / p.published for v in (before, after)]
        out.append((p.id, p.tolerance, err[0], err[1], bool(p.known_miss)))
    mk.TABLE = SHIPPED_TABLE
    mk._tables.cache_clear()
    clear_physics_caches()
    return out


def report(title: str, rows: list[tuple[str, float, float, float, bool]]) -> None:
    print(f"\n== {title}")
    moved_in = moved_out = 0
    for pid, tol, e0, e1, km in rows:
        band = ["in " if abs(e) <= tol + 1e-12 else "out" for e in (e0, e1)]
        moved_in += band == ["out", "in "]
        moved_out += band == ["in ", "out"]
        if abs(e1 - e0) > 5e-4:
            km_s = "KM" if km else "  "
            print(
                f"  {pid:48s} {km_s} {100 * e0:+7.1f}% -> {100 * e1:+7.1f}%  {band[0]}->{band[1]}"
            )
    print(f"  into band {moved_in}, out of band {moved_out} (of {len(rows)} points)")


SHIPPED_TABLE = Path(__file__).resolve().parent.parent / "planner" / "data" / "moe_kernels.csv"


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="moe_routes_"))
    power = {pr: measured(*pr, CUTLASS, "nvfp4", "power_law_1.01") for pr in DRAWS}
    balanced = {pr: measured(*pr, CUTLASS, "nvfp4", "balanced") for pr in DRAWS}

    print("power-law / balanced, NVFP4 CUTLASS, per table (5 draws each):")
    for ep, tokens in ((8, 1024), (8, 4096), (16, 1024), (16, 4096), (32, 4096)):
        ratios = " ".join(
            f"{p}@{r[-4:]} {power[(p, r)][(ep, tokens)] / balanced[(p, r)][(ep, tokens)]:.2f}"
            for p, r in DRAWS
        )
        print(f"  EP{ep} {tokens} tokens: {ratios}")

    def ratio(ep: int, tokens: int, parts: tuple[str, ...] | None) -> float:
        keep = [pr for pr in DRAWS if parts is None or pr[0] in parts]
        return statistics.mean(power[pr][(ep, tokens)] / balanced[pr][(ep, tokens)] for pr in keep)

    def named(p) -> str | None:  # type: ignore[no-untyped-def]
        engine = p.spec.engine
        return engine.tensorrt_llm_version if engine is not None else None

    variants = {
        "balanced rows": lambda part, ep, n, us: us,
        "balanced x mean ratio over all 9 tables (45 draws)": lambda part, ep, n, us: round(
            us * ratio(ep, n, None), 2
        ),
        "balanced x mean ratio over the part's silicon": lambda part, ep, n, us: round(
            us * ratio(ep, n, SILICON[part]), 2
        ),
    }
    for title, make in variants.items():
        tables = {
            (part, rel, "fp4"): {
                k: make(part, k[0], k[1], us) for k, us in balanced[(part, rel)].items()
            }
            for part, rel in SHIPPED
        }
        rows = price(write(tmp / "routing.csv", tables), named)
        report(f"routing: {title} (against the shipped power-law rows)", rows)

    shipped = {(p, r, "fp4"): power[(p, r)] for p, r in SHIPPED}
    fp8 = dict(shipped)
    fp8[("b200", "1.3.0rc20", "fp8")] = measured(
        "b200", "1.3.0rc20", "deepgemm", "fp8_block", "power_law_1.01"
    )
    fp8[("gb200", "1.3.0rc20", "fp8")] = measured(
        "gb200", "1.3.0rc20", "deepgemm", "fp8_block", "power_law_1.01"
    )
    fp8[("h100-sxm", "1.2.0rc5", "fp8")] = measured(
        "h100-sxm", "1.2.0rc5", CUTLASS, "fp8_block", "power_law_1.01"
    )

    def fp8_release(p) -> str | None:  # type: ignore[no-untyped-def]
        if "dsr1-fp8" not in p.id or not p.id.startswith("inferencex"):
            return None
        return "1.2.0rc5" if "h100" in p.id else "1.3.0rc20"

    report("fp8: FP8 block-scale tables", price(write(tmp / "fp8.csv", fp8), fp8_release))

    minlat = dict(shipped)
    for part, rel in (("b200", "1.2.0rc5"), ("gb200", "1.3.0rc10")):
        fast = measured(part, rel, "moe_torch_flow_min_latency", "nvfp4", "power_law_1.01")
        minlat[(part, rel, "fp4")] = {
            k: min(us, fast.get(k, us)) for k, us in power[(part, rel)].items()
        }

    def ix_fp4(p) -> str | None:  # type: ignore[no-untyped-def]
        return "1.2" if p.id.startswith("inferencex") and "dsr1-fp4" in p.id else None

    report(
        "minlat: the faster of min-latency and CUTLASS",
        price(write(tmp / "ml.csv", minlat), ix_fp4),
    )
    report("minlat: CUTLASS only (the shipped table)", price(SHIPPED_TABLE, ix_fp4))

    def v51(p) -> str | None:  # type: ignore[no-untyped-def]
        return "1.2" if ("mlperf51" in p.id or "partners51" in p.id) and "dsr1" in p.id else None

    report("v51: the 1.2 tables for TensorRT-LLM 1.0", price(SHIPPED_TABLE, v51))


if __name__ == "__main__":
    sys.exit(main())
