"""plan.dumps_rounded writes the bytes json.dumps(round_floats(value), indent, sort_keys=True)
writes: on every golden plan's data (their floats re-perturbed so the rounding matters) and on
the leaves and shapes json treats specially."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from planner.plan import dumps_rounded, round_floats

GOLDEN = Path(__file__).parent / "golden"


def _reference(value: object, indent: int = 2) -> str:
    return json.dumps(round_floats(value), indent=indent, sort_keys=True)


def _perturbed(value: object) -> object:
    """Every float times (1 + 1e-14): noise the 12-digit rounding must take away."""
    if isinstance(value, float):
        return value * (1 + 1e-14)
    if isinstance(value, dict):
        return {k: _perturbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_perturbed(v) for v in value]
    return value


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_golden_plans_give_json_bytes(path: Path) -> None:
    data = _perturbed(json.loads(path.read_text()))
    assert dumps_rounded(data) == _reference(data)
    assert dumps_rounded(data, 4) == _reference(data, 4)


def test_special_leaves_and_shapes() -> None:
    value = {
        "b": [1.0, -0.0, 0.0, 1e-320, 1.23456789012345e300, math.nan, math.inf, -math.inf],
        "a": {"z": None, "y": True, "x": False, "w": 3, "v": -7, "é": 'ünï\n"q"', "u": ""},
        "c": [[], {}, [[{}]], ("t", 1.5), {"k": []}],
        "d": {1: "numbers as keys", 2.5: [0.1]},
        "e": [np.float64(0.30000000000000004), {"deep": {"deeper": [1, [2, [3.3]]]}}],
        "f": 12345678901234567890,
    }
    assert dumps_rounded(value) == _reference(value)
    assert dumps_rounded([]) == "[]" and dumps_rounded(0.1 + 0.2) == "0.3"


def test_repeated_floats_written_once_keep_their_own_text() -> None:
    # Each distinct float's text is made once a walk and reused: equal floats share it (-0.0
    # after 0.0 and before it, NaNs, a sum equal to its literal), floats that differ keep their
    # own (2.0000000000001 and 2.0 differ; 1 + 1e-14 rounds to 1's text), nested or not.
    floats = [0.1 + 0.2, 0.3, -0.0, 0.0, -0.0, math.nan, math.nan, 2.0000000000001, 2.0]
    floats += [1.0 + 1e-14, 1.0, math.inf, -math.inf, 1e-320, 1e-320]
    value = {"a": floats, "b": floats[::-1], "c": [{"x": f, "y": [f, f]} for f in floats]}
    assert dumps_rounded(value) == _reference(value)
    assert dumps_rounded(floats[::-1]) == _reference(floats[::-1])


def test_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError):
        dumps_rounded({"a": [object()]})


def test_dicts_of_the_same_keys_in_other_orders_and_depths() -> None:
    # A key tuple's sorted layout is kept per depth and per insertion order: the same keys in
    # another order, or deeper (another indent), are written as json writes them.
    rows = [{"b": 1.5, "a": [i], "c": None} for i in range(3)]
    value = {
        "rows": rows,
        "turned": [{"c": None, "a": [1], "b": 2.5}, {"a": {"b": 1, "a": 2, "c": 3}}],
        "deep": [[{"b": 1.5, "a": [0], "c": None}]],
        "mixed": [{"a": 1}, {1: "a"}, {"a": 2}],
    }
    assert dumps_rounded(value) == _reference(value)
    assert dumps_rounded(value, 3) == _reference(value, 3)
