"""The HTML report's pretraining jobs table (planner/htmlreport.py): the plan's pretrain_jobs
records with the figures of the text report's "Pretraining jobs" section (planner/kinds/pretrain.py
job_lines), units in the headers; no table for a plan without the records."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from test_rerate import PER_UNIT, squeezed

import planner
from planner.htmlreport import plan_html
from planner.report import format_plan


class Table(HTMLParser):
    """The header and body cell texts of the table with id `ident`."""

    def __init__(self, ident: str) -> None:
        super().__init__()
        self.ident = ident
        self.headers: list[str] = []
        self.rows: list[list[str]] = []
        self.found = False
        self._inside = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and dict(attrs).get("id") == self.ident:
            self._inside = self.found = True
        elif self._inside and tag == "tr":
            self.rows.append([])
        elif self._inside and tag in ("th", "td"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if not self._inside:
            return
        if tag in ("th", "td") and self._cell is not None:
            text = "".join(self._cell)
            (self.headers if tag == "th" else self.rows[-1]).append(text)
            self._cell = None
        elif tag == "table":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table(page: str, ident: str) -> Table:
    t = Table(ident)
    t.feed(page)
    return t


def test_the_html_report_shows_each_pretraining_job_as_the_text_report(tmp_path: Path) -> None:
    """The squeezed run of tests/test_rerate.py (rated 15 units, placed on ~2x that, re-rated):
    one row, each figure the record's and the one the text report prints."""
    plan = planner.solve(squeezed(tmp_path))
    (job,) = plan.pretrain_jobs or []
    jobs = table(plan_html(plan), "pretrain-jobs")
    assert jobs.found
    assert jobs.headers == [
        "run",
        "system",
        "rated (accelerators)",
        "rated rate (FLOP/s per unit)",
        "rate's job (accelerators)",
        "rate used (FLOP/s per unit)",
        "placed (accelerators)",
        "placed (units)",
        "placed rate (FLOP/s per unit)",
        "placed vs used",
        "status",
        "solves",
    ]
    (row,) = [r for r in jobs.rows if r]
    delta = job.placed_rate_per_unit_s / job.rate_per_unit_s - 1
    assert row == [
        "pt/pretrain",
        "hgx-h100",
        f"{15 * PER_UNIT:,}",
        f"{job.rated_rate_per_unit_s:.4g}",
        f"{job.rate_job_accelerators:,}",
        f"{job.rate_per_unit_s:.4g}",
        f"{job.placed_units * PER_UNIT:,}",
        f"{job.placed_units:,}",
        f"{job.placed_rate_per_unit_s:.4g}",
        f"{delta:+.2%}",
        job.status,
        f"{job.solves}",
    ]
    assert job.solves >= 2 and job.rate_job_accelerators > 15 * PER_UNIT
    # the text report's section (its lines wrapped) carries the same figures
    text = " ".join(format_plan(plan).split())
    line = text[text.index("pt/pretrain on hgx-h100: rated") :]
    line = line[: line.index(job.status) + len(job.status)]
    for cell in row[2:10]:
        assert cell in line, cell


def test_no_pretraining_jobs_table_without_records(tmp_path: Path) -> None:
    plan = planner.solve(squeezed(tmp_path))
    plan.pretrain_jobs = None
    page = plan_html(plan)
    assert not table(page, "pretrain-jobs").found and "Pretraining jobs" not in page
