"""Inside of the sandbox: the fork-server package that runs in bubblewrap as ``python -m _inside``.

The host binds this directory read-only into the sandbox and starts it there; it imports only the standard
library and its own modules (never ``mathgauge``), so the same files also load on the host for tests, as
``mathgauge.sandbox._inside``.  One module per layer, each testable on its own:

- ``_policy``: the numbers of the resource policy (shared with the host).
- ``_wire``: framing of host <-> server messages and of the child's append-only event channel.
- ``_server``: the request loop; one forked child per job; timers, output pumps, per-job accounting.
- ``_child``: what a forked child does before the snippet runs (fds, cgroups, uid, namespaces, limits,
  Landlock, seccomp), in that order.
- ``_namespaces``: a private user + mount + IPC + network namespace per job with its own size- and
  inode-capped tmpfs.
- ``_cgroups``: per-job cgroup v1 memory and cpu groups under the host's delegated parents.
- ``_limits``: rlimits.
- ``_landlock``, ``_seccomp``: the two kernel filters (seccomp is an allow-list).
- ``_refusals``: the server's end of the seccomp user notifications (refused calls recorded, answered EPERM).
- ``_audit``: the tamper-resistant audit hook that reports what a snippet attempts.
- ``_runner``: runs the snippet (streams, exec, traceback, exit code).
- ``_static``: the AST classifier (run inside the job, under the job's limits).
- ``_sysfs``: one-write access to procfs / cgroupfs control files.
- ``_cleanup``: depth-proof tree removal and the supervised cleaner (only for ``--unsafe-no-sandbox``).
"""
