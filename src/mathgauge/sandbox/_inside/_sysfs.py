"""Reading and writing the kernel's control files (procfs id maps, cgroupfs) in one system call each."""

from __future__ import annotations

import os


def write_text(path: str, text: str) -> None:
    """Writes ``text`` to a control file in one ``write`` (the kernel parses each write whole).

    Args:
        path: the control file.
        text: what to write.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def read_text(path: str) -> str:
    """The first 64 KiB of a control file, as ASCII text.

    Args:
        path: the control file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536).decode("ascii", "replace")
    finally:
        os.close(fd)
