"""NVIDIA RTX PRO 6000 Blackwell Server Edition (rtx-pro-6000, rtx-pro-server): the datasheet
figures with their units, the figures taken from b200 (a Blackwell sibling, not the same die)
saying so, the FP4 compute fit recomputed on its two named HPE rows, the MLPerf v6.1 RTX PRO 6000
rows (rtxpro-checks) with their known misses, the TP all-reduce priced on PCIe by hand, and the
part planned in a small inference scenario."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from tiny_site import write_site

import cli
from hardware.catalog import load_catalog
from planner.api import solve
from planner.calibration.serving import pinned_step, point_value, points
from planner.demand.common import hardware, serving_limits
from planner.demand.inference import clear_physics_caches, pinned_layout, serving_load
from planner.demand.serving_physics import prefill_time
from planner.scenario import load_scenario

CATALOG = load_catalog()
POINTS = points()
CHECKS = [p for p in POINTS if p.family == "rtxpro-checks"]
FIT_POINTS = {"mlperf61-rtxpro-llama2-70b-offline-hpe", "mlperf61-rtxpro-llama31-8b-offline-hpe"}
# figures that are the part's own (the datasheet, the fit, the PCIe measurements), not b200's
OWN = {
    "compute_utilisation",
    "scale_up_latency_s",
    "link_bandwidth_utilisation",
    "calibration_limit",
}


def test_rtx_pro_6000_datasheet_figures_with_units() -> None:
    acc = CATALOG.accelerators["rtx-pro-6000"]
    assert acc.vendor == "NVIDIA"
    # datasheet: 4 PFLOPS FP4 with sparsity -> 2,000 TFLOPS dense; FP8 half, BF16/FP16 a quarter
    sparse_fp4 = 4000e12
    assert acc.peak_flops == {
        "fp4": sparse_fp4 / 2,
        "fp8": sparse_fp4 / 4,
        "bf16": sparse_fp4 / 8,
        "fp16": sparse_fp4 / 8,
    }
    # the cross-check of the source: 120 FP32 TFLOPS / (24,064 cores x 2) = 2.49 GHz; 188 SMs x
    # that x 4,096 FP4 FLOP a clock = 1,920 TFLOPS, the page's rounded 2,000 4% above it
    clock = 120e12 / (24064 * 2)
    assert clock == pytest.approx(2.493e9, rel=1e-3)
    assert acc.peak_flops["fp4"] / (188 * clock * 4096) == pytest.approx(1.042, abs=0.001)
    # a measured 417 TFLOPS BF16 GEMM is 0.83 of the dense BF16 peak (full-rate FP32 accumulate)
    assert 417.34e12 / acc.peak_flops["bf16"] == pytest.approx(0.835, abs=0.001)
    assert acc.hbm_bytes == 96e9 and acc.hbm_bandwidth_bytes_per_s == 1597e9
    # PCIe Gen5 x16: 64 GB/s each way, both directions summed as the NVLink figures are
    assert acc.scale_up_bandwidth_bytes_per_s == 2 * 64e9
    assert CATALOG.accelerators["b200"].scale_up_bandwidth_bytes_per_s == 2 * 900e9
    assert acc.scale_out_bandwidth_bytes_per_s == 800e9 / 8 / 2  # one 800G SuperNIC for two GPUs
    assert acc.power_w == 600
    assert acc.rl is not None and acc.rl.host_link_bandwidth_bytes_per_s == 64e9
    assert acc.training is None  # no training run on this part: the planner rates none
    server = CATALOG.systems["rtx-pro-server"]
    assert server.accelerator == "rtx-pro-6000"
    assert server.accelerators == server.scale_up_domain == 8
    assert server.cpu == "epyc-9575f" and server.cpus == 2  # Cisco C845A M8's MLPerf system
    assert server.host_memory_bytes == pytest.approx(2 * 2**40) or server.host_memory_bytes == 2e12
    assert server.power_w == 7500 > 8 * acc.power_w
    # contracts at hgx-b200's ratios of on-demand (34%, 25%), spot at half
    assert server.rental_usd_per_hour == 8 * 2.0
    assert [c.usd_per_hour for c in server.contracts] == pytest.approx([16 * 0.34, 16 * 0.25])
    assert server.spot_usd_per_hour == 16 / 2
    for figure in ("capex_usd", "rental_usd_per_hour", "power", "lead_time", "contracts"):
        assert server.source_of(figure).startswith("estimate"), figure


def test_rtx_pro_6000_takes_b200s_other_figures_and_says_so() -> None:
    part = CATALOG.accelerators["rtx-pro-6000"].serving
    b200 = CATALOG.accelerators["b200"].serving
    assert part is not None and b200 is not None
    mine, theirs = part.model_dump(), b200.model_dump()
    for key in mine:
        if key in ("source", "sources", "ranges") or key in OWN:
            continue
        assert mine[key] == theirs[key], key
    acc = CATALOG.accelerators["rtx-pro-6000"]
    for key in (
        "hbm_bandwidth_utilisation",
        "gemm_half_tokens",
        "scale_out_latency",
        "step_overhead",
        "runtime_reserve",
        "moe_layer_latency",
        "moe_token_bandwidth",
    ):
        assert acc.source_of(f"serving.{key}").startswith("taken equal to b200's"), key
    for p in ("fp8", "bf16", "fp16"):
        assert part.compute_utilisation[p] == b200.compute_utilisation[p], p
        assert acc.source_of(f"serving.compute_utilisation.{p}").startswith("taken equal to b200")
    assert acc.source_of("serving.compute_utilisation.fp4").startswith("fitted")
    # the PCIe all-reduce figures: 35 GB/s bus bandwidth on 4 GB202 cards over one direction
    # of the 128 GB/s both-ways figure (review s33: the all-reduce's ring runs at one
    # direction's rate; 35 / 128 before)
    assert part.link_bandwidth_utilisation == pytest.approx(round(35 / 64, 2))
    assert "nccl/issue #1639" in acc.source_of("serving.link_bandwidth_utilisation").replace(
        "NVIDIA/nccl issue", "nccl/issue"
    )


def test_rtx_pro_6000_fp4_compute_utilisation_minimises_its_fit_points_mae(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The catalog's FP4 figure is the value on a 0.01 grid over 0.50-0.65 minimising the mean
    # absolute error of the two HPE Offline points marked `fit:` (catalog source of the figure).
    fitted = [p for p in CHECKS if p.fit == "compute_utilisation.fp4"]
    assert {p.id for p in fitted} == FIT_POINTS

    def mae(u: float) -> float:
        overlay = tmp_path / f"u{u:.2f}.yaml"
        overlay.write_text(
            "accelerators:\n  rtx-pro-6000:\n    serving:\n"
            f"      compute_utilisation: {{fp4: {u:.2f}}}\n"
        )
        clear_physics_caches()
        cat = load_catalog([overlay])
        return sum(abs(point_value(p, cat) / p.published - 1) for p in fitted) / len(fitted)

    grid = [i / 100 for i in range(50, 66)]
    errors = {u: mae(u) for u in grid}
    clear_physics_caches()
    best = min(grid, key=errors.__getitem__)
    sv = CATALOG.accelerators["rtx-pro-6000"].serving
    assert sv is not None
    assert sv.compute_utilisation["fp4"] == best == 0.56
    assert errors[best] == pytest.approx(0.0091, abs=0.001)
    assert errors[0.57] == pytest.approx(0.0105, abs=0.001)  # the minimum is interior
    assert errors[0.55] > errors[best] < errors[0.57]


def test_rtxpro_checks_family() -> None:
    assert len(CHECKS) == 31
    assert {p.system for p in CHECKS} == {"rtx-pro-server"}
    for p in CHECKS:
        engine = p.spec.engine
        # every published v6.0 RTX PRO 6000 config of these benchmarks runs one TP1 engine a GPU
        assert engine is not None and engine.layout is not None, p.id
        assert (engine.layout.tp, engine.layout.pp) == (1, 1), p.id
        assert p.spec.precision == "fp4" and p.spec.kv_precision == "fp8", p.id
        assert "v6.0" in p.assumed and "@232fbf90" in p.assumed, p.id  # the config taken
    error = {p.id: point_value(p, CATALOG) / p.published - 1 for p in CHECKS}
    misses = {p.id for p in CHECKS if p.known_miss}
    # the seven misses are gpt-oss-120b rows, all under (memory-bound MoE decode)
    assert misses == {p.id for p in CHECKS if p.spec.model == "gpt-oss-120b"} - {
        "mlperf61-rtxpro-gptoss-server-cisco-x210c"
    }
    for pid in misses:
        assert -0.34 < error[pid] < -0.20, pid
        assert "54.78 ms" in (next(p for p in CHECKS if p.id == pid).known_miss or "")
    dense = [abs(error[p.id]) for p in CHECKS if p.spec.model != "gpt-oss-120b"]
    assert len(dense) == 23 and sum(dense) / len(dense) < 0.06  # 4.0%


def test_gpt_oss_known_miss_arithmetic_from_hpes_v60_log() -> None:
    # HPE's v6.0 gpt-oss-120b Server run of the config these points take: 10.86 samples/s,
    # mean latency 72.16 s, mean TPOT 54.78 ms, 14,258.88 tokens/s on 8 GPUs
    in_flight = 10.86 * 72.16 / 8  # Little: sequences a GPU
    assert in_flight == pytest.approx(98, abs=0.5)
    assert pytest.approx(1313, abs=1) == 14258.88 / 10.86
    # the planner's step at that batch reads 63.1 GB of weights and 10.5 GB of KV
    _, _, terms = pinned_step("mlperf61-rtxpro-gptoss-server-hpe", CATALOG, 1, 1, 1, 98)
    moved = terms.weights_read_bytes + terms.kv_read_bytes
    assert moved == pytest.approx(73.6e9, rel=0.005)
    acc = CATALOG.accelerators["rtx-pro-6000"]
    bw = acc.hbm_bandwidth_bytes_per_s * 0.80
    assert terms.memory_s == pytest.approx(moved / bw, rel=1e-6)
    step = terms.memory_s + terms.moe_layer_s + terms.moe_token_s + terms.overhead_s
    assert step == pytest.approx(0.0645, abs=0.0005)
    assert (step + terms.chunk_s) / 0.05478 == pytest.approx(1.29, abs=0.01)
    # the run streams those bytes in at most its mean TPOT: >= 0.84 of the datasheet bandwidth
    assert moved / 0.05478 / acc.hbm_bandwidth_bytes_per_s == pytest.approx(0.84, abs=0.005)


def test_tp_allreduce_is_priced_on_pcie_by_hand() -> None:
    # No RTX PRO run uses TP > 1, but a plan may: Llama 2 70B at TP2 on the server, batch 64.
    # Each decode step all-reduces 2 x 80 layers of batch x hidden x 2 B over PCIe:
    # 2 ceil(log2 2) x 5 us + 2(2-1)/2 x bytes / (128 GB/s / 2 x 0.55)
    batch, hidden, layers = 64, 8192, 80
    _, _, terms = pinned_step("mlperf61-rtxpro-llama2-70b-server-hpe", CATALOG, 2, 1, 1, batch)
    nbytes = batch * hidden * 2
    one = 2 * math.ceil(math.log2(2)) * 5e-6 + 2 * (2 - 1) / 2 * nbytes / (64e9 * 0.55)
    assert terms.tp_comm_s == pytest.approx(2 * layers * one, rel=1e-9)
    assert terms.tp_comm_s == pytest.approx(0.00637, abs=0.00005)  # 6.4 ms a step
    # the same TP2 step on NVLink 5 (hgx-b200: 1.8 TB/s, 900 GB/s each way x 0.75, 2 us a hop)
    # is ~7x cheaper (its 2 us hops weigh more at this size)
    _, _, nvl = pinned_step("mlperf61-b200-llama2-70b-server-coreweave", CATALOG, 2, 1, 1, batch)
    by_hand = 2 * layers * (2 * 2e-6 + nbytes / (0.9e12 * 0.75))
    assert nvl.tp_comm_s == pytest.approx(by_hand, rel=1e-9)
    assert terms.tp_comm_s / nvl.tp_comm_s == pytest.approx(7.2, abs=0.1)


def test_tp_prefill_allreduce_is_priced_on_pcie_by_hand() -> None:
    # Prefill of the same TP2 instance: each prompt token all-reduces 2 x 80 layers of
    # hidden x 2 B, 2(2-1)/2 of it over 64 GB/s (one way) x 0.55, per token of the 2-GPU instance
    hw = hardware(CATALOG, "rtx-pro-server")
    assert hw is not None
    arch = CATALOG.models["llama-2-70b"]
    point = next(p for p in CHECKS if p.id == "mlperf61-rtxpro-llama2-70b-server-hpe")
    lay = pinned_layout(arch, hw, serving_load(point.spec, arch), 2, 1, 1)
    assert not isinstance(lay, str) and (lay.tp, lay.accelerators) == (2, 2)
    t = prefill_time(hw, arch, "fp4", lay, 111.0, 222.0, 1.0, "fp8")
    bw = 64e9 * 0.55
    assert t.allreduce_bandwidth == pytest.approx(bw)
    assert t.allreduce_s == pytest.approx(2 * 80 * (2 - 1) / 2 * 2 * 8192 * 2 / bw * 2 / 2)
    # 74.5 us a prompt token: 1.21x the token's FP4 compute on the two cards (62 us)
    assert t.allreduce_s == pytest.approx(74.5e-6, rel=0.01)
    assert t.allreduce_s / t.compute_s == pytest.approx(1.21, abs=0.02)


TOPOLOGY = """\
name: rtx
description: "one site of RTX PRO servers"
source: "tests"
datacenters:
  dc-a:
    power_cap: 5 MW
    pue: 1.3
    electricity_usd_per_kwh: 0.08
    systems:
      rtx-pro-server: {max_units: 20}
links: []
"""

SCENARIO = """\
topology: topo.yaml
economics: {horizon: 365 days, pricing: rental}
workloads:
  chat:
    kind: inference
    model: llama-3.1-8b
    precision: fp4
    kv_precision: fp8
    requests_per_day: 20M
    prompt_tokens: 1000
    output_tokens: 300
    tokens_per_s_per_user: 20
"""


def test_a_small_inference_scenario_plans_on_rtx_pro_servers(tmp_path: Path) -> None:
    plan = solve(load_scenario(write_site(tmp_path, SCENARIO, TOPOLOGY)))
    assert plan.status == "optimal"
    fleet = [f for f in plan.fleet if f.units > 0]
    assert {f.system for f in fleet} == {"rtx-pro-server"}
    units = sum(f.units for f in fleet)
    assert 1 <= units <= 20
    # rented at the catalog's $16/h a server for the year
    assert plan.total_cost_usd >= units * 16.0 * 24 * 365 * 0.99
    limits = serving_limits(CATALOG, ["rtx-pro-server"])
    assert len(limits) == 1 and limits[0][1] == ("rtx-pro-server",)
    assert "rtxpro-checks" in limits[0][0] and "PCIe" in limits[0][0]


def test_hardware_show_rtx_pro_6000(capsys) -> None:  # type: ignore[no-untyped-def]
    assert cli.main(["hardware", "show", "rtx-pro-6000"]) == 0
    out = capsys.readouterr().out
    assert "accelerator rtx-pro-6000" in out and "0.56" in out and "128 GB/s" in out
    assert cli.main(["hardware", "show", "rtx-pro-server"]) == 0
    assert "system rtx-pro-server" in capsys.readouterr().out


def test_the_rental_range_covers_the_hyperscaler_on_demand_price_it_cites() -> None:
    # AWS's on-demand g7e (RTX PRO 6000 Server Edition) at $3.36 a GPU-h (May 2026) lay above the
    # range's old $3.0 top: a sensitivity run never reached the hyperscaler price.
    server = CATALOG.systems["rtx-pro-server"]
    low, value, high = server.range_of("rental_usd_per_hour")
    assert low == pytest.approx(8 * 1.3) and value == 8 * 2.0
    assert high == pytest.approx(8 * 3.36, abs=0.05)
    assert "$3.36 a GPU-h" in server.ranges["rental_usd_per_hour"].source
