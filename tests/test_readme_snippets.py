"""Every Python snippet in the README runs as a script, from another directory (a user's
working directory is not the repository), and the set-up section stays as documented."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SNIPPETS = re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)


def test_readme_has_python_snippets() -> None:
    assert len(SNIPPETS) >= 2


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs_as_a_script(index: int, tmp_path: Path) -> None:
    script = tmp_path / f"snippet_{index}.py"
    script.write_text(SNIPPETS[index], encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "failed" not in result.stdout, result.stdout  # no sweep point failed


def test_setup_section_python_version_and_venv_first_then_two_commands() -> None:
    setup = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    first = setup.strip().split("\n\n", 1)[0]
    assert "Python >= 3.11" in first and "venv" in first
    blocks = re.findall(r"^```\n(.*?)^```", setup, flags=re.S | re.M)
    assert [b.strip() for b in blocks] == [
        "pip install -e . && planner plan",
        "pip install -e '.[test]' && python -m pytest -q",
    ]


def test_gitignore_covers_the_venv() -> None:
    lines = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert ".venv/" in lines
