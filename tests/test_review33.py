"""Session 33 review: last session's hostile re-read, each finding fixed with a test that fails
before the fix.

1. A catalog overlay that changes a figure no longer keeps the shipped source for it: the
   figure's source names the overlay's file and line (and the overlay's own source text, if it
   writes one), so `plan --explain` / `estimate pretrain` quote no source for a number it did
   not produce.
2. `fused_grouped_gemm` on a dense model's layout is refused on its file, line and field.
3. MoE training in BF16 on H100 says what its one calibration row measures (+41.7%).
4. MOE_NO_TABLE_CAVEAT's "1.5-2.0x" is recomputed from the rows it summarises.
5. `_tighten` returns a float bound, as its annotation now says.
"""

from __future__ import annotations

import typing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import cli
import planner
from hardware.catalog import OVERLAY_SOURCE, UNSOURCED, load_catalog, overlay_source_head
from planner.api import demands

# -- 1. a catalog overlay's figures quote the overlay, not the shipped source -----------------

FRACTION = "training.expert_gemm_fraction.fp8"
SHIPPED_HEAD = "fitted (session s31 moe)"


def _overlay(tmp_path: Path, text: str, name: str = "overlay.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


def test_the_shipped_catalog_quotes_its_own_sources() -> None:
    """Without an overlay nothing is restated: every figure's source is the shipped text (the
    shipped files write disjoint entries)."""
    acc = load_catalog().accelerators["h100-sxm"]
    assert acc.source_of(FRACTION).startswith(SHIPPED_HEAD)
    for kind in ("accelerators", "cpus", "systems", "models"):
        for entry in getattr(load_catalog().data, kind).values():
            assert not any(s.startswith(OVERLAY_SOURCE) for s in entry.sources.values())


def test_an_overlaid_figure_without_a_source_names_the_overlay_file_and_line(
    tmp_path: Path,
) -> None:
    """The overlay sets H100's FP8 expert-GEMM fraction to 0.5 and says nothing of its source:
    before, source_of quoted the shipped "fitted (session s31 moe): ..." text (a fit to two
    Megatron-Bridge rows) for a number the user typed; now "catalog overlay FILE, line N: no
    source given there; it replaces the figure whose source was: ..." (a reason quotes it up to
    the ";"). Figures the overlay does not touch keep their shipped sources."""
    text = "accelerators:\n  h100-sxm:\n    training:\n      expert_gemm_fraction: {fp8: 0.5}\n"
    path = _overlay(tmp_path, text)
    acc = load_catalog([path]).accelerators["h100-sxm"]
    assert acc.training is not None and acc.training.expert_gemm_fraction["fp8"] == 0.5
    line = _line_of(text, "expert_gemm_fraction")
    shipped = load_catalog().accelerators["h100-sxm"]
    assert acc.source_of(FRACTION) == (
        f"{OVERLAY_SOURCE}{path}, line {line}: {UNSOURCED}{shipped.source_of(FRACTION)}"
    )
    assert overlay_source_head(acc.source_of(FRACTION)) == (
        f"{OVERLAY_SOURCE}{path}, line {line}: no source given there"
    )
    for other in ("training.gemm_efficiency.bf16", "peak_flops.bf16", "hbm"):
        assert acc.source_of(other) == shipped.source_of(other), other


def test_an_overlaid_figure_quotes_the_source_the_overlay_writes(tmp_path: Path) -> None:
    """An overlay that writes a source for its entry (or for the figure) is quoted, after its
    file and line; one whose `sources` names the figure is quoted as written (the source was
    given with the figure, as in a shipped file)."""
    text = (
        'accelerators:\n  h100-sxm:\n    source: "my lab\'s H100 runs"\n    training:\n'
        "      expert_gemm_fraction: {fp8: 0.5}\n"
    )
    path = _overlay(tmp_path, text)
    acc = load_catalog([path]).accelerators["h100-sxm"]
    line = _line_of(text, "expert_gemm_fraction")
    assert acc.source_of(FRACTION) == f"{OVERLAY_SOURCE}{path}, line {line}: my lab's H100 runs"
    text = (
        "accelerators:\n  h100-sxm:\n    training:\n      expert_gemm_fraction: {fp8: 0.5}\n"
        '      sources: {expert_gemm_fraction.fp8: "measured: our grouped GEMM bench"}\n'
    )
    acc = load_catalog([_overlay(tmp_path, text, "b.yaml")]).accelerators["h100-sxm"]
    assert acc.source_of(FRACTION) == "measured: our grouped GEMM bench"


def test_an_overlay_that_restates_only_a_source_keeps_it(tmp_path: Path) -> None:
    """A later file may correct a shipped figure's source text alone: it is quoted as written
    (the figure was written before it)."""
    text = 'systems:\n  hgx-h100:\n    sources: {capex_usd: "our 2026 quote"}\n'
    catalog = load_catalog([_overlay(tmp_path, text)])
    assert catalog.systems["hgx-h100"].source_of("capex_usd") == "our 2026 quote"


def test_estimate_pretrain_quotes_the_overlay_for_the_fraction_it_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`planner estimate pretrain` of an MoE run on H100 at FP8 prints where its expert-GEMM
    fraction comes from: the overlay's file and line, not the shipped fit."""
    text = "accelerators:\n  h100-sxm:\n    training:\n      expert_gemm_fraction: {fp8: 0.5}\n"
    path = _overlay(tmp_path, text)
    args = ["estimate", "pretrain", "--model", "qwen3-30b-a3b", "--system", "hgx-h100"]
    args += ["--tokens", "1T", "--precision", "fp8", "--units", "16"]
    assert cli.main([*args, "--catalog", str(path)]) == 0
    out = capsys.readouterr().out
    line = _line_of(text, "expert_gemm_fraction")
    assert (
        f"x0.5 of the dense rate of their shape (catalog h100-sxm {FRACTION}: "
        f"{OVERLAY_SOURCE}{path}, line {line}: no source given there)"
    ) in out
    assert SHIPPED_HEAD not in out


def test_a_plans_rate_reason_quotes_a_scenario_catalog_overlay(tmp_path: Path) -> None:
    """The same through a scenario's `catalog:` entry, as `plan --explain` prints the rate's
    reason: the file the scenario names, and the line in it."""
    from test_lp import site, write_scenario

    job = {
        "kind": "pretrain",
        "model": "qwen3-30b-a3b",
        "tokens": "20B",
        "precision": "fp8",
        "deadline": "30 days",
        "global_batch_tokens": "4M",
    }
    overlay = {"accelerators": {"h100-sxm": {"training": {"expert_gemm_fraction": {"fp8": 0.5}}}}}
    path = write_scenario(
        tmp_path, {"a": site({"hgx-h100": {"max_units": 64}})}, {"pre": job}, catalog=overlay
    )
    scenario = planner.load_scenario(path)
    (demand,) = demands(scenario)
    reason = demand.roles[0].rates["hgx-h100"].reason
    assert f"{FRACTION}: {OVERLAY_SOURCE}" in reason and SHIPPED_HEAD not in reason
    file = reason.split(OVERLAY_SOURCE)[1].split(", line ")[0]
    assert Path(file).parent == tmp_path


def test_an_unsourced_overlay_of_an_estimate_stays_an_estimate(tmp_path: Path) -> None:
    """A user's price overlay with no source (README: "your price overlays stay valid and keep
    the shipped range") is still an estimate with the shipped range, so `planner sensitivity`
    re-plans it, and its source says whose number it is."""
    from hardware.catalog import estimates

    text = "systems:\n  hgx-h100:\n    capex_usd: 280000\n"
    path = _overlay(tmp_path, text)
    (est,) = [e for e in estimates(load_catalog([path])) if e.path == "systems.hgx-h100.capex_usd"]
    assert est.default == 280000.0 and est.low is not None and est.high is not None
    assert est.source.startswith(f"{OVERLAY_SOURCE}{path}, line 3: {UNSOURCED}")


def test_a_sensitivity_overlay_keeps_the_estimate_it_moves() -> None:
    """planner sensitivity re-plans an estimated figure through an overlay; the overlay writes a
    source keeping the shipped text, so the variant still reads as an estimate (its plan keeps
    its estimate caveats) rather than "no source given there"."""
    from hardware.catalog import estimates
    from planner.sensitivity import overlay_for

    catalog = load_catalog()
    est = next(e for e in estimates(catalog) if e.path == "systems.hgx-h100.capex_usd")
    overlay = overlay_for(catalog, est, est.default * 1.1)
    source = overlay["systems"]["hgx-h100"]["sources"]["capex_usd"]
    assert "estimate" in source.lower() and est.source in source


# -- 2. fused_grouped_gemm on a dense model ---------------------------------------------------

DENSE_PRETRAIN = """\
  dense:
    kind: pretrain
    model: llama-3.1-8b
    tokens: 1T
    precision: bf16
    deadline: 300 days
    goodput: 0.9
    global_batch_tokens: 4M
    layout:
      tp: 1
      fused_grouped_gemm: true  # <-
"""


def test_fused_grouped_gemm_on_a_dense_model_is_refused_on_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: accepted and silently unused (a dense model has no routed-expert GEMMs), the plan
    made as if it were not there. Now: exit 1, file:line: workloads.dense.layout.
    fused_grouped_gemm, no traceback; on a MoE model it stays accepted."""
    from test_bad_input import SCENARIO, Case, assert_reported, marked_line, write_case

    text = SCENARIO.replace("overrides:", DENSE_PRETRAIN + "overrides:", 1)
    path = write_case(tmp_path, Case("dense-fused", {"scenario.yaml": text}))
    code = cli.main(["validate", str(path)])
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "Traceback" not in out + err
    assert_reported(
        err,
        "scenario.yaml",
        marked_line(text),
        "workloads.dense.layout.fused_grouped_gemm",
        "llama-3.1-8b is a dense model (no routed experts): remove it",
    )
    moe = text.replace("llama-3.1-8b\n    tokens: 1T", "qwen3-30b-a3b\n    tokens: 1T", 1)
    assert moe != text
    path = write_case(tmp_path, Case("moe-fused", {"scenario.yaml": moe}))
    assert cli.main(["validate", str(path)]) == 0, capsys.readouterr().err


def test_fused_grouped_gemm_on_a_dense_rl_policy_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_bad_input import SCENARIO, Case, assert_reported, marked_line, write_case

    text = SCENARIO.replace(
        "    goodput: 0.9\noverrides:",
        "    goodput: 0.9\n    trainer:\n      layout: {tp: 1, fused_grouped_gemm: true}  # <-\n"
        "overrides:",
        1,
    )
    assert "# <-" in text
    path = write_case(tmp_path, Case("rl-dense-fused", {"scenario.yaml": text}))
    code = cli.main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert_reported(
        err,
        "scenario.yaml",
        marked_line(text),
        "workloads.rl.trainer.layout.fused_grouped_gemm",
        "dense model",
    )


# -- 3. MoE training in BF16 on H100 ----------------------------------------------------------

GPT_OSS_ROW = "mbridge260401-gpt-oss-120b-bf16-h100-64gpu"


def test_the_h100_bf16_moe_caveat_figures_are_its_row() -> None:
    """The caveat's row is the only H100 BF16 MoE row of the training table, H100 has no BF16
    expert_gemm_fraction, and the figure (planner / published) is recomputed: 1.42x, +41.7% (+46.5% before the per-linear GEMM shape)."""
    from planner.calibration import training
    from planner.demand.common import MOE_UNFITTED_EXPERT_GEMM_CAVEATS

    catalog = load_catalog()
    rows = [
        r
        for r in training.runs()
        if catalog.system(r["system"]).accelerator == "h100-sxm"
        and r["precision"] == "bf16"
        and catalog.models[r["model"]].moe is not None
    ]
    assert [r["id"] for r in rows] == [GPT_OSS_ROW]
    (row,) = rows
    assert row.get("known_miss")
    h100 = catalog.accelerators["h100-sxm"].training
    assert h100 is not None and "bf16" not in h100.expert_gemm_fraction
    ratio = training.predict(row, catalog) / row["published"]
    text = MOE_UNFITTED_EXPERT_GEMM_CAVEATS[("h100-sxm", "bf16")]
    assert f"{ratio:.2f}x its measured tokens/s ({ratio - 1:+.1%})" in text
    assert GPT_OSS_ROW in text
    # H200 takes H100's training figures (no BF16 fraction either), so the same row stands
    h200 = catalog.accelerators["h200-sxm"].training
    assert h200 is not None and "bf16" not in h200.expert_gemm_fraction
    assert (
        text.split(": ", 1)[1]
        == (MOE_UNFITTED_EXPERT_GEMM_CAVEATS[("h200-sxm", "bf16")].split(": ", 1)[1])
    )


def _moe_caveats(tmp_path: Path, workload: dict[str, Any], systems: list[str]) -> list[Any]:
    from test_lp import site, write_scenario

    from planner.demand.common import MOE_UNFITTED_EXPERT_GEMM_CAVEATS

    path = write_scenario(
        tmp_path,
        {"a": site({s: {"max_units": 64} for s in systems})},
        {"w": workload},
        name="-".join([workload.get("precision", "bf16"), *systems]),
    )
    (demand,) = demands(planner.load_scenario(path))
    texts = set(MOE_UNFITTED_EXPERT_GEMM_CAVEATS.values())
    return [c for c in demand.caveats if c.text in texts]


def _pretrain(model: str, precision: str) -> dict[str, Any]:
    return {
        "kind": "pretrain",
        "model": model,
        "tokens": "20B",
        "precision": precision,
        "deadline": "30 days",
        "global_batch_tokens": "4M",
    }


def test_moe_pretraining_in_bf16_on_h100_says_what_its_row_measured(tmp_path: Path) -> None:
    """A BF16 MoE pretraining that may run on H100 or GB200 gets the caveat on H100 only (its
    label the run and model); FP8 on H100 (a fitted fraction) and a dense BF16 run do not."""
    from planner.demand.common import MOE_UNFITTED_EXPERT_GEMM_CAVEATS

    got = _moe_caveats(tmp_path, _pretrain("qwen3-30b-a3b", "bf16"), ["hgx-h100", "gb200-nvl72"])
    assert [(c.text, c.label, c.systems) for c in got] == [
        (MOE_UNFITTED_EXPERT_GEMM_CAVEATS[("h100-sxm", "bf16")], "w (qwen3-30b-a3b)", ("hgx-h100",))
    ]
    assert _moe_caveats(tmp_path, _pretrain("qwen3-30b-a3b", "fp8"), ["hgx-h100"]) == []
    assert _moe_caveats(tmp_path, _pretrain("llama-3.1-8b", "bf16"), ["hgx-h100"]) == []


def test_the_caveat_reaches_the_plan_and_an_rl_trainer(tmp_path: Path) -> None:
    """The plan's Left out names it (a solved BF16 MoE run on H100); an RL run with an MoE
    policy in BF16 gets it on its train role."""
    from test_lp import rl_workload, site, write_scenario

    from planner.demand.common import MOE_UNFITTED_EXPERT_GEMM_CAVEATS

    text = MOE_UNFITTED_EXPERT_GEMM_CAVEATS[("h100-sxm", "bf16")]
    path = write_scenario(
        tmp_path,
        {"a": site({"hgx-h100": {"max_units": 64}})},
        {"pre": _pretrain("qwen3-30b-a3b", "bf16")},
        name="plan",
    )
    left_out = planner.solve(planner.load_scenario(path)).left_out
    assert text.format("pre (qwen3-30b-a3b) on hgx-h100") in left_out
    got = _moe_caveats(tmp_path, rl_workload("qwen3-30b-a3b", "10K"), ["hgx-h100"])
    assert [(c.systems, c.role) for c in got] == [(("hgx-h100",), "train")]


def test_an_overlay_giving_a_bf16_fraction_ends_the_caveat(tmp_path: Path) -> None:
    """The caveat stands for the missing figure: a catalog giving H100 a BF16 fraction (here an
    overlay; later, a fit) drops it."""
    from test_lp import site, write_scenario

    overlay = {"accelerators": {"h100-sxm": {"training": {"expert_gemm_fraction": {"bf16": 0.48}}}}}
    path = write_scenario(
        tmp_path,
        {"a": site({"hgx-h100": {"max_units": 64}})},
        {"w": _pretrain("qwen3-30b-a3b", "bf16")},
        catalog=overlay,
        name="given",
    )
    (demand,) = demands(planner.load_scenario(path))
    assert not any("in BF16 on H100" in c.text for c in demand.caveats)
    without = _moe_caveats(tmp_path, _pretrain("qwen3-30b-a3b", "bf16"), ["hgx-h100"])
    assert len(without) == 1 and "in BF16 on H100" in without[0].text


# -- 4. MOE_NO_TABLE_CAVEAT's figures ---------------------------------------------------------


def test_the_no_table_caveats_speedup_is_its_rows() -> None:
    """NVIDIA's MLPerf v6.0 DeepSeek-R1 runs that repeat their v5.1 configs field for field
    (GB200 Offline and Server, GB300 Offline: docs/models.md, The per-routed-token MoE cost on
    2026 software), v6.0 published over v5.1 published, each quoted to 0.01x and the range to
    0.1x; the v6.0 rows name TensorRT-LLM 1.2."""
    from planner.calibration.serving import points
    from planner.kinds.inference import MOE_NO_TABLE_CAVEAT

    by_id = {p.id: p for p in points()}
    ratios = {}
    for name, system, scenario in (
        ("GB200 Offline", "gb200", "offline"),
        ("Server", "gb200", "server"),
        ("GB300 Offline", "gb300", "offline"),
    ):
        new = by_id[f"mlperf6-{system}-dsr1-{scenario}"]
        old = by_id[f"mlperf51-{system}-dsr1-{scenario}"]
        engine = new.spec.engine
        assert engine is not None and engine.tensorrt_llm_version == "1.2"
        ratios[name] = new.published / old.published
    text = MOE_NO_TABLE_CAVEAT
    assert "ran three of their v5.1 configs" in text and "TensorRT-LLM 1.2" in text
    for name, ratio in ratios.items():
        assert f"{name} {ratio:.2f}x" in text, name
    low, high = min(ratios.values()), max(ratios.values())
    assert f"{low:.1f}-{high:.1f}x faster" in text


# -- 5. _tighten's bound ----------------------------------------------------------------------


def test_tighten_returns_a_float_bound_as_annotated(monkeypatch: pytest.MonkeyPatch) -> None:
    """_tighten was annotated `float | None` for its bound but always returns a float (the bound
    given, raised by any round's MIP bound): a round whose HiGHS reports no MIP bound keeps the
    bound given."""
    from planner.lp import solve

    hints = typing.get_type_hints(solve._tighten)
    assert hints["return"] == tuple[str, float, float]

    class Highs:
        gap = 0.01

        def getOptionValue(self, name: str) -> tuple[int, float]:  # noqa: N802 (highspy)
            return 0, self.gap

        def setOptionValue(self, name: str, value: float) -> None:  # noqa: N802
            self.gap = value

    plans = iter([102.0, 102.0, 102.0])
    model = SimpleNamespace(prob=SimpleNamespace(objective=103.0, solverModel=Highs()))

    def run_mip(model: Any, solver: Any, offer: Any = None) -> None:
        model.prob.objective = next(plans)

    monkeypatch.setattr(solve, "_run_mip", run_mip)
    monkeypatch.setattr(solve, "outcome", lambda prob: solve.OPTIMAL)
    monkeypatch.setattr(solve, "_highs_bound", lambda model: None)
    how, bound, _ = solve._tighten(model, None, 100.0, 0.01)  # type: ignore[arg-type]
    assert how == solve.OPTIMAL and isinstance(bound, float) and bound == 100.0
