"""Per-job cgroups (v1 memory and cpu hierarchies) below the parents the host delegated to the server.

The host creates one parent per controller inside its own cgroup and binds it into the sandbox; the server
makes a fresh group per job under each parent before forking, the child moves itself in before it drops
root, and the server reads the group's OOM-kill counter after the job and removes the group.  A job
therefore has its own memory limit that counts everything the kernel holds for it (tmpfs pages, memfd,
inodes, dentries), and its own CPU quota and share.
"""

from __future__ import annotations

import os

from ._sysfs import read_text as _read
from ._sysfs import write_text as _write

_CPU_PERIOD_US = 100_000


class JobCgroups:
    """The delegated parents and how to make, join, read and remove a job's groups.

    Args:
        parents: controller name ("memory", "cpu") -> directory of the delegated parent group.
    """

    def __init__(self, parents: dict[str, str]) -> None:
        self.parents = {}
        for controller, path in parents.items():
            if controller in ("memory", "cpu") and os.path.isfile(os.path.join(path, "cgroup.procs")):
                self.parents[controller] = path
        self._stale: list[str] = []
        if "memory" in self.parents:
            try:
                self._probe("memory")
            except OSError:
                del self.parents["memory"]
        if "cpu" in self.parents:
            try:
                self._probe("cpu")
            except OSError:
                del self.parents["cpu"]

    def _probe(self, controller: str) -> None:
        """Makes and removes one group, so that a parent we cannot use is dropped at start."""
        path = os.path.join(self.parents[controller], "probe%d" % os.getpid())
        os.mkdir(path)
        try:
            if controller == "memory":
                _write(os.path.join(path, "memory.limit_in_bytes"), str(64 << 20))
            else:
                _write(os.path.join(path, "cpu.cfs_period_us"), str(_CPU_PERIOD_US))
        finally:
            os.rmdir(path)

    @property
    def memory(self) -> bool:
        return "memory" in self.parents

    @property
    def cpu(self) -> bool:
        return "cpu" in self.parents

    def create(self, name: str, memory_bytes: int, cpus: float) -> dict[str, str]:
        """Makes the job's groups; returns controller -> group directory.

        Args:
            name: unique name of the job's groups.
            memory_bytes: the job's memory limit (memory + swap where the kernel has memsw).
            cpus: CPUs the job may use at most (CFS quota).

        Raises:
            OSError: a group could not be made (what was made is removed again).
        """
        made: dict[str, str] = {}
        try:
            if self.memory:
                path = os.path.join(self.parents["memory"], name)
                os.mkdir(path)
                made["memory"] = path
                _write(os.path.join(path, "memory.limit_in_bytes"), str(memory_bytes))
                try:  # absent when the kernel has no swap accounting
                    _write(os.path.join(path, "memory.memsw.limit_in_bytes"), str(memory_bytes))
                except OSError:
                    pass
            if self.cpu:
                path = os.path.join(self.parents["cpu"], name)
                os.mkdir(path)
                made["cpu"] = path
                _write(os.path.join(path, "cpu.cfs_period_us"), str(_CPU_PERIOD_US))
                _write(os.path.join(path, "cpu.cfs_quota_us"), str(max(1000, int(cpus * _CPU_PERIOD_US))))
        except OSError:
            self.remove(made)
            raise
        return made

    @staticmethod
    def join(groups: dict[str, str]) -> None:
        """Moves the calling process into ``groups`` (called by the child while it may still write there).

        Args:
            groups: as returned by ``create``.
        """
        pid = str(os.getpid())
        for path in groups.values():
            _write(os.path.join(path, "cgroup.procs"), pid)

    @staticmethod
    def oom_kills(groups: dict[str, str]) -> int:
        """How many processes of the job the kernel killed for reaching the memory limit.

        Args:
            groups: as returned by ``create``.
        """
        path = groups.get("memory")
        if not path:
            return 0
        try:
            for line in _read(os.path.join(path, "memory.oom_control")).splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    @staticmethod
    def peak_bytes(groups: dict[str, str]) -> int | None:
        """The job's peak memory as the kernel counted it, or None without the memory group.

        Args:
            groups: as returned by ``create``.
        """
        path = groups.get("memory")
        if not path:
            return None
        try:
            return int(_read(os.path.join(path, "memory.max_usage_in_bytes")).strip())
        except (OSError, ValueError):
            return None

    def remove(self, groups: dict[str, str]) -> None:
        """Removes a finished job's groups; one still busy is retried at the next call.

        Args:
            groups: as returned by ``create``.
        """
        pending, self._stale = list(self._stale) + list(groups.values()), []
        for path in pending:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError:
                if len(self._stale) < 4096:
                    self._stale.append(path)
