"""Landlock (raw syscalls through ctypes): a job may write only below its scratch directory.

Reads are allowed below every top-level directory except the hidden ones (``/tmp`` of the server, the
control directory) and ``/dev``, plus the library roots.  In ``/dev`` only the data devices (``DEV_FILES``)
can be opened: not ``/dev/ptmx`` or ``/dev/pts/*``, whose pseudo-terminals all jobs would share (a channel
between them).  With ABI >= 4 TCP bind/connect are denied; with ABI >= 6 signals and abstract unix
sockets are scoped to the job's own domain (so jobs cannot reach each other).
"""

from __future__ import annotations

import ctypes
import os
import stat

_SYS_create_ruleset = 444
_SYS_add_rule = 445
_SYS_restrict_self = 446
_PR_SET_NO_NEW_PRIVS = 38
_RULE_PATH_BENEATH = 1

_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_MAKE_CHAR, _MAKE_BLOCK = 1 << 6, 1 << 11
_TRUNCATE, _IOCTL_DEV = 1 << 14, 1 << 15
_FILE_ONLY = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV

#: The only files of /dev a job may open (read and write).
DEV_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0 when Landlock is unavailable)."""
    try:
        r = _libc.syscall(_SYS_create_ruleset, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except Exception:
        return 0
    return int(r) if r > 0 else 0


def _handled_fs(abi: int) -> int:
    rights = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
    if abi >= 2:
        rights |= 1 << 13  # REFER
    if abi >= 3:
        rights |= _TRUNCATE
    if abi >= 5:
        rights |= _IOCTL_DEV
    return rights


def apply_landlock(abi: int, writable: str, lib_roots=(), hidden=("/tmp",)) -> int:
    """Restricts this process for good; returns the ABI applied (0 when unavailable).

    Args:
        abi: the ABI to use (from ``landlock_abi()``); 0 does nothing.
        writable: the one directory the process may write below (its scratch).
        lib_roots: directories to allow reading even where they lie below a hidden directory.
        hidden: top-level directories that get no rule (nothing below them can be read).
    """
    if abi <= 0:
        return 0
    fs_all = _handled_fs(abi)
    attr = _RulesetAttr(fs_all, 3 if abi >= 4 else 0, 3 if abi >= 6 else 0)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    rfd = _libc.syscall(_SYS_create_ruleset, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if rfd < 0:
        raise OSError(ctypes.get_errno(), "landlock_create_ruleset failed")
    rfd = int(rfd)
    read = _READ_FILE | _READ_DIR
    dev_rw = read | _WRITE_FILE | (_TRUNCATE if abi >= 3 else 0) | (_IOCTL_DEV if abi >= 5 else 0)
    write_all = fs_all & ~(_EXECUTE | _MAKE_CHAR | _MAKE_BLOCK)
    hidden_set = {h.rstrip("/") for h in hidden}
    try:
        rules = [("/" + name, read) for name in sorted(os.listdir("/")) if "/" + name not in hidden_set | {"/dev"}]
        rules += [(p, read) for p in lib_roots if any(p.startswith(h + "/") for h in hidden_set)]
        rules += [("/dev", _READ_DIR)] + [(f, dev_rw) for f in DEV_FILES] + [(writable, write_all)]
        for path, rights in rules:
            _add_rule(rfd, path, rights & fs_all)
        if _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "no_new_privs failed")
        if _libc.syscall(_SYS_restrict_self, ctypes.c_int(rfd), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self failed")
    finally:
        os.close(rfd)
    return abi


def _add_rule(rfd: int, path: str, rights: int) -> None:
    try:
        pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path that does not exist here needs no rule
    try:
        mode = os.fstat(pfd).st_mode
        if not stat.S_ISDIR(mode):
            if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
                return
            rights &= _FILE_ONLY
        rule = _PathBeneath(rights, pfd)
        if _libc.syscall(_SYS_add_rule, ctypes.c_int(rfd), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(rule),
                         ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_add_rule failed for " + path)
    finally:
        os.close(pfd)
