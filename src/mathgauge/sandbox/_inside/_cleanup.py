"""Deleting scratch directories without the sandbox (``--unsafe-no-sandbox`` only).

Confined jobs need none of this: their scratch is a tmpfs in their own mount namespace that the kernel
frees with the job.  Unconfined jobs write real directories, which a snippet can make arbitrarily deep or
wide; ``remove_tree`` walks them iteratively (one open directory at a time, no recursion, no path longer
than a name), and ``Cleaner`` runs it in a background thread that survives any error.
"""

from __future__ import annotations

import os
import queue
import stat
import threading


def _open_dir(name: str, dir_fd: int | None) -> int:
    return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)


def _scan(fd: int) -> list[str]:
    """Unlinks every non-directory entry of ``fd``; returns the names of its subdirectories."""
    subdirs = []
    with os.scandir(fd) as it:
        for entry in it:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(entry.name)
            else:
                try:
                    os.unlink(entry.name, dir_fd=fd)
                except FileNotFoundError:
                    pass
    return subdirs


def remove_tree(path: str) -> None:
    """Deletes ``path`` and everything below it, at any depth and width, without recursion.

    One directory is open at a time; each is listed once; memory grows with the subdirectories still to
    visit, never with the depth's path length.

    Args:
        path: a directory (a symlink or file is just unlinked; a missing path is ignored).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    os.chmod(path, 0o700)
    names: list[str] = []  # the way down from ``path`` to the current directory
    fd = _open_dir(path, None)
    try:
        levels = [_scan(fd)]  # per level: subdirectories still to visit
        while True:
            if levels[-1]:
                sub = levels[-1].pop()
                try:
                    os.chmod(sub, 0o700, dir_fd=fd)  # a snippet may have made it unreadable
                    child = _open_dir(sub, fd)
                except FileNotFoundError:
                    continue
                os.close(fd)
                fd = child
                names.append(sub)
                levels.append(_scan(fd))
                continue
            levels.pop()
            if not names:
                break
            parent = _open_dir("..", fd)
            os.close(fd)
            fd = parent
            os.rmdir(names.pop(), dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(path)


class Cleaner:
    """A background thread that deletes directories handed to it; it logs and carries on after errors.

    Args:
        on_error: called with (path, exception) when a deletion fails.
    """

    def __init__(self, on_error=None) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        self._on_error = on_error
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __call__(self, path: str) -> None:
        """Queues ``path`` for deletion (and restarts the thread if it ever died).

        Args:
            path: a directory.
        """
        self._queue.put(path)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sandbox-cleaner", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            path = self._queue.get()
            try:
                remove_tree(path)
            except Exception as e:  # noqa: BLE001 - a snippet's leftovers must not stop the cleaner
                if self._on_error is not None:
                    try:
                        self._on_error(path, e)
                    except Exception:
                        pass
            finally:
                self._queue.task_done()

    def drain(self) -> None:
        """Waits until every queued directory was handled."""
        self._queue.join()
