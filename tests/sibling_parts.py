"""Checks shared by the catalog parts that take a sibling part's efficiency figures (the same die:
mi325x takes mi300x's, mi350x takes mi355x's): every serving, training and RL figure equal, each
source saying so, every efficiency range equal with its source saying so."""

from __future__ import annotations

from typing import Any

SERVING_FIGURES = (
    "hbm_bandwidth_utilisation",
    "gemm_half_tokens",
    "scale_up_latency",
    "scale_out_latency",
    "link_bandwidth_utilisation",
    "step_overhead",
    "runtime_reserve",
    "moe_layer_latency",
    "moe_token_bandwidth",
)


def efficiency_figures(block: object) -> dict[str, object]:
    """A catalog block's figures without its source texts and calibration_limit (a statement
    about the runs, not a figure)."""
    assert block is not None
    dump = block.model_dump()  # type: ignore[attr-defined]
    return {
        k: v
        for k, v in dump.items()
        if k not in ("source", "sources", "ranges", "calibration_limit")
    }


def assert_takes_siblings_figures(
    part: Any, sibling: Any, tag: str, precisions: tuple[str, ...]
) -> None:
    """`part`'s serving, training and RL figures are `sibling`'s, each source (and each efficiency
    range's source) starting with `tag`, each efficiency range equal to the sibling's."""
    for block in ("serving", "training", "rl"):
        assert efficiency_figures(getattr(part, block)) == efficiency_figures(
            getattr(sibling, block)
        ), block
    figures = [f"serving.{k}" for k in SERVING_FIGURES]
    figures += [f"serving.compute_utilisation.{p}" for p in precisions]
    figures += [
        "rl.offload_bandwidth",
        "rl.update_overhead",
        "rl.refit_bandwidth",
        "rl.sync_overhead",
    ]
    figures += ["training.gemm_efficiency"]
    for figure in figures:
        assert part.source_of(figure).startswith(tag), figure
    assert part.ranges is not None and sibling.ranges is not None
    for key, rng in part.ranges.items():
        if key.startswith(("serving.", "training.", "rl.")):
            other = sibling.ranges[key]
            assert (rng.low, rng.high) == (other.low, other.high), key
            assert rng.source.startswith(tag), key
