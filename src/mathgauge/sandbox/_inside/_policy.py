"""Resource policy of one job: the numbers, shared by the host and the server.

CPU and time.  ``timeout`` is a budget of the job's *own CPU time* (all its threads), measured by the
server from the job's scheduler CPU clock and enforced by a kill.  RLIMIT_CPU is only a backstop, set well
above (``rlimit_cpu_s``) because the kernel checks it against tick-sampled time, which runs ahead of the
real CPU time on a virtual machine with steal time; when it fires, the server confirms it from the same
tick-sampled clock before calling it a timeout (a snippet raising SIGXCPU itself is a crash).  A wall-clock cap of ``WALL_FACTOR * timeout + WALL_EXTRA_S`` stops jobs that sleep or wait.  A
busy neighbour therefore cannot make a job time out: it can only slow its wall clock, and the cap leaves
room for a machine shared by ``WALL_FACTOR`` jobs per core.  Where the cpu cgroup is available each job
also gets at most ``CPUS_PER_JOB`` CPUs (CFS quota) and an equal share, whatever its thread count; the
thread cap (RLIMIT_NPROC on the job's own uid) is ``THREADS_MAX``.

Memory.  Where the memory cgroup is available, each job has its own group limited to ``memory_mb`` plus
``COW_ALLOWANCE_MB`` (pages of the warm server that the job copies on write).  It counts everything the
job makes the kernel hold: heap, tmpfs files, inodes and dentries, page tables of new mappings.  Reaching
it gets the job OOM-killed; the server reads the group's oom_kill counter and reports ``memory``.  Without
the cgroup, RLIMIT_AS caps the address space, memfd is refused (seccomp), and the scratch tmpfs's size and
inode caps bound what files can hold.

Scratch.  Each job has its own tmpfs (``SCRATCH_BYTES``, ``SCRATCH_INODES``) in its own mount namespace,
gone with the job: no neighbour can fill it, and nothing needs deleting afterwards.

The shared server.  What a job makes the server do is bounded, so that no job slows its neighbours through
it: ``OUT_KILL`` bytes of output and ``EVENT_KILL`` of events (then the job is killed), ``_wire.FRAMES_MAX``
event frames parsed (then only counted), ``_refusals.REFUSALS_MAX`` refused calls answered (then the kernel
fails them itself), and the server never blocks on a job's pipe or listener.
"""

import math

OUT_KEEP = 64 * 1024          # bytes of stdout / stderr kept per job
OUT_KILL = 8 * 1024 * 1024    # stdout + stderr bytes that get a job killed
EVENT_KILL = 8 * 1024 * 1024  # event-channel bytes that get a job killed
TAGS_MAX = 64                 # runtime tags reported per job (the host keeps no more)
SCRATCH_BYTES = 128 << 20
SCRATCH_INODES = 16384
THREADS_MAX = 64
CPUS_PER_JOB = 1.0
WALL_FACTOR = 3.0
WALL_EXTRA_S = 1.0
COW_ALLOWANCE_MB = 64
MIN_TIMEOUT_S = 0.05


def wall_cap_s(timeout_s: float) -> float:
    """Wall-clock seconds after which a job with this CPU budget is stopped whatever it does.

    Args:
        timeout_s: the job's CPU-time budget in seconds.
    """
    return max(MIN_TIMEOUT_S, timeout_s) * WALL_FACTOR + WALL_EXTRA_S


def rlimit_cpu_s(timeout_s: float) -> tuple[int, int]:
    """(soft, hard) RLIMIT_CPU of a job: SIGXCPU, then SIGKILL, far enough above the server's own check.

    Args:
        timeout_s: the job's CPU-time budget in seconds.
    """
    soft = int(math.ceil(max(MIN_TIMEOUT_S, timeout_s) * 1.5)) + 1
    return soft, soft + 1


def cgroup_memory_bytes(memory_mb: int) -> int:
    """The memory cgroup limit of a job asked to run with ``memory_mb``.

    Args:
        memory_mb: the caller's memory cap in MiB.
    """
    return (int(memory_mb) + COW_ALLOWANCE_MB) << 20
