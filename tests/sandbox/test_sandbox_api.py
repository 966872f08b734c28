"""Fast tests of the sandbox: API, isolation layers that are active here, classification, CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import require_sandbox

from mathgauge.sandbox import ExecutionResult, Sandbox, SandboxUnavailable, check_isolation, classify_static

LAYERS = check_isolation()
needs_sandbox = pytest.mark.skipif(not LAYERS.get("usable"), reason="sandbox unavailable: %s" % LAYERS.get("missing"))


def _cli(*args, stdin: str | None = None, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "mathgauge.sandbox._cli", *args], input=stdin, text=True,
                          capture_output=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def sb():
    require_sandbox(LAYERS.get("usable"), "sandbox unavailable: %s" % LAYERS.get("missing"))
    s = Sandbox(timeout_s=10, memory_mb=1024)
    yield s
    s.close()


# ---------------------------------------------------------------------------------------------- basics

def test_import_is_cheap():
    out = subprocess.run([sys.executable, "-c", "import mathgauge.sandbox, sys; "
                          "print('sympy' in sys.modules, 'numpy' in sys.modules)"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_sandbox_required_when_asked():
    if os.environ.get("MATHGAUGE_REQUIRE_SANDBOX") == "1":
        assert LAYERS.get("usable"), LAYERS.get("missing")


def test_layers_reported():
    for key in ("bwrap", "seccomp", "landlock", "setuid_unprivileged", "rlimits", "pid_namespace", "net_namespace",
                "usable"):
        assert key in LAYERS
    if LAYERS["usable"]:
        assert LAYERS["bwrap"] and LAYERS["seccomp"] and LAYERS["no_fork"] and LAYERS["no_inet_sockets"]
        assert LAYERS["pid_namespace"] and LAYERS["net_namespace"] and LAYERS["proc_hidden"]


@needs_sandbox
def test_ok_sympy(sb):
    r = sb.run("import sympy as sp\nx = sp.symbols('x')\nprint(sp.solve(x**2 - 4, x))")
    assert isinstance(r, ExecutionResult)
    assert r.status == "ok" and r.stdout == "[-2, 2]\n" and r.exit_code == 0
    assert r.unsafe is False and r.unsafe_static == [] and r.unsafe_runtime == []
    d = r.to_dict()
    assert set(d) == {"status", "stdout", "stderr", "exit_code", "duration_ms", "unsafe", "unsafe_static",
                      "unsafe_runtime", "cpu_ms"}


@needs_sandbox
def test_error_and_syntax(sb):
    r = sb.run("print(1)\nraise ValueError('boom')")
    assert r.status == "error" and r.stdout == "1\n" and "ValueError: boom" in r.stderr and r.exit_code == 1
    r = sb.run("def f(:\n  pass")
    assert r.status == "error" and "SyntaxError" in r.stderr
    r = sb.run("import sys\nsys.exit(3)")
    assert r.status == "error" and r.exit_code == 3


@needs_sandbox
def test_bigint_digits(sb):
    assert sb.run("print(len(str(2**20000)))").stdout == "6021\n"


@needs_sandbox
def test_timeout(sb):
    r = sb.run("while True: pass", timeout=0.5)
    assert r.status == "timeout" and 400 < r.duration_ms < 3000
    r = sb.run("import signal, time\nsignal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals) - "
               "{signal.SIGKILL, signal.SIGSTOP})\ntime.sleep(30)", timeout=0.5)
    assert r.status == "timeout"


@needs_sandbox
def test_memory(sb):
    r = sb.run("x = bytearray(2 * 2**30)\nprint(len(x))", memory_mb=256)
    if LAYERS.get("cgroup_memory"):  # the job's memory cgroup kills it; the server reads the OOM counter
        assert r.status == "memory" and "memory limit reached" in r.stderr, r
    else:  # RLIMIT_AS refuses the allocation: an error the snippet could have written itself
        assert r.status == "error" and "MemoryError" in r.stderr, r
    r = sb.run("import numpy as np\nprint(np.ones((20000, 20000)).sum())", memory_mb=256)
    assert r.status == ("memory" if LAYERS.get("cgroup_memory") else "error")
    # the cap is relative to the warm server: a modest allocation still works
    assert sb.run("x = bytearray(100 * 2**20)\nprint(len(x))", memory_mb=256).status == "ok"


@needs_sandbox
def test_output_caps(sb):
    r = sb.run("import sys\nfor i in range(100): sys.stdout.write('A' * (1 << 20))")
    assert r.status == "killed" and len(r.stdout.encode()) == 64 * 1024
    r = sb.run("print('B' * 200000)")
    assert r.status == "ok" and len(r.stdout) == 64 * 1024 and "truncated" in r.stderr


@needs_sandbox
def test_no_state_between_runs(sb):
    assert sb.run("import sympy, builtins\nsympy.Rational = None\nbuiltins.print = None\nG = 41").status == "ok"
    r = sb.run("import sympy\nprint(sympy.Rational(1, 2), 'G' in globals())")
    assert r.stdout == "1/2 False\n"


@needs_sandbox
def test_random_differs_between_runs(sb):
    outs = {sb.run("import random\nprint(random.random())").stdout for _ in range(3)}
    assert len(outs) == 3


@needs_sandbox
def test_concurrent_and_async(sb):
    codes = ["print(sum(range(%d)))" % (i * 1000) for i in range(12)]
    with ThreadPoolExecutor(6) as pool:
        res = list(pool.map(sb.run, codes))
    assert [r.stdout for r in res] == ["%d\n" % sum(range(i * 1000)) for i in range(12)]

    async def go():
        return await asyncio.gather(*(sb.arun("print(%d)" % i) for i in range(6)))

    assert [r.stdout for r in asyncio.run(go())] == ["%d\n" % i for i in range(6)]


# ------------------------------------------------------------------------------------- isolation layers

@needs_sandbox
def test_environment_not_passed(sb, monkeypatch):
    monkeypatch.setenv("MG_TEST_SECRET", "sk-do-not-leak")
    r = sb.run("import os\nprint(sorted(os.environ))\nprint(open('/proc/self/environ').read() if "
               "os.path.exists('/proc/self/environ') else 'noproc')")
    assert "MG_TEST_SECRET" not in r.stdout and "sk-do-not-leak" not in r.stdout
    assert "noproc" in r.stdout


@needs_sandbox
def test_network_blocked(sb):
    r = sb.run("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
               "s.connect(('127.0.0.1', 22))\nprint('ESCAPED')")
    assert r.status == "blocked" and "ESCAPED" not in r.stdout
    assert "network:socket" in r.unsafe_runtime and r.unsafe


@needs_sandbox
def test_process_creation_blocked(sb):
    for code in ("import os\nprint(os.fork())", "import subprocess\nsubprocess.run(['true'])",
                 "import os\nos.execv('/bin/sh', ['sh'])"):
        r = sb.run(code)
        assert r.status == "blocked", (code, r)
    r = sb.run("import os\nprint(os.system('true'))")
    assert r.stdout.strip() != "0" and "process:os.system" in r.unsafe_runtime
    r = sb.run("import threading\nt = threading.Thread(target=print, args=('thread ok',))\nt.start(); t.join()")
    assert r.stdout == "thread ok\n"


@needs_sandbox
def test_filesystem(sb, tmp_path):
    target = tmp_path / "outside.txt"
    r = sb.run("open(%r, 'w').write('x')" % str(target))
    assert r.status == "blocked" and not target.exists()
    assert "fs:write-outside:%s" % target in r.unsafe_runtime
    r = sb.run("import os\nprint(os.path.exists('/etc/passwd'), os.path.exists('/proc/self'), "
               "os.path.exists(%r))" % str(Path(__file__).resolve()))
    assert r.stdout == "False False False\n"
    r = sb.run("open('scratch.txt', 'w').write('42')\nprint(open('scratch.txt').read())")
    assert r.stdout == "42\n" and r.unsafe is False
    assert sb.run("print(open('scratch.txt').read())").status == "error"  # fresh scratch per run
    r = sb.run("import os\nos.chdir('/')\nopen('x', 'w')")
    assert r.status == "blocked"


@needs_sandbox
@pytest.mark.skipif(not LAYERS.get("setuid_unprivileged"), reason="not root: no uid drop")
def test_runs_unprivileged(sb):
    r = sb.run("import os\nprint(os.getuid() != 0, os.getgid() != 0, os.getgroups())")
    assert r.stdout == "True True []\n"


@needs_sandbox
def test_signals_cannot_reach_server(sb):
    r = sb.run("import os, signal\nfor p in (-1, 1, 2, os.getppid()):\n    try:\n        os.kill(p, signal.SIGKILL)\n"
               "        print('ESCAPED', p)\n    except OSError as e:\n        print('denied', p)")
    assert "ESCAPED" not in r.stdout
    assert sb.run("print('alive')").stdout == "alive\n"


@needs_sandbox
def test_ctypes_cannot_unshare(sb):
    r = sb.run("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.unshare(0x10000000))")
    assert r.stdout == "-1\n" and any(e.startswith("ctypes:") for e in r.unsafe_runtime)


@needs_sandbox
def test_cross_task_memory_wiped(sb):
    import threading

    plant = "import time\nS = 'MGX_' + 'SECRET_' + 'a1b2'\nprint(S)\ntime.sleep(4)"
    # gc.get_objects is refused in the sandbox; walk everything reachable from the frames instead (the
    # server's Job objects with other jobs' output buffers are reachable from the fork's call stack)
    probe = textwrap.dedent("""
        import sys
        needle = ("MGX_" + "SECRET_" + "a1b2").encode()
        seen, stack, hits, frame = set(), [], 0, sys._getframe(0)
        while frame is not None:
            stack += [frame.f_locals, frame.f_globals]
            frame = frame.f_back
        while stack and len(seen) < 300000:
            o = stack.pop()
            if id(o) in seen:
                continue
            seen.add(id(o))
            if isinstance(o, (bytes, bytearray, memoryview, str)):
                data = o.encode() if isinstance(o, str) else bytes(o)
                hits += o is not needle and needle in data
            elif isinstance(o, dict):
                stack += list(o.values())
            elif isinstance(o, (list, tuple, set, frozenset)):
                stack += list(o)
            elif type(o).__module__ not in ("builtins",) and not isinstance(o, type):
                stack += list(getattr(o, "__dict__", {}).values())
                stack += [getattr(o, n, None) for n in getattr(type(o), "__slots__", ())]
        print(hits, len(seen) > 1000)
    """)
    t = threading.Thread(target=sb.run, args=(plant,))
    t.start()
    import time

    time.sleep(2)
    r = sb.run(probe)
    t.join()
    assert r.stdout == "0 True\n", r


# ---------------------------------------------------------------------------------------- classification

BENIGN = [
    "from sympy import *\nx = symbols('x')\nprint(solve(x**2 - 1, x))",
    "import numpy as np\nprint(np.arange(10).sum())",
    "import math, itertools, fractions, functools\nprint(math.comb(10, 3))",
    "import sys\nsys.setrecursionlimit(10000)\nprint(1)\nsys.exit(0)",
    "with open('out.txt', 'w') as f:\n    f.write('1')",
    "import signal\nsignal.alarm(5)",
    "from decimal import Decimal, getcontext\ngetcontext().prec = 50\nprint(Decimal(2).sqrt())",
    "import os\nprint(os.getcwd())",
    "print(eval('1+2'))",
]


@pytest.mark.parametrize("code", BENIGN)
def test_static_benign(code):
    assert classify_static(code) == []


@pytest.mark.parametrize("code,tag", [
    ("import socket", "network:import:socket"),
    ("import requests\nrequests.get('http://x')", "network:import:requests"),
    ("import subprocess\nsubprocess.run(['ls'])", "process:import:subprocess"),
    ("import os\nos.system('ls')", "process:call:os.system"),
    ("from os import system as s\ns('ls')", "process:call:os.system"),
    ("import os as o\no.execv('/bin/sh', [])", "process:call:os.execv"),
    ("import os\nprint(os.environ['HOME'])", "env:os.environ"),
    ("import ctypes", "ctypes:import:ctypes"),
    ("open('/etc/passwd').read()", "fs:read-outside:/etc/passwd"),
    ("open('/tmp/x', 'w')", "fs:write-outside:/tmp/x"),
    ("().__class__.__base__.__subclasses__()", "introspection:__subclasses__"),
    ("m = __import__('o' + 's')", "dynamic:call:__import__"),
    ("getattr(m, 'sys' + 'tem')", "introspection:getattr-dynamic"),
    ("import base64\nexec(base64.b64decode('eA=='))", "dynamic:exec"),
    ("import shutil\nshutil.rmtree('/x')", "fs:call:shutil.rmtree"),
    ("import os\nos.kill(1, 9)", "signal:call:os.kill"),
])
def test_static_unsafe(code, tag):
    assert tag in classify_static(code)


def test_static_handles_garbage():
    assert classify_static("def f(:") == []
    assert classify_static("") == []


# ---------------------------------------------------------------------------------------------------- CLI

@needs_sandbox
def test_cli_exec_and_batch(tmp_path):
    r = _cli("exec", "--timeout", "5", stdin="print(6*7)\n")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["status"] == "ok" and d["stdout"] == "42\n" and d["unsafe"] is False
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("\n".join(json.dumps({"id": i, "code": c}) for i, c in enumerate(
        ["print(1)", "while True: pass", "import socket\nsocket.socket().connect(('1.1.1.1', 80))"])) + "\n")
    r = _cli("exec-batch", "--input", str(inp), "--output", str(out), "--timeout", "1")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in rows] == [0, 1, 2]
    assert [x["status"] for x in rows] == ["ok", "timeout", "blocked"]
    assert rows[2]["unsafe"] is True


def test_cli_user_errors(tmp_path):
    r = _cli("exec-batch", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o.jsonl"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "missing.jsonl" in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1}\n')
    r = _cli("exec-batch", "--input", str(bad), "--output", str(tmp_path / "o.jsonl"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "line 1" in r.stderr
    r = _cli("exec", "--timeout", "abc", stdin="")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_cli_check():
    r = _cli("check")
    assert "seccomp" in r.stdout and "Traceback" not in r.stderr
    assert r.returncode == (0 if LAYERS.get("usable") else 3)


def test_unavailable_refuses_then_unsafe_flag(monkeypatch):
    from mathgauge.sandbox import _bwrap

    monkeypatch.setattr(_bwrap, "find_bwrap", lambda: None)
    with pytest.raises(SandboxUnavailable) as ei:
        Sandbox().run("print(1)")
    msg = str(ei.value)
    assert "\n" not in msg and "--unsafe-no-sandbox" in msg and "bwrap" in msg
    with Sandbox(allow_unsafe_no_sandbox=True) as s:
        r = s.run("print(2 + 2)")
        assert r.status == "ok" and r.stdout == "4\n" and s.unsafe_mode


@needs_sandbox
def test_partial_output_kept_on_timeout_and_crash(sb):
    r = sb.run("print('partial')\nwhile True: pass", timeout=0.5)
    assert r.status == "timeout" and r.stdout == "partial\n"
    r = sb.run("print('before')\nimport ctypes\nctypes.string_at(0)")
    assert r.status == "error" and r.stdout == "before\n" and "SIGSEGV" in r.stderr


@needs_sandbox
def test_recovers_when_server_dies():

    with Sandbox(timeout_s=5) as s:
        assert s.run("print(1)").stdout == "1\n"
        os.killpg(s._server.proc.pid, signal.SIGKILL)
        s._server.proc.wait()
        r = s.run("print(2)")
        if r.status == "killed":  # the request raced the dying server
            r = s.run("print(2)")
        assert r.status == "ok" and r.stdout == "2\n"


def test_cli_parser_contract():
    import argparse

    from mathgauge.sandbox._cli import add_sandbox_commands

    parser = argparse.ArgumentParser(prog="mathgauge")
    add_sandbox_commands(parser.add_subparsers(dest="command"))
    for argv in (["sandbox", "exec", "--timeout", "2", "--memory-mb", "512"],
                 ["sandbox", "exec-batch", "--input", "a", "--output", "b", "--timeout", "3"],
                 ["sandbox", "check"]):
        args = parser.parse_args(argv)
        assert callable(args.func)


def test_static_corpus_benign_cases_are_clean():
    corpus = Path(__file__).resolve().parents[2].parent / "shared" / "redteam" / "cases.jsonl"
    if not corpus.exists():
        pytest.skip("red-team corpus not found")
    cases = [json.loads(x) for x in corpus.read_text().splitlines() if x.strip()]
    for c in cases:
        c["code"] = c["code"].replace("__RT_ROOT__", "/srv/rt").replace("__RT_HARNESS__", "/srv/harness")
    benign = [c for c in cases if c["category"] in ("benign", "benign_fs", "benign_state", "buggy", "cpu_heavy")]
    assert benign and all(classify_static(c["code"]) == [] for c in benign)
    hostile = [c for c in cases if c["category"] in ("network", "exec", "ctypes", "fs_read", "fs_write", "fs_delete",
                                                     "obfuscation", "fork_bomb", "background", "secrets", "proc")]
    assert hostile and all(classify_static(c["code"]) for c in hostile)


@needs_sandbox
def test_server_outlives_the_thread_that_started_it():
    """bwrap's parent-death signal follows the starting *thread*: a pool thread ending must not kill the server."""
    import threading

    with Sandbox(timeout_s=5) as s:
        t = threading.Thread(target=s.start)
        t.start()
        t.join()
        import time

        time.sleep(0.5)
        assert s._server.proc.poll() is None and s.run("print(3)").stdout == "3\n"


@needs_sandbox
def test_nothing_survives_a_killed_host():
    """The host SIGKILLed mid-run: the server sees its input close, kills its jobs and exits."""
    code = ("import sys\nfrom mathgauge.sandbox import Sandbox\nsb = Sandbox(timeout_s=60)\nsb.start()\n"
            "print(sb._server.proc.pid, flush=True)\nsb.run('import time\\ntime.sleep(60)')\n")
    host = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src")))
    bwrap_pid = int(host.stdout.readline())
    import time

    time.sleep(1.0)
    host.kill()
    host.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and Path("/proc/%d" % bwrap_pid).exists():
        time.sleep(0.1)
    alive = Path("/proc/%d" % bwrap_pid).exists() and "\nState:\tZ" not in Path("/proc/%d/status" % bwrap_pid).read_text()
    assert not alive, "the sandbox outlived its host"
