"""A training calibration_limit (hardware/schema.py AcceleratorTraining) reaches every plan that
trains on the accelerator. Trainium2's BF16 gemm_efficiency was an estimate (0.55) that the only
published Trainium2 training runs contradicted (session s21: stated, not adopted); since session
s22 it is fitted on them (0.29: tests/test_calibration_training.py recomputes it) and the limit
says what is left: one framework's 2025 runs (faster Neuron software would make the rates
pessimistic, `planner sensitivity` re-plans up to the former 0.55) and an unmeasured FP8 figure."""

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
    # the fitted figure it qualifies, the runs, the residuals at the fit, the sensitivity
    # range's high end (the former estimate) and the FP8 figure still estimated
    assert f"{tr.gemm_efficiency['bf16']:.2f}" in limit and "fitted" in limit
    assert "arXiv 2507.05411" in limit
    assert fit_residuals_text() in limit
    # the runs' layout, which the fitted figure absorbs the FSDP collectives of
    assert "both fully sharded FSDP over the 1,024 chips" in limit
    assert "absorbs the FSDP collectives' costs at that size" in limit
    high = CATALOG.accelerators["trainium2"].ranges["training.gemm_efficiency.bf16"].high
    assert high == 0.55 and "up to the former estimate 0.55" in limit
    assert f"FP8 training ({tr.gemm_efficiency['fp8']:.2f}) is an unmeasured estimate" in limit
    # only the training block states it: serving keeps its own (none for Trainium2)
    assert CATALOG.accelerators["trainium2"].serving.calibration_limit is None


FIT_ROWS = {
    "7B": "axlearn-llama2-7b-bf16-trn2-1024chip",
    "70B": "axlearn-llama2-70b-bf16-trn2-1024chip",
}


def fit_residuals_text() -> str:
    """`-10.4% (7B) / +9.4% (70B)`: the fit rows' planner/published - 1 recomputed from
    planner/calibration/training.yaml at the catalog's figure, as the limits quote them. The
    rows are read off their own layout (1,024 chips, fully sharded over them), which is checked
    here too, since the limits say so."""
    from planner.calibration import training

    runs = {r["id"]: r for r in training.runs()}
    parts = []
    for label, point in FIT_ROWS.items():
        run = runs[point]
        assert run["fit"] == "gemm_efficiency.bf16" and run["system"] == "trn2-server"
        assert run["layout"]["dp"] == run["layout"]["fsdp"] == 1024
        assert run["layout"]["tp"] * run["layout"]["pp"] == 1
        error = training.predict(run, CATALOG) / run["published"] - 1
        parts.append(f"{error:+.1%} ({label})")
    return " / ".join(parts)


def test_trainium_training_limits_quote_the_fit_rows_as_they_read_now() -> None:
    """Both limits resting on the Trainium2 fit (Trainium2's, and Trainium3's, which takes its
    figure) quote the fit rows' errors as the accuracy table reads them (bench/accuracy.py),
    to the tenth of a percent: a refit or a step-model change that moves them fails here."""
    quoted = fit_residuals_text()
    # as of session s32 pergemm (each dense linear at its own GEMM shape; 0.29 still the fit):
    # -10.9% (7B) / +9.6% (70B) from session s22's fsdp2 and trn2 merges until then
    assert quoted == "-10.4% (7B) / +9.4% (70B)"
    for name in ("trainium2", "trainium3"):
        tr = CATALOG.accelerators[name].training
        assert tr is not None and tr.calibration_limit
        assert f"{quoted} at the fit" in tr.calibration_limit, name
        assert "fully sharded FSDP over the 1,024 chips" in tr.calibration_limit, name


def test_calibration_limits_by_block() -> None:
    systems = ["trn2-server", "hgx-h100"]
    training = calibration_limits(CATALOG, systems, "training")
    assert [names for _, names in training] == [("trn2-server",)]
    ((text, _),) = training
    assert text.startswith("training rates of {}: the BF16 gemm_efficiency 0.29 is fitted")
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
