"""Regenerate the golden plan JSON of every shipped scenario and named override.

Run only when a change is meant to change plans, and say why in the commit:
    python tests/golden/capture.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCENARIOS = ROOT / "planner" / "scenarios"


def cases() -> list[tuple[str, Path, str | None, bool]]:
    """(golden file stem, scenario path, override or None, relaxed) for every shipped scenario
    and named override, whole-unit plans, plus each scenario's LP relaxation (--relax)."""
    import yaml

    out: list[tuple[str, Path, str | None, bool]] = []
    for path in sorted(SCENARIOS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        out.append((path.stem, path, None, False))
        out.append((f"{path.stem}--relax", path, None, True))
        for name in sorted(data.get("overrides") or {}):
            out.append((f"{path.stem}--{name}", path, name, False))
    return out


def plan_json(path: Path, override: str | None, relaxed: bool) -> str:
    """The plan's JSON; for a plan that cannot meet its demand (the CLI exits 2), a JSON
    object holding the CLI's elastic diagnosis, so a what-if that becomes infeasible is pinned
    as such (and a change that makes it feasible again shows in the diff)."""
    cmd = [sys.executable, str(ROOT / "cli.py"), "plan", str(path), "--json"]
    if override:
        cmd += ["--scenario", override]
    if relaxed:
        cmd.append("--relax")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode == 2:
        return json.dumps({"infeasible": done.stderr.splitlines()}, indent=2) + "\n"
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr}")
    return done.stdout


if __name__ == "__main__":
    for stem, path, override, relaxed in cases():
        (HERE / f"{stem}.json").write_text(plan_json(path, override, relaxed), encoding="utf-8")
        print(stem)
