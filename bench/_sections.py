"""The sections of `python -m bench`. Each returns a `Section`: rows for the one table, and the raw data for JSON.

Every row says how its figure was measured (runs, median or max, what the clock covers).
"""

from __future__ import annotations

import itertools
import re
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import _peers
from ._measure import REPO, ProcResult, against_server, measure_process, server_args

BENCH = Path(__file__).resolve().parent
SHARED = REPO.parent / "shared"
MATH500 = SHARED / "data" / "math500.jsonl"
MATH_TEST = SHARED / "data" / "math_test.jsonl"


@dataclass
class Sizes:
    """How big each section runs: `FULL` for the figures, `QUICK` for a smoke test."""

    pipeline_problems: int
    pipeline_cases: list[tuple[float, int]]  # (latency s, concurrency)
    pipeline_repeat: int
    rl_problems: int
    rl_latency: float
    rl_concurrency: int
    rl_timeout_s: float
    grading_limit: int | None
    sandbox_args: list[str]
    memory_problems: int
    memory_repeat: int
    scaling_sizes: list[int]
    scaling_repeat: int
    scaling_latency: float = 0.2
    scaling_concurrency: int = 64
    run_timeout_s: float = 600.0
    faults_quick: bool = False
    scale_args: list[str] = field(default_factory=list)


FULL = Sizes(pipeline_problems=500, pipeline_cases=[(0.2, 64), (1.0, 256)], pipeline_repeat=3,
             rl_problems=500, rl_latency=0.2, rl_concurrency=64, rl_timeout_s=240.0,
             grading_limit=None, sandbox_args=["--reps", "5"],
             memory_problems=5000, memory_repeat=3,
             scaling_sizes=[500, 1000, 2500, 5000], scaling_repeat=3)
QUICK = Sizes(pipeline_problems=40, pipeline_cases=[(0.2, 64), (1.0, 256)], pipeline_repeat=1,
              rl_problems=20, rl_latency=0.2, rl_concurrency=64, rl_timeout_s=90.0,
              grading_limit=150, sandbox_args=["--reps", "1", "--snippets", "16", "--trivial", "10"],
              memory_problems=500, memory_repeat=1,
              scaling_sizes=[100, 200, 500], scaling_repeat=1, run_timeout_s=180.0, scale_args=["--quick"],
              faults_quick=True)


@dataclass
class Section:
    name: str
    status: str = "ok"  # ok | unavailable | skipped | error
    rows: list[dict] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    note: str = ""

    def row(self, case: str, tool: str, figure: str, value, display: str, how: str) -> None:
        self.rows.append({"section": self.name, "case": case, "tool": tool, "figure": figure, "value": value,
                          "display": display, "how": how})

    def to_dict(self) -> dict:
        return {"status": self.status, "note": self.note, "rows": self.rows, "data": self.data}


# ---------------------------------------------------------------------------------------------------------------
# the tools as commands


class MathgaugeCmd:
    """A whole `mathgauge run` (fresh store, grading and storing included), summary JSON read afterwards."""

    def __init__(self, data: Path, problems: int, concurrency: int) -> None:
        self.data, self.problems, self.concurrency = data, problems, concurrency

    def __call__(self, base_url: str, workdir: Path) -> list[str]:
        return [sys.executable, "-m", "mathgauge.cli", "run", "--model", "bench", "--base-url", base_url,
                "--data-file", str(self.data), "--benchmark", "math500" if "500" in self.data.name else "math",
                "--limit", str(self.problems), "--concurrency", str(self.concurrency),
                "--store", str(workdir / "bench.db"), "--summary-json", str(workdir / "summary.json"), "--quiet"]

    def after(self, workdir: Path, res: ProcResult) -> dict:
        import json

        path = workdir / "summary.json"
        if not path.exists():
            return {"tool_score": None}
        doc = json.loads(path.read_text())
        return {"tool_score": doc.get("accuracy"), "tool_kept": doc.get("n"), "tool_failed": doc.get("failed")}


def mathgauge_env() -> dict:
    import os

    env = dict(os.environ)
    env["OPENAI_API_KEY"] = "bench"
    return env


def tools_for(problems: int, concurrency: int, data: Path, peers: bool) -> list[tuple[str, object, dict | None]]:
    tools: list[tuple[str, object, dict | None]] = [("mathgauge", MathgaugeCmd(data, problems, concurrency),
                                                     mathgauge_env())]
    if peers:
        env = _peers.peer_env(data)
        tools.append(("lm-eval", _peers.LmEvalCmd(problems, concurrency), env))
        tools.append(("inspect_ai", _peers.InspectCmd(problems, concurrency, data), env))
    return tools


def floor_s(problems: int, latency: float, concurrency: int) -> float:
    """The least wall time the server's latency allows: n x latency / c, and never less than one latency."""
    return max(problems * latency / concurrency, latency)


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f} s"


def _status(res: ProcResult) -> str:
    return f"killed at {res.wall_s:.0f} s (time limit)" if res.timed_out else f"exit {res.returncode}"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# pipeline


def pipeline(sizes: Sizes, peers: bool, peers_note: str) -> Section:
    sec = Section("pipeline")
    n, reps = sizes.pipeline_problems, sizes.pipeline_repeat
    how_runs = f"median of {reps} process run{'s' if reps > 1 else ''}"
    for latency, conc in sizes.pipeline_cases:
        case = f"{n} MATH-500, {latency * 1000:.0f} ms, c={conc}"
        floor = floor_s(n, latency, conc)
        sec.row(case, "-", "floor", floor, f"{floor:.2f} s",
                f"max({n} x {latency} s / {conc}, {latency} s): latency alone at perfect concurrency")
        walls: dict[str, float] = {}
        for tool, cmd, env in tools_for(n, conc, MATH500, peers):
            runs = []
            for i in range(reps):
                _log(f"  pipeline {case}: {tool} run {i + 1}/{reps}")
                res = against_server(cmd, server_args(MATH500, latency), env=env, timeout_s=sizes.run_timeout_s)
                runs.append(res)
            ok = [r for r in runs if r.returncode == 0]
            wall = _median([r.wall_s for r in ok])
            first = _median([r.extra.get("first_request_s") for r in ok])
            rss = max((r.peak_rss_mb for r in ok), default=None)
            cpu = _median([r.cpu_s for r in ok])
            answered = _median([min(n, r.extra.get("completed") or 0) for r in runs])
            sec.data.setdefault(case, {})[tool] = {
                "problems": n, "latency_s": latency, "concurrency": conc, "floor_s": floor, "repeat": reps,
                "wall_s": wall, "ratio_to_floor": (wall / floor) if wall else None, "first_request_s": first,
                "peak_rss_mb": rss, "cpu_s": cpu, "runs": [r.to_dict() for r in runs],
            }
            if not ok:
                sec.row(case, tool, "status", None, f"failed: {_status(runs[-1])}",
                        f"{reps} run(s); stderr tail in JSON")
                continue
            walls[tool] = wall
            note = "" if len(ok) == reps else f" ({reps - len(ok)} of {reps} runs failed)"
            sec.row(case, tool, "wall", wall, f"{wall:.2f} s ({wall / floor:.2f}x floor){note}",
                    f"{how_runs}, process start to exit, fresh server each; "
                    + ("grading + storing included" if tool == "mathgauge" else "scoring + sample logs included"))
            sec.row(case, tool, "first request", first, _fmt_s(first),
                    f"process start -> server's first chat request, {how_runs}")
            sec.row(case, tool, "peak RSS", rss, f"{rss:.0f} MB", f"max over {reps} run(s), wait4 ru_maxrss")
            sec.row(case, tool, "CPU", cpu, _fmt_s(cpu), f"user+sys, {how_runs}")
            score = _median([r.extra.get("tool_score") for r in ok])
            sec.row(case, tool, "answered, score", answered,
                    f"{answered:.0f}/{n}, " + ("-" if score is None else f"{score:.3f}"),
                    "answers the server sent; the tool's own accuracy (script: 0.7 correct)")
        if not peers:
            sec.row(case, "lm-eval, inspect_ai", "status", None, "skipped", peers_note)
        mg = walls.get("mathgauge")
        peer_walls = {k: v for k, v in walls.items() if k != "mathgauge"}
        if mg:
            ratio = round(mg / floor, 2)
            target = [f"{ratio:.2f}x floor (target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})"]
            mg_data = sec.data[case]["mathgauge"]
            if mg_data["first_request_s"] is not None:
                target.append(f"first request <= 0.6 s: {'met' if mg_data['first_request_s'] <= 0.6 else 'NOT met'}")
            if mg_data["peak_rss_mb"] is not None:
                target.append(f"RSS <= 200 MB: {'met' if mg_data['peak_rss_mb'] <= 200 else 'NOT met'}")
            if peer_walls:
                best = min(peer_walls, key=peer_walls.get)  # type: ignore[arg-type]
                speedup = round(peer_walls[best] / mg, 1)
                target.append(f"{speedup:.1f}x faster than {best} (target >= 4x: "
                              f"{'met' if speedup >= 4 else 'NOT met'})")
                sec.data[case]["speedup_vs_fastest_peer"] = speedup
            sec.row(case, "mathgauge", "targets", None, "; ".join(target),
                    "from the figures above (targets of issue 8 and bench/pipeline.py)")
    return sec


# ---------------------------------------------------------------------------------------------------------------
# rate limits


def rate_limits(sizes: Sizes, peers: bool, peers_note: str) -> Section:
    sec = Section("ratelimits")
    n, lat, conc = sizes.rl_problems, sizes.rl_latency, sizes.rl_concurrency
    cases = [("every 2nd request 429 (Retry-After 1 s)", {"reject_every": 2}),
             ("every request 429 (Retry-After 1 s)", {"reject_all": True})]
    how = (f"1 run per tool, {n} MATH-500, {lat * 1000:.0f} ms, c={conc}, fresh server; "
           f"killed after {sizes.rl_timeout_s:.0f} s")
    for label, kw in cases:
        for tool, cmd, env in tools_for(n, conc, MATH500, peers):
            _log(f"  rate limits, {label}: {tool}")
            res = against_server(cmd, server_args(MATH500, lat, retry_after=1.0, **kw), env=env,
                                 timeout_s=sizes.rl_timeout_s)
            answered = min(n, res.extra.get("completed") or 0)
            kept = res.extra.get("tool_kept")
            lost = n - (min(n, kept) if kept is not None else answered)
            sec.data.setdefault(label, {})[tool] = {"problems": n, "answered_by_server": answered,
                                                    "kept_by_tool": kept, "lost": lost, **res.to_dict()}
            finish = f"{res.wall_s:.1f} s" + (" (killed, had not finished)" if res.timed_out else "")
            sec.row(label, tool, "time to finish", res.wall_s, finish, how)
            sec.row(label, tool, "samples lost", lost, f"{lost}/{n} (server answered {answered})",
                    "samples the tool kept no result for at the end (its summary / results / log file); "
                    "server's count of answers sent beside it")
            extra = ""
            if tool == "mathgauge" and res.extra.get("tool_failed") is not None:
                extra = f", {res.extra['tool_failed']} stored as failed"
            sec.row(label, tool, "exit status", res.returncode, _status(res) + extra,
                    f"{res.extra.get('rejected')} rejections / {res.extra.get('chat_requests')} requests")
        if not peers:
            sec.row(label, "lm-eval, inspect_ai", "status", None, "skipped", peers_note)
    return sec


# ---------------------------------------------------------------------------------------------------------------
# grading and sandbox: delegated to bench/grading.py and bench/sandbox.py


def _delegate(script: str, args: list[str], timeout_s: float) -> tuple[ProcResult | None, str, str]:
    path = BENCH / script
    if not path.exists():
        return None, "", f"bench/{script} is not there yet"
    import os
    import tempfile

    logs = Path(tempfile.mkdtemp(prefix="bench-delegate-"))
    res, _ = measure_process([sys.executable, str(path), *args], env=dict(os.environ), cwd=REPO,
                             timeout_s=timeout_s, log_dir=logs)
    out = (logs / "stdout.txt").read_text(errors="replace")
    return res, out, ""


def grading(sizes: Sizes) -> Section:
    sec = Section("grading")
    args = ["--limit", str(sizes.grading_limit)] if sizes.grading_limit else []
    res, out, why = _delegate("grading.py", args, 1800)
    sec.data["stdout"] = out
    if res is None or res.returncode != 0:
        sec.status = "unavailable"
        sec.note = why or f"bench/grading.py {_status(res)}: {res.stderr_tail.strip()[-300:]}"  # type: ignore[union-attr]
        sec.row("-", "-", "status", None, "unavailable", sec.note)
        return sec
    rows_m = re.search(r"^(\d+) labelled rows", out, re.MULTILINE)
    nrows = rows_m.group(1) if rows_m else "?"
    how = (f"bench/grading.py over {nrows} labelled rows (borderline/gold_issue/repeats left out); cold: every cache "
           "empty, each pair graded once, median of 3; warm: verdicts cached; by CPU time")
    blocks = re.split(r"^== ", out, flags=re.MULTILINE)[1:]
    for block in blocks:
        tool = block.splitlines()[0].strip()
        if "not installed" in tool:
            sec.row("labelled responses", "math-verify", "status", None, "not installed", tool)
            continue
        speed = re.search(r"grades/s:\s*([\d,.]+)\s+p50:\s*([\d.]+) ms\s+p99:\s*([\d.]+) ms", block)
        agree = re.search(r"agreement overall\s+([\d.]+)%\s+\((\d+)/(\d+)\)", block)
        entry: dict = {}
        if speed:
            gps, p50, p99 = float(speed.group(1).replace(",", "")), float(speed.group(2)), float(speed.group(3))
            entry.update(grades_per_s=gps, p50_ms=p50, p99_ms=p99)
            sec.row("labelled responses", tool, "grades/s", gps, f"{gps:,.0f}", how)
            sec.row("labelled responses", tool, "p50 / p99", p50, f"{p50:.3f} / {p99:.3f} ms", how)
        if agree:
            pct = float(agree.group(1))
            entry.update(agreement_pct=pct, agree=int(agree.group(2)), total=int(agree.group(3)))
            sec.row("labelled responses", tool, "agreement", pct,
                    f"{pct:.2f}% ({agree.group(2)}/{agree.group(3)})", "verdict == hand label, " + how)
        sec.data[tool] = entry
    if not blocks:
        sec.status = "unavailable"
        sec.row("-", "-", "status", None, "unavailable: no figures found in bench/grading.py output",
                "its stdout is in the JSON")
    return sec


def scale(sizes: Sizes) -> Section:
    """bench/scale.py: the figures of issue 19 (store size per response byte, CPU per sample, start-up, pipeline
    wall ratios, the report at reasoning scale), each with how it was measured."""
    import json
    import tempfile

    sec = Section("scale")
    out = Path(tempfile.mkdtemp(prefix="bench-scale-")) / "scale.json"
    res, stdout, why = _delegate("scale.py", [*sizes.scale_args, "--json", str(out)], 3600)
    sec.data["stdout"] = stdout
    if res is None or res.returncode != 0 or not out.exists():
        sec.status = "error"
        sec.note = why or f"bench/scale.py {_status(res)}: {res.stderr_tail.strip()[-300:]}"  # type: ignore[union-attr]
        sec.row("-", "-", "status", None, "error", sec.note)
        return sec
    doc = json.loads(out.read_text())
    sec.data["rows"] = doc["rows"]
    case = "quick sizes" if doc.get("quick") else "issue 19 sizes"
    for row in doc["rows"]:
        sec.row(case, "mathgauge", row["figure"], None, row["value"], row["how"])
    return sec


def sandbox(sizes: Sizes) -> Section:
    sec = Section("sandbox")
    res, out, why = _delegate("sandbox.py", sizes.sandbox_args, 1800)
    sec.data["stdout"] = out
    if res is None or res.returncode != 0:
        sec.status = "unavailable"
        first = out.strip().splitlines()[-1] if out.strip() else ""
        sec.note = why or (first if res.returncode == 3 else  # type: ignore[union-attr]
                           f"bench/sandbox.py {_status(res)}: {res.stderr_tail.strip()[-300:]}")  # type: ignore[union-attr]
        sec.row("-", "-", "status", None, "unavailable", sec.note)
        return sec
    patterns = [
        ("executions/s", "mathgauge sandbox", "sympy mix", r"throughput: ([\d.]+) executions/s\s*\[(.*?)\]", "/s"),
        ("trivial overhead", "mathgauge sandbox", "'pass'", r"trivial snippet \('pass'\): ([\d.]+) ms\s*\[(.*?)\]",
         " ms"),
        ("latency", "mathgauge sandbox", "sympy mix", r"sympy snippet latency: ([\d.]+) ms\s*\[(.*?)\]", " ms"),
        ("start-up", "mathgauge sandbox", "once per Sandbox", r"server start (\(.*?\)): ([\d.]+) s", " s"),
        ("per snippet", "cold python -c", "sympy import + factorint",
         (r"cold subprocess.*?: ([\d.]+) ms per snippet\s*\[(.*?)\]"), " ms"),
    ]
    for figure, tool, case, pat, unit in patterns:
        m = re.search(pat, out)
        if not m:
            continue
        if figure == "start-up":
            value, how = float(m.group(2)), "bench/sandbox.py: " + m.group(1).strip("()") + ", 1 measurement"
        else:
            value, how = float(m.group(1)), "bench/sandbox.py: " + m.group(2)
        sec.data[f"{tool}: {figure}"] = value
        if figure == "executions/s" and value:
            sec.data["executions_per_s"] = value
        sec.row(case, tool, figure, value, f"{value:.1f}{unit}", how)
    cold = sec.data.get("cold python -c: per snippet")
    if cold:
        sec.row("sympy import + factorint", "cold python -c", "executions/s", 1000 / cold,
                f"{1000 / cold:.1f}/s", "1000 / per-snippet ms (sequential, one process per snippet)")
    target = re.search(r"targets: (.*)", out)
    if target:
        sec.row("-", "mathgauge sandbox", "targets", None, target.group(1), "bench/sandbox.py")
    if not sec.rows:
        sec.status = "unavailable"
        sec.row("-", "-", "status", None, "unavailable: no figures found in bench/sandbox.py output",
                "its stdout is in the JSON")
    return sec


# ---------------------------------------------------------------------------------------------------------------
# faults: delegated to bench/faults.py


def faults(sizes: Sizes) -> Section:
    import json
    import tempfile

    sec = Section("faults")
    out = Path(tempfile.mkdtemp(prefix="bench-faults-")) / "faults.json"
    args = ["--json", str(out)] + (["--quick"] if sizes.faults_quick else [])
    res, stdout, why = _delegate("faults.py", args, 1800)
    sec.data["stdout"] = stdout
    if res is None or not out.exists():
        sec.status = "error"
        sec.note = why or f"bench/faults.py {_status(res)}: {res.stderr_tail.strip()[-300:]}"  # type: ignore[union-attr]
        sec.row("-", "-", "status", None, "error", sec.note)
        return sec
    doc = json.loads(out.read_text())
    sec.data.update(doc)
    n, c = doc["problems"], doc["concurrency"]
    lines = {line.split(":")[0]: line for line in stdout.splitlines() if ":" in line}

    def how(key: str) -> str:
        line = lines.get(key, "")
        return line[line.find("(") + 1:line.find(")")] if "(" in line else "bench/faults.py"

    cc = doc["ctrl_c"]
    worst_after = max(r["requests_after_signal"] for r in cc["runs"])
    sec.row(f"{n} MATH-500, 500 ms, c={c}", "mathgauge", "Ctrl-C -> exit", cc["median_s"],
            f"{cc['median_s']:.2f} s, {worst_after} requests after it, exit {cc['runs'][-1]['exit']}",
            how("ctrl-c -> exit"))
    busy = doc["ctrl_c_busy"]
    sec.row("the same, signal amid answers", "mathgauge", "Ctrl-C -> exit", busy["median_s"],
            f"{busy['median_s']:.2f} s (worst {busy['worst_s']:.2f} s), "
            f"{max(r['requests_after_signal'] for r in busy['runs'])} requests seen after "
            f"it (up to {c} on their way), {max(r['failed'] for r in busy['runs'])} failed",
            how("ctrl-c -> exit, amid answers"))
    hung = doc["ctrl_c_hung"]
    shown = "killed at 60 s" if hung["seconds_to_exit"] is None else f"{hung['seconds_to_exit']:.2f} s"
    sec.row("server stops answering", "mathgauge", "Ctrl-C -> exit", hung["seconds_to_exit"],
            f"{shown}, {hung['requests_after_signal']} requests after it, "
            f"exit {hung['exit']}", how("ctrl-c -> exit, server that stopped answering"))
    dead = doc["dead_endpoint"]
    value = dead["seconds_to_give_up"]
    sec.row("server dies mid-run", "mathgauge", "give up", value,
            ("-" if value is None else f"{value:.2f} s") + f" after its death, exit {dead['exit']}",
            how("dead endpoint -> give up"))
    static = doc["static_server"]
    sec.row("static web server as --base-url", "mathgauge", "give up", static["wall_s"],
            f"{static['wall_s']:.2f} s, exit {static['exit']}", "whole run, 1 run")
    dup = doc["concurrent_resume"]
    sec.row("run killed, 3 processes resume it at once", "mathgauge", "duplicate requests", dup["duplicates"],
            f"{dup['duplicates']} of {dup['requests']} ({dup['refused']} of {dup['processes']} refused)",
            how("concurrent resume"))
    rl = doc["storm"]
    sec.row("every request 429", "mathgauge", "give up", rl["seconds_to_give_up"],
            f"{rl['seconds_to_give_up']:.1f} s, exit {rl['exit']}, {rl['failed']} failed / {rl['pending']} pending",
            how("429 storm -> give up"))
    sec.row("-", "mathgauge", "targets", None, "met" if doc["targets_met"] else "NOT met",
            "no request after Ctrl-C and exit 130; 0 duplicate requests; dead endpoint and storm exit 3")
    if not doc["targets_met"]:
        sec.status = "error"
    return sec


# ---------------------------------------------------------------------------------------------------------------
# memory and scaling: mathgauge on the full MATH test set


def _mathgauge_math(n: int, latency: float, conc: int, timeout_s: float) -> ProcResult:
    cmd = MathgaugeCmd(MATH_TEST, n, conc)
    return against_server(cmd, server_args(MATH_TEST, latency), env=mathgauge_env(), timeout_s=timeout_s)


def memory(sizes: Sizes) -> Section:
    sec = Section("memory")
    n, reps = sizes.memory_problems, sizes.memory_repeat
    lat, conc = sizes.scaling_latency, sizes.scaling_concurrency
    case = f"{n} MATH, {lat * 1000:.0f} ms, c={conc}"
    runs = []
    for i in range(reps):
        _log(f"  memory {case}: run {i + 1}/{reps}")
        runs.append(_mathgauge_math(n, lat, conc, sizes.run_timeout_s))
    ok = [r for r in runs if r.returncode == 0]
    sec.data = {"problems": n, "latency_s": lat, "concurrency": conc, "runs": [r.to_dict() for r in runs]}
    if not ok:
        sec.status = "error"
        sec.row(case, "mathgauge", "status", None, f"failed: {_status(runs[-1])}", "stderr tail in JSON")
        return sec
    peak = max(r.peak_rss_mb for r in ok)
    med = _median([r.peak_rss_mb for r in ok])
    wall = _median([r.wall_s for r in ok])
    sec.data.update(peak_rss_mb=peak, median_peak_rss_mb=med, wall_s=wall)
    sec.row(case, "mathgauge", "peak RSS", peak, f"{peak:.0f} MB (median {med:.0f} MB)",
            f"max and median over {reps} `mathgauge run` process(es), wait4 ru_maxrss, fresh store each")
    sec.row(case, "mathgauge", "wall", wall, f"{wall:.2f} s (floor {floor_s(n, lat, conc):.2f} s)",
            f"median of {reps}, includes grading + storing")
    return sec


def scaling(sizes: Sizes) -> Section:
    sec = Section("scaling")
    lat, conc, reps = sizes.scaling_latency, sizes.scaling_concurrency, sizes.scaling_repeat
    points = []
    for n in sizes.scaling_sizes:
        runs = []
        for i in range(reps):
            _log(f"  scaling {n} problems: run {i + 1}/{reps}")
            runs.append(_mathgauge_math(n, lat, conc, sizes.run_timeout_s))
        ok = [r for r in runs if r.returncode == 0]
        point = {"problems": n, "floor_s": floor_s(n, lat, conc), "wall_s": _median([r.wall_s for r in ok]),
                 "cpu_s": _median([r.cpu_s for r in ok]), "peak_rss_mb": max((r.peak_rss_mb for r in ok), default=None),
                 "runs": [r.to_dict() for r in runs]}
        points.append(point)
        case = f"{n} MATH, {lat * 1000:.0f} ms, c={conc}"
        if not ok:
            sec.row(case, "mathgauge", "status", None, f"failed: {_status(runs[-1])}", "stderr tail in JSON")
            continue
        how = f"median of {reps} `mathgauge run` process(es), fresh server + store each"
        sec.row(case, "mathgauge", "wall", point["wall_s"],
                f"{point['wall_s']:.2f} s (floor {point['floor_s']:.2f} s, "
                f"{point['wall_s'] / point['floor_s']:.2f}x)", how)
        sec.row(case, "mathgauge", "CPU", point["cpu_s"],
                f"{point['cpu_s']:.2f} s ({1000 * point['cpu_s'] / n:.2f} ms/problem)", "user+sys, " + how)
    sec.data["points"] = points
    good = [p for p in points if p["wall_s"] is not None]
    if len(good) >= 3:
        verdict = linearity(good)
        sec.data["linearity"] = verdict
        sec.row("all sizes", "mathgauge", "growth", None, verdict["text"], verdict["how"])
    return sec


def linearity(points: list[dict]) -> dict:
    """Is cost linear in problems? Compare marginal costs (d cost / d problems) of the first and last steps.

    Marginal cost takes the fixed start-up out. Wall is judged beyond the floor (which is linear by construction);
    CPU, the tool's own work, independently of latency. Linear when the last step's marginal cost is at most
    1.5x the first step's.
    """
    def marginal(key: str) -> list[float]:
        out = []
        for a, b in itertools.pairwise(points):
            out.append((b[key] - a[key]) / (b["problems"] - a["problems"]))
        return out

    for p in points:
        p["over_floor_s"] = p["wall_s"] - p["floor_s"]
    cpu = marginal("cpu_s")
    wall = marginal("wall_s")
    over = marginal("over_floor_s")
    cpu_ratio = cpu[-1] / cpu[0] if cpu[0] > 0 else float("inf")
    wall_ratio = wall[-1] / wall[0] if wall[0] > 0 else float("inf")
    linear = cpu_ratio <= 1.5 and wall_ratio <= 1.5
    text = ("linear" if linear else "NOT linear") + (
        f": marginal CPU {1000 * cpu[0]:.2f} -> {1000 * cpu[-1]:.2f} ms/problem ({cpu_ratio:.2f}x), "
        f"marginal wall {1000 * wall[0]:.2f} -> {1000 * wall[-1]:.2f} ms/problem ({wall_ratio:.2f}x)")
    return {"linear": linear, "marginal_cpu_ms": [1000 * c for c in cpu], "marginal_wall_ms": [1000 * w for w in wall],
            "marginal_over_floor_ms": [1000 * o for o in over], "text": text,
            "how": "d(cost)/d(problems) between consecutive sizes, first step vs last; linear if last <= 1.5x first"}
