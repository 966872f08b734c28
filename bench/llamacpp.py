"""Tokens/s of `--backend llamacpp` (in-process) against llama-cpp-python's server, on the same GGUF and prompts.

Run:  python bench/llamacpp.py [--model smollm2-135m|PATH.gguf] [--problems 16] [--max-tokens 256]
                               [--threads N] [--parallel 1,4] [--flash-attn off|on] [--reps 3]

Both sides get the first --problems MATH-500 problems in mathgauge's CoT prompt, all at once, greedy, with the
same context size, thread count and attention kernel (--flash-attn: off by default, the server's default). The
server is `python -m llama_cpp.server` (started fresh for each repetition, its load time not counted), asked
through mathgauge's OpenAI-compatible backend without streaming; it decodes one request at a time. The in-process
backend runs with each --parallel value (sequences decoded together). Tokens/s = completion tokens (each side's own
count) / wall from the first request to the last answer. CPU = user+sys of the process that decodes (the server's
read from /proc; in-process: this process); tokens per CPU second is the figure that holds up on a machine shared
with other work. Figures are medians over --reps, the sides interleaved.
"same answers" compares each run's texts with the server's: sequential greedy decoding (n_parallel=1) writes the
same tokens as the server, which shows both did the same work; with n_parallel > 1 the batched logits differ in
their last bits and some greedy answers part ways.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mathgauge.datasets import load_problems  # noqa: E402
from mathgauge.models import (  # noqa: E402
    BUNDLED_MODELS,
    ChatRequest,
    OpenAICompatibleBackend,
    create_backend,
    resolve_bundled,
)
from mathgauge.prompts import load_template  # noqa: E402
from mathgauge.testing._process import stop_process  # noqa: E402

MATH500 = REPO.parent / "shared" / "data" / "math500.jsonl"


def _requests(problems: int, max_tokens: int) -> list[ChatRequest]:
    template = load_template("cot_boxed")
    chosen = load_problems("math500", data_file=MATH500)[:problems]
    return [ChatRequest(messages=template.render(p.problem), temperature=0.0, max_tokens=max_tokens) for p in chosen]


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def _send_all(backend, requests: list[ChatRequest], extra: dict) -> tuple[float, list]:
    from dataclasses import replace

    started = time.perf_counter()
    answers = await asyncio.gather(*[backend.complete(replace(r, extra_body=extra)) for r in requests])
    return time.perf_counter() - started, answers


def in_process(model: str, requests: list[ChatRequest], *, threads: int, parallel: int, n_ctx: int,
               flash_attn: bool) -> dict:
    async def run() -> dict:
        backend = create_backend("llamacpp", model, n_threads=threads, n_parallel=parallel, n_ctx=n_ctx,
                                 flash_attn=flash_attn)
        try:
            await backend.check()  # loads the model: not timed, as the server's start is not
            cpu0 = time.process_time()
            wall, answers = await _send_all(backend, requests, {})
            cpu = time.process_time() - cpu0
        finally:
            await backend.aclose()
        return _figures(wall, cpu, answers)

    return asyncio.run(run())


def via_server(path: Path, requests: list[ChatRequest], *, threads: int, n_ctx: int, flash_attn: bool) -> dict:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(path), "--model_alias", "bench",
         "--n_ctx", str(n_ctx), "--n_threads", str(threads), "--n_threads_batch", str(threads),
         "--flash_attn", str(flash_attn).lower(), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("llama_cpp.server did not start in 120 s") from None
                time.sleep(0.2)

        async def run() -> tuple[float, list]:
            backend = OpenAICompatibleBackend("bench", base_url=base_url, concurrency=len(requests),
                                              request_timeout_s=3600)
            try:
                # The server penalises repeats (1.1) unless told otherwise: plain greedy, as in-process.
                return await _send_all(backend, requests, {"repeat_penalty": 1.0})
            finally:
                await backend.aclose()

        cpu0 = _cpu_s(process.pid)
        wall, answers = asyncio.run(run())
        return _figures(wall, _cpu_s(process.pid) - cpu0, answers)
    finally:
        stop_process(process, timeout_s=15)


def _figures(wall: float, cpu: float, answers: list) -> dict:
    tokens = sum(a.completion_tokens or 0 for a in answers)
    return {"wall_s": wall, "cpu_s": cpu, "completion_tokens": tokens, "tokens_per_s": tokens / wall,
            "texts": [a.text for a in answers]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m", help="a bundled alias or a .gguf file")
    ap.add_argument("--problems", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                    help="decoding threads on both sides (default: CPUs - 1, the backend's default)")
    ap.add_argument("--parallel", default="1,4", help="in-process n_parallel values (comma-separated)")
    ap.add_argument("--n-ctx", type=int, default=2048, help="context per sequence on both sides")
    ap.add_argument("--flash-attn", choices=["off", "on"], default="off", help="on both sides (default off)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    try:
        import llama_cpp  # noqa: F401
        import llama_cpp.server  # noqa: F401
    except ImportError as exc:
        print(f"llama-cpp-python with its server is not installed ({exc}): pip install -e '.[llamacpp,local]'")
        return 3
    path = resolve_bundled(args.model).path if args.model in BUNDLED_MODELS else Path(args.model)
    requests = _requests(args.problems, args.max_tokens)
    parallels = [int(p) for p in args.parallel.split(",") if p.strip()]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; model {args.model} ({path.name}); "
          f"{len(requests)} MATH-500 CoT prompts, greedy, max_tokens {args.max_tokens}, {args.threads} threads, "
          f"n_ctx {args.n_ctx}, flash attention {args.flash_attn}, {args.reps} reps (medians)", flush=True)
    flash = args.flash_attn == "on"
    runs: dict[str, list[dict]] = {"server": []}
    for p in parallels:
        runs[f"in-process n_parallel={p}"] = []
    for rep in range(args.reps):  # interleaved, so a slower spell of the machine hits every side alike
        runs["server"].append(via_server(path, requests, threads=args.threads, n_ctx=args.n_ctx, flash_attn=flash))
        for p in parallels:
            runs[f"in-process n_parallel={p}"].append(
                in_process(args.model, requests, threads=args.threads, parallel=p, n_ctx=args.n_ctx,
                           flash_attn=flash))
        print(f"  rep {rep + 1}: " + ", ".join(f"{name} {r[-1]['tokens_per_s']:.1f} tok/s" for name, r in runs.items()),
              file=sys.stderr, flush=True)
    reference = runs["server"][0]["texts"]
    print(f"{'':28} {'tokens/s':>9} {'wall s':>8} {'CPU s':>7} {'tokens/CPU s':>13} {'tokens':>7} "
          f"{'same answers as server':>23}")
    summary = {}
    for name, results in runs.items():
        for r in results:
            r["tokens_per_cpu_s"] = r["completion_tokens"] / r["cpu_s"] if r["cpu_s"] else float("nan")
        med = {k: statistics.median(r[k] for r in results)
               for k in ("tokens_per_s", "wall_s", "cpu_s", "tokens_per_cpu_s")}
        same = sum(a == b for a, b in zip(results[0]["texts"], reference))
        print(f"{name:28} {med['tokens_per_s']:9.1f} {med['wall_s']:8.2f} {med['cpu_s']:7.2f} "
              f"{med['tokens_per_cpu_s']:13.1f} {results[0]['completion_tokens']:7d} {same:>12d}/{len(reference)}")
        summary[name] = {**med, "completion_tokens": results[0]["completion_tokens"], "same_answers": same,
                         "all_tokens_per_s": [r["tokens_per_s"] for r in results]}
    base = summary["server"]["tokens_per_s"]
    for name in summary:
        if name != "server":
            print(f"{name}: {summary[name]['tokens_per_s'] / base:.2f}x the server's tokens/s")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": summary}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
