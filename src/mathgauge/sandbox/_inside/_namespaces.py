"""A private user + mount + IPC namespace for each job, with its own tmpfs as scratch.

Called in the forked child after it dropped to its job uid: it creates a user namespace (mapping only its
own uid and gid), a mount namespace and an IPC namespace, mounts a fresh tmpfs capped in size and inodes at
the scratch mount point, covers the control directory (procfs and cgroups of the server) with an empty
read-only tmpfs, and drops every capability it holds in its namespace.  Consequences:

- the scratch is the job's alone: other jobs' scratch directories are not visible, no neighbour can fill
  it, and the kernel frees it (files, directories of any depth, inodes) when the job's last thread exits;
- SysV IPC objects live in the job's IPC namespace and die with it;
- abstract unix sockets live in the job's own network namespace (with only a loopback device, down): no
  job can connect to, or even detect by its name, another job's socket;
- the server's /proc and cgroup files are out of sight, and so are the pseudo-terminals and shared-memory
  files every job would otherwise share (``SHARED_DEV_DIRS``, covered whether or not Landlock runs);
- inside, the job is uid and gid ``INSIDE_ID`` whatever its real uid: it cannot count the jobs before it.
"""

from __future__ import annotations

import ctypes
import os

from ._sysfs import write_text

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
INSIDE_ID = 1000
#: Directories of the server's /dev that every job would share: covered, empty and read-only, in each job.
SHARED_DEV_DIRS = ("/dev/pts", "/dev/shm", "/dev/mqueue")
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REC, _MS_PRIVATE = 1 << 14, 1 << 18
_PR_SET_DUMPABLE = 4
_PR_CAPBSET_DROP = 24
_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_CAP_VERSION_3 = 0x20080522
_CAP_LAST = 63

_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def _mount_tmpfs(target: str, options: str, flags: int) -> None:
    _check(_libc.mount(b"mgsandbox", target.encode(), b"tmpfs", flags, options.encode()), "mount tmpfs on " + target)


def drop_capabilities() -> None:
    """Drops every capability: bounding set, ambient set, then effective/permitted/inheritable."""
    for cap in range(_CAP_LAST + 1):
        if _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and ctypes.get_errno() != 22:  # EINVAL: no such cap
            _check(-1, "drop capability %d from the bounding set" % cap)
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    hdr = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(hdr), data), "capset")


def enter_job_namespaces(scratch: str, scratch_bytes: int, scratch_inodes: int, proc: str,
                         hide: tuple[str, ...] = ()) -> None:
    """Moves the calling process into its own namespaces with its own scratch tmpfs (see the module doc).

    Args:
        scratch: mount point of the job's tmpfs (an existing, empty directory).
        scratch_bytes: size cap of the tmpfs.
        scratch_inodes: inode cap of the tmpfs (files + directories + symlinks).
        proc: where a procfs of the server's pid namespace is mounted (to write the id maps).
        hide: directories to cover with an empty read-only tmpfs.

    Raises:
        OSError: a step failed (user namespaces disabled, mount refused, ...); the job must not run.
    """
    uid, gid = os.geteuid(), os.getegid()
    # the id maps are written through /proc/self, which a process that changed its uid cannot open unless
    # it is dumpable again; it is made non-dumpable once more below
    _libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET), "unshare(user, mount, ipc, net)")
    write_text(proc + "/self/setgroups", "deny")
    write_text(proc + "/self/uid_map", "%d %d 1" % (INSIDE_ID, uid))
    write_text(proc + "/self/gid_map", "%d %d 1" % (INSIDE_ID, gid))
    _check(_libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None), "make mounts private")
    _mount_tmpfs(scratch, "size=%d,nr_inodes=%d,mode=0700,uid=%d,gid=%d" % (scratch_bytes, scratch_inodes,
                                                                            INSIDE_ID, INSIDE_ID),
                 _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    for path in tuple(hide) + tuple(d for d in SHARED_DEV_DIRS if os.path.isdir(d)):
        _mount_tmpfs(path, "size=4096,nr_inodes=1,mode=0555", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    drop_capabilities()
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
