"""Sandbox speed: sympy-snippet executions/s, overhead per trivial snippet, and a cold `python -c` for comparison.

Run:  python bench/sandbox.py [--reps 5] [--snippets 80] [--workers N]
Every figure is the median over --reps repetitions; how each was measured is printed next to it.  Wall-clock
figures depend on what else the machine runs; the CPU figures (server + jobs, read from /proc) much less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mathgauge.sandbox import Sandbox, check_isolation  # noqa: E402

SYMPY_SNIPPETS = [
    "import sympy as sp\nx = sp.symbols('x')\nprint(sp.solve(x**2 - 5*x + 6, x))",
    "from sympy import factorint\nprint(factorint(2**32 + 1))",
    "from sympy import symbols, integrate, sin, pi\nx = symbols('x')\nprint(integrate(sin(x)**2, (x, 0, pi)))",
    "from sympy import Matrix\nprint(Matrix([[2, 1], [1, 2]]).inv())",
    "from sympy import Rational, nsimplify, sqrt\nprint(Rational(1, 3) + Rational(1, 6), nsimplify(0.125), sqrt(8))",
    "import sympy as sp\nx, y = sp.symbols('x y')\nprint(sp.solve([x + y - 10, x - y - 2], [x, y]))",
    "from sympy import binomial, isprime\nprint(binomial(30, 15), isprime(2**61 - 1))",
    "from sympy import N, pi\nprint(N(pi, 30))",
]
COLD_CODE = "import sympy; print(sympy.factorint(2**32 + 1))"


def median_of(fn, reps: int) -> float:
    return statistics.median(fn() for _ in range(reps))


def sandbox_cpu_s(sb: Sandbox) -> float | None:
    """CPU seconds used so far by the sandbox server and every job it reaped (/proc of the server)."""
    try:
        bwrap = sb._server.proc.pid
        children = Path("/proc/%d/task/%d/children" % (bwrap, bwrap)).read_text().split()
        pids = [int(p) for p in children] or [bwrap]
        fields = Path("/proc/%d/stat" % pids[0]).read_text().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    except (OSError, ValueError, AttributeError, IndexError):
        return None


def cpu_per_run(sb: Sandbox, codes: list[str]) -> float | None:
    """Median over 3 rounds of the sandbox's CPU ms per snippet for ``codes`` run sequentially."""
    per = []
    for _ in range(3):
        before = sandbox_cpu_s(sb)
        for code in codes:
            sb.run(code)
        after = sandbox_cpu_s(sb)
        if before is None or after is None:
            return None
        per.append((after - before) * 1000 / len(codes))
    return statistics.median(per)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--snippets", type=int, default=80, help="sympy snippets per throughput repetition")
    ap.add_argument("--trivial", type=int, default=50, help="trivial snippets per overhead repetition")
    ap.add_argument("--workers", type=int, default=None, help="concurrent snippets (default: max(2, CPUs))")
    args = ap.parse_args()

    layers = check_isolation()
    if not layers.get("usable"):
        print("sandbox unavailable here: %s" % layers.get("missing"))
        return 3
    active = [k for k in ("bwrap", "pid_namespace", "net_namespace", "job_namespaces", "job_scratch_tmpfs",
                          "seccomp_allow_list", "no_new_privs", "setuid_unprivileged", "cgroup_memory",
                          "cgroup_cpu") if layers.get(k) is True]
    if layers.get("landlock"):
        active.append("landlock(%s)" % layers["landlock"])
    print("machine: %d CPUs, Python %s; isolation: %s" % (os.cpu_count() or 0, sys.version.split()[0], ", ".join(active)))

    t0 = time.perf_counter()
    sb = Sandbox(timeout_s=30, memory_mb=1024, workers=args.workers)
    sb.start()
    print("server start (bwrap + imports sympy/numpy/scipy + self-test): %.2f s (once per Sandbox)"
          % (time.perf_counter() - t0))
    try:
        for code in SYMPY_SNIPPETS:  # correctness + warm
            r = sb.run(code)
            assert r.status == "ok", r

        def trivial() -> float:
            ts = []
            for _ in range(args.trivial):
                t = time.perf_counter()
                r = sb.run("pass")
                ts.append(time.perf_counter() - t)
                assert r.status == "ok"
            return statistics.median(ts) * 1000

        def sequential_sympy() -> float:
            ts = []
            for code in SYMPY_SNIPPETS * 2:
                t = time.perf_counter()
                sb.run(code)
                ts.append(time.perf_counter() - t)
            return statistics.median(ts) * 1000

        codes = [SYMPY_SNIPPETS[i % len(SYMPY_SNIPPETS)] for i in range(args.snippets)]

        def throughput() -> float:
            with ThreadPoolExecutor(sb.workers) as pool:
                t = time.perf_counter()
                res = list(pool.map(sb.run, codes))
                dt = time.perf_counter() - t
            assert all(r.status == "ok" for r in res)
            return len(codes) / dt

        triv = median_of(trivial, args.reps)
        print("overhead per trivial snippet ('pass'): %.1f ms  [median latency of %d sequential Sandbox.run calls, "
              "median over %d reps; fork + confine + run + report]" % (triv, args.trivial, args.reps))
        seq = median_of(sequential_sympy, args.reps)
        print("sympy snippet latency: %.1f ms  [median of %d sequential runs of %d different sympy snippets, "
              "median over %d reps]" % (seq, 2 * len(SYMPY_SNIPPETS), len(SYMPY_SNIPPETS), args.reps))
        thr = median_of(throughput, args.reps)
        print("sympy-snippet throughput: %.1f executions/s  [%d snippets through %d concurrent Sandbox.run callers, "
              "median over %d reps]" % (thr, args.snippets, sb.workers, args.reps))
        for label, codes in (("trivial snippet ('pass')", ["pass"] * args.trivial), ("sympy snippet", SYMPY_SNIPPETS * 2)):
            cpu = cpu_per_run(sb, codes)
            if cpu is not None:
                print("sandbox CPU per %s: %.1f ms  [server + job CPU from /proc/<server>/stat (utime+stime+cutime+"
                      "cstime) over %d sequential runs, median of 3]" % (label, cpu, len(codes)))
    finally:
        sb.close()

    def cold() -> float:
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", COLD_CODE], check=True, capture_output=True)
        return (time.perf_counter() - t) * 1000

    c = median_of(cold, args.reps)
    print("cold subprocess for comparison: %.0f ms per snippet  [`python -c %r`, no isolation, median of %d]"
          % (c, COLD_CODE, args.reps))
    print("targets: >= 40 sympy executions/s, <= 20 ms trivial overhead -> %s, %s"
          % ("met" if thr >= 40 else "NOT met", "met" if triv <= 20 else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
