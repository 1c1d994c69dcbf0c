"""What every workload kind's spec shares: field types with units, the training-state and
trajectory constants, the start/deadline rule.

YAML keys are unit-free where a unit is written in the value (`deadline: 90 days`); attributes
carry SI units (`deadline_s`). Counts accept SI suffixes ('15T' tokens, '10M' problems).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from fleetcore.units import Bytes, Count, Duration

Loc = tuple[str | int, ...]

PositiveCount = Annotated[Count, Field(gt=0)]
PositiveDuration = Annotated[Duration, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
PositiveBytes = Annotated[Bytes, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
NonNegDuration = Annotated[Duration, Field(ge=0)]

# Mixed-precision Adam: BF16 weights (2 B) + BF16 gradients (2 B) + FP32 master weights, Adam
# first and second moments (3 x 4 B = 12 B) = 16 bytes per parameter (ZeRO paper, Rajbhandari
# et al. 2020, section 3.1: "16 bytes per parameter" for mixed-precision Adam).
MIXED_PRECISION_ADAM_BYTES_PER_PARAM = 16.0

# Bytes moved per trajectory token from a generating site to the trainer: an int32 token id
# (4 B) plus the behaviour policy's FP32 log-probability of that token (4 B), which PPO/GRPO
# importance ratios need. Rewards and masks (a few bytes per sample) are neglected.
TRAJECTORY_BYTES_PER_TOKEN = 8.0


def start_before_deadline(start_s: float, deadline_s: float) -> None:
    if start_s >= deadline_s:
        raise ValueError(
            f"start ({start_s / 86400:g} days) must come before the deadline "
            f"({deadline_s / 86400:g} days); both count from the start of the horizon"
        )
