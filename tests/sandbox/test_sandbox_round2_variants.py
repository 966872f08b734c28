"""Red-team round 2, new variants (issue 14): the nine attack classes again, by other mechanisms.

``redteam_round2_variants.jsonl`` holds single-snippet cases in the format of ``redteam_round2.jsonl``, plus
``run`` (keyword arguments of ``Sandbox.run``, e.g. a small memory cap) and ``code_repeat`` with an optional
fourth element (a tail after the repeated body).  After each class the server must still answer, have no
job process left, and give the next job an empty scratch it can fill.  The tests below add what needs
several jobs at once; ``test_variants_through_exec_batch`` runs the corpus through the CLI (slow).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import require_sandbox

from mathgauge.sandbox import Sandbox, check_isolation

from test_sandbox_round2 import problems_of  # noqa: E402 - tests/sandbox is on sys.path (rootdir mode)

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "redteam_round2_variants.jsonl"
LAYERS = check_isolation()
SRC = str(HERE.parents[1] / "src")
CLASSES = range(1, 10)
# every character a terminal or str.splitlines() may act on, besides the newline that ends a record
UNSAFE_CHARS = re.compile("[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
                          "\ufeff\ufff9-\ufffb\ud800-\udfff\U000e0000-\U000e007f]")


def _cases() -> list[dict]:
    cases = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            c = json.loads(line)
            if "code_repeat" in c:  # (head, body, count[, tail]): large generated snippets
                head, body, count, *tail = c.pop("code_repeat")
                c["code"] = head + body * count + "".join(tail)
            cases.append(c)
    return cases


CASES = _cases()


def _need_sandbox() -> None:
    require_sandbox(LAYERS.get("usable"), "sandbox unavailable: %s" % LAYERS.get("missing"))


def _need(layer: str, why: str) -> None:
    require_sandbox(LAYERS.get(layer), why)


@pytest.fixture(scope="module")
def sb():
    _need_sandbox()
    s = Sandbox(timeout_s=10, memory_mb=1024)
    yield s
    s.close()


def _job_processes(sb: Sandbox) -> list[int]:
    """Host pids of the server's children (its jobs), read from /proc."""
    bwrap = sb._server.proc.pid
    servers = Path("/proc/%d/task/%d/children" % (bwrap, bwrap)).read_text().split()
    return [int(p) for s in servers for p in Path("/proc/%s/task/%s/children" % (s, s)).read_text().split()]


def _after_checks(sb: Sandbox) -> list[str]:
    """What is wrong with the sandbox after a batch of hostile jobs: server, leftovers, the next job's scratch."""
    probs = []
    if not sb.ping():
        probs.append("the server does not answer")
    deadline = time.monotonic() + 5
    while _job_processes(sb) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _job_processes(sb):
        probs.append("job processes left: %s" % _job_processes(sb))
    nxt = sb.run("import os\nprint(os.listdir('.'))\nopen('x', 'wb').write(b'y' * (100 << 20))\nprint('wrote')")
    if nxt.status != "ok" or nxt.stdout != "[]\nwrote\n":
        probs.append("next job: %s %r %r" % (nxt.status, nxt.stdout, nxt.stderr[-300:]))
    return probs


def _run_class(sb: Sandbox, cls: int) -> None:
    cases = [c for c in CASES if c["class"] == cls]
    assert len(cases) >= 5
    pid_before = sb.start()._server.proc.pid
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda c: sb.run(c["code"], **c.get("run", {})).to_dict(), cases))
    failures = {c["id"]: p for c, r in zip(cases, results) if (p := problems_of(c, r))}
    assert failures == {}, json.dumps(failures, indent=1)
    assert _after_checks(sb) == []
    assert sb._server.proc.pid == pid_before, "the server was replaced"


@pytest.mark.parametrize("cls", [c for c in CLASSES if c != 4])
def test_variant_cases(sb, cls):
    _run_class(sb, cls)


def test_variant_memory_cases(sb):
    _need("cgroup_memory", "no memory cgroup here: memory caps fall back to RLIMIT_AS + refused memfd + tmpfs caps")
    _run_class(sb, 4)


# ---------------------------------------------------------------------------------- several jobs at once

PTY_HOLDER = r"""
import os, time
try:
    m = os.open('/dev/ptmx', os.O_RDWR | os.O_NOCTTY)
    print('ESCAPED:made a pseudo-terminal', flush=True)
except OSError:
    print('no pty', flush=True)
time.sleep(2)
"""
PTY_PROBE = r"""
import os
names = []
for d in ('/dev/pts', '/dev/shm'):
    try:
        names += [d + '/' + n for n in os.listdir(d)]
    except OSError:
        pass
for p in names:
    try:
        os.open(p, os.O_RDWR | os.O_NOCTTY)
        print('ESCAPED:opened', p)
    except OSError:
        pass
print(names)
"""


def test_c3v_no_pseudo_terminal_between_jobs(sb):
    """A pseudo-terminal made by one job could be opened (after a chmod) by any concurrent job: a channel."""
    with ThreadPoolExecutor(2) as pool:
        holder = pool.submit(sb.run, PTY_HOLDER)
        time.sleep(0.7)
        probe = sb.run(PTY_PROBE)
        holder = holder.result()
    assert holder.stdout == "no pty\n" and probe.stdout == "[]\n", (holder, probe)


ABSTRACT_HOLDER = r"""
import socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('\0mg-rt-neighbour')
print('bound', flush=True)
time.sleep(2.5)
print(s.recv(100, socket.MSG_DONTWAIT) if False else 'done')
"""
ABSTRACT_PROBE = r"""
import socket, errno
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    s.sendto(b'hello', '\0mg-rt-neighbour')
    print('ESCAPED:sent to a neighbour')
except OSError as e:
    print('send', errno.errorcode[e.errno])
mine = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    mine.bind('\0mg-rt-neighbour')
    print('name free')
except OSError as e:
    print('name taken', errno.errorcode[e.errno])
"""


def test_c9v_abstract_socket_names_are_per_job(sb):
    """A neighbour's abstract socket can be neither reached nor detected by its name (EADDRINUSE was an
    oracle of what the other jobs bound)."""
    with ThreadPoolExecutor(2) as pool:
        holder = pool.submit(sb.run, ABSTRACT_HOLDER)
        time.sleep(0.7)
        probe = sb.run(ABSTRACT_PROBE)
        holder = holder.result()
    assert holder.stdout == "bound\ndone\n", holder
    assert probe.stdout == "send ECONNREFUSED\nname free\n", probe


PARKER = r"""
import socket
a, b = socket.socketpair()
# stdout, stderr and the event channel parked in a socket's queue, the socket parked in itself: the pipes'
# write ends outlive the job until the kernel collects the cycle
socket.send_fds(a, [b'x'], [1, 2, 3])
socket.send_fds(b, [b'y'], [a.fileno(), b.fileno()])
socket.send_fds(a, [b'z'], [b.fileno()])
print('parked', flush=True)
"""


def test_c5v_parked_write_ends_do_not_stall_the_server(sb):
    """The server drained finished jobs' pipes with blocking reads: a write end parked in a unix socket kept
    it waiting (40 s here) and every other job with it."""
    t0 = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        parked = pool.submit(sb.run, PARKER, timeout=2)
        time.sleep(0.3)
        neighbour = sb.run("print(6 * 7)")
        parked = parked.result()
    assert parked.status == "ok" and parked.stdout == "parked\n", parked
    assert neighbour.status == "ok" and neighbour.stdout == "42\n", neighbour
    assert time.monotonic() - t0 < 6, "the server waited for a parked write end"
    assert sb.ping()


HOGS = {
    "blas-threads": "import numpy as np, time\na = np.random.rand(600, 600)\nstop = time.monotonic() + 3\n"
                    "while time.monotonic() < stop:\n    a @ a\n",
    "memory-thrash": "import time\nstop = time.monotonic() + 3\nwhile time.monotonic() < stop:\n"
                     "    b = bytearray(600 << 20)\n    for i in range(0, len(b), 4096):\n        b[i] = 1\n    del b\n",
    "event-flood": "import os, time\nstop = time.monotonic() + 3\nwhile time.monotonic() < stop:\n"
                   "    os.write(3, b'\\x1e' * 4096)\n",
    "refused-calls": "import os, threading, time\nstop = time.monotonic() + 3\ndef f():\n"
                     "    while time.monotonic() < stop:\n        try:\n            os.setsid()\n"
                     "        except OSError:\n            pass\nts = [threading.Thread(target=f) for _ in range(32)]\n"
                     "[t.start() for t in ts]\n[t.join() for t in ts]\n",
    "one-byte-writes": "import os, threading, time\nstop = time.monotonic() + 3\ndef f():\n"
                       "    while time.monotonic() < stop:\n        os.write(1, b'.')\n"
                       "ts = [threading.Thread(target=f) for _ in range(16)]\n[t.start() for t in ts]\n[t.join() for t in ts]\n",
}
VICTIM = "s = 0\nfor i in range(3_000_000):\n    s += i * i\nprint(s > 0)"


@pytest.mark.slow
@pytest.mark.parametrize("hog", sorted(HOGS))
def test_c5v_no_neighbour_makes_a_job_time_out(sb, hog):
    """Whatever the neighbour does (threads in C, memory reclaim, work it pushes onto the shared server), a job
    with a CPU budget of 2.5x what it needs finishes 'ok'."""
    baseline = sb.run(VICTIM, timeout=5)
    assert baseline.status == "ok", baseline
    budget = max(1.0, 2.5 * baseline.cpu_ms / 1000.0)
    with ThreadPoolExecutor(2) as pool:
        h = pool.submit(sb.run, HOGS[hog], timeout=8)
        time.sleep(0.7)
        victim = sb.run(VICTIM, timeout=budget)
        h = h.result()
    assert victim.status == "ok" and victim.stdout == "True\n", (hog, victim)
    assert h.status in ("ok", "timeout", "killed"), (hog, h)


# ------------------------------------------------------------------------------------------- the CLI

def _exec_batch(tmp_path: Path, cases: list[dict], workers: int = 2) -> tuple[subprocess.CompletedProcess, str]:
    inp, outp = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(json.dumps({"id": c["id"], "code": c["code"]}) + "\n" for c in cases))
    r = subprocess.run([sys.executable, "-m", "mathgauge.sandbox._cli", "exec-batch", "--input", str(inp), "--output",
                        str(outp), "--timeout", "10", "--workers", str(workers)], capture_output=True, text=True,
                       timeout=900, env=dict(os.environ, PYTHONPATH=SRC))
    return r, outp.read_text(encoding="utf-8") if outp.exists() else ""


def test_c8v_output_through_the_cli(tmp_path):
    """Whatever the snippets print, exec-batch writes one record per line with no raw control, format or
    separator character, and each record reads back to exactly what the snippet printed; same for exec."""
    _need_sandbox()
    cases = [c for c in CASES if c["class"] == 8]
    r, text = _exec_batch(tmp_path, cases)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == len(cases) + 1, len(lines)
    assert not UNSAFE_CHARS.search(text.replace("\n", "")), sorted(set(UNSAFE_CHARS.findall(text)))
    assert len(text.splitlines()) == len(cases)
    rows = {x["id"]: x for x in map(json.loads, lines[:-1])}
    failures = {c["id"]: p for c in cases if (p := problems_of(c, rows[c["id"]]))}
    assert failures == {}, json.dumps(failures, indent=1)
    for c in cases[:3]:
        one = subprocess.run([sys.executable, "-m", "mathgauge.sandbox._cli", "exec"], input=c["code"], text=True,
                             capture_output=True, timeout=120, env=dict(os.environ, PYTHONPATH=SRC))
        assert one.returncode == 0 and len(one.stdout.splitlines()) == 1, one.stdout[:500]
        assert not UNSAFE_CHARS.search(one.stdout[:-1])
        assert problems_of(c, json.loads(one.stdout)) == []


def test_c2v_exec_batch_input_errors_are_one_line(tmp_path):
    """Bad input files give one error line naming the file and line, never an internal error."""
    env = dict(os.environ, PYTHONPATH=SRC)
    for name, data in (("deep", b'{"id": 1, "code": "print(1)", "x": ' + b"[" * 100000 + b"]" * 100000 + b"}\n"),
                       ("binary", b'\xff\xfe{"id": 1, "code": "print(1)"}\n'),
                       ("huge-int", b'{"id": ' + b"9" * 5000 + b', "code": "print(1)"}\n')):
        inp = tmp_path / (name + ".jsonl")
        inp.write_bytes(data)
        r = subprocess.run([sys.executable, "-m", "mathgauge.sandbox._cli", "exec-batch", "--input", str(inp),
                            "--output", str(tmp_path / "out.jsonl")], capture_output=True, text=True, timeout=120,
                           env=env)
        assert r.returncode == 2 and r.stderr.startswith("error: %s line 1 " % inp), (name, r.stderr)
        assert len(r.stderr.splitlines()) == 1 and "internal" not in r.stderr, (name, r.stderr)


@pytest.mark.slow
def test_variants_through_exec_batch(tmp_path):
    """Every variant through ``sandbox exec-batch`` (2 workers); prints the pass count per class."""
    _need_sandbox()
    cases = [c for c in CASES if "run" not in c and (c["class"] != 4 or LAYERS.get("cgroup_memory"))]
    t0 = time.monotonic()
    r, text = _exec_batch(tmp_path, cases)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    lines = text.splitlines()
    assert len(lines) == len(cases)
    results = {x["id"]: x for x in map(json.loads, lines)}
    failures = {c["id"]: p for c in cases if (p := problems_of(c, results[c["id"]]))}
    per_class = Counter(c["class"] for c in cases)
    passed = Counter(c["class"] for c in cases if c["id"] not in failures)
    print("round-2 variants: %d/%d passed in %.0f s; per class %s" % (
        sum(passed.values()), len(cases), time.monotonic() - t0,
        ", ".join("%d: %d/%d" % (k, passed[k], per_class[k]) for k in sorted(per_class))))
    assert failures == {}, json.dumps(failures, indent=1)
    assert json.loads(r.stderr.strip().splitlines()[-1])["sandbox_alive_after"] is True
