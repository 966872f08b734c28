"""`python bench/scale.py`: mathgauge at reasoning scale, the figures of issue 19, each with how it was measured.

Parts (all by default; ``--only a,b`` picks):

* ``store``: a whole `mathgauge run` of P MATH-500 problems x K samples (``--samples K --temperature 0.6``) against
  the scripted server with ``--prose-kb 8``: 8 KB of real prose (MATH-500's reference solutions, a different slice
  per request) before each scripted answer, as a reasoning model writes. Store size per response byte = the store's
  files (``.db`` plus ``-wal`` and ``-shm`` if left) after the process exits / the UTF-8 bytes of the answers the
  server sent; CPU per sample = the process's user+sys CPU (``wait4``) / samples. Median over repetitions.
* ``compression``: the text codec on its own: zlib (stdlib) and zstd (when `zstandard` is installed) on 2,000
  slices of 8 KB of the same prose: compressed/raw ratio and CPU microseconds per text, one thread.
* ``startup``: ``mathgauge --version`` as a separate process (wall and CPU, median of N) beside a bare ``python -c
  pass``, and the mathgauge modules each command imports (``-X importtime``).
* ``pipeline``: `python -m bench`'s pipeline figure for mathgauge alone: 500 MATH-500 at 200 ms latency c=64 and at
  1 s c=256, each repetition a separate process against a fresh scripted server; wall / floor and time to first
  request, medians.
* ``report``: `bench/report.py`'s reasoning-scale report (500 x 16 x 8 KB): HTML size and the build's peak RSS.

``--src DIR`` runs every mathgauge process on another checkout's ``src`` (before/after figures on one machine);
the scripted server is always this checkout's. The source measured is byte-compiled first, as an installed package
is (see `bench._measure.precompile`). ``--quick`` (under a minute): small sizes, one repetition.

    python bench/scale.py [--quick] [--only store,startup] [--src /other/src] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH.parent / "src"))

from bench._common import shared_file  # noqa: E402
from bench._measure import against_server, measure_process, precompile, server_args  # noqa: E402

PARTS = ["store", "compression", "startup", "pipeline", "report"]


@dataclass
class Sizes:
    store_problems: int
    store_samples: int
    store_prose_kb: float
    store_latency: float
    store_concurrency: int
    store_repeat: int
    compression_texts: int
    startup_repeat: int
    pipeline_problems: int
    pipeline_repeat: int
    report_args: list[str]


FULL = Sizes(store_problems=500, store_samples=16, store_prose_kb=8.0, store_latency=0.2, store_concurrency=256,
             store_repeat=3, compression_texts=2000, startup_repeat=15, pipeline_problems=500, pipeline_repeat=3,
             report_args=[])
QUICK = Sizes(store_problems=40, store_samples=4, store_prose_kb=8.0, store_latency=0.05, store_concurrency=64,
              store_repeat=1, compression_texts=200, startup_repeat=3, pipeline_problems=100, pipeline_repeat=1,
              report_args=["--quick"])
#: The targets of issue 19.
TARGETS = {"store": 0.6, "cpu_ms": 1.0, "version_s": 0.12, "ratio_200ms": 1.25, "ratio_1s": 1.35,
           "html_mb": 10.0, "report_rss_mb": 200.0}


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _verdict(value: float, target: float) -> str:
    return f"target <= {target:g}: {'met' if value <= target else 'NOT met'}"


def _env(src: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(src), OPENAI_API_KEY="bench")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _store_files_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists())


# ---------------------------------------------------------------------------------------------------------------


def store_part(sizes: Sizes, src: Path) -> list[tuple[str, str, str]]:
    data = shared_file("data", "math500.jsonl")
    n, k = sizes.store_problems, sizes.store_samples
    samples = n * k
    runs = []
    for i in range(sizes.store_repeat):
        _log(f"  store: run {i + 1}/{sizes.store_repeat} ({n} x {k} samples, {sizes.store_prose_kb:g} KB prose)")

        def cmd(base_url: str, workdir: Path) -> list[str]:
            return [sys.executable, "-m", "mathgauge.cli", "run", "--model", "bench", "--base-url", base_url,
                    "--data-file", str(data), "--benchmark", "math500", "--limit", str(n), "--samples", str(k),
                    "--temperature", "0.6", "--concurrency", str(sizes.store_concurrency),
                    "--store", str(workdir / "scale.db"), "--summary-json", str(workdir / "summary.json"),
                    "--quiet"]

        def after(workdir: Path, res: object) -> dict:
            doc = json.loads((workdir / "summary.json").read_text()) if (workdir / "summary.json").exists() else {}
            return {"store_bytes": _store_files_bytes(workdir / "scale.db"), "n": doc.get("n"),
                    "failed": doc.get("failed")}

        cmd.after = after  # type: ignore[attr-defined]
        args = server_args(data, sizes.store_latency) + ["--prose-kb", str(sizes.store_prose_kb)]
        res = against_server(cmd, args, env=_env(src), timeout_s=900)
        if res.returncode != 0:
            raise SystemExit(f"store run failed ({res.returncode}): {res.stderr_tail[-1500:]}")
        runs.append(res)
    ratio = _median([r.extra["store_bytes"] / r.extra["content_bytes"] for r in runs])
    store_mb = _median([r.extra["store_bytes"] / 1e6 for r in runs])
    text_mb = _median([r.extra["content_bytes"] / 1e6 for r in runs])
    cpu_ms = _median([1000 * r.cpu_s / samples for r in runs])
    wall = _median([r.wall_s for r in runs])
    reps = f"median of {sizes.store_repeat} `mathgauge run` process(es)"
    setting = (f"{n} MATH-500 x {k} samples ({samples:,} responses), scripted server with {sizes.store_prose_kb:g} KB "
               f"of real prose before each answer, {sizes.store_latency * 1000:.0f} ms, c={sizes.store_concurrency}")
    return [
        ("store size per response byte", f"{ratio:.3f} ({store_mb:.1f} MB for {text_mb:.1f} MB of responses; "
                                         f"{_verdict(ratio, TARGETS['store'])})",
         f"{setting}; store files after exit / UTF-8 bytes the server sent; {reps}"),
        ("CPU per sample (run)", f"{cpu_ms:.3f} ms ({_verdict(cpu_ms, TARGETS['cpu_ms'])})",
         f"user+sys of the whole `mathgauge run` process (wait4, start-up and summary included) / {samples:,} "
         f"samples; same runs; {reps}"),
        ("wall of that run", f"{wall:.2f} s", f"process start to exit; {reps}"),
    ]


def compression_part(sizes: Sizes, src: Path) -> list[tuple[str, str, str]]:
    import zlib

    rows = [json.loads(line) for line in shared_file("data", "math500.jsonl").read_text(encoding="utf-8")
            .splitlines()]
    prose = "\n\n".join(r["solution"] for r in rows)
    rng = random.Random(0)
    texts = []
    for _ in range(sizes.compression_texts):
        start = rng.randrange(0, len(prose) - 8192)
        texts.append((prose[start:start + 8192] + "\n\nSo the final answer is $\\boxed{3}$.").encode("utf-8"))
    raw = sum(map(len, texts))
    codecs: list[tuple[str, object, object]] = [(f"zlib level {lv}", (lambda t, lv=lv: zlib.compress(t, lv)),
                                                  zlib.decompress) for lv in (1, 6)]
    try:
        import zstandard

        for lv in (3, 4, 9):
            codecs.append((f"zstd level {lv}", zstandard.ZstdCompressor(level=lv).compress,
                           zstandard.ZstdDecompressor().decompress))
    except ImportError:
        codecs.append(("zstd", None, None))
    out = []
    how = f"{len(texts):,} slices of 8 KB of MATH-500 reference solutions, each compressed alone; CPU time, 1 thread"
    for name, compress, decompress in codecs:
        if compress is None:
            out.append((f"codec {name}", "not installed (pip install zstandard)", how))
            continue
        t0 = time.process_time()
        packed = [compress(t) for t in texts]  # type: ignore[operator]
        tc = time.process_time() - t0
        t0 = time.process_time()
        back = [decompress(p) for p in packed]  # type: ignore[operator]
        td = time.process_time() - t0
        assert back == texts
        ratio = sum(map(len, packed)) / raw
        out.append((f"codec {name}", f"ratio {ratio:.3f}, compress {1e6 * tc / len(texts):.0f} us/text, "
                                     f"decompress {1e6 * td / len(texts):.0f} us/text", how))
    return out


def startup_part(sizes: Sizes, src: Path) -> list[tuple[str, str, str]]:
    env = _env(src)
    out = []
    cases = [("python -c pass", [sys.executable, "-c", "pass"]),
             ("mathgauge --version", [sys.executable, "-m", "mathgauge.cli", "--version"])]
    figures = {}
    for label, cmd in cases:
        walls, cpus = [], []
        subprocess.run(cmd, env=env, capture_output=True, check=True)  # warm the page cache
        for _ in range(sizes.startup_repeat):
            res, _ = measure_process(cmd, env=env, timeout_s=60)
            walls.append(res.wall_s)
            cpus.append(res.cpu_s)
        figures[label] = (_median(walls), _median(cpus))
    how = f"separate process, median of {sizes.startup_repeat} (page cache warm); wall and user+sys CPU (wait4)"
    wall, cpu = figures["mathgauge --version"]
    base_wall, base_cpu = figures["python -c pass"]
    out.append(("mathgauge --version", f"{wall:.3f} s wall, {cpu:.3f} s CPU ({_verdict(wall, TARGETS['version_s'])})",
                how))
    out.append(("bare interpreter", f"{base_wall:.3f} s wall, {base_cpu:.3f} s CPU", f"`python -c pass`, {how}"))
    for label, argv in (("--version", ["--version"]), ("run --help", ["run", "--help"])):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "mathgauge.cli", *argv], env=env,
                              capture_output=True, text=True)
        mods = [m for m in re.findall(r"\|\s+([\w.]+)\s*$", proc.stderr, re.MULTILINE)]
        ours = sorted({m for m in mods if m.startswith("mathgauge")})
        heavy = [m for m in ("aiohttp", "sympy", "numpy", "jinja2", "rich", "pyarrow", "scipy") if m in mods]
        out.append((f"imports of `mathgauge {' '.join(argv)}`",
                    f"{len(mods)} modules, {len(ours)} of mathgauge; heavy: {', '.join(heavy) or 'none'}",
                    "-X importtime, one process"))
    return out


def pipeline_part(sizes: Sizes, src: Path) -> list[tuple[str, str, str]]:
    from bench._sections import MathgaugeCmd, floor_s

    data = shared_file("data", "math500.jsonl")
    n = sizes.pipeline_problems
    out = []
    for latency, conc, target in ((0.2, 64, TARGETS["ratio_200ms"]), (1.0, 256, TARGETS["ratio_1s"])):
        runs = []
        for i in range(sizes.pipeline_repeat):
            _log(f"  pipeline {n} problems, {latency} s, c={conc}: run {i + 1}/{sizes.pipeline_repeat}")
            res = against_server(MathgaugeCmd(data, n, conc), server_args(data, latency), env=_env(src),
                                 timeout_s=300)
            if res.returncode != 0:
                raise SystemExit(f"pipeline run failed ({res.returncode}): {res.stderr_tail[-1500:]}")
            runs.append(res)
        bare = []
        for i in range(sizes.pipeline_repeat):
            _log(f"  bare HTTP client, {n} problems, {latency} s, c={conc}: run {i + 1}/{sizes.pipeline_repeat}")

            def bare_cmd(base_url: str, workdir: Path, n: int = n, conc: int = conc) -> list[str]:
                return [sys.executable, str(BENCH / "_bare_client.py"), base_url, str(data), str(n), str(conc)]

            bare.append(against_server(bare_cmd, server_args(data, latency), env=_env(src), timeout_s=300))
        floor = floor_s(n, latency, conc)
        wall = _median([r.wall_s for r in runs])
        first = _median([r.extra["first_request_s"] for r in runs])
        cpu = _median([r.cpu_s for r in runs])
        bare_wall = _median([r.wall_s for r in bare])
        reps = f"median of {sizes.pipeline_repeat}"
        case = f"pipeline {n} MATH-500, {latency * 1000:.0f} ms, c={conc}"
        out.append((case, f"{wall / floor:.2f}x floor ({wall:.2f} s, floor {floor:.2f} s; first request {first:.2f} s; "
                          f"CPU {cpu:.2f} s; {_verdict(wall / floor, target)})",
                    f"{reps} `mathgauge run` processes, fresh server and store each; process start to exit, grading "
                    f"and storing included; floor = n x latency / c"))
        out.append((case + ": bare HTTP client", f"{bare_wall / floor:.2f}x floor ({bare_wall:.2f} s)",
                    f"{reps} runs of bench/_bare_client.py (the same requests, nothing graded or stored, no "
                    f"start-up beyond Python's) against a fresh server: what this server and machine take for the "
                    f"requests alone"))
    return out


def report_part(sizes: Sizes, src: Path) -> list[tuple[str, str, str]]:
    from bench import report

    args = report.parse_args(["--only", "report", "--src", str(src), *sizes.report_args])
    rows = report.report_figures(args)
    keep = {"report HTML size": "html_mb", "report peak RSS": "report_rss_mb"}
    out = []
    for name, value, how in rows:
        if name in keep:
            number = float(value.split()[0])
            out.append((name, f"{value} ({_verdict(number, TARGETS[keep[name]])})", "bench/report.py: " + how))
        else:
            out.append((name, value, "bench/report.py: " + how))
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--only", default=",".join(PARTS), help=f"comma-separated, from {', '.join(PARTS)}")
    p.add_argument("--quick", action="store_true", help="small sizes, one repetition (under a minute)")
    p.add_argument("--src", default=str(BENCH.parent / "src"), help="the mathgauge source the processes run")
    p.add_argument("--repeat", type=int, help="override the repetitions of store, startup and pipeline")
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    args.parts = [x.strip() for x in args.only.split(",") if x.strip()]
    for part in args.parts:
        if part not in PARTS:
            p.error(f"unknown part {part!r} (known: {', '.join(PARTS)})")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = dataclasses.replace(QUICK if args.quick else FULL)
    if args.repeat:
        sizes.store_repeat = sizes.startup_repeat = sizes.pipeline_repeat = args.repeat
    src = Path(args.src).resolve()
    precompile(src)
    rows: list[tuple[str, str, str]] = []
    for part in args.parts:
        _log(f"[scale: {part}]")
        rows += globals()[f"{part}_part"](sizes, src)
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"{'figure'.ljust(width)}  {'value'.ljust(vwidth)}  how measured")
    for name, value, how in rows:
        print(f"{name.ljust(width)}  {value.ljust(vwidth)}  {how}")
    if args.json:
        Path(args.json).write_text(json.dumps({"quick": args.quick, "src": str(src), "rows": [
            {"figure": n, "value": v, "how": h} for n, v, h in rows]}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
