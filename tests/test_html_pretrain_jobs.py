"""The HTML report's pretraining jobs table (planner/htmlreport.py): the plan's pretrain_jobs
records with the figures of the text report's "Pretraining jobs" section (planner/kinds/pretrain.py
job_lines), units in the headers; no table for a plan without the records."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from test_capacity_over_time import scenario
from test_lp import site
from test_rerate import PER_UNIT, squeezed

import planner
from planner.htmlreport import plan_html
from planner.kinds.base import RERATE_TOL
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


def squeezed_7t(tmp_path: Path) -> planner.Scenario:
    """tests/test_rerate.py's squeezed window (two quarters, the H100s arrive after the first)
    with 7T tokens of the 70B: the whole window's job is 53 units (TP4 x DP106, FSDP over 106,
    1,082 tokens/s an accelerator); in the second quarter alone it needs ~2x, and on 109 units
    the 4M-token batch (488 sequences) no longer spreads over FSDP's DP ranks: TP8 x DP109 at
    1,031 tokens/s, 4.7% lower, so the run is re-rated (beyond RERATE_TOL 0.5%)."""
    job = {
        "kind": "pretrain",
        "model": "llama-3.1-70b",
        "tokens": "7T",
        "deadline": "182.5 days",
        "global_batch_tokens": "4M",
    }
    return scenario(
        tmp_path,
        {"a": site({"hgx-h100": {"max_units": 1000}}, price=0.0)},
        {"pt": job},
        {"horizon": "182.5 days", "period": "1 quarter", "pricing": "amortised"},
        catalog={"systems": {"hgx-h100": {"lead_time": "1 quarter"}}},
        name="squeeze7t",
    )


def test_the_html_report_shows_each_pretraining_job_as_the_text_report(tmp_path: Path) -> None:
    """A squeezed run that is re-rated (rated 53 units, placed on ~2x that): one row, each
    figure the record's and the one the text report prints. Until session 33 this was
    tests/test_rerate.py's squeezed 2T run (rated 15 units, TP2 x DP30 x CP2, 3.4% above its
    2x job's TP4 rate); on pergemm each linear's own GEMM shape leaves TP4 within 0.3% of it
    (1,086 tokens/s an accelerator on 120 and 1,084 on 240), inside RERATE_TOL, so that run is
    no longer re-rated (solved once) and the table would show no re-rate."""
    plan = planner.solve(squeezed_7t(tmp_path))
    (job,) = plan.pretrain_jobs or []
    assert job.rated_accelerators == 53 * PER_UNIT
    assert job.rate_per_unit_s < job.rated_rate_per_unit_s * (1 - RERATE_TOL)
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
        f"{53 * PER_UNIT:,}",
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
    assert job.solves >= 2 and job.rate_job_accelerators > 53 * PER_UNIT
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
