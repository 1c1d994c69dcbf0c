"""Goodput of a training job from each system's failure physics (catalog `reliability:`).

For a job on G accelerators (SI units; docs/models.md):
  job MTBF           M = 1 / (failures_per_accelerator_hour · G) · 3600            s
  checkpoint write   δ = state_bytes / (G · checkpoint_bandwidth_per_accelerator)   s
  interval           τ = sqrt(2 · δ · M)                         (Young 1974; Daly 2006, 1st order)
  failure waste      δ/τ + (τ/2 + R)/M    checkpoints + lost work (half an interval on average)
                     + restart R per failure
  planned waste      planned_interruptions_per_accelerator_hour · G · R / 3600
  repair share       failure_domain · failures_per_accelerator_hour · repair_h: a failure takes
                     its whole domain (server, rack) out of service for the repair time; that
                     share of the fleet is held as spares
  goodput            (1 - failure waste - planned waste) · (1 - repair share)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hardware.schema import Reliability
from planner.demand.common import SECONDS_PER_HOUR


@dataclass(frozen=True)
class Goodput:
    """Derived goodput and its terms."""

    goodput: float
    accelerators: int
    mtbf_s: float
    checkpoint_write_s: float
    checkpoint_interval_s: float
    checkpoint_waste: float  # δ/τ
    lost_work_waste: float  # τ/2 / M
    restart_waste: float  # R / M
    planned_waste: float
    repair_share: float

    def derivation(self) -> str:
        return (
            f"goodput {self.goodput:.3f} = (1 - checkpoints {self.checkpoint_waste:.2%} - lost "
            f"work {self.lost_work_waste:.2%} - restarts {self.restart_waste:.2%} - planned "
            f"{self.planned_waste:.2%}) x (1 - spares in repair {self.repair_share:.2%}); "
            f"{self.accelerators:,} accelerators: MTBF {self.mtbf_s / 3600:.3g} h, checkpoint "
            f"write {self.checkpoint_write_s:.3g} s every "
            f"{self.checkpoint_interval_s / 60:.3g} min "
            f"(Young/Daly sqrt(2 x write x MTBF))"
        )


def derive_goodput(rel: Reliability, accelerators: int, state_bytes: float) -> Goodput:
    """Goodput of a job of `accelerators` whose checkpoint is `state_bytes` (module docstring)."""
    g = max(1, accelerators)
    fail_per_s = rel.failures_per_accelerator_hour * g / SECONDS_PER_HOUR
    write_s = state_bytes / (g * rel.checkpoint_bandwidth_bytes_per_s)
    planned = rel.planned_interruptions_per_accelerator_hour * g * rel.restart_s / SECONDS_PER_HOUR
    repair = min(
        1.0,
        rel.failure_domain * rel.failures_per_accelerator_hour * rel.repair_s / SECONDS_PER_HOUR,
    )
    if fail_per_s <= 0:
        good = max(0.0, 1.0 - planned) * (1.0 - repair)
        return Goodput(good, g, math.inf, write_s, math.inf, 0.0, 0.0, 0.0, planned, repair)
    mtbf = 1.0 / fail_per_s
    interval = math.sqrt(2.0 * write_s * mtbf)
    ckpt = write_s / interval if interval > 0 else 0.0
    lost = interval / 2.0 / mtbf
    restart = rel.restart_s / mtbf
    good = max(0.0, 1.0 - ckpt - lost - restart - planned) * (1.0 - repair)
    return Goodput(good, g, mtbf, write_s, interval, ckpt, lost, restart, planned, repair)
