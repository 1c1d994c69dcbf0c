"""MLPerf Inference v6.0 partner checks (planner/calibration/serving.yaml, family
partners60-checks): 107 closed rows of catalog parts submitted by partners (and NVIDIA's four-rack
GB300 DeepSeek-R1 rows), each its NVIDIA / AMD twin of the same system, model and scenario field
for field, except where the partner's own v6.0 config (in the snapshot, unlike v6.1) sets a field
a point carries to another value. Out of sample, nothing fitted. Recomputed here: the twin each
point must repeat (by rule, not from the point's text), the engine fields the partner's config
changes (transcribed from the configs, not from the points), the planner's figure being the
twin's to within the output length where the engine is the twin's, the partner's bias on its
twin's run from the transcribed summary_results.json rows, and the family's summary as the header
and docs/models.md quote it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from partner_checks import (
    BY_ID,
    POINTS,
    assert_grouped_or_why_not,
    assert_summary,
    per_gpu,
    steady_value,
    summary_key,
    value,
)

ROOT = Path(__file__).resolve().parent.parent
P60 = [p for p in POINTS if p.family == "partners60-checks"]
with (ROOT / "bench/data/mlperf_inference_v6.0_llm.csv").open() as f:
    ROWS = {r["key"]: r for r in csv.DictReader(f)}

SHORT = {
    "hgx-b300": "b300",
    "gb300-nvl72": "gb300",
    "gb200-nvl72": "gb200",
    "hgx-b200": "b200",
    "mi355x-platform": "mi355x",
    "mi350x-platform": "mi350x",
}
MODEL = {
    "gpt-oss-120b": "gptoss",
    "deepseek-r1": "dsr1",
    "llama-2-70b": "llama2-70b",
    "llama-3.1-8b": "llama31-8b",
    "llama-3.1-405b": "llama31-405b",
}
G512 = [1, 2, 4, 8, 16, 32, 64, 128, 256, 384, 512]
G1024 = [*G512, 640, 768, 896, 1024]
B200_LLAMA = {"max_sequences_per_accelerator": 2048, "max_num_tokens": 3584}
B200_405B_SERVER = {"layout": {"tp": 4}, "max_sequences": 256, "max_num_tokens": 2048}
B300_DSR1_OFFLINE = {
    "max_sequences_per_accelerator": 1024,
    "cuda_graph_batch_sizes": G1024,
    "max_num_tokens": 6144,
}
GB200_DSR1_SERVER = {
    "max_sequences_per_accelerator": 512,
    "cuda_graph_batch_sizes": G512,
    "max_num_tokens": 3456,
}
# The partner's v6.0 config where it differs from its twin's in a field a point carries, by
# summary_results.json key, transcribed from closed/<org>/configs/<system>/<scenario>/<bench>.py
# (gbeezybez/inference_results_v6.0 @232fbf90): gpu_batch_size (a GPU at TP1 / attention DP, an
# engine at TP > 1; min(gpu_batch_size, max_concurrency / 8) with attention DP x 8), the runtime
# max_num_tokens, cuda_graph_batch_sizes, tensor / pipeline parallelism.
PARTNER_ENGINE = {
    "31": B200_LLAMA,  # ASUSTeK XA NB3I-E12 Llama 2 70B Offline
    "32": {"max_sequences_per_accelerator": 2048},  # its Server: max_num_tokens 4,608 as NVIDIA's
    "41": {  # Cisco C880A DeepSeek-R1 Offline: 512 a GPU, max_concurrency 5,120
        "max_sequences_per_accelerator": 512,
        "cuda_graph_batch_sizes": G512,
        "max_num_tokens": 4608,
    },
    "48": B200_405B_SERVER,  # Cisco 405B Server
    "113": B200_LLAMA,  # Dell XE9780L Llama 2 70B Offline
    "114": B200_LLAMA,  # and Server
    "184": B200_LLAMA,  # GigaComputing G894 Llama 2 70B Offline
    "185": B200_LLAMA,  # and Server
    "190": {"layout": {"tp": 2, "pp": 2}, "max_sequences": 128},  # GigaComputing 405B Offline
    "191": B200_405B_SERVER,  # GigaComputing 405B Server
    "465": {"max_sequences": 128},  # Quanta 405B Offline (TP2)
    "466": {"max_sequences": 384, "max_num_tokens": 2048},  # Quanta 405B Server (TP2)
    "71": B300_DSR1_OFFLINE,  # CoreWeave GB300 x8 DeepSeek-R1 Offline: NVIDIA's DGX B300 fields
    "434": B300_DSR1_OFFLINE,  # Nebius GB300 x8 DeepSeek-R1 Offline: the same
    "120": GB200_DSR1_SERVER,  # Dell XE9780 B200 DeepSeek-R1 Server
    "199": GB200_DSR1_SERVER,  # Google B200 DeepSeek-R1 Server
    "323": {"max_sequences_per_accelerator": 4096},  # Lambda B200 Llama 3.1 8B Offline
    "325": {"cuda_graph_batch_sizes": G512},  # Lambda GB300 x4 gpt-oss Offline
}
# misses that are not their twin's (the twin in band): each explained in its point
NOT_GROUPED = {
    "partners60-gb200-dsr1-offline-google",
    "partners60-gb200-dsr1-server-google",
    "partners60-gb300-dsr1-offline-nvidia-x288",
    "partners60-b200-llama31-405b-server-google",
    "partners60-mi355x-llama2-70b-interactive-supermicro",
}


def twin_id(pid: str) -> str:
    """The point a partner point repeats, by the family's rule: the v6.0 point of the same
    system, model and scenario (mlperf6-checks, b300-checks, amd-serving / amd-checks); for HGX
    B200 the v6.1 point carrying the same v6.0 config (DeepSeek-R1: Nebius's; Llama 2 70B Offline
    / Server: CoreWeave's, on NVIDIA's B200x8 config) else NVIDIA's v5.1 B200 point; for MI350X
    MiTAC's v6.1 point on its v6.0 config."""
    p = BY_ID[pid]
    system, model = SHORT[p.system], MODEL[p.spec.model_name]
    scenario = next(s for s in ("offline", "server", "interactive") if f"-{s}-" in pid)
    if system == "b200":
        if model == "dsr1":
            return f"mlperf61-b200-dsr1-{scenario}-nebius"
        if model == "llama2-70b" and scenario != "interactive":
            return f"mlperf61-b200-llama2-70b-{scenario}-coreweave"
        return f"mlperf51-b200-{model}-{scenario}"
    if system == "mi350x":
        return f"mlperf61-mi350x-mitac-llama2-70b-{scenario}"
    return f"mlperf6-{system}-{model}-{scenario}"


def _key(p) -> str:  # type: ignore[no-untyped-def]
    return summary_key(p)


def _per_gpu(key: str) -> float:
    return per_gpu(ROWS, key)


def test_family_is_out_of_sample_and_its_size() -> None:
    assert len(P60) == 107
    assert not any(p.fit for p in P60)
    assert {p.system for p in P60} == set(SHORT)
    keys = [_key(p) for p in P60]
    assert len(keys) == len(set(keys))
    # every point a partner row (or NVIDIA's four-rack rows), never a twin's own row
    assert all(ROWS[k]["Organization"] not in ("AMD",) for k in keys)
    nvidia = {k for k in keys if ROWS[k]["Organization"] == "NVIDIA"}
    assert nvidia == {"405", "406"}  # GB300 x288 DeepSeek-R1 Offline / Server


@pytest.mark.parametrize("point", P60, ids=lambda p: p.id)
def test_point_repeats_its_twin_but_the_partners_config(point) -> None:  # type: ignore[no-untyped-def]
    twin = BY_ID[twin_id(point.id)]
    assert twin.family != "partners60-checks"
    mine = point.spec.model_dump(exclude={"output_tokens", "engine"})
    theirs = twin.spec.model_dump(exclude={"output_tokens", "engine"})
    assert mine == theirs, point.id
    assert point.system == twin.system
    assert point.tolerance == twin.tolerance and point.counts == twin.counts
    assert point.max_units_per_instance == 1 == twin.max_units_per_instance
    # the engine: the twin's, with the partner's differing fields (transcribed above) over it
    expected = twin.spec.engine.model_dump() if twin.spec.engine else {}
    assert point.spec.engine is not None
    override = PARTNER_ENGINE.get(_key(point), {})
    engine = type(point.spec.engine).model_validate({**expected, **override}).model_dump()
    assert point.spec.engine.model_dump() == engine, point.id
    # and the point says which it is, naming the config it read (or that none is published)
    if override:
        assert "differs from the twin's" in point.assumed, point.id
    else:
        assert (
            "equals the twin's" in point.assumed or "no config of this system" in point.assumed
        ), point.id
    assert "systems JSON" in point.assumed, point.id


@pytest.mark.parametrize("point", P60, ids=lambda p: p.id)
def test_planner_figure_is_the_twins_where_the_engine_is(point) -> None:  # type: ignore[no-untyped-def]
    twin_pid = twin_id(point.id)
    twin = BY_ID[twin_pid]
    ratio = steady_value(point.id) / steady_value(twin_pid)
    if _key(point) in PARTNER_ENGINE:
        # the partner's engine moves the figure (smaller batch caps lower it; TP4 405B Server
        # raises it, the shorter per-token collective share than TP2's at the TPOT bound; Cisco's
        # DeepSeek-R1 Offline at 512 a GPU against NVIDIA's 1,024: 0.88 with the measured MoE
        # module, whose fixed part a layer (~300 us) a smaller batch pays on fewer tokens)
        assert 0.85 < ratio < 1.2, (point.id, ratio)
        return
    dl = abs(point.spec.output_tokens / twin.spec.output_tokens - 1)
    assert abs(ratio - 1) <= 0.01 + 0.3 * dl, (point.id, ratio, dl)


@pytest.mark.parametrize("point", [p for p in P60 if p.known_miss], ids=lambda p: p.id)
def test_known_miss_is_its_twins_or_says_why_not(point) -> None:  # type: ignore[no-untyped-def]
    assert_grouped_or_why_not(point, twin_id(point.id), NOT_GROUPED)


def test_every_out_of_band_point_is_a_known_miss_and_the_summary() -> None:
    # header and docs/models.md: 87 within band, MAE 6.69% over them, 13.7% over all; 20 misses
    # (86 / 21, 7.05% / 15.2% before the MLPerf runs' figure, mlperf_run, brought CoreWeave's
    # x64 GB200 DeepSeek-R1 Server into band)
    # (63 / 44 before the MI350X's sustained_clock_fraction brought four MI350X rows into band;
    # 67 / 40 before the measured MoE table of TensorRT-LLM 1.2 brought 19 DeepSeek-R1 rows
    # into band and sent Google's slow GB200 Offline run and the x288 GB300 Offline run out)
    miss = assert_summary(P60, 87, 20, 0.0669, 0.1374)
    assert miss >= NOT_GROUPED
    dsr1 = {m for m in miss if BY_ID[m].spec.model_name == "deepseek-r1"}
    assert len(dsr1) == 9


def test_partner_bias_on_the_twins_run_by_hand() -> None:
    # the figures the header and docs quote, from the transcribed summary_results.json rows
    nv_b300_dsr1_server = 42721.4 / 8  # key 371, NVIDIA DGX B300 (mlperf6-b300-dsr1-server)
    assert _per_gpu("371") == pytest.approx(nv_b300_dsr1_server)
    assert BY_ID["mlperf6-b300-dsr1-server"].published == pytest.approx(nv_b300_dsr1_server, 1e-3)
    assert _per_gpu("42") / nv_b300_dsr1_server - 1 == pytest.approx(0.371, abs=0.001)  # Cisco
    assert _per_gpu("442") / nv_b300_dsr1_server - 1 == pytest.approx(0.414, abs=0.001)  # Nebius
    assert _per_gpu("180") / nv_b300_dsr1_server - 1 == pytest.approx(-0.168, abs=0.001)  # Giga
    assert _per_gpu("464") / nv_b300_dsr1_server - 1 == pytest.approx(-0.171, abs=0.001)  # QCT
    # Nebius's GB300 racks against NVIDIA's (key 413), the same config but target_qps 165 vs 110
    assert _per_gpu("431") / _per_gpu("413") - 1 == pytest.approx(0.437, abs=0.001)
    assert _per_gpu("435") / _per_gpu("413") - 1 == pytest.approx(0.450, abs=0.001)
    # Google's GB200 rack against NVIDIA's (keys 389, 390) on NVIDIA's config
    assert _per_gpu("208") / _per_gpu("389") - 1 == pytest.approx(-0.367, abs=0.001)
    assert _per_gpu("209") / _per_gpu("390") - 1 == pytest.approx(-0.534, abs=0.001)
    # NVIDIA's four racks against its one (keys 405 / 412, 406 / 413)
    assert _per_gpu("405") / _per_gpu("412") - 1 == pytest.approx(-0.036, abs=0.001)
    assert _per_gpu("406") / _per_gpu("413") - 1 == pytest.approx(-0.029, abs=0.001)
    # Google's B200 405B against NVIDIA's v5.1 run of the same config (the twins' published)
    for key, twin in (("202", "offline"), ("203", "server")):
        ratio = _per_gpu(key) / BY_ID[f"mlperf51-b200-llama31-405b-{twin}"].published
        assert ratio - 1 == pytest.approx(-0.169 if twin == "offline" else -0.207, abs=0.001)
    # v6.0 MI350X Llama 2 70B runs against AMD's v6.0 MI355X runs of the same config (keys 9, 10)
    pairs = (("360", "9"), ("361", "10"), ("55", "9"), ("56", "10"), ("52", "9"), ("53", "10"))
    for key, amd in (*pairs, ("493", "9"), ("494", "10")):
        assert 0.76 < _per_gpu(key) / _per_gpu(amd) < 0.78, key


def test_mi350x_planner_ratio_to_mi355x() -> None:
    # the planner's MI350X / MI355X figure on the same config: 0.92-0.93 on the 2.2 / 2.4 GHz
    # peak clock alone (the four Offline / Server misses this family had), 0.82-0.83 with the
    # MI350X's sustained_clock_fraction 0.880 on the compute terms; the runs measure 0.76-0.78
    for scenario in ("offline", "server"):
        ratio = value(f"partners60-mi350x-llama2-70b-{scenario}-mitac") / value(
            f"partners60-mi355x-llama2-70b-{scenario}-giga"
        )
        assert 0.815 < ratio < 0.835, (scenario, ratio)


def test_google_gb200_dsr1_offline_out_of_band_because_the_run_is_slow() -> None:
    # with the parametric 2025 MoE cost this run was in band only because it is slow (the
    # twin at -41.6%); with the measured MoE module the twin is in band and this run, 36.7%
    # under NVIDIA's on the same config, is a known miss that is not the twin's
    pid = "partners60-gb200-dsr1-offline-google"
    p = BY_ID[pid]
    twin = "mlperf6-gb200-dsr1-offline"
    assert p.known_miss and f"not its twin's miss ({twin}" in p.known_miss
    assert value(pid) / value(twin) == pytest.approx(1.0, abs=0.01)
    assert abs(value(twin) / BY_ID[twin].published - 1) < 0.05
    assert p.published / BY_ID[twin].published - 1 == pytest.approx(-0.367, abs=0.001)
