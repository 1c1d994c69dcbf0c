"""MLPerf Server (and Interactive) over Offline: the measured ratio against the planner's (analysis;
no model change).

Two tables.

1. Every (system, model, submitter, round) of planner/calibration/serving.yaml that has both an
   Offline and a Server or Interactive point: the measured ratio (published Server / published
   Offline), the planner's (its Server figure / its Offline figure, each as bench/accuracy.py
   computes it), and the planner's ratio split into its terms: the M/D/c utilisation `rho` (the
   TTFT bound's queue, docs/models.md "Server mode"), the run factor of a finite MLPerf run
   (`run_factor`) and what is left, the decode rate at the Server batch (its p99 TPOT bound) over
   the Offline batch's. Beside them the run's own mean / p99 TPOT and mean / p99 TTFT from its
   `mlperf_log_summary.txt` (bench/data/mlperf_server_offline_logs.csv, matched on model, scenario
   and ratio) against the planner's mean TPOT, bounded TPOT and mean TTFT.

2. Every published pair of the v4.1 and v5.1 results repositories (closed division, Llama 2 70B,
   Llama 3.1 8B / 405B, DeepSeek-R1, Mixtral 8x7B; both runs VALID), grouped by round, model,
   scenario and accelerator: how many submitters, the median and range of their measured ratios,
   how close their p99 TPOT and p99 TTFT came to MLPerf's bounds, and the planner's ratio for that
   model and accelerator (from the calibration pair; H100, which has no Server point, from the
   H200 pair's specs on hgx-h100).

    PYTHONPATH=$PWD python bench/server_offline_ratio.py
"""

from __future__ import annotations

import csv
import dataclasses
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

from hardware.catalog import Catalog, load_catalog
from planner.calibration.serving import (
    ServingPoint,
    planner_value,
    points,
    predict,
    run_factor,
)

LOGS = Path(__file__).with_name("data") / "mlperf_server_offline_logs.csv"
SOURCES = (
    "mlcommons/inference_results_v4.1 @198fc467, mlcommons/inference_results_v5.1 @965182b0: "
    "closed/<submitter>/results/<system>/<model>/<scenario>/performance/run_1/"
    "mlperf_log_summary.txt"
)
# calibration ids spell the models this way; the results repositories' directory names the other
MODEL_IDS = {
    "llama2-70b-99": "llama2-70b",
    "llama3.1-405b": "llama31-405b",
    "llama3.1-8b": "llama31-8b",
    "deepseek-r1": "dsr1",
    "mixtral-8x7b": "mixtral",
}
# accelerator of a results directory's system name, first match (GB before B, GH200 before H200)
ACCELERATORS = (
    ("GB300", "gb300"),
    ("GB200", "gb200"),
    ("GH200", "gh200"),
    ("B300", "b300"),
    ("B200", "b200"),
    ("H200_NVL", "h200-nvl"),
    ("H200-NVL", "h200-nvl"),
    ("H200", "h200"),
    ("H100_NVL", "h100-nvl"),
    ("H100", "h100"),
    ("MI325X", "mi325x"),
    ("MI300X", "mi300x"),
    ("L40S", "l40s"),
    ("RTX_PRO_6000", "rtx-pro-6000"),
    ("BMG", "arc-b60"),
)


@dataclass(frozen=True)
class LogPair:
    """One submitter's Offline and Server (or Interactive) runs of a model on one system."""

    round: str
    submitter: str
    system: str
    model: str  # the results directory's name (llama2-70b-99, ...)
    scenario: str  # Server or Interactive
    offline_tokens_per_s: float  # the Offline log's "Tokens per second", whole system
    server_tokens_per_s: float  # the Server log's "Completed tokens per second"
    ttft_mean_s: float
    ttft_p99_s: float
    tpot_mean_ms: float
    tpot_p99_ms: float
    ttft_bound_s: float  # the log's "Test Parameters Used": ttft_latency
    tpot_bound_ms: float  # tpot_latency

    @property
    def ratio(self) -> float:
        return self.server_tokens_per_s / self.offline_tokens_per_s

    @property
    def accelerator(self) -> str:
        for token, name in ACCELERATORS:
            if token in self.system.upper():
                return name
        return "other"


def log_pairs(path: Path = LOGS) -> list[LogPair]:
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [
        LogPair(
            r["round"],
            r["submitter"],
            r["system"],
            r["model"],
            r["scenario"],
            float(r["offline_tps"]),
            float(r["server_tps"]),
            float(r["ttft_mean_s"]),
            float(r["ttft_p99_s"]),
            float(r["tpot_mean_ms"]),
            float(r["tpot_p99_ms"]),
            float(r["ttft_bound_s"]),
            float(r["tpot_bound_ms"]),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class PlannerPair:
    """The planner's Offline and Server figures of one calibration pair, and its ratio's terms."""

    offline: ServingPoint
    server: ServingPoint
    offline_value: float  # output tok/s per accelerator, as bench/accuracy.py
    server_value: float
    server_utilisation: float  # rho: the M/D/c queue's busy fraction at the TTFT bound
    run_share: float  # run_factor: the finite run's share of the steady rate (1 without one)
    tpot_mean_ms: float  # the Server estimate's mean TPOT (step + prefill chunk)
    tpot_bound_ms: float  # its TPOT at the bounded percentile (mean + tail)
    ttft_mean_s: float  # prefill + the M/D/c mean wait
    offline_batch: int
    server_batch: int

    @property
    def measured_ratio(self) -> float:
        return self.server.published / self.offline.published

    @property
    def planner_ratio(self) -> float:
        return self.server_value / self.offline_value if self.offline_value > 0 else 0.0

    @property
    def batch_term(self) -> float:
        """What the planner's ratio keeps beside rho and the run share: the decode rate (with its
        prefill share) of the Server layout and batch over the Offline's."""
        return self.planner_ratio / (self.server_utilisation * self.run_share)

    @property
    def error(self) -> float:
        return self.planner_ratio / self.measured_ratio - 1.0


def calibration_pairs() -> list[tuple[ServingPoint, ServingPoint]]:
    """(Offline, Server or Interactive) points of one system, model, submitter and round: ids
    that differ only in their offline / server / interactive token (mlperf51-b200-dsr1-offline,
    mlperf61-b200-dsr1-offline-nebius)."""
    by_id = {p.id: p for p in points()}
    out = []
    for p in by_id.values():
        if scenario_of(p.id) != "offline":
            continue
        for scenario in ("server", "interactive"):
            q = by_id.get(re.sub(r"-offline(?=-|$)", f"-{scenario}", p.id, count=1))
            if q is not None:
                out.append((p, q))
    return out


def scenario_of(point_id: str) -> str:
    """offline, server or interactive: the id's scenario token ("" if none)."""
    m = re.search(r"-(offline|server|interactive)(?=-|$)", point_id)
    return m.group(1) if m else ""


def planner_pair(offline: ServingPoint, server: ServingPoint, catalog: Catalog) -> PlannerPair:
    eo = predict(offline, catalog)
    es = predict(server, catalog)
    vs = planner_value(server, es)
    share = 1.0
    if server.run_queries is not None and es.output_tokens_per_s_per_accelerator:
        share = run_factor(server, es, es.output_tokens_per_s_per_accelerator)
    bound = es.step_terms_s.get("tpot_tail", 0.0) + (es.tpot_s or 0.0)
    return PlannerPair(
        offline,
        server,
        planner_value(offline, eo),
        vs,
        es.server_utilisation or 1.0,
        share,
        (es.tpot_s or 0.0) * 1e3,
        bound * 1e3,
        es.ttft_s or 0.0,
        eo.max_batch or 0,
        es.max_batch or 0,
    )


def h100_pair(scenario: str) -> tuple[ServingPoint, ServingPoint]:
    """Llama 2 70B on one HGX H100 (the v4.1 held-out runs): the fitted v5.0 Offline point
    (mlperf5-h100-llama2-70b-offline, no engine caps: the planner's layout) and, for Server or
    Interactive, the H200 calibration point's workload (MLPerf's bounds, the dataset's lengths)
    on hgx-h100 without the Nebius engine's caps, with the H100 point's 292 output tokens; no
    finite-run share (the v4.1 Server runs lasted at least 2,400 s)."""
    by_id = {p.id: p for p in points()}
    off = by_id["mlperf5-h100-llama2-70b-offline"]
    srv = by_id[f"mlperf51-h200-llama2-70b-{scenario}"]
    spec = srv.spec.model_copy(update={"engine": None, "output_tokens": off.spec.output_tokens})
    return off, dataclasses.replace(
        srv, id=f"h100-llama2-70b-{scenario}", system="hgx-h100", spec=spec, run_queries=None
    )


def accelerator_of(point_id: str) -> str:
    """The accelerator token of a calibration id (mlperf51-b200-..., mlperf61-mi355x-dell-...)."""
    return point_id.split("-")[1]


def model_of(point_id: str) -> str:
    for model in MODEL_IDS.values():
        if f"-{model}-" in point_id:
            return model
    return "gptoss" if "-gptoss-" in point_id else "other"


def matched_log(pair: PlannerPair, logs: list[LogPair]) -> LogPair | None:
    """The run's log pair of a v5.1 calibration pair: same model, scenario and accelerator,
    measured ratio within 0.3% (the calibration figures are the same logs' tokens/s, per
    accelerator); None for the other rounds' points."""
    if not pair.server.id.startswith(("mlperf51-", "partners51-")):
        return None  # the logs table holds v4.1 and v5.1 runs only
    scenario = scenario_of(pair.server.id)
    model = model_of(pair.server.id)
    near = [
        x
        for x in logs
        if x.round == "v5.1"
        and MODEL_IDS.get(x.model) == model
        and x.accelerator == accelerator_of(pair.server.id)
        and x.scenario.lower() == scenario
        and abs(x.ratio / pair.measured_ratio - 1) < 0.003
    ]
    return min(near, key=lambda x: abs(x.ratio - pair.measured_ratio), default=None)


@dataclass(frozen=True)
class Group:
    """The published pairs of one round, model, scenario and accelerator."""

    round: str
    model: str
    scenario: str
    accelerator: str
    pairs: tuple[LogPair, ...]

    @property
    def median_ratio(self) -> float:
        return statistics.median(p.ratio for p in self.pairs)

    @property
    def tpot_p99_of_bound(self) -> float:
        """The median run's p99 TPOT over MLPerf's bound."""
        return statistics.median(p.tpot_p99_ms / p.tpot_bound_ms for p in self.pairs)

    @property
    def ttft_p99_of_bound(self) -> float:
        return statistics.median(p.ttft_p99_s / p.ttft_bound_s for p in self.pairs)


def groups(logs: list[LogPair]) -> list[Group]:
    keyed: dict[tuple[str, str, str, str], list[LogPair]] = {}
    for x in logs:
        keyed.setdefault((x.round, x.model, x.scenario, x.accelerator), []).append(x)
    return [Group(*k, tuple(v)) for k, v in sorted(keyed.items())]


def planner_ratios(catalog: Catalog) -> dict[tuple[str, str, str], float]:
    """The planner's Server/Offline ratio per (model id, scenario, accelerator) of the first
    calibration pair of that model on that accelerator, H100 from h100_pair."""
    out: dict[tuple[str, str, str], float] = {}
    for off, srv in calibration_pairs():
        key = (model_of(srv.id), scenario_of(srv.id), accelerator_of(srv.id))
        if key not in out:
            out[key] = planner_pair(off, srv, catalog).planner_ratio
    for scenario in ("server", "interactive"):
        out[("llama2-70b", scenario, "h100")] = planner_pair(
            *h100_pair(scenario), catalog
        ).planner_ratio
    return out


def error_by_kind(pairs: list[PlannerPair]) -> dict[tuple[str, str], list[float]]:
    """The planner's ratio errors per (model id, scenario) of the calibration pairs."""
    out: dict[tuple[str, str], list[float]] = {}
    for pp in pairs:
        key = (model_of(pp.server.id), scenario_of(pp.server.id))
        out.setdefault(key, []).append(pp.error)
    return out


def main() -> None:
    catalog = load_catalog()
    logs = log_pairs()
    computed = [planner_pair(off, srv, catalog) for off, srv in calibration_pairs()]
    print("1. Calibration pairs: measured vs planner Server/Offline, the planner's terms, the")
    print("   run's log (mean/p99 TPOT ms, mean/p99 TTFT s) against the planner's")
    print(
        f"{'server point':46} {'meas':>6} {'plan':>6} {'err':>7} {'rho':>6} {'run':>6} "
        f"{'batch':>6} {'B off/srv':>11} {'TPOT meas':>13} {'plan':>13} {'TTFT meas':>11} "
        f"{'plan':>6}"
    )
    for pp in computed:
        srv = pp.server
        log = matched_log(pp, logs)
        measured = (
            f"{log.tpot_mean_ms:6.1f}/{log.tpot_p99_ms:6.1f} {log.ttft_mean_s:5.2f}/{log.ttft_p99_s:5.2f}"
            if log
            else f"{'':13} {'':11}"
        )
        print(
            f"{srv.id:46} {pp.measured_ratio:6.3f} {pp.planner_ratio:6.3f} {pp.error:+7.1%} "
            f"{pp.server_utilisation:6.3f} {pp.run_share:6.3f} {pp.batch_term:6.3f} "
            f"{pp.offline_batch:5d}/{pp.server_batch:<5d} {measured[:13]} "
            f"{pp.tpot_mean_ms:6.1f}/{pp.tpot_bound_ms:6.1f} {measured[14:]} {pp.ttft_mean_s:6.3f}"
        )
    print()
    print("   by model and scenario: pairs, mean error, mean absolute error, mean batch term")
    for (model, scenario), errors in sorted(error_by_kind(computed).items()):
        batch = statistics.mean(
            p.batch_term
            for p in computed
            if (model_of(p.server.id), scenario_of(p.server.id)) == (model, scenario)
        )
        print(
            f"   {model:12} {scenario:11} {len(errors):3d} {statistics.mean(errors):+7.1%} "
            f"{statistics.mean(abs(e) for e in errors):6.1%} {batch:6.3f}"
        )
    print()
    print("2. Published pairs by round, model, scenario, accelerator: submitters, measured ratio")
    print("   median [min, max], median p99 TPOT and p99 TTFT over MLPerf's bounds, planner ratio")
    ratios = planner_ratios(catalog)
    for g in groups(logs):
        lo = min(p.ratio for p in g.pairs)
        hi = max(p.ratio for p in g.pairs)
        plan = ratios.get((MODEL_IDS[g.model], g.scenario.lower(), g.accelerator))
        planned = f"{plan:6.3f} {plan / g.median_ratio - 1:+7.1%}" if plan else ""
        print(
            f"{g.round} {g.model:14} {g.scenario:11} {g.accelerator:12} {len(g.pairs):3d} "
            f"{g.median_ratio:6.3f} [{lo:5.3f}, {hi:5.3f}] TPOT {g.tpot_p99_of_bound:4.2f} "
            f"TTFT {g.ttft_p99_of_bound:4.2f}  {planned}"
        )
    print(f"(logs: {SOURCES})")


if __name__ == "__main__":
    main()
