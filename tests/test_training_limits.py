"""A training calibration_limit (hardware/schema.py AcceleratorTraining) reaches every plan that
trains on the accelerator: Trainium2's BF16 gemm_efficiency is an estimate (0.55) that the only
published Trainium2 training runs contradict (AXLearn's two rows imply 0.24-0.26 on their FSDP
layout: tests/test_calibration_training.py recomputes it), so a plan says so beside its rates."""

from __future__ import annotations

import json
from pathlib import Path

from hardware.catalog import load_catalog
from planner.demand.common import calibration_limits, serving_limits

CATALOG = load_catalog()
GOLDEN = Path(__file__).parent / "golden"


def test_trainium2_training_limit_names_the_runs_and_their_figure() -> None:
    tr = CATALOG.accelerators["trainium2"].training
    assert tr is not None and tr.calibration_limit
    limit = tr.calibration_limit
    # the estimate it qualifies, the runs, their implied fractions and the sensitivity range's low
    assert f"{tr.gemm_efficiency['bf16']:.2f}" in limit and "0.24-0.26" in limit
    assert "arXiv 2507.05411" in limit and "down to 0.25" in limit
    low = CATALOG.accelerators["trainium2"].ranges["training.gemm_efficiency.bf16"].low
    assert low == 0.25
    # only the training block states it: serving keeps its own (none for Trainium2)
    assert CATALOG.accelerators["trainium2"].serving.calibration_limit is None


def test_calibration_limits_by_block() -> None:
    systems = ["trn2-server", "hgx-h100"]
    training = calibration_limits(CATALOG, systems, "training")
    assert [names for _, names in training] == [("trn2-server",)]
    ((text, _),) = training
    assert text.startswith("training rates of {}: the BF16 gemm_efficiency 0.55")
    # serving's wrapper reads the serving block only
    assert serving_limits(CATALOG, systems) == calibration_limits(CATALOG, systems, "serving")
    assert all(not t.startswith("training") for t, _ in serving_limits(CATALOG, systems))


def test_plans_training_on_trainium2_state_the_limit() -> None:
    """The shipped Rainier plans (goldens re-captured) carry the limit under Left out, for the
    pretraining and the RL trainer alike; a plan with no Trainium2 training does not."""
    limit = CATALOG.accelerators["trainium2"].training.calibration_limit
    assert limit
    rainier = json.loads((GOLDEN / "rl-verifiers--rainier.json").read_text())
    stated = [s for s in rainier["left_out"] if s.startswith("training rates of") and limit in s]
    assert stated and all("trn2-server" in s for s in stated)
    h100 = json.loads((GOLDEN / "frontier-lab--h100_only.json").read_text())
    assert not any(limit in s for s in h100["left_out"])
