"""The arithmetic from an MLPerf Inference log to a calibration point, shared by the check
families built from 8-GPU systems' mlperf_log_summary.txt (h200-checks, b300-checks,
mi325x-checks) and the 72-GPU racks' report.txt (rubin-checks)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest

from planner.calibration.serving import ServingPoint


def check_points_from_logs(
    points: Iterable[ServingPoint],
    logs: Mapping[str, tuple[float, float]],
    abs_tok_s: float,
    gpus: int = 8,
) -> None:
    """Every point has a log, and each point's published tok/s per GPU is the log's tokens/s /
    `gpus` (to `abs_tok_s`, the yaml's rounding) and its output_tokens the log's tokens/s /
    samples/s."""
    by_id = {p.id: p for p in points}
    assert set(logs) == set(by_id)
    for pid, (tokens_per_s, samples_per_s) in logs.items():
        p = by_id[pid]
        assert p.published == pytest.approx(tokens_per_s / gpus, abs=abs_tok_s), pid
        assert p.spec.output_tokens == round(tokens_per_s / samples_per_s), pid
