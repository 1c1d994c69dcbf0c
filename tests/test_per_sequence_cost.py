"""A per-sequence cost per decode step (bench/per_sequence_cost.py): a negative result, no model
change. docs/models.md ("Session perseq") quotes these figures: if a model change moves them,
move that text with it."""

from __future__ import annotations

import bench_module
import numpy as np
import pytest

from hardware.catalog import load_catalog
from planner.calibration.serving import pinned_step, point_value, points
from planner.demand.common import hardware
from planner.demand.inference import pinned_layout
from planner.demand.serving_physics import StepArrays, StepPhysics

CATALOG = load_catalog()
BENCH = bench_module.load("per_sequence_cost")
BY_ID = {p.id: p for p in points()}


def _error(pid: str) -> float:
    p = BY_ID[pid]
    return point_value(p, CATALOG) / p.published - 1


def test_logits_traffic_is_a_hundredth_of_what_the_runs_need() -> None:
    """2 passes x 128,256 words x 4 B at 8 TB/s x 0.8 = 0.160 us a sequence on B200 (4.8 TB/s
    x 0.8 on H200: 0.267 us); the B200 8B runs imply 13.6-25.4 us a sequence."""
    by_hand_b200 = 2 * 128_256 * 4 / (8e12 * 0.80) * 1e6
    by_hand_h200 = 2 * 128_256 * 4 / (4.8e12 * 0.80) * 1e6
    phys = BENCH.physics_per_sequence(CATALOG)
    assert phys["b200"] == pytest.approx(by_hand_b200, rel=1e-12)
    assert phys["h200-sxm"] == pytest.approx(by_hand_h200, rel=1e-12)
    assert by_hand_b200 == pytest.approx(0.160, abs=0.001)
    implied = {r[0]: r[3] for r in BENCH.implied_per_run(CATALOG)}
    needed = min(implied[f"mlperf51-b200-llama31-8b-{s}"] for s in ("offline", "server"))
    assert by_hand_b200 < 0.02 * needed


def test_implied_cost_is_not_one_figure() -> None:
    """A per-sequence cost gives one c_seq per engine and system. The B200 8B runs give 25.4
    (Interactive, 299 a GPU) and 13.6 us (Server, 454): the gap falls as the batch grows (slope
    about -8.9 us a sequence); the same harness on H200 (greedy, the same C++ executor) gives 9.6
    / -0.8 us and its Offline point -1.0 us."""
    rows = BENCH.implied_per_run(CATALOG)
    implied = {r[0]: r[3] for r in rows}
    # Little's law by hand from the Server log: 996.53 samples/s x (4.2322 - 0.5868) s / 8 GPUs
    b_server = 996.53 * (4.232198774 - 0.586773623) / 8
    server = next(r for r in rows if r[0] == "mlperf51-b200-llama31-8b-server")
    assert server[1] == pytest.approx(b_server, rel=1e-12)
    assert server[3] == pytest.approx(1e3 * server[2] / b_server, rel=1e-12)
    assert implied["mlperf51-b200-llama31-8b-interactive"] == pytest.approx(25.4, abs=0.5)
    assert implied["mlperf51-b200-llama31-8b-server"] == pytest.approx(13.6, abs=0.5)
    # Offline per output token (TP1): 1 / published - 1 / planner, by hand
    p = BY_ID["mlperf51-b200-llama31-8b-offline"]
    by_hand = 1e6 * (1 / p.published - 1 / point_value(p, CATALOG))
    assert implied["mlperf51-b200-llama31-8b-offline"] == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(14.6, abs=0.5)
    assert abs(implied["mlperf51-h200-llama31-8b-offline"]) < 2.0
    assert abs(implied["mlperf51-h200-llama31-8b-server"]) < 2.0
    slope = BENCH.pair_slope(
        rows, "mlperf51-b200-llama31-8b-interactive", "mlperf51-b200-llama31-8b-server"
    )
    assert slope < -5.0


def test_scratch_term_adds_c_times_batch_and_restores() -> None:
    """Inside per_sequence_term({"b200": c}) a B200 step of B sequences is c x B longer (scalar
    and array paths alike), an H200 step is not; on exit the model is the same as before."""
    pid, batch, c_us = "mlperf51-b200-llama31-8b-server", 454, 10.0
    _, _, before = pinned_step(pid, CATALOG, 1, 1, 1, batch)
    _, _, h200_before = pinned_step("mlperf51-h200-llama31-8b-server", CATALOG, 1, 1, 1, batch)
    with BENCH.per_sequence_term({"b200": c_us}):
        _, _, inside = pinned_step(pid, CATALOG, 1, 1, 1, batch)
        _, _, h200_inside = pinned_step("mlperf51-h200-llama31-8b-server", CATALOG, 1, 1, 1, batch)
        assert inside.step_s - before.step_s == pytest.approx(c_us * 1e-6 * batch, rel=1e-9)
        assert h200_inside.step_s == h200_before.step_s
        # the array path: build it from the patched StepPhysics of the same layout
        arch, load, _ = pinned_step(pid, CATALOG, 1, 1, 1, batch)
        hw = hardware(CATALOG, BY_ID[pid].system)
        assert hw is not None
        lay = pinned_layout(arch, hw, load, 1, 1, 1)
        assert not isinstance(lay, str)
        step = StepPhysics(hw, load, lay)
        arrays = StepArrays([step])
        got, _ = arrays.step_s(np.array([0]), np.array([batch]))
        assert float(got[0]) == pytest.approx(step.terms(batch, False).step_s, rel=1e-12)
    _, _, after = pinned_step(pid, CATALOG, 1, 1, 1, batch)
    assert after.step_s == before.step_s


def test_one_figure_on_b200_lands_the_8b_points_and_breaks_passing_ones() -> None:
    """At 17.5 us a sequence on b200 (the fit on the 8B Offline and Server points) the three 8B
    points come into band, and passing B200 points leave theirs: InferenceX B200 Llama 3 70B FP8
    at 108 / 139 tok/s/user (fit points of step_overhead, tolerance 0.30) -33.0 / -39.0%, B200
    Llama 2 70B Offline (0.20) -21.2%."""
    with BENCH.per_sequence_term({"b200": 17.5}):
        e = {
            pid: _error(pid)
            for pid in (
                "mlperf51-b200-llama31-8b-offline",
                "mlperf51-b200-llama31-8b-server",
                "mlperf51-b200-llama31-8b-interactive",
                "inferencex-b200-llama3-70b-fp8-1k1k-108",
                "inferencex-b200-llama3-70b-fp8-1k1k-139",
                "mlperf51-b200-llama2-70b-offline",
            )
        }
    assert e["mlperf51-b200-llama31-8b-offline"] == pytest.approx(-0.048, abs=0.005)
    assert e["mlperf51-b200-llama31-8b-server"] == pytest.approx(0.003, abs=0.005)
    assert e["mlperf51-b200-llama31-8b-interactive"] == pytest.approx(0.106, abs=0.005)
    assert (
        e["inferencex-b200-llama3-70b-fp8-1k1k-108"]
        < -BY_ID["inferencex-b200-llama3-70b-fp8-1k1k-108"].tolerance
    )
    assert (
        e["inferencex-b200-llama3-70b-fp8-1k1k-139"]
        < -BY_ID["inferencex-b200-llama3-70b-fp8-1k1k-139"].tolerance
    )
    assert (
        e["mlperf51-b200-llama2-70b-offline"] < -BY_ID["mlperf51-b200-llama2-70b-offline"].tolerance
    )


def test_the_8b_interactive_point_needs_more_than_the_inferencex_point_allows() -> None:
    """The 8B Interactive point comes into its 20% band only from c ~13 us; by 12.5 us the
    InferenceX B200 Llama 3 70B FP8 139 tok/s/user point is already out of its 30% (-31.4%)."""
    with BENCH.per_sequence_term({"b200": 12.5}):
        inter = _error("mlperf51-b200-llama31-8b-interactive")
        ix = _error("inferencex-b200-llama3-70b-fp8-1k1k-139")
    assert inter > BY_ID["mlperf51-b200-llama31-8b-interactive"].tolerance
    assert ix < -BY_ID["inferencex-b200-llama3-70b-fp8-1k1k-139"].tolerance
