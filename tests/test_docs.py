"""Documentation made from the code stays in step with it: the constraint families and the
verification rules in docs/lp.md, the plan JSON keys in the README (regenerate with
`python -m planner.docgen`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from planner.docgen import BLOCKS, render
from planner.kinds import KINDS
from planner.lp.model import families_in_order
from planner.plan import TABLES, Plan

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("path", sorted(BLOCKS), ids=lambda p: p.name)
def test_generated_blocks_are_current(path: Path) -> None:
    assert path.read_text(encoding="utf-8") == render(path), "run: python -m planner.docgen"


def test_lp_doc_names_every_registered_family_exactly() -> None:
    text = (ROOT / "docs" / "lp.md").read_text(encoding="utf-8")
    named = re.findall(r"^- `([a-z_]+):[a-z_:\[\]0-9]+`", text, flags=re.MULTILINE)
    assert named == [f.name for f in families_in_order(list(KINDS))]


def test_readme_plan_keys_are_the_json_keys() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- plan-keys:begin -->")[1].split("<!-- plan-keys:end -->")[0]
    keys = re.findall(r"^\| `([a-z_]+)` \|", block, flags=re.MULTILINE)
    plan = Plan.from_dict(
        {
            "status": "optimal",
            "scenario": "x",
            "total_cost_usd": 0.0,
            "lower_bound_usd": 0.0,
            "lp_relaxation_usd": 0.0,
            "gap": 0.0,
            "left_out": [],
            "solver": {
                "name": "highs",
                "method": "choose",
                "mip_gap_target": 0.01,
                "variables": 0,
                "constraints": 0,
                "proof": "mip",
            },
            **{name: [] for name in TABLES},
        }
    )
    assert sorted(keys) == sorted(plan.to_dict())
