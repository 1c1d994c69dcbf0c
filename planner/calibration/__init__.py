"""Calibration: measured public runs (tables shipped as YAML beside this file, each point with its
source and what it used) against what the planner's models predict for them.

Each family module (`serving`, `training`, `rl`) exposes `rows() -> list[AccuracyRow]`;
`python bench/accuracy.py` prints every family's table and its mean absolute error, and the tests
assert each point within its family's stated tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AccuracyRow:
    """One measured point against the planner's prediction of it."""

    family: str  # e.g. "serving-dense", "serving-moe", "training"
    point: str  # short id of the measured run
    metric: str  # what is compared, with its unit ("output tok/s/GPU", "MFU", ...)
    published: float
    planner: float
    source: str
    known_miss: bool = False  # the point's table says why the planner does not reproduce it

    @property
    def error(self) -> float:
        """Signed relative error of the planner against the published figure."""
        return (self.planner - self.published) / self.published


def mean_absolute_error(rows: list[AccuracyRow]) -> float:
    """Mean of |planner - published| / published over the rows."""
    return sum(abs(r.error) for r in rows) / len(rows) if rows else 0.0


def format_table(rows: list[AccuracyRow]) -> str:
    """Per point: published vs planner vs error (`*`: a known miss, its reason in the table);
    then the MAE per family, with and without its known misses."""
    lines = [
        f"{'family':<16} {'point':<44} {'metric':<22} {'published':>11} {'planner':>11} {'error':>7}"
    ]
    for r in rows:
        lines.append(
            f"{r.family:<16} {r.point:<44} {r.metric:<22} {r.published:>11.4g} "
            f"{r.planner:>11.4g} {r.error:>+7.1%}{' *' if r.known_miss else ''}"
        )
    lines.append("")
    lines.append("* known miss (reason in planner/calibration/*.yaml; a strict expected failure)")
    for family in sorted({r.family for r in rows}):
        mine = [r for r in rows if r.family == family]
        line = f"MAE {family}: {mean_absolute_error(mine):.1%} over {len(mine)} points"
        kept = [r for r in mine if not r.known_miss]
        if not kept:
            line += " (all known misses)"
        elif len(kept) < len(mine):
            misses = len(mine) - len(kept)
            line += (
                f"; {mean_absolute_error(kept):.1%} without its {misses} known "
                f"miss{'es' if misses > 1 else ''}"
            )
        lines.append(line)
    return "\n".join(lines)


def check_layouts(path: Any, table: str, layouts: tuple[tuple[str, ...], ...]) -> None:
    """Validate every point's training layouts in the calibration table at `path` (its list
    `table`; each point's `layouts` paths that are present, e.g. ("layout",), ("trainer",
    "layout")) as a scenario's (planner.kinds.pretrain.LayoutSpec, strict): a bad value, e.g.
    an expert_tp that does not divide tp, is a ConfigError naming the file, line and field
    (review21: the tables' layouts were read unchecked, `int()` on expert_tp)."""
    from fleetcore.errors import ConfigError
    from fleetcore.yamlio import load_yaml, validate
    from planner.kinds.pretrain import LayoutSpec

    doc = load_yaml(path)
    problems = []
    for i, point in enumerate(doc.data.get(table) or []):
        for loc in layouts:
            part: Any = point
            for key in loc:
                part = part.get(key) if isinstance(part, dict) else None
            if part is None:
                continue
            try:
                validate(LayoutSpec, doc, (table, i, *loc))
            except ConfigError as exc:
                problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
