"""Hash of the model HiGHS receives, for proving that a change to the build or the transfer
hands HiGHS the same model (session 19): per case, a SHA-256 over the arrays of HiGHS's
`getLp()` after planner/lp/transfer.py (costs, column and row bounds, the matrix's starts,
indexes and values, integrality), the columns' names in order, the row labels and names, every
variable dict's keys and column names, the cost terms and the flows. Run it on two trees and
compare the lines.

    python bench/model_hash.py              # bench fleets + every shipped scenario and override
    python bench/model_hash.py --fleets     # only bench/bench_lp.py's fleets (30 sites first)
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import numpy as np
import pulp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_lp import write_scenario  # noqa: E402

from planner.api import demands  # noqa: E402
from planner.lp.build import build, thaw  # noqa: E402
from planner.lp.transfer import transfer  # noqa: E402
from planner.scenario import SCENARIO_DIR, Scenario, load_scenario  # noqa: E402

FLEETS = [  # (sites, systems, period, horizon, scale)
    (30, 5, "1 quarter", "5 years", 1.0),
    (5, 5, "1 month", "2 years", 3.0),
    (4, 3, None, "365 days", 1.0),
]
VARIABLES = [
    "buy",
    "rent",
    "contract",
    "spot",
    "u",
    "site",
    "trainer",
    "system_choice",
    "running",
    "serves",
    "kv_moves",
    "owned_busy_h",
    "cores",
    "samples",
    "generates",
    "candidate",
    "done",
    "site_open",
    "cpu_buy",
    "cpu_rent",
]


def model_hash(scenario: Scenario) -> tuple[str, int, int]:
    """(hash, columns, rows) of the MIP model HiGHS receives for the scenario."""
    model = build(scenario, demands(scenario))
    transfer(model.prob, pulp.HiGHS(mip=True, msg=False))
    lp = model.prob.solverModel.getLp()
    digest = hashlib.sha256()
    matrix = lp.a_matrix_
    arrays = [lp.col_cost_, lp.col_lower_, lp.col_upper_, lp.row_lower_, lp.row_upper_]
    arrays += [matrix.start_, matrix.index_, matrix.value_, [int(t) for t in lp.integrality_]]
    for values in arrays:
        data = np.asarray(values)
        digest.update(str(data.dtype).encode() + data.tobytes())
    digest.update(str(matrix.format_).encode())
    digest.update("\n".join(v.name for v in model.prob.variables()).encode())
    digest.update("\n".join(f"{k}={r.name}" for k, r in model.constraints.items()).encode())
    for name in VARIABLES:
        held = getattr(model, name)
        digest.update(name.encode() + repr([(k, v.name) for k, v in held.items()]).encode())
    terms = [
        (t.component, t.datacenter, t.system, t.workload, [(c.name, a) for c, a in t.expr.items()])
        for t in model.terms
    ]
    digest.update(repr((terms, [t.expr.constant for t in model.terms])).encode())
    digest.update(repr(model.prob.objective.constant).encode())
    flows = [(f.kind, f.workload, f.src, f.dst, f.path, f.var.name) for f in model.flows]
    digest.update(repr(flows).encode())
    thaw()
    return digest.hexdigest()[:16], lp.num_col_, lp.num_row_


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fleets", action="store_true", help="only the bench fleets")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cases: list[tuple[str, Path, str | None]] = []
        for i, (sites, systems, period, horizon, scale) in enumerate(FLEETS):
            directory = Path(tmp) / f"fleet{i}"
            directory.mkdir()
            path = write_scenario(directory, sites, systems, 12, 2, period, horizon, scale)
            cases.append((f"fleet {sites}x{systems} {period} {horizon} x{scale:g}", path, None))
        if not args.fleets:
            for path in sorted(SCENARIO_DIR.glob("*.yaml")):
                data = yaml.safe_load(path.read_text(encoding="utf-8"))
                cases.append((path.stem, path, None))
                for name in sorted(data.get("overrides") or {}):
                    cases.append((f"{path.stem}--{name}", path, name))
        for name, path, override in cases:
            scenario = load_scenario(path, [override] if override else [])
            digest, columns, rows = model_hash(scenario)
            print(f"{name}: {digest} ({columns:,} columns, {rows:,} rows)", flush=True)


if __name__ == "__main__":
    main()
