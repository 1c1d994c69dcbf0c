"""Generated documentation: the constraint families in docs/lp.md, the plan JSON keys in the
README and the scenario file reference (docs/scenario-reference.md) are made from the code (the family registry, the plan's row types), between marker
comments. `python -m planner.docgen` rewrites them; tests/test_docs.py fails when they differ."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from planner.authoring import reference_markdown
from planner.kinds import KINDS
from planner.lp import constraints as _constraints  # noqa: F401  (registers the families)
from planner.lp.model import families_in_order
from planner.plan import plan_keys_markdown
from planner.verify import RULES

ROOT = Path(__file__).resolve().parent.parent


def families_markdown() -> str:
    """One entry per registered constraint family, in build order: label, formula, and what
    the report and diagnosis know of it."""
    out = []
    for fam in families_in_order(list(KINDS)):
        notes = []
        if fam.resource:
            notes.append("resource (reported when binding)")
        if fam.price_unit:
            notes.append(f"shadow price in `{fam.price_unit}`")
        if fam.slack_unit:
            notes.append(f"phase-1 slack in {fam.slack_unit}")
        if fam.kind:
            notes.append(f"{fam.kind} only: planner/kinds/{fam.kind}.py")
        formula = inspect.cleandoc(fam.formula).replace("\n", "\n  ")
        tail = f" _({'; '.join(notes)})_" if notes else ""
        out.append(f"- `{fam.name}:{fam.entity}`{tail}\n  ```\n  {formula}\n  ```")
    return "\n".join(out)


def rules_markdown() -> str:
    """One entry per verification rule: its name and the formula it recomputes."""
    return "\n".join(f"- `{r.name}`: {r.formula}" for r in RULES.values())


BLOCKS = {
    ROOT / "docs" / "lp.md": {"families": families_markdown, "rules": rules_markdown},
    ROOT / "README.md": {"plan-keys": plan_keys_markdown},
    ROOT / "docs" / "scenario-reference.md": {"scenario-fields": reference_markdown},
}


def render(path: Path) -> str:
    """The file's text with every generated block made anew."""
    text = path.read_text(encoding="utf-8")
    for name, make in BLOCKS[path].items():
        begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
        found = re.search(re.escape(begin) + ".*?" + re.escape(end), text, flags=re.DOTALL)
        if found is None:
            raise ValueError(f"{path}: no {begin.strip()} ... {end} markers")
        text = text[: found.start()] + begin + make() + "\n" + end + text[found.end() :]
    return text


if __name__ == "__main__":
    for file in BLOCKS:
        file.write_text(render(file), encoding="utf-8")
        print(f"updated {file.relative_to(ROOT)}")
