#!/bin/sh
# Installs what mathgauge's code sandbox needs on a fresh Debian 12 machine (run as root).
#   bubblewrap  - the namespace sandbox (bwrap) that hosts the warm fork-server
#   libseccomp2 - seccomp filters, loaded through ctypes (no PyPI binding needed)
#   numpy/scipy - preloaded in the fork-server so snippets can use them (sympy comes with mathgauge itself)
# Landlock, rlimits, per-job namespaces and cgroups need nothing beyond the kernel, but two settings:
#   user namespaces must be allowed to unprivileged users (each job makes its own after dropping to its uid);
#   cgroup v1 memory/cpu hierarchies (present on these machines) give each job its own limits.
set -eu

# Debian's kernel can switch unprivileged user namespaces off; the sandbox needs them for its jobs
if [ -w /proc/sys/kernel/unprivileged_userns_clone ] && [ "$(cat /proc/sys/kernel/unprivileged_userns_clone)" = 0 ]; then
    echo 1 > /proc/sys/kernel/unprivileged_userns_clone
fi
if [ -w /proc/sys/user/max_user_namespaces ] && [ "$(cat /proc/sys/user/max_user_namespaces)" -lt 1000 ]; then
    echo 15000 > /proc/sys/user/max_user_namespaces
fi

export DEBIAN_FRONTEND=noninteractive
if ! command -v bwrap >/dev/null 2>&1 || ! ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2'; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends bubblewrap libseccomp2 >/dev/null
fi

# PYTHON: the interpreter that runs mathgauge (default: python3 on PATH)
PY="${PYTHON:-python3}"
if ! "$PY" -m pip --version >/dev/null 2>&1; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
fi
PKGS='sympy>=1.12 numpy>=1.24 scipy>=1.10'
# Debian's own python3 refuses global installs (PEP 668) unless told otherwise
# shellcheck disable=SC2086
"$PY" -m pip install -q $PKGS 2>/dev/null || "$PY" -m pip install -q --break-system-packages $PKGS

# report, but do not fail the CI run here: the tests say precisely what is missing
bwrap --version || true
"$PY" - <<'PYEOF' || true
import ctypes
try:
    ctypes.CDLL("libseccomp.so.2")
    print("libseccomp: ok")
except OSError as e:
    print("libseccomp: MISSING", e)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
print("landlock abi:", abi if abi > 0 else "not available")
try:
    print("max user namespaces:", open("/proc/sys/user/max_user_namespaces").read().strip())
except OSError:
    print("max user namespaces: unknown")
v1 = [line.split()[4] for line in open("/proc/self/mountinfo") if " - cgroup " in line]
print("cgroup v1 hierarchies:", ", ".join(v1) or "none (per-job memory/cpu limits fall back to rlimits)")
PYEOF
