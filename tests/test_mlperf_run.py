"""MLPerf Server / Interactive runs are finite (docs/models.md "MLPerf runs are finite"): the
loadgen reports a run's tokens over its issue window plus its last query's latency, and the p99 −
mean TPOT gap of the short rack-scale runs is their ramp (bench/mlperf_run_ramp.py)."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

from hardware.catalog import load_catalog
from planner.calibration.serving import point_value, points, predict

CATALOG = load_catalog()
BY_ID = {p.id: p for p in points()}
ROOT = Path(__file__).resolve().parent.parent


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "mlperf_run_ramp", ROOT / "bench/mlperf_run_ramp.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mlperf_run_ramp"] = module
    spec.loader.exec_module(module)
    return module


def test_run_figure_by_hand_nvidia_gb200_server() -> None:
    p = BY_ID["mlperf6-gb200-dsr1-server"]
    assert (p.run_queries, p.run_accelerators) == (210624, 72)
    est = predict(p, CATALOG)
    steady = est.output_tokens_per_s_per_accelerator
    assert steady is not None and est.tpot_s is not None and est.ttft_s is not None
    # λ = steady x 72 GPUs / 3,752 tokens a query; T = Q / λ (> the 600 s min_duration)
    rate = steady * 72 / 3752
    issue = 210624 / rate
    assert issue == pytest.approx(1700, abs=10)
    # the last query: TTFT + 3,751 tokens at the mean TPOT (67.1 ms)
    last = est.ttft_s + 3751 * est.tpot_s
    assert est.tpot_s == pytest.approx(0.0671, abs=0.0005)
    assert last == pytest.approx(252, abs=2)
    factor = issue / (issue + last)
    assert factor == pytest.approx(0.871, abs=0.002)
    assert point_value(p, CATALOG) == pytest.approx(steady * factor, rel=1e-12)
    assert point_value(p, CATALOG, run=False) == pytest.approx(steady, rel=1e-12)
    # in band (was +38.3% at the steady rate): +20.4% of the 30% band
    err = point_value(p, CATALOG) / p.published - 1
    assert err == pytest.approx(0.204, abs=0.002)
    assert not p.known_miss and abs(err) <= p.tolerance


def test_min_duration_floors_the_issue_window() -> None:
    # a run of few queries still issues for the loadgen's 600 s min_duration
    p = BY_ID["mlperf6-gb200-dsr1-server"]
    short = dataclasses.replace(p, run_queries=100)
    est = predict(p, CATALOG)
    assert est.tpot_s is not None and est.ttft_s is not None
    steady = point_value(p, CATALOG, run=False)
    last = est.ttft_s + 3751 * est.tpot_s
    assert point_value(short, CATALOG) == pytest.approx(steady * 600 / (600 + last), rel=1e-12)


def test_loadgen_arithmetic_of_the_gb200_log() -> None:
    # mlperf_log_summary.txt of the NVIDIA v6.0 GB200 Server run: completed samples/s =
    # (Q − 1) / final_query_all_samples_done_time; tokens/s over the same time
    q, scheduled, completed, tokens_per_s = 210624, 110.06, 89.59, 336106.48
    done = (q - 1) / completed
    issue = q / scheduled
    assert done == pytest.approx(2351, abs=1)
    assert issue == pytest.approx(1914, abs=1)
    assert done - issue == pytest.approx(437, abs=2)  # the last query's latency
    assert done - issue < 1480.2  # within the log's max latency (1,480.2 s)
    assert tokens_per_s / completed == pytest.approx(
        BY_ID["mlperf6-gb200-dsr1-server"].spec.output_tokens, abs=1
    )
    # the measured share of the steady rate: T / done = 0.814, where the planner's 0.871 takes
    # the mean request's latency for the last one (this run's last query was a long one)
    assert issue / done == pytest.approx(0.814, abs=0.001)


def test_points_without_a_run_are_the_steady_rate() -> None:
    for pid in ("mlperf61-gb200-dsr1-server", "mlperf51-gb200-dsr1-server"):
        p = BY_ID[pid]
        assert p.run_queries is None
        assert point_value(p, CATALOG) == point_value(p, CATALOG, run=False)


def test_every_run_point_is_a_logged_v60_dsr1_run() -> None:
    bench = _bench()
    logged = {r.point: r for r in bench.LOGS}
    with_run = {p.id for p in BY_ID.values() if p.run_queries is not None}
    # the yaml's query counts and GPUs are the logs' (Dell and Google's B300 / QCT / Giga rows as
    # well: the table lists every DeepSeek-R1 Server / Interactive point of v6.0)
    assert with_run == set(logged)
    for pid, run in logged.items():
        assert BY_ID[pid].run_queries == run.queries, pid
        assert BY_ID[pid].run_accelerators == run.gpus, pid
        assert "inference_results_v6.0" in BY_ID[pid].source or pid.startswith("partners60"), pid


def test_the_gap_follows_the_issue_window() -> None:
    # docs/models.md's table: the long runs (T > 6,000 s) have p99 − mean < 6 ms, the short
    # rack-scale Server runs (T < 2,300 s, > 64 GPUs) 10.9-21.0 ms; the planner's steady tail
    # (tpot_tail.py) 1.2-1.4 ms on all of them
    bench = _bench()
    long = [r.tpot_p99 - r.tpot_mean for r in bench.LOGS if r.issue_s > 6000]
    short = [
        r.tpot_p99 - r.tpot_mean
        for r in bench.LOGS
        if r.issue_s < 2300 and r.gpus >= 64 and "server" in r.point and r.tpot_max < 1000
    ]
    assert len(long) == 9 and max(long) < 6.0
    assert len(short) == 4 and min(short) > 10.0 and max(short) == pytest.approx(21.03, abs=0.01)


def test_the_ramp_on_the_planners_step_spreads_tpot() -> None:
    # the NVIDIA GB200 v6.0 Server run simulated on the planner's own step (seed 1): the ramp
    # alone spreads the per-request TPOT from ~29 ms to the peak's, p99 − mean 13 ms against
    # the steady tail's 1.3 (measured 21.0: min 28.3, mean 58.3, p90 70.4, p99 79.3)
    bench = _bench()
    run = next(r for r in bench.LOGS if r.point == "mlperf6-gb200-dsr1-server")
    s = bench.simulate(run, CATALOG)
    assert s.p99 - s.mean > 10.0
    assert s.low == pytest.approx(run.tpot_min, abs=2.0)
    assert s.p90 == pytest.approx(run.tpot_p90, abs=2.0)
    assert s.mean == pytest.approx(run.tpot_mean, rel=0.06)
