"""The serving decode search on arrays (serving_physics.StepArrays, inference._search_layouts)
against the scalar search it replaced, by brute force: every figure of a step equal to the last
bit over the catalog's models (dense and MoE, GQA, MLA, banded attention) on every system with
serving figures, with engine options (CUDA graph padding, max_num_tokens, sequence caps,
speculative decoding, chunked and whole-prompt prefill, a p99 TPOT target); the lockstep batch
search equal to max_batch_within layout by layout; decode_point equal, alternatives included, to
the scalar layout-by-layout search (VECTORISED off) on synthetic specs and on shipped
calibration points."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

import planner.demand.inference as inference
from hardware.catalog import load_catalog
from planner.calibration.serving import points, predict
from planner.demand.common import hardware
from planner.demand.inference import layouts
from planner.demand.serving_physics import (
    StepArrays,
    StepPhysics,
    max_batch_within,
    model_load,
    precision_gap,
)

CATALOG = load_catalog()
SYSTEMS = [
    name
    for name in CATALOG.systems
    if (hw := hardware(CATALOG, name)) is not None and hw.accelerator.serving is not None
]
GRAPHS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


def _precision(hw: object, arch: object) -> str | None:
    """The first of fp8, bf16, fp4 the system serves the model at."""
    for p in ("fp8", "bf16", "fp4"):
        if precision_gap(hw, arch, p) is None:  # type: ignore[arg-type]
            return p
    return None


def _engines() -> list[dict[str, object]]:
    return [
        {},
        dict(graph_batch_sizes=GRAPHS),
        dict(draft_tokens=3, acceptance=0.7),
        dict(token_budget=8192),
        dict(whole_prompts=True, prefill_buckets=(512, 2048)),
        dict(draft_tokens=1, acceptance=0.9, graph_batch_sizes=(8, 64, 256), token_budget=2048),
    ]


@pytest.mark.parametrize("system", SYSTEMS)
def test_step_arrays_equal_the_scalar_step_to_the_last_bit(system: str) -> None:
    hw = hardware(CATALOG, system)
    assert hw is not None
    rng = random.Random(system)
    compared = 0
    for name, arch in CATALOG.models.items():
        precision = _precision(hw, arch)
        if precision is None:
            continue
        for engine in _engines():
            load = model_load(arch, precision, "fp8", 3000, 700, 1, **engine)  # type: ignore[arg-type]
            lays = layouts(arch, hw, load, 4)
            if not lays:
                continue
            steps = [StepPhysics(hw, load, lay) for lay in lays]
            arrays = StepArrays(steps)
            rows = [j for j in range(len(lays)) for _ in range(3)]
            batch = [
                lays[j].pp * rng.choice([1, 2, 3, 7, 63, 64, 65, 129, 1000, 4099, 1 << 20])
                for j in rows
            ]
            i, b = np.array(rows), np.array(batch, dtype=np.int64)
            for chunk in (False, True):
                vector = arrays.tpot_bound_s(i, b, chunk).tolist()
                floor = arrays.tpot_floor_s(i, b, chunk).tolist()
                scalar = [
                    steps[j].terms(x, chunk).tpot_bound_s for j, x in zip(rows, batch, strict=True)
                ]
                floors = [steps[j].tpot_floor_s(x, chunk) for j, x in zip(rows, batch, strict=True)]
                assert vector == scalar, (name, engine, chunk)
                assert floor == floors, (name, engine, chunk)
            for padded in (True, False):
                step = arrays.step_s(i, b, padded)[0].tolist()
                assert step == [
                    steps[j].terms(x, False, padded).step_s
                    for j, x in zip(rows, batch, strict=True)
                ], (name, engine, padded)
            compared += len(rows)
    assert compared > 300


@pytest.mark.parametrize("system", SYSTEMS)
def test_lockstep_search_finds_max_batch_within_on_every_layout(system: str) -> None:
    hw = hardware(CATALOG, system)
    assert hw is not None
    searched = 0
    for name, arch in CATALOG.models.items():
        precision = _precision(hw, arch)
        if precision is None:
            continue
        for engine, target, chunked in itertools.product(
            _engines()[:2], (8.0, 60.0), (False, True)
        ):
            load = model_load(arch, precision, "fp8", 2000, 500, 1, **engine)  # type: ignore[arg-type]
            lays = layouts(arch, hw, load, 4)
            if not lays:
                continue
            steps = [StepPhysics(hw, load, lay) for lay in lays]
            found = StepArrays(steps).max_batches_within(
                np.arange(len(lays)), 1.0 / target, 1 << 22, chunked
            )
            one_by_one = [
                max_batch_within(hw, load, lay, 1.0 / target, 1 << 22, chunked, step)
                for lay, step in zip(lays, steps, strict=True)
            ]
            assert found.tolist() == one_by_one, (name, engine, target, chunked)
            searched += len(lays)
    assert searched > 100


def _both(monkeypatch: pytest.MonkeyPatch, *args: object, **kw: object) -> tuple[object, object]:
    monkeypatch.setattr(inference, "VECTORISED", True)
    vector = inference.decode_point.uncached(*args, **kw)  # type: ignore[arg-type]
    monkeypatch.setattr(inference, "VECTORISED", False)
    scalar = inference.decode_point.uncached(*args, **kw)  # type: ignore[arg-type]
    monkeypatch.setattr(inference, "VECTORISED", True)
    return vector, scalar


SPECS = [
    # (prompt, output, tok/s/user, chunked, engine keywords)
    (1000, 1000, None, False, {}),
    (8000, 1000, 30.0, False, {}),
    (2000, 500, 50.0, True, {}),
    (1000, 1000, 20.0, False, dict(graph_batch_sizes=GRAPHS)),
    (4000, 1000, 40.0, True, dict(draft_tokens=3, draft_acceptance=0.7)),
    (1000, 2000, 10.0, True, dict(token_budget=8192, max_sequences=256)),
    (1000, 1000, None, False, dict(max_sequences_per_accelerator=64, graph_batch_sizes=GRAPHS)),
    (3000, 800, 25.0, True, dict(whole_prompts=True, prefill_buckets=(1024, 4096))),
    (800, 3700, 15.0, True, dict(graph_batch_sizes=(128, 256, 384, 512), token_budget=8192)),
]


@pytest.mark.parametrize("system", SYSTEMS)
def test_decode_point_on_arrays_equals_the_layout_by_layout_search(
    system: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    hw = hardware(CATALOG, system)
    assert hw is not None
    feasible = 0
    for name, arch in CATALOG.models.items():
        precision = _precision(hw, arch)
        if precision is None:
            continue
        for prompt, output, target, chunked, engine in SPECS:
            args = (arch, hw, precision, "fp8", prompt, output, 1, target, 4, None, chunked)
            vector, scalar = _both(monkeypatch, *args, **engine)
            assert vector == scalar, (name, prompt, output, target, chunked, engine)
            feasible += bool(vector.feasible)  # type: ignore[attr-defined]
    assert feasible > 10


@pytest.mark.parametrize(
    ("model", "system"), [("llama-3.1-8b", "hgx-h100"), ("qwen3-30b-a3b", "hgx-b200")]
)
def test_decode_point_with_a_p99_target_on_arrays_equals_the_scalar_search(
    model: str, system: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The p99 TPOT's tail costs Python work per batch: the array search evaluates the layouts
    # with the highest rate bounds first and leaves out those that can change nothing.
    hw = hardware(CATALOG, system)
    assert hw is not None
    arch = CATALOG.models[model]
    precision = _precision(hw, arch)
    for target, whole, cv in ((20.0, False, 0.3), (50.0, True, 0.0)):
        args = (arch, hw, precision, "fp8", 1500, 600, 1, target, 1, None, True)
        kw = dict(tpot_quantile=0.99, whole_prompts=whole, prompt_cv=cv)
        vector, scalar = _both(monkeypatch, *args, **kw)
        assert vector == scalar and vector.feasible  # type: ignore[attr-defined]


def test_shipped_serving_points_estimate_the_same_on_arrays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every eighth calibration point (MLPerf, InferenceX, vendor runs: their engines' options)
    shipped = points()[::8]
    assert len(shipped) >= 8
    for point in shipped:
        monkeypatch.setattr(inference, "VECTORISED", True)
        inference.clear_physics_caches()
        vector = predict(point, CATALOG)
        monkeypatch.setattr(inference, "VECTORISED", False)
        inference.clear_physics_caches()
        scalar = predict(point, CATALOG)
        assert vector == scalar, point.id
    inference.clear_physics_caches()
