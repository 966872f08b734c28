"""Code sandbox: run model-written Python in a warm fork-server inside bubblewrap, each snippet in its own
namespaces, cgroups and uid under Landlock and a seccomp allow-list (threat model and layers: README.md here).

    with Sandbox(timeout_s=10, memory_mb=1024) as sb:      # create once, share between threads / tasks
        res = sb.run("import sympy; print(sympy.factorint(91))")
        res.status   # ok | error | timeout | memory | killed | blocked
        res.unsafe, res.unsafe_static, res.unsafe_runtime, res.cpu_ms

``timeout_s`` is a budget of the snippet's own CPU time (its wall clock is capped at 3x + 1 s); the status
comes only from what the sandbox observed.  ``Sandbox`` starts lazily (first ``run``); it raises
``SandboxUnavailable`` when the isolation layers are missing, unless ``allow_unsafe_no_sandbox=True`` (CLI:
``--unsafe-no-sandbox``).  ``check_isolation()`` says which layers are active on this machine;
``classify_static(code)`` is the AST part of the unsafe count (bounded: code over 64 KiB is not parsed).
"""

from ._host import Sandbox, check_isolation
from ._result import ExecutionResult, SandboxUnavailable
from ._static import classify_static

__all__ = ["ExecutionResult", "Sandbox", "SandboxUnavailable", "check_isolation", "classify_static"]
