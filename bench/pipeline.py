"""Pipeline benchmark: a whole `mathgauge run` of MATH-500 against the scripted server.

500 problems, 200 ms latency, concurrency 64: the floor is 500 x 0.2 / 64 = 1.56 s. Each repetition is a
separate `mathgauge run` process with a fresh store (so nothing comes from the cache); its wall time includes
start-up, loading, grading and storing. Prints the median over repetitions of wall seconds, ratio to floor,
time from process start to the server's first chat request, and peak RSS of the mathgauge process.

    python bench/pipeline.py [--problems 500] [--latency 0.2] [--concurrency 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, shared_file  # noqa: E402

from mathgauge.testing import scripted_server  # noqa: E402


def one_run(base_url: str, data: Path, problems: int, concurrency: int, server: object) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        cmd = [sys.executable, "-m", "mathgauge.cli", "run", "--model", "bench", "--base-url", base_url,
               "--data-file", str(data), "--benchmark", "math500" if "500" in data.name else "math",
               "--limit", str(problems), "--concurrency", str(concurrency), "--store", str(Path(tmp) / "b.db"),
               "--summary-json", str(summary), "--quiet"]
        before = server.stats()["chat_requests"]  # type: ignore[attr-defined]
        start = time.time()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.time() - start
        if proc.returncode != 0:
            raise SystemExit(f"mathgauge run failed ({proc.returncode}): {proc.stderr[-2000:]}")
        stats = server.stats()  # type: ignore[attr-defined]
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        doc = json.loads(summary.read_text())
        return {
            "wall_s": wall,
            "first_request_s": (stats["first_request_at"] or start) - start,
            "peak_rss_mb": peak_kb / 1024,
            "requests": stats["chat_requests"] - before,
            "n": doc["n"],
            "accuracy": doc["accuracy"],
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--problems", type=int, default=500)
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--data", default=None, help="benchmark file (default ../shared/data/math500.jsonl)")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    data = Path(args.data) if args.data else shared_file("data", "math500.jsonl")
    floor = args.problems * args.latency / args.concurrency
    runs = []
    # A fresh server per repetition: `first_request_at` is the first request the server ever saw.
    for _ in range(args.repeat):
        with scripted_server("--data", str(data), "--latency", str(args.latency)) as server:
            runs.append(one_run(server.base_url, data, args.problems, args.concurrency, server))
    wall = median([r["wall_s"] for r in runs])
    result = {
        "problems": args.problems, "latency_s": args.latency, "concurrency": args.concurrency,
        "repeat": args.repeat, "floor_s": floor, "wall_s": wall, "ratio_to_floor": wall / floor,
        "first_request_s": median([r["first_request_s"] for r in runs]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "runs": runs,
    }
    print(f"pipeline: {args.problems} problems, latency {args.latency}s, concurrency {args.concurrency}, "
          f"median of {args.repeat} separate `mathgauge run` processes (fresh store each, grading+storing included)")
    print(f"  wall            {wall:.2f} s   (floor {floor:.2f} s, ratio {wall / floor:.2f}x; target <= 1.5x)")
    print(f"  first request   {result['first_request_s']:.3f} s after process start (target <= 0.6 s)")
    print(f"  peak RSS        {result['peak_rss_mb']:.0f} MB (max over runs; target <= 200 MB)")
    print(f"  samples graded  {runs[-1]['n']}, accuracy {runs[-1]['accuracy']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
