"""What the partner families' tests share (tests/test_partners61.py, test_partners60.py,
test_partners51.py): the planner's figure of a point, cached per process, and the two checks every
family makes the same way, a known miss's stated head and a family's summary."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache

import pytest

from hardware.catalog import load_catalog
from planner.calibration.serving import ServingPoint, point_value, points

CATALOG = load_catalog()
POINTS = points()
BY_ID = {p.id: p for p in POINTS}


@cache
def value(pid: str) -> float:
    """The planner's figure of point `pid` on the shipped catalog."""
    return point_value(BY_ID[pid], CATALOG)


@cache
def steady_value(pid: str) -> float:
    """The planner's steady rate for point `pid` (its MLPerf run's share left out: a partner's
    run may issue another query count than its twin's, planner/calibration/serving.run_factor)."""
    return point_value(BY_ID[pid], CATALOG, run=False)


def assert_miss_head(point: ServingPoint) -> None:
    """A known miss is out of its band and its text opens with its error and both figures."""
    err = value(point.id) / point.published - 1
    assert abs(err) > point.tolerance, point.id
    head = f"{100 * err:+.1f}% ({value(point.id):,.0f} vs {point.published:,.0f})"
    assert point.known_miss.startswith(head), (point.id, head)


def assert_summary(
    family: Sequence[ServingPoint], inside_n: int, miss_n: int, mae_in: float, mae_all: float
) -> set[str]:
    """Every out-of-band point of `family` is a known miss and every known miss is out of band;
    the counts and mean absolute errors are the ones its yaml header and docs/models.md quote.
    Returns the misses' ids."""
    errors = {p.id: value(p.id) / p.published - 1 for p in family}
    miss = {p.id for p in family if abs(errors[p.id]) > p.tolerance}
    assert miss == {p.id for p in family if p.known_miss}
    inside = [abs(errors[p.id]) for p in family if p.id not in miss]
    assert (len(inside), len(miss)) == (inside_n, miss_n)
    assert sum(inside) / len(inside) == pytest.approx(mae_in, abs=0.0005)
    assert sum(abs(e) for e in errors.values()) / len(errors) == pytest.approx(mae_all, abs=0.0005)
    return miss


def assert_grouped_or_why_not(point: ServingPoint, twin_pid: str, not_grouped: set[str]) -> None:
    """A partner known miss is its twin's (grouped, with the step breakdown) unless the family
    lists it as not, when its twin is in band and the text says so."""
    assert_miss_head(point)
    if point.id in not_grouped:
        assert not BY_ID[twin_pid].known_miss, twin_pid
        assert f"not its twin's miss ({twin_pid}" in point.known_miss
    else:
        assert BY_ID[twin_pid].known_miss, twin_pid
        assert f"grouped with its twin's miss ({twin_pid}:" in point.known_miss
        assert "decode step" in point.known_miss  # the step breakdown


def summary_key(point: ServingPoint) -> str:
    """The summary_results.json key (row index) a v6.0 / v5.1 partner point's source cites."""
    keys = re.findall(r'summary_results\.json key "?(\d+)', point.source)
    assert len(set(keys)) == 1, point.id
    return keys[0]


def per_gpu(rows: Mapping[str, Mapping[str, str]], key: str) -> float:
    """A row's published result a GPU: Result / total_accelerators."""
    row = rows[key]
    return float(row["Result"]) / int(row["total_accelerators"])
