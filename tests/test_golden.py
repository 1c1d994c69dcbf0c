"""Every shipped scenario and named override plans to the same JSON, byte for byte, as the golden
copy in tests/golden/ (regenerate with `python tests/golden/capture.py` only for a change that is
meant to change plans, and say why in the commit)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))
from capture import HERE, cases, plan_json  # noqa: E402


@pytest.mark.parametrize("case", cases(), ids=lambda c: c[0])
def test_plan_json_matches_golden(case: tuple[str, Path, str | None, bool]) -> None:
    stem, path, override, relaxed = case
    expected = (HERE / f"{stem}.json").read_text(encoding="utf-8")
    assert plan_json(path, override, relaxed) == expected
