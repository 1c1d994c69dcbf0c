"""Accuracy of the planner's physical models against measured public runs.

    python bench/accuracy.py

Prints, per calibration point, published vs planner vs error, and the mean absolute error per
family. The points and their sources are in planner/calibration/*.yaml.
"""

from __future__ import annotations

import importlib

from planner.calibration import AccuracyRow, format_table

# Family modules under planner.calibration that expose rows(); each is added when its model is
# calibrated.
FAMILIES = ["serving", "training", "rl"]


def all_rows() -> list[AccuracyRow]:
    rows: list[AccuracyRow] = []
    for name in FAMILIES:
        try:
            module = importlib.import_module(f"planner.calibration.{name}")
        except ModuleNotFoundError:
            print(f"({name}: no calibration table yet)")
            continue
        rows.extend(module.rows())
    return rows


def main() -> int:
    """Print the table; a malformed calibration table (e.g. a bad layout field): its problems,
    each `file:line: field: message`, on stderr and exit 1, no traceback."""
    import sys

    from fleetcore.errors import ConfigError

    try:
        print(format_table(all_rows()))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
