"""Which TensorRT-LLM release should a plan assume for MoE serving when it names none? (analysis,
session 32 moeserve; the answer shipped: the default stays the parametric 2025 fit, docs/models.md
"Which release a plan assumes").

For every MoE serving calibration point (planner/calibration/serving.yaml) this prints the
planner's error three ways: as the point is written (its engine.tensorrt_llm_version, if any);
with no release (the parametric MoE terms fitted on 2025 runs, the default); and with a default
release (`release`, the newest measured by default: 1.3.0rc10) given to the points that name none
(calibration.serving.with_release; a point naming its release keeps it). Then per family the mean
absolute error of each column, and for the points naming a release the table reads, the
Offline/Server and Interactive rows apart.

    PYTHONPATH=$PWD python bench/moe_default_release.py [release] [family-or-id substring ...]
"""

from __future__ import annotations

import statistics
import sys

from hardware.catalog import load_catalog
from planner.calibration.serving import parametric_moe, point_value, points, with_release
from planner.demand.moe_kernels import RELEASE_PATTERN

NEWEST = "1.3.0rc10"  # the newest release planner/data/moe_kernels.csv measures


def main(argv: list[str]) -> int:
    import re

    args = argv[1:]
    release = args.pop(0) if args and re.match(RELEASE_PATTERN, args[0]) else NEWEST
    catalog = load_catalog()
    errors: dict[str, list[tuple[float, float, float]]] = {}
    named: dict[str, list[tuple[float, float]]] = {"offline/server": [], "interactive": []}
    print(f"{'family':24} {'point':46} {'names':9} {'as-is':>8} {'none':>8} {release:>10}")
    for p in points():
        model = p.spec.model
        if model is None or catalog.models[model].moe is None:
            continue
        if args and not any(a in p.family or a in p.id for a in args):
            continue
        own = p.spec.engine.tensorrt_llm_version if p.spec.engine is not None else None
        as_is, none, default = (
            point_value(q, catalog) / p.published - 1.0
            for q in (p, parametric_moe(p), with_release(p, release))
        )
        errors.setdefault(p.family, []).append((as_is, none, default))
        if own is not None and as_is != none:
            named["interactive" if "interactive" in p.id else "offline/server"].append(
                (as_is, none)
            )
        miss = " *" if p.known_miss else ""
        print(
            f"{p.family:24} {p.id:46} {own or '-':9} {as_is:+8.1%} {none:+8.1%} "
            f"{default:+10.1%}{miss}"
        )
    print()
    for family, errs in errors.items():
        mae = [statistics.mean(abs(e[i]) for e in errs) for i in range(3)]
        print(
            f"MAE {family:24} {len(errs):3} points: as-is {mae[0]:6.1%}, none {mae[1]:6.1%}, "
            f"{release} {mae[2]:6.1%}"
        )
    print()
    for kind, pairs in named.items():
        if not pairs:
            continue
        table, none = [e[0] for e in pairs], [e[1] for e in pairs]
        within = sum(abs(e) <= 0.15 for e in table)
        print(
            f"points naming a release the table reads, {kind} ({len(pairs)}): with the table "
            f"MAE {statistics.mean(map(abs, table)):.1%} (median {statistics.median(table):+.1%}, "
            f"{within} within 15%); parametric MAE {statistics.mean(map(abs, none)):.1%} "
            f"({min(none):+.1%} .. {max(none):+.1%})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
