"""Solvers: turn a problem's prompt into model calls (and sandboxed code runs), recorded as `Attempt`s."""

from ._base import HasAnswer, RecordCall, Solver, TryResult
from ._code import code_blocks, last_code_block
from ._cot import ChainOfThoughtSolver
from ._programs import ProgramOfThoughtSolver, ToolIntegratedSolver
from ._records import Attempt, SolveOutcome
from ._regeneration import RegeneratingBackend, RegenerationPolicy
from ._sampling import SamplingConfig
from ._verify import SelfVerifyingSolver, verification_passed

MODES = ("cot", "pot", "tir", "verify")

__all__ = [
    "MODES",
    "Attempt",
    "ChainOfThoughtSolver",
    "HasAnswer",
    "ProgramOfThoughtSolver",
    "RecordCall",
    "RegeneratingBackend",
    "RegenerationPolicy",
    "SamplingConfig",
    "SelfVerifyingSolver",
    "SolveOutcome",
    "Solver",
    "ToolIntegratedSolver",
    "TryResult",
    "code_blocks",
    "last_code_block",
    "verification_passed",
]
