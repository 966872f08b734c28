"""Host side of the cgroup layer: a parent group per controller for one sandbox, inside the host's own groups.

Only cgroup v1 ``memory`` and ``cpu`` hierarchies where this process (as root) can make groups below its
own: the parents are nested in the host's groups, so whatever limits the host already has still bound the
sandbox.  Where they cannot be made (not root, cgroup v2 only, read-only cgroupfs), the sandbox falls back
to its other memory caps (see ``_inside._policy``) and reports the layer as missing.
"""

from __future__ import annotations

import itertools
import os
import re

CONTROLLERS = ("memory", "cpu")
_PREFIX = "mathgauge-sandbox-"
_counter = itertools.count(1)


def _v1_mounts() -> dict[str, tuple[str, str]]:
    """controller -> (mount point, root within the hierarchy) of the v1 hierarchies."""
    found: dict[str, tuple[str, str]] = {}
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            for line in f:
                pre, _, post = line.partition(" - ")
                fields, post_fields = pre.split(), post.split()
                if len(fields) < 5 or len(post_fields) < 3 or post_fields[0] != "cgroup":
                    continue
                for opt in post_fields[2].split(","):
                    if opt in CONTROLLERS and opt not in found:
                        found[opt] = (fields[4], fields[3])
    except OSError:
        pass
    return found


def _own_groups() -> dict[str, str]:
    """controller -> this process's group path in the v1 hierarchy of that controller."""
    own: dict[str, str] = {}
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3:
                    for c in parts[1].split(","):
                        if c in CONTROLLERS:
                            own[c] = parts[2]
    except OSError:
        pass
    return own


def _remove_stale(parent: str) -> None:
    """Removes groups left by sandboxes whose host process died without cleaning up."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        m = re.fullmatch(re.escape(_PREFIX) + r"(\d+)-\d+", name)
        if not m or os.path.exists("/proc/%s" % m.group(1)):
            continue
        release({"stale": os.path.join(parent, name)})


def delegate(weight: int = 1) -> dict[str, str]:
    """Makes this sandbox's parent groups; returns controller -> directory ({} where none can be made).

    Args:
        weight: how many processes' worth of CPU share the sandbox's jobs get together against the rest of
            the machine (its number of workers): a group competes like one process otherwise.
    """
    if os.geteuid() != 0:
        return {}
    mounts, own = _v1_mounts(), _own_groups()
    tag = "%s%d-%d" % (_PREFIX, os.getpid(), next(_counter))
    made: dict[str, str] = {}
    for controller in CONTROLLERS:
        if controller not in mounts or controller not in own:
            continue
        mount_point, root = mounts[controller]
        rel = own[controller]
        if root != "/" and rel.startswith(root):
            rel = rel[len(root):]
        parent = os.path.normpath(mount_point + "/" + rel.lstrip("/"))
        _remove_stale(parent)
        path = os.path.join(parent, tag)
        try:
            os.mkdir(path, 0o755)
        except OSError:
            continue
        made[controller] = path
        if controller == "cpu":
            try:
                with open(os.path.join(path, "cpu.shares"), "w") as f:
                    f.write(str(max(2, min(262144, 1024 * max(1, weight)))))
            except OSError:
                pass
    return made


def release(groups: dict[str, str]) -> None:
    """Removes parent groups (and job groups a dead server left in them); best effort.

    Args:
        groups: as returned by ``delegate``.
    """
    for path in groups.values():
        try:
            for name in os.listdir(path):
                child = os.path.join(path, name)
                if os.path.isdir(child):
                    try:
                        os.rmdir(child)
                    except OSError:
                        pass
            os.rmdir(path)
        except OSError:
            pass
