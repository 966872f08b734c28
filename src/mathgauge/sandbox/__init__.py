"""Code sandbox: run model-written Python in a warm fork-server inside bubblewrap + seccomp + Landlock."""

from ._host import Sandbox, check_isolation
from ._result import ExecutionResult, SandboxUnavailable
from ._static import classify_static

__all__ = ["ExecutionResult", "Sandbox", "SandboxUnavailable", "check_isolation", "classify_static"]
