"""From a server response to an ``ExecutionResult``; from the ready message to the layers report.

The status comes only from what the server observed (exit status and signal, its CPU and wall timers,
the OOM-kill counter of the job's memory cgroup, whether the snippet started, output volume).  What the
child wrote on its event channel can only add unsafe tags and turn a failure into ``blocked``.  Every field
is type-checked and bounded here: a malformed value is treated as absent, never raised.
"""

from __future__ import annotations

import signal

from ._inside import _policy
from ._result import ExecutionResult

BLOCKING_PREFIXES = ("process:", "network:", "signal:", "fs:", "ctypes:", "env:", "kernel:")
_MAX_TAGS = _policy.TAGS_MAX
_MAX_TAG_CHARS = 300


def _int(hdr: dict, key: str, default: int | None = 0) -> int | None:
    v = hdr.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) else default


def _float(hdr: dict, key: str, default: float = 0.0) -> float:
    v = hdr.get(key)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v else default


def tag_list(value) -> list[str]:
    """A bounded list of printable tags from an untrusted value (anything else is dropped).

    Args:
        value: what a message carried.
    """
    if not isinstance(value, list):
        return []
    return [t for t in value[:_MAX_TAGS] if isinstance(t, str) and 0 < len(t) <= _MAX_TAG_CHARS and t.isprintable()]


def _dict(hdr: dict, key: str) -> dict:
    v = hdr.get(key)
    return v if isinstance(v, dict) else {}


def _signal_name(sig: int) -> str:
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def status_of(hdr: dict, events: list[str]) -> tuple[str, str]:
    """(status, note for stderr) from the server's observations.

    Args:
        hdr: the server's response header.
        events: the job's runtime tags.
    """
    sig = _int(hdr, "signal") or 0
    exit_code = _int(hdr, "exit_code", None)
    cpu_limit = _float(hdr, "cpu_limit_s", float("inf"))
    killed_by = hdr.get("killed_by")
    if isinstance(hdr.get("setup_error"), str):
        return "error", "[sandbox] %s; the code was not run\n" % hdr["setup_error"][:300]
    if killed_by in ("cpu", "cpu-rlimit"):
        return "timeout", "[sandbox] timed out: CPU time limit of %g s reached\n" % cpu_limit
    if killed_by == "wall":
        return "timeout", "[sandbox] timed out: wall-clock cap reached (the code was waiting or sleeping)\n"
    if killed_by == "output":
        return "killed", "[sandbox] killed: output exceeded %d bytes\n" % (_int(hdr, "out_total") or 0)
    if killed_by == "event-flood":
        return "killed", "[sandbox] killed: wrote %d bytes to the sandbox's event channel\n" % (
            _int(hdr, "events_total") or 0)
    if (_int(hdr, "oom_kills") or 0) > 0:
        return "memory", "[sandbox] memory limit reached (the process was killed)\n"
    if hdr.get("ready") is not True:
        return "error", "[sandbox] setup of the confined process failed; the code was not run\n"
    if sig == signal.SIGKILL:
        return "killed", "[sandbox] killed by SIGKILL\n"
    if sig:
        return "error", "[sandbox] crashed: %s\n" % _signal_name(sig)
    if exit_code == 0:
        return "ok", ""
    if any(e.startswith(BLOCKING_PREFIXES) for e in events):
        return "blocked", ""
    return "error", ""


def to_result(hdr: dict, out: bytes, err: bytes, static_fallback, wall_ms: float) -> ExecutionResult:
    """The ``ExecutionResult`` of one response.

    Args:
        hdr: the server's response header.
        out, err: the job's kept stdout / stderr bytes.
        static_fallback: callable giving the static tags when the job did not report them (it never started).
        wall_ms: the host's own measure of the duration, used when the server's is missing.
    """
    events = tag_list(hdr.get("events"))
    static = tag_list(hdr.get("static")) if isinstance(hdr.get("static"), list) else static_fallback()
    stderr = err.decode("utf-8", "replace")
    status, note = status_of(hdr, events)
    out_total, kept = _int(hdr, "out_total") or 0, len(out) + len(err)
    if out_total > kept and status != "killed":
        note += "[sandbox] output truncated\n"
    return ExecutionResult(
        status=status,
        stdout=out.decode("utf-8", "replace"),
        stderr=stderr + note,
        exit_code=_int(hdr, "exit_code", None) if "setup_error" not in hdr else None,
        duration_ms=round(_float(hdr, "wall_ms", wall_ms), 3),
        unsafe=bool(static or events),
        unsafe_static=static,
        unsafe_runtime=events,
        cpu_ms=round(_float(hdr, "cpu_ms"), 3) if "cpu_ms" in hdr else None,
    )


def verify(info: dict) -> str | None:
    """What is missing for a confined server to be trusted, or None when its self-test passed.

    Args:
        info: the server's ready message.
    """
    probe, layers = _dict(info, "probe"), _dict(info, "layers")
    if info.get("setup_failed"):
        return "confinement of the child failed (%s)" % str(info["setup_failed"]).strip()[-300:]
    if info.get("seccomp_error"):
        return "seccomp filter could not be built (%s)" % info["seccomp_error"]
    if not layers.get("seccomp"):
        return "seccomp filter could not be applied (libseccomp2 missing?)"
    if not layers.get("namespaces"):
        return "per-job namespaces could not be made (user namespaces disabled?)"
    checks = (("fork", "process creation is not blocked (seccomp)"),
              ("inet", "inet sockets are not blocked (seccomp)"),
              ("write_root", "the sandbox root is writable"),
              ("memfd", "memfd_create is not refused (seccomp)"),
              ("sysv_ipc", "SysV IPC is not refused (seccomp)"),
              ("listmount", "listmount is not refused (seccomp)"),
              ("pidfd_open", "pidfd_open is not refused (seccomp)"),
              ("proc", "/proc is visible to snippets"))
    for key, why in checks:
        if probe.get(key, True):
            return why
    if probe.get("ctl_hidden") is not True:
        return "the server's control files are visible to snippets"
    if probe.get("scratch_inodes") != info.get("scratch_inodes_policy"):
        return "the per-job scratch is not the job's own capped tmpfs"
    if set(info.get("interfaces") or []) - {"lo"}:
        return "network namespace not isolated"
    if (_int(info, "server_pid", 99) or 99) > 10:
        return "pid namespace not isolated"
    return None


def layers_report(info: dict, unsafe_mode: bool, missing: str | None) -> dict:
    """What ``check_isolation()`` returns: which layers are active.

    Args:
        info: the server's ready message.
        unsafe_mode: the server runs without isolation.
        missing: why the confined server was refused, if it was.
    """
    probe, layers = _dict(info, "probe"), _dict(info, "layers")
    confined = bool(info.get("confined")) and not unsafe_mode
    ll = (_int(info, "landlock_abi") or 0) if confined else 0
    controllers = [c for c in info.get("cgroup_controllers") or [] if c in ("memory", "cpu")] if confined else []
    return {
        "sandbox": "bubblewrap" if confined else "none (--unsafe-no-sandbox)",
        "bwrap": confined,
        "pid_namespace": confined and (_int(info, "server_pid", 99) or 99) <= 10,
        "net_namespace": confined and set(info.get("interfaces") or []) <= {"lo"},
        "mount_namespace_readonly": confined and probe.get("write_root") is False,
        "proc_hidden": confined and probe.get("proc") is False,
        "job_namespaces": confined and bool(layers.get("namespaces")),
        "job_scratch_tmpfs": confined and probe.get("scratch_inodes") == info.get("scratch_inodes_policy"),
        "seccomp": confined and bool(layers.get("seccomp")),
        "seccomp_allow_list": confined and bool(layers.get("seccomp")),
        "seccomp_refusals_recorded": confined and info.get("refusals_recorded") is True,
        "no_fork": probe.get("fork") is False,
        "no_inet_sockets": probe.get("inet") is False,
        "no_sysv_ipc": probe.get("sysv_ipc") is False,
        "no_memfd": probe.get("memfd") is False,
        "landlock": ("abi %d" % ll) if ll and layers.get("landlock") else False,
        "setuid_unprivileged": confined and bool(info.get("root_mode")) and (_int(layers, "uid", 0) or 0) >= 20000,
        "no_new_privs": bool(layers.get("nnp")),
        "cgroup_memory": "memory" in controllers,
        "cgroup_cpu": "cpu" in controllers,
        "rlimits": True,
        "audit_hook": True,
        "python": str(info.get("python", "")),
        "usable": confined,
        "missing": missing or "",
    }
