"""Writes planner/data/moe_kernels.csv: the slice of aiconfigurator's measured TensorRT-LLM MoE
module tables the serving step reads (planner/demand/moe_kernels.py). Numbers only: the filter
below picks rows of the collector's parquet files, nothing of aiconfigurator's code is used.

    PYTHONPATH=<dir with pyarrow> python bench/moe_kernel_table_extract.py

needs the snapshot github.com/ai-dynamo/aiconfigurator @COMMIT as fetched to MIRROR (the
`fetch` tool) and pyarrow (not a dependency of the planner: only this script reads parquet).
Rows: kernel_source moe_torch_flow_cutlass (TensorRT-LLM's CUTLASS fused MoE, the
WIDEEP / CUTLASS backends of NVIDIA's MLPerf v6.0 DeepSeek-R1 configs for GB200 72-GPU Offline and
Server and GB300 Offline; the other thirteen name moe_backend CUTEDSL, which this commit's tables
do not measure (kernel sources: CUTLASS, min-latency, DeepGEMM only): for them the CUTLASS module
stands in, an assumption docs/models.md states), moe_dtype nvfp4, moe_tp_size 1 (experts
whole on their EP rank), distribution power_law_1.01 (aiconfigurator's own routing for
DeepSeek models: sdk/models/deepseek.py _power_law_alpha = 1.01), DeepSeek-V3/R1's MoE shape
(hidden 7,168, expert width 2,048, 256 experts, top 8), every EP size and token count measured.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

MIRROR = "/work/.mirror/ai-dynamo+aiconfigurator/repo"
COMMIT = "095f58a51c4ca8e61b66ec108d86f223f8d559ce"
ROOT = "aic-core/src/aiconfigurator_core/systems/data"
# (catalog accelerator, aiconfigurator system, TensorRT-LLM release of the table)
TABLES = (
    ("b200", "b200_sxm", "1.2.0rc5"),
    ("b200", "b200_sxm", "1.3.0rc10"),
    ("gb200", "gb200", "1.3.0rc10"),
    ("b300", "b300_sxm", "1.3.0rc10"),
    ("gb300", "gb300", "1.3.0rc10"),
)
SHAPE = {"hidden_size": 7168, "inter_size": 2048, "num_experts": 256, "topk": 8}
OUT = Path(__file__).resolve().parent.parent / "planner" / "data" / "moe_kernels.csv"


def main() -> None:
    import pyarrow.parquet as pq  # type: ignore[import-not-found]

    rows = []
    header = [
        "# TensorRT-LLM's fused MoE module (routing, quantisation, permute, grouped GEMMs with "
        "their weights, activation, finalize) on one EP rank, measured by aiconfigurator's "
        "collector; written by bench/moe_kernel_table_extract.py (its docstring: the filter).",
        "# us: the module's latency on the hottest rank of `ep` for `tokens` tokens routed over "
        "the whole EP group, power-law routing (alpha 1.01).",
    ]
    for acc, system, release in TABLES:
        path = f"{ROOT}/{system}/moe/trtllm/{release}/moe_perf.parquet"
        header.append(
            f"# {acc} trtllm-{release}: github.com/ai-dynamo/aiconfigurator @{COMMIT[:8]} {path}"
        )
        blob = subprocess.run(
            ["git", f"--git-dir={MIRROR}", "show", f"{COMMIT}:{path}"],
            check=True,
            capture_output=True,
        ).stdout
        for r in pq.read_table(io.BytesIO(blob)).to_pylist():
            if (
                all(r[k] == v for k, v in SHAPE.items())
                and r["kernel_source"] == "moe_torch_flow_cutlass"
                and r["moe_dtype"] == "nvfp4"
                and r["moe_tp_size"] == 1
                and r["distribution"] == "power_law_1.01"
            ):
                rows.append(
                    (
                        acc,
                        release,
                        "fp4",
                        7168,
                        2048,
                        256,
                        8,
                        r["moe_ep_size"],
                        r["num_tokens"],
                        round(r["latency"] * 1e3, 2),
                    )
                )
    rows.sort()
    with OUT.open("w", newline="") as f:
        f.write("\n".join(header) + "\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            [
                "accelerator",
                "release",
                "precision",
                "hidden",
                "expert_ffn",
                "experts",
                "active_experts",
                "ep",
                "tokens",
                "us",
            ]
        )
        w.writerows(rows)
    print(f"{len(rows)} rows -> {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
