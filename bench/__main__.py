"""`python -m bench`: mathgauge's benchmark suite, every section in one run, one table, one JSON file.

Sections (all by default; `--sections a,b` picks):
  pipeline    mathgauge vs lm-eval vs inspect_ai, each a separate process against the same scripted server
              (500 MATH-500 at 200 ms latency c=64, then 1 s latency c=256): wall, ratio to floor, first request,
              peak RSS, CPU
  ratelimits  the same tools with every 2nd request 429 (Retry-After 1 s) and with all rejected
  grading     bench/grading.py: mathgauge's grader vs math-verify on the labelled responses
  sandbox     bench/sandbox.py: mathgauge sandbox vs a cold `python -c` per snippet
  memory      peak RSS of a 5,000-problem MATH run
  scaling     wall and CPU for 500, 1,000, 2,500, 5,000 problems, and whether cost grows linearly
  faults      bench/faults.py: Ctrl-C -> exit, giving up on a dead endpoint and under a 429 storm, duplicate requests
              under a concurrent resume
  scale       bench/scale.py: reasoning scale (issue 19): store size per response byte and CPU per sample of a
              500 x 16 run with 8 KB of prose per answer, the text codec, start-up, pipeline wall ratios, the report

Peers run only with `--with-peers` (installed into bench/.peers-venv on first use); otherwise reported as skipped.
`--quick` runs every section small, as a smoke test: its figures are not the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from . import _peers, _sections
from ._measure import REPO, precompile

SECTIONS = ["pipeline", "ratelimits", "grading", "sandbox", "memory", "scaling", "scale", "faults"]
ALIASES = {"rate_limits": "ratelimits", "rate-limits": "ratelimits", "rate": "ratelimits"}
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "latest.json"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False)
    p.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, from {', '.join(SECTIONS)}")
    p.add_argument("--quick", action="store_true", help="small sizes, one repetition: a smoke test, not figures")
    p.add_argument("--with-peers", action="store_true",
                   help="also run lm-eval and inspect_ai (installed into bench/.peers-venv when missing)")
    p.add_argument("--json", default=str(DEFAULT_JSON), help="write the results here (default %(default)s)")
    p.add_argument("--repeat", type=int, help="override the repetitions of pipeline, memory and scaling")
    args = p.parse_args(argv)
    chosen = []
    for name in (s.strip() for s in args.sections.split(",") if s.strip()):
        name = ALIASES.get(name, name)
        if name not in SECTIONS:
            p.error(f"unknown section {name!r} (known: {', '.join(SECTIONS)})")
        chosen.append(name)
    args.sections = chosen
    return args


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        pass
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "memory_gb": round(mem_gb, 1) if mem_gb else None,
            "python": sys.version.split()[0], "platform": platform.platform(), "loadavg_at_start": load}


def render_table(sections: list[_sections.Section]) -> str:
    header = ["section", "case", "tool", "figure", "value", "how measured"]
    rows = [[r["section"], r["case"], r["tool"], r["figure"], r["display"], r["how"]]
            for s in sections for r in s.rows]
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) if rows else len(header[i]) for i in range(5)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header[:5], widths)) + "  " + header[5],
             "  ".join("-" * w for w in widths) + "  " + "-" * 12]
    last = None
    for r in rows:
        section = r[0] if r[0] != last else ""
        last = r[0]
        lines.append("  ".join(c.ljust(w) for c, w in zip([section, *r[1:5]], widths)) + "  " + r[5])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = _sections.QUICK if args.quick else _sections.FULL
    if args.repeat:
        sizes.pipeline_repeat = sizes.memory_repeat = sizes.scaling_repeat = args.repeat
    started = time.time()
    meta = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(),
            "quick": args.quick, "sections": args.sections, "with_peers": args.with_peers,
            "sizes": vars(sizes), "command": " ".join(["python -m bench", *(argv or sys.argv[1:])])}
    peers = False
    peers_note = "not asked for: run with --with-peers"
    if args.with_peers and {"pipeline", "ratelimits"} & set(args.sections):
        print("peers: checking bench/.peers-venv ...", file=sys.stderr, flush=True)
        info = _peers.ensure_peers(log=lambda m: print(m, file=sys.stderr, flush=True))
        meta["peers"] = info
        peers = info.get("ready", False)
        if not peers:
            peers_note = f"peer install failed: {info.get('error')}"
        elif info.get("installed_now"):
            print(f"peers: installed in {info['install_s']:.0f} s: {info.get('versions')}", file=sys.stderr)
    precompile(REPO / "src")  # the processes measured start as an installed mathgauge does
    results: list[_sections.Section] = []
    for name in args.sections:
        print(f"[{name}]", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            if name == "pipeline":
                sec = _sections.pipeline(sizes, peers, peers_note)
            elif name == "ratelimits":
                sec = _sections.rate_limits(sizes, peers, peers_note)
            else:
                sec = getattr(_sections, name)(sizes)
        except Exception as exc:  # noqa: BLE001 -- a broken section is reported, the others still run
            sec = _sections.Section(name, status="error", note=f"{type(exc).__name__}: {exc}")
            sec.row("-", "-", "status", None, "error", sec.note[:300])
        sec.data["section_wall_s"] = time.perf_counter() - t0
        results.append(sec)
    table = render_table(results)
    size_note = "QUICK smoke-test sizes (1 repetition): not benchmark figures" if args.quick else "full sizes"
    m = meta["machine"]
    print(f"\nmathgauge benchmark suite, {meta['date']}, {m['cpus']} CPUs ({m['cpu_model']}), "
          f"{m['memory_gb']} GB, Python {m['python']}; {size_note}; total {time.time() - started:.0f} s")
    print(table)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta["total_wall_s"] = time.time() - started
    doc = {"meta": meta, "table": table, "sections": {s.name: s.to_dict() for s in results}}
    out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"\nresults: {out.relative_to(REPO) if out.is_relative_to(REPO) else out}")
    return 0 if all(s.status in ("ok", "unavailable", "skipped") for s in results) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
