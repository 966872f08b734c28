"""rlimits of a job: CPU backstop, file size, open files, threads, core dumps, address space."""

from __future__ import annotations

import mmap
import resource

from ._policy import rlimit_cpu_s


def probe_address_space() -> int:
    """Current address-space size in bytes, found without /proc by probing RLIMIT_AS with a 1-page mmap."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    lo, hi = 0, 1 << 47  # lo: a limit known too small; hi: a limit known big enough
    try:
        while hi - lo > 1 << 20:
            mid = (lo + hi) // 2
            resource.setrlimit(resource.RLIMIT_AS, (mid, hard))
            try:
                m = mmap.mmap(-1, mmap.PAGESIZE)
                m.close()
                hi = mid
            except OSError:
                lo = mid
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    return hi


def _set(what: int, soft: int, hard: int) -> None:
    try:
        resource.setrlimit(what, (soft, hard))
    except (ValueError, OSError):  # cannot raise the hard limit: stay under the current one
        cur_hard = resource.getrlimit(what)[1]
        if cur_hard != resource.RLIM_INFINITY:
            soft = min(soft, cur_hard)
        resource.setrlimit(what, (soft, cur_hard))


def apply_limits(cpu_s: float, memory_mb: int, address_space: bool, threads: int | None,
                 file_bytes: int = 16 << 20, open_files: int = 64) -> None:
    """Sets the job's rlimits.

    Args:
        cpu_s: the job's CPU budget; RLIMIT_CPU is the backstop of ``_policy.rlimit_cpu_s`` (the server's
            own CPU check normally stops the job first).
        memory_mb: memory cap in MiB (0: none).
        address_space: cap the address space at its current size plus ``memory_mb`` (used where no memory
            cgroup counts the job's memory).
        threads: RLIMIT_NPROC (threads of the job's own uid), or None to leave it.
        file_bytes: largest file the job may write.
        open_files: open file descriptors.
    """
    _set(resource.RLIMIT_CPU, *rlimit_cpu_s(cpu_s))
    _set(resource.RLIMIT_FSIZE, file_bytes, file_bytes)
    _set(resource.RLIMIT_NOFILE, open_files, open_files)
    _set(resource.RLIMIT_CORE, 0, 0)
    if threads is not None:
        _set(resource.RLIMIT_NPROC, threads, threads)
    if address_space and memory_mb > 0:
        cap = probe_address_space() + (memory_mb << 20)
        _set(resource.RLIMIT_AS, cap, cap)
