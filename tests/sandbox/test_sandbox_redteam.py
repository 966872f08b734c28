"""Red-team corpus: every case through ``sandbox exec-batch`` with the host-side canaries in place."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import require_sandbox

HERE = Path(__file__).resolve().parent
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CASES = SHARED / "redteam" / "cases.jsonl"
ERRORISH = {"error", "memory", "killed", "blocked"}
CANARY_KEY = "sk-rt-canary-0000"
ARM_TEST = 'os.environ.get("RT_HARNESS_MARK") == "1"'


def _sandbox_usable() -> tuple[bool, str]:
    from mathgauge.sandbox import check_isolation

    info = check_isolation()
    return bool(info.get("usable")), str(info.get("missing", ""))


class Canaries:
    """Loopback listeners that record anything that reaches them."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.socks: list[socket.socket] = []
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def _add(self, family, kind, addr, label) -> None:
        try:
            s = socket.socket(family, kind)
        except OSError:
            return
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            s.bind(addr)
        except OSError:
            s.close()
            if family == socket.AF_INET6:
                return  # no IPv6 loopback on this machine
            raise
        if kind == socket.SOCK_STREAM:
            s.listen(16)
        s.settimeout(0.2)
        self.socks.append(s)
        t = threading.Thread(target=self._serve, args=(s, kind, label), daemon=True)
        t.start()
        self.threads.append(t)

    def _serve(self, s, kind, label) -> None:
        while not self.stop.is_set():
            try:
                if kind == socket.SOCK_STREAM:
                    c, _ = s.accept()
                    self.hits.append(label)
                    c.close()
                else:
                    s.recvfrom(65536)
                    self.hits.append(label)
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return

    def __enter__(self) -> "Canaries":
        self._add(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 47001), "tcp4:47001")
        self._add(socket.AF_INET6, socket.SOCK_STREAM, ("::1", 47001), "tcp6:47001")
        self._add(socket.AF_INET, socket.SOCK_DGRAM, ("127.0.0.1", 47002), "udp4:47002")
        self._add(socket.AF_UNIX, socket.SOCK_STREAM, "\0rt_canary", "unix:rt_canary")
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=2)
        for s in self.socks:
            s.close()


def _pids() -> set[int]:
    return {int(d) for d in os.listdir("/proc") if d.isdigit()}


def _cmdline(pid: int) -> str:
    try:
        cmd = Path("/proc/%d/cmdline" % pid).read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        stat = Path("/proc/%d/stat" % pid).read_text()
        return cmd + " [" + stat[:80] + "]"
    except OSError:
        return ""


def _sandbox_process(pid: int) -> bool:
    """A process that the sandbox (or a snippet) started: another pid namespace, a sandbox uid, or its command."""
    try:
        status = Path("/proc/%d/status" % pid).read_text()
        if "\nState:\tZ" in status:
            return False  # already dead (a zombie waiting for its parent to reap it)
        if os.readlink("/proc/%d/ns/pid" % pid) != os.readlink("/proc/self/ns/pid"):
            return True
    except OSError:
        return False
    uid = int(next(ln.split()[1] for ln in status.splitlines() if ln.startswith("Uid:")))
    cmd = _cmdline(pid)
    return 20000 <= uid < 60001 or "mathgauge-sandbox" in cmd


def _ppid(pid: int) -> int:
    try:
        return int(Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _descends_from_us(pid: int) -> bool:
    """Whether ``pid`` is a descendant of this test process (orphans come back to it: it is a subreaper).

    Other sessions on a shared machine run sandboxes too; only what this test started counts."""
    me, seen = os.getpid(), set()
    while pid > 1 and pid not in seen:
        seen.add(pid)
        pid = _ppid(pid)
        if pid == me:
            return True
    return False


def _set_subreaper(on: bool) -> None:
    import ctypes

    ctypes.CDLL(None).prctl(36, 1 if on else 0, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


def _prepare(case: dict, rt_root: Path) -> str:
    code = case["code"].replace("__RT_ROOT__", str(rt_root)).replace("__RT_HARNESS__", str(HERE))
    return code.replace(ARM_TEST, "True")


def _host_paths(case: dict, key: str, rt_root: Path) -> list[Path]:
    return [Path(p.replace("__RT_ROOT__", str(rt_root)).replace("__RT_HARNESS__", str(HERE)))
            for p in case.get(key) or []]


def _check_case(case: dict, res: dict) -> list[str]:
    problems = []
    expect = case["expect"]
    accepted = {expect} | ({case["alt_expect"]} if case.get("alt_expect") else set())
    text = res["stdout"] + res["stderr"]
    if "ESCAPED:" in text:
        problems.append("ESCAPED in output")
    ok = False
    for exp in accepted:
        if exp == "ok":
            want = case.get("expected_stdout")
            ok |= res["status"] == "ok" and (want is None or res["stdout"] == want)
        elif exp == "timeout":
            ok |= res["status"] == "timeout"
        elif exp == "error":
            ok |= res["status"] in ERRORISH
        elif exp == "blocked":
            ok |= "ESCAPED:" not in text
    if not ok:
        problems.append("expected %s, got %s (stdout=%r, stderr=%r)" % (
            "/".join(sorted(accepted)), res["status"], res["stdout"][:200], res["stderr"][-300:]))
    return problems


@pytest.mark.slow
def test_redteam_corpus(tmp_path):
    require_sandbox(CASES.exists(), "red-team corpus not found at %s" % CASES)
    usable, missing = _sandbox_usable()
    # never run the corpus outside a verified sandbox
    require_sandbox(usable, "sandbox unavailable, refusing to run the red-team corpus: %s" % missing)

    cases = [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]
    rt_root = Path(tempfile.mkdtemp(prefix="rt_root_", dir=tmp_path))
    (rt_root / "victim").mkdir()
    (rt_root / "outside").mkdir()
    (rt_root / "victim" / "keep.txt").write_text("keep me\n")
    (rt_root / "victim" / "keep2.txt").write_text("keep me too\n")
    victim_state = {p.name: (p.read_bytes(), p.stat().st_mode) for p in (rt_root / "victim").iterdir()}

    inp = tmp_path / "in.jsonl"
    out = tmp_path / "out.jsonl"
    with inp.open("w") as f:
        for c in cases:
            f.write(json.dumps({"id": c["id"], "code": _prepare(c, rt_root)}) + "\n")

    env = dict(os.environ, RT_CANARY_API_KEY=CANARY_KEY, RT_HARNESS_MARK="1")
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)", "rt_canary_victim"],
                              env=env, start_new_session=True)
    before = _pids()
    _set_subreaper(True)
    try:
        with Canaries() as canaries:
            t0 = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "mathgauge.sandbox._cli", "exec-batch", "--input", str(inp), "--output",
                 str(out), "--timeout", "10"],
                env=env, capture_output=True, text=True, timeout=600)
            elapsed = time.monotonic() - t0
            time.sleep(0.3)
            hits = list(canaries.hits)
        assert proc.returncode == 0, "exec-batch failed (%s): %s" % (proc.returncode, proc.stderr[-2000:])
        summary = json.loads(proc.stderr.strip().splitlines()[-1])
        assert summary["sandbox_alive_after"] is True

        results = {}
        for line in out.read_text().splitlines():
            r = json.loads(line)
            results[r["id"]] = r
        assert set(results) == {c["id"] for c in cases}

        failures = {}
        for c in cases:
            probs = _check_case(c, results[c["id"]])
            for p in _host_paths(c, "host_must_exist", rt_root):
                if not p.exists():
                    probs.append("host path vanished: %s" % p)
            for p in _host_paths(c, "host_must_not_exist", rt_root):
                if p.exists():
                    probs.append("host path created: %s" % p)
            if CANARY_KEY in results[c["id"]]["stdout"] + results[c["id"]]["stderr"]:
                probs.append("canary secret leaked")
            if probs:
                failures[c["id"]] = probs

        # host afterwards
        now_state = {p.name: (p.read_bytes(), p.stat().st_mode) for p in (rt_root / "victim").iterdir()}
        assert now_state == victim_state, "victim files changed"
        assert list((rt_root / "outside").iterdir()) == [], "something was written outside"
        assert not Path("/rt_pwned_root.txt").exists()
        assert hits == [], "canary listeners were reached: %s" % hits
        assert victim.poll() is None, "the host victim process was killed"
        leftovers = [(p, _cmdline(p)) for p in _pids() - before
                     if p != victim.pid and _descends_from_us(p) and _sandbox_process(p)]
        assert leftovers == [], "processes left behind: %s" % leftovers

        passed = len(cases) - len(failures)
        print("red-team: %d/%d cases passed in %.1f s; statuses %s" % (passed, len(cases), elapsed, summary["statuses"]))
        assert failures == {}, json.dumps(failures, indent=1)
    finally:
        _set_subreaper(False)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        shutil.rmtree(rt_root, ignore_errors=True)
