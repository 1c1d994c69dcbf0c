"""The dense Llama decode step rebuilt per layer from TensorRT-LLM's measured kernels (analysis; no
model change).

The planner is short on the MLPerf v5.1 Llama Server/Interactive runs at their own in-flight batch
by 43-237 us a transformer layer (bench/step_at_run_batch.py). Here each layer of those steps is
rebuilt from aiconfigurator's collector tables (TensorRT-LLM 1.3.0rc10 torch flow, one GPU of
the run's system; KERNEL_SOURCE): the four GEMMs at M = the run's batch with the run's NVFP4
weights and TP-sharded shapes (QKV N = (heads + 2 kv_heads) x 128 / tp, K = hidden; O N = hidden,
K = heads x 128 / tp; gate+up N = 2 ffn / tp, K = hidden; down N = hidden, K = ffn / tp), the
generation attention at the batch and the mean KV length (prompt + output / 2) with FP8 KV, and
the two TP all-reduces of batch x hidden BF16 elements (custom all-reduce tables). The kernel
rows used are committed in bench/data/dense_decode_kernels.yaml (the parquet is not needed at
run time; `--extract MIRROR` regenerates the file from a bare clone of the repository).

Interpolation: GEMM latency bilinear in (N, K) between the table's grid values (exact for
a + b N K, the memory-bound law) at the two table M around the batch, then linear in M;
attention linear in KV length at the two table batches around the batch, then linear in batch;
all-reduce linear in message size.

Each term is set against the planner's for the same layer (StepTerms.phases / layers: attention =
max(compute, KV read), dense GEMMs = max(compute, weights read at hbm_bandwidth_utilisation);
tp_comm_s / layers) and against the measured gap a layer.

    PYTHONPATH=$PWD python bench/dense_decode_bottom_up.py
"""

from __future__ import annotations

import bisect
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from hardware.catalog import Catalog, load_catalog

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_at_run_batch import RUNS as LOG_RUNS  # noqa: E402
from step_at_run_batch import at_batch  # noqa: E402

from planner.calibration.serving import pinned_step, points  # noqa: E402
from planner.demand.serving_physics import StepTerms  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "dense_decode_kernels.yaml"
COMMIT = "095f58a51c4ca8e61b66ec108d86f223f8d559ce"
VERSION = "1.3.0rc10"
NVFP4_BYTES = 0.5 + 1 / 16  # 4-bit weight + one FP8 scale a 16-element block
TABLES = (
    "aic-core/src/aiconfigurator_core/systems/data/{system}/{kind}/trtllm/" + VERSION + "/{file}"
)
KERNEL_SOURCE = (
    f"github.com/ai-dynamo/aiconfigurator @{COMMIT[:8]} aic-core/src/aiconfigurator_core/systems/"
    f"data/{{b200_sxm,gb200,gb300}}/{{gemm/trtllm/{VERSION}/gemm_perf.parquet (gemm_dtype nvfp4, "
    f"kernel_source torch_flow), attention/trtllm/{VERSION}/generation_attention_perf.parquet "
    f"(kv_cache_dtype fp8, head_dim 128, window_size 0), comm/trtllm/{VERSION}/"
    "custom_allreduce_perf.parquet (bfloat16, message_size in elements)}; latency ms -> us"
)
SYSTEM_DIR = {"h100": "h100_sxm", "b200": "b200_sxm", "gb200": "gb200", "gb300": "gb300"}
# The small-M GEMM law t = t0 + bytes / bandwidth, fitted by least squares over these shapes at
# M = 16 and 64 (bytes = N K x the dtype's bytes a weight): aiconfigurator's torch-flow GEMMs
LAW_SHAPES = ((4096, 4096), (8192, 8192), (16384, 16384), (16384, 65536), (65536, 16384))
LAW_M = (16, 64)
LAW_BYTES = {"bfloat16": 2.0, "fp8": 1.0, "fp8_static": 1.0, "nvfp4": NVFP4_BYTES}
# FFN width (not in the catalog's ModelArch): config.json intermediate_size of each model
FFN = {"llama-2-70b": 28672, "llama-3.1-405b": 53248, "llama-3.1-8b": 14336}
HEAD_DIM = 128


@dataclass(frozen=True)
class Run:
    point: str  # the planner/calibration/serving.yaml id (its log in bench/step_at_run_batch.py)
    system: str  # the kernel table's
    kv_len: int  # mean KV length over the decode: prompt + output / 2 (the point's mean tokens)


RUNS = (
    Run("mlperf51-b200-llama2-70b-interactive", "b200", 222 + 136),
    Run("mlperf51-gb200-llama2-70b-interactive", "gb200", 222 + 136),
    Run("mlperf51-gb200-llama2-70b-server", "gb200", 222 + 138),
    Run("mlperf51-b200-llama31-405b-interactive", "b200", 9429 + 326),
    Run("mlperf51-b200-llama31-405b-server", "b200", 9429 + 326),
    Run("mlperf51-gb200-llama31-405b-interactive", "gb200", 9429 + 327),
    Run("mlperf51-gb200-llama31-405b-server", "gb200", 9429 + 327),
    Run("mlperf51-gb300-llama31-405b-server", "gb300", 9429 + 314),
    Run("mlperf51-b200-llama31-8b-interactive", "b200", 871 + 64),
    Run("mlperf51-b200-llama31-8b-server", "b200", 871 + 64),
)

Gemm = dict[tuple[str, int, int, int], float]  # (system, m, n, k) -> us
Attn = dict[tuple[str, int, int, int, int], float]  # (system, heads, kv_heads, batch, kv_len) -> us
AllReduce = dict[tuple[str, int, int], float]  # (system, gpus, elements) -> us


def load_tables(path: Path = DATA) -> tuple[Gemm, Attn, AllReduce]:
    raw = yaml.safe_load(path.read_text())
    gemm = {(r[0], r[1], r[2], r[3]): float(r[4]) for r in raw["gemm_nvfp4"]}
    attn = {(r[0], r[1], r[2], r[3], r[4]): float(r[5]) for r in raw["attention_fp8kv"]}
    ar = {(r[0], r[1], r[2]): float(r[3]) for r in raw["allreduce_bf16"]}
    return gemm, attn, ar


def law_rows(path: Path = DATA) -> list[tuple[str, str, int, int, int, float]]:
    return [tuple(r) for r in yaml.safe_load(path.read_text())["gemm_law"]]  # type: ignore[misc]


def fit_law(
    rows: list[tuple[str, str, int, int, int, float]], system: str, dtype: str
) -> tuple[float, float]:
    """Least-squares t0 (us) and streaming rate (TB/s) of t = t0 + N K bytes / rate over the
    system's LAW_SHAPES rows of `dtype` at both LAW_M."""
    pts = [(n * k * LAW_BYTES[d], us) for s, d, _, n, k, us in rows if (s, d) == (system, dtype)]
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
    return my - slope * mx, 1 / slope / 1e6


def bracket(values: list[int], x: float) -> tuple[int, int]:
    """The two grid values around x (x itself twice when on the grid)."""
    values = sorted(set(values))
    i = bisect.bisect_left(values, x)
    if i < len(values) and values[i] == x:
        return values[i], values[i]
    if i == 0 or i == len(values):
        raise ValueError(f"{x} outside the table's {values[0]}-{values[-1]}")
    return values[i - 1], values[i]


def lerp(x: float, x0: float, x1: float, y0: float, y1: float) -> float:
    return y0 if x0 == x1 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)


# Off-grid M rows the collector adds one past each grid value (17, 33, ...): skipped for bracketing
# so that M interpolates between the round grid points.
ROUND_M = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 1536, 2048, 4096, 8192)


def gemm_us(table: Gemm, system: str, m: float, n: int, k: int) -> float:
    ms = [mm for (s, mm, _, _) in table if s == system]
    m0, m1 = bracket(ms, m)
    at_m = []
    for mm in (m0, m1):
        ns = [nn for (s, x, nn, _) in table if s == system and x == mm]
        ks = [kk for (s, x, _, kk) in table if s == system and x == mm]
        n0, n1 = bracket(ns, n)
        k0, k1 = bracket(ks, k)

        def t(a: int, b: int, mm: int = mm) -> float:
            return table[(system, mm, a, b)]

        at_m.append(
            lerp(
                n,
                n0,
                n1,
                lerp(k, k0, k1, t(n0, k0), t(n0, k1)),
                lerp(k, k0, k1, t(n1, k0), t(n1, k1)),
            )
        )
    return lerp(m, m0, m1, at_m[0], at_m[1])


def attention_us(
    table: Attn, system: str, heads: int, kv_heads: int, batch: float, kv_len: float
) -> float:
    bs = [b for (s, h, hk, b, _) in table if (s, h, hk) == (system, heads, kv_heads)]
    b0, b1 = bracket(bs, batch)
    at_b = []
    for bb in (b0, b1):
        ls = [x for (s, h, hk, b, x) in table if (s, h, hk, b) == (system, heads, kv_heads, bb)]
        l0, l1 = bracket(ls, kv_len)
        key = (system, heads, kv_heads, bb)
        at_b.append(lerp(kv_len, l0, l1, table[(*key, l0)], table[(*key, l1)]))
    return lerp(batch, b0, b1, at_b[0], at_b[1])


def allreduce_us(table: AllReduce, system: str, gpus: int, elements: float) -> float:
    sizes = [e for (s, g, e) in table if (s, g) == (system, gpus)]
    e0, e1 = bracket(sizes, elements)
    return lerp(elements, e0, e1, table[(system, gpus, e0)], table[(system, gpus, e1)])


@dataclass(frozen=True)
class Layer:
    """One transformer layer of a run's decode step: kernels against the planner (us)."""

    run: Run
    batch: int
    tp: int
    layers: int
    gemms_us: tuple[float, float, float, float]  # QKV, O, gate+up, down
    attention_us: float  # nan where the table does not reach the batch x KV length
    allreduce_us: float  # both all-reduces
    weight_bytes: float  # the layer's NVFP4 weights a GPU
    planner: StepTerms
    measured_gap_us: float  # measured mean TPOT - the planner's, a layer

    @property
    def gemm_us(self) -> float:
        return sum(self.gemms_us)

    @property
    def gemm_stream_tbps(self) -> float:
        """The weight bytes over the four GEMMs' time: their effective streaming rate."""
        return self.weight_bytes / self.gemm_us / 1e6

    def planner_us(self, phase: int) -> float:
        _, c, m = self.planner.phases[phase]
        return max(c, m) / self.layers * 1e6

    @property
    def planner_tp_us(self) -> float:
        return self.planner.tp_comm_s / self.layers * 1e6


def model_of(run: Run) -> str:
    """The catalog model of the run's serving point."""
    return next(p for p in points() if p.id == run.point).spec.model_name


def layer(run: Run, catalog: Catalog, tables: tuple[Gemm, Attn, AllReduce]) -> Layer:
    gemm, attn, ar = tables
    log = next(r for r in LOG_RUNS if r.point == run.point)
    batch = round(log.in_flight)
    arch, _, terms = pinned_step(run.point, catalog, log.tp, log.pp, 1, batch)
    tp, h, ffn = log.tp, arch.hidden, FFN[model_of(run)]
    shapes = (
        ((arch.heads + 2 * arch.kv_heads) * HEAD_DIM // tp, h),
        (h, arch.heads * HEAD_DIM // tp),
        (2 * ffn // tp, h),
        (h, ffn // tp),
    )
    gemms = tuple(gemm_us(gemm, run.system, batch, n, k) for n, k in shapes)
    try:
        att = attention_us(
            attn, run.system, arch.heads // tp, arch.kv_heads // tp, batch, run.kv_len
        )
    except (KeyError, ValueError):
        att = math.nan
    comm = 2 * allreduce_us(ar, run.system, tp, batch * h) if tp > 1 else 0.0
    wbytes = sum(n * k for n, k in shapes) * NVFP4_BYTES
    gap = at_batch(log, catalog).gap_per_layer_us
    return Layer(run, batch, tp, arch.layers, gemms, att, comm, wbytes, terms, gap)  # type: ignore[arg-type]


def extract(mirror: str) -> None:
    """Regenerate DATA from a bare clone of ai-dynamo/aiconfigurator at COMMIT (needs pyarrow,
    which nothing else here does): the table rows `layer` reads for RUNS, wide enough to
    bracket every run's shapes."""
    import io

    import pyarrow.parquet as pq  # type: ignore[import-not-found, unused-ignore]

    def table(system: str, kind: str, file: str) -> list[dict]:  # type: ignore[type-arg]
        path = TABLES.format(system=SYSTEM_DIR[system], kind=kind, file=file)
        blob = subprocess.run(
            ["git", "-C", mirror, "show", f"{COMMIT}:{path}"], check=True, capture_output=True
        ).stdout
        return pq.read_table(io.BytesIO(blob)).to_pylist()  # type: ignore[no-any-return]

    gemm_rows, attn_rows, ar_rows, law_rows = [], [], [], []
    for system in SYSTEM_DIR:
        for r in table(system, "gemm", "gemm_perf.parquet"):
            if r["gemm_dtype"] in LAW_BYTES and r["m"] in LAW_M and (r["n"], r["k"]) in LAW_SHAPES:
                law_rows.append(
                    [system, r["gemm_dtype"], r["m"], r["n"], r["k"], round(r["latency"] * 1e3, 2)]
                )
    for system in sorted({r.system for r in RUNS}):
        for r in table(system, "gemm", "gemm_perf.parquet"):
            if r["gemm_dtype"] == "nvfp4" and r["m"] in ROUND_M and r["m"] <= 2048:
                gemm_rows.append([system, r["m"], r["n"], r["k"], round(r["latency"] * 1e3, 2)])
        for r in table(system, "attention", "generation_attention_perf.parquet"):
            if (r["kv_cache_dtype"], r["head_dim"], r["window_size"]) == ("fp8", 128, 0) and (
                r["num_heads"],
                r["num_key_value_heads"],
            ) in ((64, 8), (32, 2), (64, 4), (32, 8)):
                attn_rows.append(
                    [
                        system,
                        r["num_heads"],
                        r["num_key_value_heads"],
                        r["batch_size"],
                        r["step"],
                        round(r["latency"] * 1e3, 2),
                    ]
                )
        for r in table(system, "comm", "custom_allreduce_perf.parquet"):
            if r["allreduce_dtype"] == "bfloat16" and r["message_size"] <= 1 << 24:
                ar_rows.append(
                    [system, r["num_gpus"], r["message_size"], round(r["latency"] * 1e3, 2)]
                )
    # Keep only the GEMM rows on the runs' N/K brackets (the full grid is ~100k rows).
    keep_nk: set[tuple[str, int, int]] = set()
    catalog = load_catalog()
    full: Gemm = {(r[0], r[1], r[2], r[3]): r[4] for r in gemm_rows}
    for run in RUNS:
        log = next(r for r in LOG_RUNS if r.point == run.point)
        arch = catalog.models[model_of(run)]
        ffn, h, tp = FFN[model_of(run)], arch.hidden, log.tp
        for n, k in (
            ((arch.heads + 2 * arch.kv_heads) * HEAD_DIM // tp, h),
            (h, arch.heads * HEAD_DIM // tp),
            (2 * ffn // tp, h),
            (h, ffn // tp),
        ):
            ns = [x for (s, _, x, _) in full if s == run.system]
            ks = [x for (s, _, _, x) in full if s == run.system]
            for a in bracket(ns, n):
                for b in bracket(ks, k):
                    keep_nk.add((run.system, a, b))
    gemm_rows = sorted(r for r in gemm_rows if (r[0], r[2], r[3]) in keep_nk)
    header = (
        "# TensorRT-LLM kernel latencies (us) the dense decode bottom-up reads\n"
        "# (bench/dense_decode_bottom_up.py; regenerate with its --extract MIRROR).\n"
        f"# Source: {KERNEL_SOURCE}\n"
        "# gemm_nvfp4: [system, m, n, k, us]; attention_fp8kv: [system, heads, kv_heads, batch,\n"
        "# kv_len (the collector's step), us]; allreduce_bf16: [system, gpus, elements, us];\n"
        "# gemm_law: [system, dtype, m, n, k, us] (LAW_SHAPES at LAW_M, every system and dtype)\n"
    )
    body = yaml.safe_dump(
        {
            "gemm_nvfp4": gemm_rows,
            "attention_fp8kv": sorted(attn_rows),
            "allreduce_bf16": sorted(ar_rows),
            "gemm_law": sorted(law_rows),
        },
        default_flow_style=None,
        width=100,
    )
    DATA.write_text(header + body)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--extract":
        extract(sys.argv[2])
        return
    catalog = load_catalog()
    tables = load_tables()
    print(
        f"{'run (us a layer)':40} {'B':>5} {'GEMMs':>6} {'plan':>5} {'TB/s':>5} {'attn':>6} "
        f"{'plan':>5} {'AR':>5} {'plan':>5} {'kern-plan':>9} {'gap':>5}"
    )
    for run in RUNS:
        x = layer(run, catalog, tables)
        extra = (x.gemm_us - x.planner_us(1)) + (x.allreduce_us - x.planner_tp_us)
        print(
            f"{run.point:40} {x.batch:5d} {x.gemm_us:6.1f} {x.planner_us(1):5.1f} "
            f"{x.gemm_stream_tbps:5.2f} {x.attention_us:6.1f} {x.planner_us(0):5.1f} "
            f"{x.allreduce_us:5.1f} {x.planner_tp_us:5.1f} {extra:9.1f} {x.measured_gap_us:5.0f}"
        )
    print("(kern-plan: GEMMs + all-reduces, kernels - planner; gap: measured - planner, a layer)")
    rows = law_rows()
    print("small-M GEMM law t = t0 + bytes / rate (M 16 and 64, LAW_SHAPES):")
    for system in SYSTEM_DIR:
        for dtype in LAW_BYTES:
            if any((r[0], r[1]) == (system, dtype) for r in rows):
                t0, rate = fit_law(rows, system, dtype)
                print(f"  {system:6} {dtype:9} t0 {t0:5.1f} us  rate {rate:5.2f} TB/s")
    print(f"(kernels: {KERNEL_SOURCE})")


if __name__ == "__main__":
    main()
