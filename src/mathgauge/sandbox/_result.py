"""Result type and errors of the sandbox."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

STATUSES = ("ok", "error", "timeout", "memory", "killed", "blocked")


@dataclass(frozen=True)
class ExecutionResult:
    """Outcome of one snippet.

    status: ``ok`` (exit 0), ``error`` (exception, non-zero exit, crash, or not run because the sandbox
    could not set it up), ``timeout`` (its CPU-time budget or the wall-clock cap), ``memory`` (killed for
    reaching its memory cgroup limit), ``killed`` (killed by the sandbox for flooding output, or by
    SIGKILL from elsewhere), ``blocked`` (failed after attempting an operation the sandbox denies).  The
    status is decided from what the sandbox observed, never from what the snippet wrote.
    duration_ms: wall-clock time; cpu_ms: CPU time of the snippet's process (all threads), None when it
    did not run.
    """

    status: str
    stdout: str
    stderr: str
    exit_code: int | None
    duration_ms: float
    unsafe: bool = False
    unsafe_static: list[str] = field(default_factory=list)
    unsafe_runtime: list[str] = field(default_factory=list)
    cpu_ms: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class SandboxUnavailable(RuntimeError):
    """The isolation layers the sandbox needs are missing on this machine."""
