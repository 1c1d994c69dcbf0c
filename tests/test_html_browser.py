"""The HTML report opened in a real headless browser (Debian's chromium, installed by .ci/run;
no browser is downloaded). Chromium's own headless mode renders the file: its DOM dump must
show the JSON's headline and fleet figures, its log no console message, and its screenshot
must not be blank. The screenshot is kept in the test's tmp dir (a CI artefact).

Skipped, saying why, only when no chromium is installed locally (set CHROMIUM to a binary to
use another one)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

import cli
from fleetcore.tables import usd

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def chromium() -> str | None:
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


BROWSER = chromium()
pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no chromium on this machine (.ci/run installs Debian's chromium with apt-get; "
    "or set CHROMIUM=/path/to/chrome)",
)


def run_browser(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    flags = [
        "--headless",
        "--no-sandbox",  # CI runs as root in a container
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    return subprocess.run(
        [BROWSER, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


class Cells(HTMLParser):
    """Text by element id, and the cell texts of each table by its id."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self._stack: list[str | None] = []  # the id (or None) of each open element
        self._table: str | None = None
        self._cell: list[str] | None = None

    VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source"}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id")
        if tag not in self.VOID:
            self._stack.append(ident)
        if ident:
            self.text.setdefault(ident, "")
        if tag == "table":
            self._table = ident
            self.tables[ident or ""] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.VOID and self._stack:
            self._stack.pop()
        if tag == "td" and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for ident in self._stack:
            if ident:
                self.text[ident] += data


def test_html_report_renders_in_a_real_browser(tmp_path: Path, capsys) -> None:
    from PIL import Image

    page = tmp_path / "plan.html"
    assert cli.main(["plan", "frontier-lab", "--html", str(page), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)

    dump = run_browser(["--dump-dom", page.as_uri()], tmp_path)
    assert dump.returncode == 0, dump.stderr[-2000:]
    assert "CONSOLE" not in dump.stderr, dump.stderr  # no console messages, no script errors
    dom = Cells()
    dom.feed(dump.stdout)
    assert dom.text["total-cost"] == usd(plan["total_cost_usd"])
    assert dom.text["headline"].startswith(f"{plan['status']}: total cost over the horizon")
    fleet = [r for r in dom.tables["fleet"] if r]
    in_service = [f for f in plan["fleet"] if f["units"] > 0]
    assert [(r[0], r[1], r[2]) for r in fleet[: len(in_service)]] == [
        (f["datacenter"], f["system"], f"{f['units']:,.0f}") for f in in_service
    ]
    nvl = next(f for f in plan["fleet"] if f["system"] == "gb200-nvl72")
    assert f"Buy {nvl['new_units']:,.0f} gb200-nvl72 at {nvl['datacenter']}" in dom.text["decision"]

    shot = tmp_path / "plan.png"
    result = run_browser(
        ["--window-size=1100,1600", f"--screenshot={shot}", page.as_uri()], tmp_path
    )
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1100, 1600)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 20  # text, bars and rules: not a blank page
    non_white = sum(n for n, rgb in colours if rgb != (255, 255, 255))
    assert non_white > 0.02 * 1100 * 1600
    # the idle bar's grey (#b0b0b0) is drawn
    assert any(rgb == (0xB0, 0xB0, 0xB0) for _, rgb in colours)
