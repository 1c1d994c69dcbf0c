"""Errors a user can act on. Every input problem names its file, line and field.

Exit codes (documented in the README):
  0 success; 1 bad input (ConfigError); 2 infeasible plan (InfeasibleError);
  3 solver failure or a plan that fails verification (SolverError, VerificationError).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One input problem: `file:line: path.to.field: message`."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class PlannerError(Exception):
    """Base of the errors the CLI turns into a message and an exit code."""

    exit_code = 1


class ConfigError(PlannerError):
    """One or more input problems, reported together."""

    exit_code = 1

    def __init__(self, problems: list[Problem]):
        from fleetcore.suggest import with_name_hint  # "did you mean" for unknown names

        problems = [Problem(p.file, p.line, p.path, with_name_hint(p.message)) for p in problems]
        self.problems = sorted(
            problems, key=lambda p: (p.file, p.line if p.line is not None else 0, p.path)
        )
        super().__init__("\n".join(str(p) for p in self.problems))


class InfeasibleError(PlannerError):
    """The work cannot be done within the constraints; `diagnosis` says what falls short."""

    exit_code = 2

    def __init__(self, message: str, diagnosis: list[str] | None = None, plan: object = None):
        self.diagnosis = diagnosis or []
        self.plan = plan
        super().__init__(message + "".join(f"\n  - {d}" for d in self.diagnosis))


class SolverError(PlannerError):
    """The solver failed, returned no usable values, or is not installed."""

    exit_code = 3


class VerificationError(PlannerError):
    """A solved plan violates a constraint when recomputed from its values."""

    exit_code = 3
