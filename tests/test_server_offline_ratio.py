"""MLPerf Server / Offline ratios (bench/server_offline_ratio.py): the published pairs read from the
runs' logs, the planner's ratio and its terms, and the figures docs/models.md quotes ("Server over
Offline across runs"). If a model change moves these, the docs' paragraph must move with them."""

from __future__ import annotations

import statistics

import bench_module
import pytest

from hardware.catalog import load_catalog
from planner.calibration.serving import planner_value, predict


def _bench():  # type: ignore[no-untyped-def]
    return bench_module.load("server_offline_ratio")


def test_log_pairs_by_hand() -> None:
    bench = _bench()
    logs = bench.log_pairs()
    assert len(logs) == 194
    # v4.1 NVIDIA DGX-H100 Llama 2 70B: Server 21,605.79 / Offline 24,524.9 completed tokens/s
    # (the held-out point's 0.881); MLPerf's bounds from its "Test Parameters Used"
    dgx = next(
        x
        for x in logs
        if x.round == "v4.1"
        and x.submitter == "NVIDIA"
        and x.system == "DGX-H100_H100-SXM-80GBx8_TRT"
        and x.model == "llama2-70b-99"
    )
    assert dgx.accelerator == "h100"
    assert dgx.ratio == pytest.approx(21605.79 / 24524.9, abs=2e-5)
    assert (dgx.ttft_bound_s, dgx.tpot_bound_ms) == (2.0, 200.0)
    assert dgx.tpot_mean_ms == pytest.approx(155.0, abs=0.05)
    # accelerators from the system names: GB before B, NVL parts apart, the mixed AMD systems
    names = {x.system: x.accelerator for x in logs}
    assert names["GB200-NVL72_GB200-186GB_aarch64x4_TRT"] == "gb200"
    assert names["HPE_ProLiant_DL380a_H100_NVL_94GBx4_TRT"] == "h100-nvl"
    assert names["D75E-4U_H200-NVL-141GBx4_TRT"] == "h200-nvl"
    assert names["IBM_Cloud_gx3-48x240x2l40s_vLLM"] == "l40s"


def test_planner_ratio_is_its_utilisation_where_the_batch_does_not_move() -> None:
    """GB200 Llama 2 70B: the Server batch is HBM-bound as the Offline's (1,755 vs 1,758), so the
    planner's Server/Offline is the M/D/c utilisation alone; recomputed from the two estimates."""
    bench = _bench()
    catalog = load_catalog()
    pairs = {srv.id: (off, srv) for off, srv in bench.calibration_pairs()}
    off, srv = pairs["mlperf51-gb200-llama2-70b-server"]
    pp = bench.planner_pair(off, srv, catalog)
    eo, es = predict(off, catalog), predict(srv, catalog)
    assert pp.planner_ratio == pytest.approx(planner_value(srv, es) / planner_value(off, eo))
    assert (pp.offline_batch, pp.server_batch) == (1758, 1755)
    assert pp.run_share == 1.0
    assert pp.planner_ratio == pytest.approx(pp.server_utilisation, rel=0.005)
    assert pp.server_utilisation == pytest.approx(0.982, abs=0.002)
    assert pp.measured_ratio == pytest.approx(0.954, abs=0.001)
    # the run's own log, matched on ratio: p99 TPOT 129.9 of 200 ms, p99 TTFT 0.41 of 2 s
    log = bench.matched_log(pp, bench.log_pairs())
    assert log is not None and log.submitter == "NVIDIA"
    assert log.tpot_p99_ms == pytest.approx(129.9, abs=0.05)
    assert log.ttft_p99_s == pytest.approx(0.406, abs=0.001)


def test_errors_by_model_and_scenario() -> None:
    """The docs' figures over the 330 calibration pairs: Llama 2 70B Server without bias (mean
    +0.4%, MAE 2.9% over 79), Interactive high (Llama 2 70B +28.8%), DeepSeek-R1 Server high
    (+15.7%), the Llama 3.1 8B Server lean (+6.8%; +13.1% over B200's 11)."""
    bench = _bench()
    catalog = load_catalog()
    computed = [bench.planner_pair(off, srv, catalog) for off, srv in bench.calibration_pairs()]
    assert len(computed) == 330
    # ids differing only in their scenario token pair up, suffixes included
    ids = {(p.offline.id, p.server.id) for p in computed}
    assert (
        "mlperf61-b200-dsr1-offline-nebius",
        "mlperf61-b200-dsr1-server-nebius",
    ) in ids
    errors = bench.error_by_kind(computed)
    server70 = errors[("llama2-70b", "server")]
    assert len(server70) == 79
    assert statistics.mean(server70) == pytest.approx(0.004, abs=0.003)
    assert statistics.mean(abs(e) for e in server70) == pytest.approx(0.029, abs=0.003)
    assert statistics.mean(errors[("llama2-70b", "interactive")]) == pytest.approx(0.288, abs=0.01)
    assert statistics.mean(errors[("dsr1", "server")]) == pytest.approx(0.157, abs=0.01)
    assert statistics.mean(errors[("llama31-8b", "server")]) == pytest.approx(0.068, abs=0.005)
    b200_8b = [
        p.error
        for p in computed
        if bench.model_of(p.server.id) == "llama31-8b"
        and bench.scenario_of(p.server.id) == "server"
        and bench.accelerator_of(p.server.id) == "b200"
    ]
    assert len(b200_8b) == 11
    assert statistics.mean(b200_8b) == pytest.approx(0.131, abs=0.005)


def test_h100_rounds() -> None:
    """v4.1's seventeen HGX/DGX H100 Llama 2 70B Server pairs: median 0.896 (0.844-0.994) against
    the planner's 0.991 (+10.6%); v5.1's two (Cisco, 16 and 32 GPUs): 0.980 (+1.2%). The same
    hardware and bounds a round apart: the v4.1 gap is the round's software, not a queue term."""
    bench = _bench()
    catalog = load_catalog()
    ratios = bench.planner_ratios(catalog)
    h100 = ratios[("llama2-70b", "server", "h100")]
    assert h100 == pytest.approx(0.991, abs=0.003)
    by = {(g.round, g.model, g.scenario, g.accelerator): g for g in bench.groups(bench.log_pairs())}
    v41 = by[("v4.1", "llama2-70b-99", "Server", "h100")]
    v51 = by[("v5.1", "llama2-70b-99", "Server", "h100")]
    assert len(v41.pairs) == 17 and len(v51.pairs) == 2
    assert v41.median_ratio == pytest.approx(0.896, abs=0.001)
    assert v51.median_ratio == pytest.approx(0.980, abs=0.001)
    assert h100 / v41.median_ratio - 1 == pytest.approx(0.106, abs=0.005)
    assert abs(h100 / v51.median_ratio - 1) < 0.02
    # neither bound binds at the v4.1 runs: median p99 TPOT 0.88 of 200 ms, p99 TTFT 0.25 of 2 s
    assert v41.tpot_p99_of_bound == pytest.approx(0.88, abs=0.01)
    assert v41.ttft_p99_of_bound == pytest.approx(0.25, abs=0.01)
