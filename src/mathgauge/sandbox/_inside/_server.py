"""The fork-server loop: one forked child per job, watched until it exits, then one response to the host.

Everything a response says about how the job ended is the server's own observation: the exit status from
``waitpid``, CPU time from the job's CPU clock and rusage, the wall clock, the OOM-kill counter of the
job's memory cgroup, whether the start frame arrived (the snippet started), the output sizes, and the
system calls the job's seccomp filter refused (``_refusals``; listed first among the runtime tags).  What
the child wrote on its event channel only adds runtime tags (see ``_wire.EventChannel``).

The server never dies because of a job, and never waits for one: it reads a job's pipes only when they are
readable (and drains them without blocking when the job ends, even if a write end survives it, parked in a
unix socket's queue), answers its refused calls only when one is pending, and bounds the work each job can
cause (output and event bytes, event frames, refusals).  Any error while starting, watching or finishing
one job ends that job with ``setup_error`` and the loop goes on.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import time
from collections.abc import Callable

from . import _policy, _wire
from ._cgroups import JobCgroups
from ._child import ChildConfig, ChildJob, run_child
from ._refusals import RefusalListener

CHILD_UID_BASE = 20000
_OBSERVED_MAX = 32  # distinct refused-syscall tags kept per job
_CPUCLOCK_PROF, _CPUCLOCK_SCHED = 0, 2
_DISCARD = bytearray(65536)


def cpu_clock_id(pid: int, kind: int = _CPUCLOCK_SCHED) -> int:
    """The clock id of process ``pid``'s CPU time (all its threads), as clock_gettime takes it.

    Args:
        pid: a process of this pid namespace (readable until it is reaped).
        kind: 2 (scheduler time, precise: the budget) or 0 (tick-sampled time, what RLIMIT_CPU checks).
    """
    return ((~pid) << 3) | kind


class Job:
    """The server's state of one running job."""

    def __init__(self, jid: int, timeout: float, memory_mb: int) -> None:
        self.jid = jid
        self.timeout = max(_policy.MIN_TIMEOUT_S, timeout)
        self.memory_mb = memory_mb
        self.pid = -1
        self.pidfd = -1
        self.clock = 0
        self.cgroups: dict[str, str] = {}
        self.scratch = ""
        self.start = time.monotonic()
        self.wall_deadline = self.start + _policy.wall_cap_s(self.timeout)
        self.next_cpu_check = self.start
        self.cpu_s = 0.0
        self.out = bytearray(_policy.OUT_KEEP)
        self.err = bytearray(_policy.OUT_KEEP)
        self.out_n = self.err_n = self.total = self.ev_total = 0
        self.events = _wire.EventChannel()
        self.fds: dict[str, int] = {}  # kind -> read end
        self.lsock: socket.socket | None = None  # where the child sends its seccomp listener
        self.refusals: RefusalListener | None = None
        self.observed: list[str] = []  # tags of refused system calls (the server's own observation)
        self.killed_by: str | None = None
        self.done = False


class Server:
    """Reads requests on ``ctl_in``, runs them, answers on ``ctl_out``.

    Args:
        ctl_in, ctl_out: the channel to the host.
        cfg: the settings every child shares.
        cgroups: per-job cgroups, or None.
        cpu_rate: the most CPU seconds a job can use per wall second (to space the CPU checks).
        cleaner: for unconfined scratch directories, a callable that deletes one (in the background).
    """

    def __init__(self, ctl_in: int, ctl_out: int, cfg: ChildConfig, cgroups: JobCgroups | None = None,
                 cpu_rate: float = 1.0, cleaner=None) -> None:
        self.ctl_in, self.ctl_out = ctl_in, ctl_out
        self.cfg = cfg
        self.cgroups = cgroups
        self.cpu_rate = max(1.0, cpu_rate)
        self.cleaner = cleaner
        self.sel = selectors.DefaultSelector()
        self.jobs: dict[int, Job] = {}
        self.counter = 0
        self.send_hook: Callable[[dict, bytes, bytes], None] | None = None  # replaces sending (the self-test captures its own answer)
        os.set_blocking(ctl_in, True)
        self.sel.register(ctl_in, selectors.EVENT_READ, ("ctl", None))

    # ------------------------------------------------------------------------------------------- requests
    def read_request(self) -> bool:
        """Reads one request and starts it; False when the host closed the channel."""
        try:
            hdr = _wire.read_header(self.ctl_in)
            n = int(hdr.get("code_len") or 0)
            code = _wire.read_exact(self.ctl_in, n) if n else bytearray()
        except EOFError:
            return False
        if hdr.get("op") == "ping":
            self.send({"id": hdr.get("id"), "pong": True})
            return True
        self.start_job(int(hdr["id"]), float(hdr.get("timeout", 10.0)), int(hdr.get("memory_mb", 1024)), code)
        return True

    def start_job(self, jid: int, timeout: float, memory_mb: int, code: bytearray) -> None:
        """Forks the job's child; a failure ends only this job (``setup_error``).

        Args:
            jid: the host's id of the job.
            timeout: CPU budget in seconds.
            memory_mb: memory cap.
            code: UTF-8 bytes of the snippet (zeroed here once the child has its copy).
        """
        self.counter += 1
        job = Job(jid, timeout, memory_mb)
        write_ends: list[int] = []
        try:
            uid = CHILD_UID_BASE + (self.counter % 40000)
            if self.cfg.confine:
                job.scratch = self.cfg.scratch
            else:
                job.scratch = "%s/job%d" % (self.cfg.scratch, self.counter)
                os.mkdir(job.scratch, 0o700)
            if self.cgroups is not None and (self.cgroups.memory or self.cgroups.cpu):
                job.cgroups = self.cgroups.create("job%d" % self.counter, _policy.cgroup_memory_bytes(memory_mb),
                                                  _policy.CPUS_PER_JOB)
            for kind in ("out", "err", "ev"):
                r, w = os.pipe2(os.O_CLOEXEC)
                job.fds[kind] = r
                write_ends.append(w)
            if self.cfg.confine and self.cfg.seccomp is not None:
                job.lsock, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                write_ends.append(child_end.detach())
            child = ChildJob(uid=uid, timeout=job.timeout, memory_mb=memory_mb, scratch=job.scratch,
                             cgroups=job.cgroups, fds=tuple(write_ends))
            job.start = time.monotonic()
            job.wall_deadline = job.start + _policy.wall_cap_s(job.timeout)
            pid = os.fork()
            if pid == 0:
                try:  # whatever happens in the child (even an exception a snippet's signal handler raises
                    # after its code ended), it never returns into the server's code
                    wipe = [b for other in self.jobs.values() for b in (other.out, other.err)] + [_DISCARD]
                    run_child(self.cfg, child, code, wipe)
                finally:
                    while True:  # an asynchronous exception may hit the first attempt itself
                        try:
                            os._exit(125)
                        except BaseException:
                            pass
            job.pid = pid
            job.clock = cpu_clock_id(pid)
            job.next_cpu_check = job.start
            for w in write_ends:
                os.close(w)
            write_ends = []
            job.pidfd = os.pidfd_open(pid)
            self.jobs[jid] = job
            for kind, fd in job.fds.items():
                self.sel.register(fd, selectors.EVENT_READ, (kind, job))
            if job.lsock is not None:
                self.sel.register(job.lsock, selectors.EVENT_READ, ("lsock", job))
            self.sel.register(job.pidfd, selectors.EVENT_READ, ("exit", job))
        except Exception as e:  # noqa: BLE001 - one job's failure must not end the server
            for w in write_ends:
                os.close(w)
            self._abandon(job, "could not start the snippet: %s" % (e,))
        finally:
            code[:] = bytes(len(code))

    def _abandon(self, job: Job, why: str) -> None:
        """Ends a job the server could not run or watch: kill, reap, clean, answer ``setup_error``."""
        if job.pid > 0:
            self.kill(job)
            try:
                os.waitpid(job.pid, 0)
            except ChildProcessError:
                pass
        self._release(job)
        self.send({"id": job.jid, "setup_error": why[:500], "ready": False})

    def _release(self, job: Job) -> None:
        for fd in list(job.fds.values()) + ([job.pidfd] if job.pidfd >= 0 else []):
            try:
                self.sel.unregister(fd)
            except (KeyError, ValueError):
                pass
            try:
                os.close(fd)
            except OSError:
                pass
        job.fds.clear()
        job.pidfd = -1
        self._close_lsock(job)
        self._close_refusals(job)
        self.jobs.pop(job.jid, None)
        if job.cgroups and self.cgroups is not None:
            self.cgroups.remove(job.cgroups)
        if not self.cfg.confine and job.scratch and self.cleaner is not None:
            self.cleaner(job.scratch)
        for buf in (job.out, job.err):
            buf[:] = bytes(len(buf))

    # ----------------------------------------------------------------------------------- refused syscalls
    def take_listener(self, job: Job) -> None:
        """The child sent its seccomp listener (or closed the socket without one: no supervision)."""
        assert job.lsock is not None
        try:
            _, fds, _, _ = socket.recv_fds(job.lsock, 16, 1)
        except OSError:
            fds = []
        self._close_lsock(job)
        if fds and job.refusals is None:
            job.refusals = RefusalListener(fds[0], self.cfg.seccomp.names)
            self.sel.register(fds[0], selectors.EVENT_READ, ("seccomp", job))
        else:
            for fd in fds:
                os.close(fd)

    def answer_refusals(self, job: Job) -> None:
        """Records and refuses the job's pending refused calls."""
        assert job.refusals is not None
        tags, finished = job.refusals.answer()
        for tag in tags:
            if tag not in job.observed and len(job.observed) < _OBSERVED_MAX:
                job.observed.append(tag)
        if finished:
            self._close_refusals(job)

    def _close_lsock(self, job: Job) -> None:
        if job.lsock is not None:
            try:
                self.sel.unregister(job.lsock)
            except (KeyError, ValueError):
                pass
            job.lsock.close()
            job.lsock = None

    def _close_refusals(self, job: Job) -> None:
        if job.refusals is not None:
            try:
                self.sel.unregister(job.refusals.fd)
            except (KeyError, ValueError):
                pass
            job.refusals.close()
            job.refusals = None

    # --------------------------------------------------------------------------------------------- output
    def pump(self, kind: str, job: Job) -> bool:
        """Reads what one of the job's pipes has; False at EOF or, when draining, when it is empty (the
        pipe is then closed)."""
        fd = job.fds[kind]
        try:
            return self._pump(kind, job, fd)
        except BlockingIOError:  # draining and empty, but a write end lives on (parked in a socket queue)
            self._drop_pipe(job, kind)
            return False

    def _drop_pipe(self, job: Job, kind: str) -> None:
        fd = job.fds.pop(kind)
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass
        os.close(fd)

    def _pump(self, kind: str, job: Job, fd: int) -> bool:
        if kind == "ev":
            data = os.read(fd, 65536)
            k = len(data)
            job.ev_total += k
            if job.ev_total <= _policy.EVENT_KILL:
                job.events.feed(data)
        else:
            buf = job.out if kind == "out" else job.err
            n = job.out_n if kind == "out" else job.err_n
            k = os.readv(fd, [memoryview(buf)[n:]]) if n < len(buf) else os.readv(fd, [_DISCARD])
            if n < len(buf):
                if kind == "out":
                    job.out_n += k
                else:
                    job.err_n += k
            job.total += k
        if job.killed_by is None and (job.total > _policy.OUT_KILL or job.ev_total > _policy.EVENT_KILL):
            job.killed_by = "output" if job.total > _policy.OUT_KILL else "event-flood"
            self.kill(job)
        if k == 0:
            self._drop_pipe(job, kind)
            return False
        return True

    def kill(self, job: Job) -> None:
        """SIGKILL to the job's process group and the job (threads die with it)."""
        for f in (os.killpg, os.kill):
            try:
                f(job.pid, signal.SIGKILL)
            except OSError:
                pass

    # ----------------------------------------------------------------------------------------------- end
    def finish(self, job: Job) -> None:
        """The job's child exited: drain its pipes, reap it, answer the host."""
        self.kill(job)  # anything left in its group
        for kind in list(job.fds):
            os.set_blocking(job.fds[kind], False)  # never wait: a write end may outlive the job
            while kind in job.fds and self.pump(kind, job):
                pass
        job.events.close()
        try:  # the zombie's tick-sampled CPU time: did the RLIMIT_CPU backstop fire, or the job itself?
            prof_s = time.clock_gettime(cpu_clock_id(job.pid, _CPUCLOCK_PROF))
        except OSError:
            prof_s = 0.0
        _, wstatus, rusage = os.wait4(job.pid, 0)
        wall_ms = (time.monotonic() - job.start) * 1000.0
        cpu_s = rusage.ru_utime + rusage.ru_stime
        oom = JobCgroups.oom_kills(job.cgroups)
        peak = JobCgroups.peak_bytes(job.cgroups)
        sig = os.WTERMSIG(wstatus) if os.WIFSIGNALED(wstatus) else 0
        code = os.WEXITSTATUS(wstatus) if os.WIFEXITED(wstatus) else -sig
        soft, hard = _policy.rlimit_cpu_s(job.timeout)
        if job.killed_by is None and ((sig == signal.SIGXCPU and prof_s >= soft) or
                                      (sig == signal.SIGKILL and prof_s >= hard)):
            job.killed_by = "cpu-rlimit"
        start = job.events.start or {}
        hdr = {"id": job.jid, "ready": job.events.start is not None, "exit_code": code, "signal": sig,
               "wall_ms": round(wall_ms, 3), "cpu_ms": round(cpu_s * 1000.0, 3), "cpu_limit_s": job.timeout,
               "killed_by": job.killed_by, "oom_kills": oom, "memory_peak": peak, "cgroups": sorted(job.cgroups),
               "events": job.observed + job.events.tags_within(_policy.TAGS_MAX - len(job.observed)),
               "static": start.get("static"), "layers": start.get("layers"),
               "out_total": job.total, "events_total": job.ev_total, "out_len": job.out_n, "err_len": job.err_n}
        out, err = bytes(job.out[:job.out_n]), bytes(job.err[:job.err_n])
        self._release(job)
        self.send(hdr, out, err)

    def send(self, hdr: dict, out: bytes = b"", err: bytes = b"") -> None:
        hdr = dict(hdr, out_len=len(out), err_len=len(err))
        if self.send_hook is not None:
            self.send_hook(hdr, out, err)
            return
        _wire.send_message(self.ctl_out, hdr, out, err)

    # ---------------------------------------------------------------------------------------------- timers
    def check_timers(self) -> float | None:
        """Kills jobs past their CPU budget or wall cap; returns seconds until the next check is due."""
        now = time.monotonic()
        due: float | None = None
        for job in self.jobs.values():
            if job.killed_by is not None:
                continue
            if now >= job.next_cpu_check:
                try:
                    job.cpu_s = time.clock_gettime(job.clock)
                except OSError:
                    pass  # exited; the exit event comes next
                left = job.timeout - job.cpu_s
                if left <= 0:
                    job.killed_by = "cpu"
                    self.kill(job)
                    continue
                job.next_cpu_check = now + max(0.002, left / self.cpu_rate)
            if now >= job.wall_deadline:
                job.killed_by = "wall"
                self.kill(job)
                continue
            nxt = min(job.next_cpu_check, job.wall_deadline) - now
            due = nxt if due is None else min(due, nxt)
        return None if due is None else max(0.0, due)

    def loop(self, until=None) -> None:
        """Serves until the host closes the channel and every job has ended (or ``until()`` is true).

        Args:
            until: optional callable checked after each round (the self-test stops when answered).
        """
        ctl_open = True
        while (ctl_open or self.jobs) and not (until is not None and until()):
            wait = self.check_timers()
            if wait is None and not ctl_open:
                wait = 0.5
            for key, _ in self.sel.select(wait):
                kind, job = key.data
                if kind == "ctl":
                    if not self.read_request():
                        ctl_open = False
                        self.sel.unregister(self.ctl_in)
                        for j in list(self.jobs.values()):
                            self.kill(j)
                    continue
                if job.done or job.jid not in self.jobs:
                    continue
                try:
                    if kind == "exit":
                        job.done = True
                        self.finish(job)
                    elif kind == "seccomp":
                        if job.refusals is not None:
                            self.answer_refusals(job)
                    elif kind == "lsock":
                        if job.lsock is not None:
                            self.take_listener(job)
                    elif kind in job.fds:
                        self.pump(kind, job)
                except Exception as e:  # noqa: BLE001 - one job's failure must not end the server
                    job.done = True
                    self._abandon(job, "sandbox error while running the snippet: %s" % (e,))
