"""A scripted OpenAI-compatible chat server for tests and benchmarks (``python -m mathgauge.testing.server``).

It answers ``/v1/chat/completions`` (plain and streaming) from a data file with the deterministic script of
`scripted_response`, after a configurable latency, and can reject requests with 429 (Retry-After) or 5xx.
It prints ``LISTENING <port>`` on stdout once it accepts connections.

A request with ``continue_final_message: true`` whose last message is an assistant message (the vLLM / SGLang way
of resuming a partial answer) gets only the continuation: the scripted text without that partial message when
the text starts with it, else the scripted text as it is; ``--reject-continue`` answers such requests with 400
instead, as endpoints that do not know the field do. A stream sends its token usage only when asked with
``stream_options: {"include_usage": true}``; ``--reject-stream-options`` answers such requests with 400 (as servers
that do not know the field do) and ``--no-usage`` never sends usage. ``--record-requests`` keeps every chat request
body for ``GET /requests``.

``--fault MODE`` makes it misbehave as real endpoints do (after ``--fault-after`` good answers, on every
``--fault-every``-th request, only for prompts containing ``--fault-match``): ``empty`` / ``null`` content (a
stream without content), an ``html`` page with status 200, a ``truncated`` JSON body, a connection ``reset``, a
``cut-stream`` (half the stream, then the connection drops), ``die`` (the process exits, as a crashed server),
``unauthorized`` (401, as a revoked key) and ``hang`` (never answers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from ._script import ScriptRates, scripted_response


class _Answers:
    """Finds the problem a prompt is about and the gold answer to script around.

    Args:
        data_files: the benchmark files whose problems the server knows (several: the benchmarks of one run of
            several); each ``PATH`` or ``BENCHMARK=PATH``.
        benchmark: the registry benchmark of a single file given as ``PATH`` (default: from the file's name).
    """

    def __init__(self, data_files: list[str], benchmark: str | None = None) -> None:
        self.by_prefix: dict[str, list[tuple[str, str]]] = {}
        self.prose = ""  # the reference solutions joined: real mathematical prose for --prose-kb
        from ..datasets import load_problems

        solutions = []
        for given in data_files:
            name, sep, path = given.partition("=")
            if not sep:
                name, path = "", given
            data_file = Path(path)
            which = name or (benchmark if len(data_files) == 1 and benchmark else _guess_benchmark(data_file))
            for p in load_problems(which, data_file=data_file):
                self.by_prefix.setdefault(p.problem[:40], []).append((p.problem, p.answer))
                solutions.append(p.solution)
        # Without their \\boxed{}: the only answer in a response stays the scripted one at its end.
        self.prose = "\n\n".join(s for s in solutions if s).replace("\\boxed", "\\mathbf")

    def lookup(self, content: str) -> tuple[str, str]:
        # The longest problem the prompt starts with: a problem whose text begins another's must not shadow it.
        starts = [(problem, answer) for problem, answer in self.by_prefix.get(content[:40], [])
                  if content.startswith(problem)]
        if starts:
            return max(starts, key=lambda pa: len(pa[0]))
        for candidates in self.by_prefix.values():
            for problem, answer in candidates:
                if problem in content:
                    return problem, answer
        return content, "42"


def _guess_benchmark(data_file: Path) -> str:
    """The registry benchmark a data file is a copy of, from its name (``gsm8k.jsonl``, ``math500.jsonl``)."""
    from ..datasets import list_benchmarks

    stem = data_file.name.split(".")[0].lower()
    names = [b.name for b in list_benchmarks()]
    if stem in names:
        return stem
    return "math500" if "500" in data_file.name else "math"


class _Script:
    """Explicit responses from a JSONL file, for tests that need particular texts (programs, tool use).

    Each line: ``{"match": "text in the first user message", "turns": [...]}`` (the response for the request
    with that many assistant messages so far) or ``{"match": ..., "calls": [...]}`` (the n-th request that
    matches gets the n-th response; the last one repeats). ``"match": ""`` matches everything.
    A response is a string, or ``{"text": ..., "repeat": ..., "times": N}`` for ``text + repeat * N`` (a model
    stuck in a loop, without writing the loop out in the file). A partial assistant message being continued
    (``continue_final_message``) does not count as a turn.
    """

    def __init__(self, path: Path | None) -> None:
        self.entries: list[dict[str, Any]] = []
        self.hits: dict[int, int] = {}
        if path is not None:
            for line in path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self.entries.append(json.loads(line))

    def respond(self, messages: list[dict[str, Any]], continuing: bool = False) -> str | None:
        first_user = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
        for i, entry in enumerate(self.entries):
            if entry.get("match", "") in first_user:
                if "turns" in entry:
                    turn = sum(1 for m in messages if m.get("role") == "assistant") - int(continuing)
                    return _expand(entry["turns"][min(turn, len(entry["turns"]) - 1)])
                n = self.hits.get(i, 0)
                self.hits[i] = n + 1
                return _expand(entry["calls"][min(n, len(entry["calls"]) - 1)])
        return None


def _expand(response: Any) -> str:
    """A scripted response as text: a string, or ``{"text", "repeat", "times"}`` for a looping one."""
    if isinstance(response, str):
        return response
    return str(response.get("text", "")) + str(response.get("repeat", "")) * int(response.get("times", 0))


def _apply_stop(text: str, stop: Any) -> tuple[str, bool]:
    """Cut ``text`` before the first stop sequence, as real servers do (the stop string is not returned)."""
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    cuts = [text.find(s) for s in stops if s and s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)


#: The ``--fault`` modes.
FAULTS = ("empty", "null", "html", "truncated", "reset", "cut-stream", "die", "unauthorized", "hang")


class ScriptedServer:
    """The server's behaviour; see ``--help`` for the knobs."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.script = _Script(Path(args.script) if args.script else None)
        self.answers = _Answers(args.data or [], args.benchmark)
        self.rates = ScriptRates(args.correct_rate, args.no_answer_rate, args.truncate_rate)
        self.chat_requests = 0
        self.rejected = 0
        self.completed = 0
        self.first_request_at: float | None = None
        self.max_in_flight = 0
        self.in_flight = 0
        self.stream_chunks = 0
        self.streams_cut = 0
        self.streams_started = 0
        self.streams_interrupted = 0
        self.continued = 0
        self.faults = 0
        self.last_request_at: float | None = None
        self.requests: list[dict[str, Any]] = []
        self.content_bytes = 0  # UTF-8 bytes of the answers sent (what a store keeps per response)

    def reasoning_prose(self, number: int) -> str:
        """``--prose-kb`` KB of the data's reference solutions, a different slice for every request: the long
        working a reasoning model writes before its answer."""
        size = int(self.args.prose_kb * 1024)
        prose = self.answers.prose
        if size <= 0 or not prose:
            return ""
        while len(prose) < 2 * size:
            prose += "\n\n" + prose
        start = (number * 7919) % (len(prose) - size)
        return prose[start:start + size] + "\n\n"

    async def chat(self, request: Any) -> Any:
        from aiohttp import web

        self.chat_requests += 1
        number = self.chat_requests
        self.last_request_at = time.time()
        if self.first_request_at is None:
            self.first_request_at = self.last_request_at
        a = self.args
        if a.api_key and request.headers.get("Authorization") != f"Bearer {a.api_key}":
            return web.json_response({"error": {"message": "Incorrect API key provided", "type": "auth"}}, status=401)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": {"message": "body is not JSON"}}, status=400)
        if a.record_requests:
            self.requests.append(body)
        messages = body.get("messages", [])
        continuing = bool(body.get("continue_final_message")) and bool(messages) and \
            messages[-1].get("role") == "assistant"
        if continuing and a.reject_continue:
            return web.json_response({"error": {"message": "Unrecognized request argument supplied: "
                                                           "continue_final_message", "type": "invalid_request_error"}},
                                     status=400)
        if a.reject_stream_options and "stream_options" in body:
            return web.json_response({"error": {"message": "Unrecognized request argument supplied: stream_options",
                                                "type": "invalid_request_error"}}, status=400)
        if a.model and body.get("model") != a.model:
            return web.json_response(
                {"error": {"message": f"The model `{body.get('model')}` does not exist", "code": "model_not_found"}},
                status=404,
            )
        if a.reject_all or (a.reject_every and number % a.reject_every == 0):
            self.rejected += 1
            headers = {"Retry-After": str(a.retry_after)} if a.error_status in (429, 503) else {}
            return web.json_response({"error": {"message": "Rate limit reached (scripted)"}}, status=a.error_status,
                                     headers=headers)
        content = next((m["content"] for m in messages if m.get("role") == "user"), "")
        fault = self._fault(number, content)
        if fault in ("die", "reset", "unauthorized"):
            return await self._misbehave(request, fault)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if a.latency:
                await asyncio.sleep(a.latency)
            if fault is not None and (fault != "cut-stream" or not body.get("stream")):
                return await self._misbehave(request, fault, body)
            scripted = self.script.respond(messages, continuing)
            if scripted is not None:
                text, finish = scripted, "stop"
            else:
                problem, gold = self.answers.lookup(content)
                text, finish = scripted_response(problem, gold, self.rates)
                text = self.reasoning_prose(number) + text
            if continuing:
                self.continued += 1
                partial = messages[-1].get("content") or ""
                if text.startswith(partial):
                    text = text[len(partial):]
            text, _ = _apply_stop(text, body.get("stop"))
            counts = {"prompt_tokens": len(content) // 4 + 1, "completion_tokens": len(text) // 4 + 1}
            counts["total_tokens"] = counts["prompt_tokens"] + counts["completion_tokens"]
            usage = None if a.no_usage else counts
            if body.get("stream"):
                return await self._stream(request, body, text, finish, usage, cut=fault == "cut-stream")
            self.completed += 1
            self.content_bytes += len(text.encode("utf-8"))
            return web.json_response({
                "id": f"chatcmpl-{number}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}],
                **({"usage": usage} if usage else {}),
            })
        finally:
            self.in_flight -= 1

    def _fault(self, number: int, content: str) -> str | None:
        """The fault this request gets, if any (see the module's doc)."""
        a = self.args
        if not a.fault or number <= a.fault_after or (number - a.fault_after) % max(1, a.fault_every):
            return None
        if a.fault_match and a.fault_match not in content:
            return None
        self.faults += 1
        return str(a.fault)

    async def _misbehave(self, request: Any, fault: str, body: dict[str, Any] | None = None) -> Any:
        from aiohttp import web

        if fault == "die":
            os._exit(0)  # a crashed server: every connection drops, the port stops answering
        if fault == "unauthorized":
            return web.json_response({"error": {"message": "Incorrect API key provided (revoked)"}}, status=401)
        if fault in ("reset", "cut-stream"):
            request.transport.abort()
            return web.Response()  # never sent: the connection is gone
        if fault == "hang":
            await asyncio.sleep(3600)
        if fault == "html":
            page = ("<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad "
                    "Gateway</h1></center><hr><center>nginx</center></body></html>")
            return web.Response(status=200, text=page, content_type="text/html")
        content: str | None = "" if fault == "empty" else None
        if body is not None and body.get("stream"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            if fault == "truncated":
                await response.write(b'data: {"choices": [{"index": 0, "delta": {"cont\n\n')
                return response
            final = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}  # a stream without content
            await response.write(f"data: {json.dumps(final)}\n\n".encode() + b"data: [DONE]\n\n")
            return response
        doc = {"id": "chatcmpl-fault", "object": "chat.completion", "created": int(time.time()),
               "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop"}]}
        if fault == "truncated":
            raw = json.dumps(doc).encode()
            return web.Response(status=200, body=raw[:len(raw) // 2], content_type="application/json")
        return web.json_response(doc)

    async def _stream(self, request: Any, body: dict[str, Any], text: str, finish: str,
                      usage: dict[str, Any] | None, cut: bool = False) -> Any:
        from aiohttp import web

        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        size = self.args.stream_chunk_chars
        if size > 0:
            deltas = [text[i:i + size] for i in range(0, len(text), size)]
        else:
            deltas = [word if i == 0 else " " + word for i, word in enumerate(text.split(" "))]
        self.streams_started += 1
        if cut:  # half the stream, then the connection drops (a server that crashed mid-answer)
            for delta in deltas[:max(1, len(deltas) // 2)]:
                chunk = {"choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            request.transport.abort()
            return response
        every = self.args.interrupt_stream_every
        if every and self.streams_started % every == 0 and len(deltas) > 1:
            # What llama-cpp-python's server does when another request arrives: [DONE] with no finish_reason.
            deltas = deltas[:len(deltas) // 2]
            for delta in deltas:
                chunk = {"choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}]}
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            self.streams_interrupted += 1
            return response
        for delta in deltas:
            chunk = {"choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": None}]}
            try:
                await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
            except (ConnectionError, RuntimeError):  # the client stopped reading (a stream callback stopped it)
                self.streams_cut += 1
                return response
            self.stream_chunks += 1
            if self.args.stream_delay:
                await asyncio.sleep(self.args.stream_delay)
        final = {"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}
        await response.write(f"data: {json.dumps(final)}\n\n".encode())
        if usage and (body.get("stream_options") or {}).get("include_usage"):
            await response.write(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        self.completed += 1
        self.content_bytes += len(text.encode("utf-8"))
        return response

    async def models(self, request: Any) -> Any:
        from aiohttp import web

        if self.args.api_key and request.headers.get("Authorization") != f"Bearer {self.args.api_key}":
            return web.json_response({"error": {"message": "Incorrect API key provided"}}, status=401)
        return web.json_response({"object": "list", "data": [{"id": self.args.model or "scripted", "object": "model"}]})

    async def stats(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response({
            "chat_requests": self.chat_requests, "rejected": self.rejected, "completed": self.completed,
            "first_request_at": self.first_request_at, "max_in_flight": self.max_in_flight,
            "stream_chunks": self.stream_chunks, "streams_cut": self.streams_cut,
            "streams_interrupted": self.streams_interrupted, "continued": self.continued,
            "content_bytes": self.content_bytes, "faults": self.faults, "last_request_at": self.last_request_at,
            "in_flight": self.in_flight,
        })

    async def recorded_requests(self, request: Any) -> Any:
        from aiohttp import web

        return web.json_response(self.requests)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m mathgauge.testing.server", description=__doc__,
                                allow_abbrev=False)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--data", action="append", metavar="[BENCHMARK=]PATH",
                   help="benchmark JSONL whose gold answers the script uses (repeatable: several benchmarks; "
                        "BENCHMARK= names the registry benchmark of a file whose name does not)")
    p.add_argument("--benchmark", help="registry benchmark of a single --data file (default: from its name)")
    p.add_argument("--script", help="JSONL of explicit responses (see _Script); unmatched prompts use --data")
    p.add_argument("--model", help="the only model name served (others get 404)")
    p.add_argument("--api-key", help="require this bearer token (others get 401)")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--stream-delay", type=float, default=0.0, help="seconds between streamed chunks")
    p.add_argument("--correct-rate", type=float, default=0.7)
    p.add_argument("--no-answer-rate", type=float, default=0.05)
    p.add_argument("--truncate-rate", type=float, default=0.0)
    p.add_argument("--prose-kb", type=float, default=0.0,
                   help="put this many KB of the data's reference solutions (real prose, a different slice per "
                        "request) before each scripted answer, as a reasoning model's long working")
    p.add_argument("--reject-every", type=int, default=0, help="reject every Nth chat request")
    p.add_argument("--reject-all", action="store_true", help="reject every chat request")
    p.add_argument("--error-status", type=int, default=429, help="status of rejections (429, 503, 500, ...)")
    p.add_argument("--retry-after", type=float, default=1.0, help="Retry-After seconds sent with 429/503")
    p.add_argument("--stream-chunk-chars", type=int, default=0,
                   help="stream N characters per chunk (token-like deltas that split lines) instead of a word each")
    p.add_argument("--reject-continue", action="store_true",
                   help="answer requests with continue_final_message by 400, as endpoints without it do")
    p.add_argument("--interrupt-stream-every", type=int, default=0,
                   help="end every Nth stream halfway with [DONE] and no finish_reason (an interrupted stream)")
    p.add_argument("--reject-stream-options", action="store_true",
                   help="answer requests with stream_options by 400, as servers without the field do")
    p.add_argument("--no-usage", action="store_true", help="never send token usage, even when asked")
    p.add_argument("--record-requests", action="store_true", help="keep chat request bodies for GET /requests")
    p.add_argument("--fault", choices=FAULTS, help="misbehave as real endpoints do (see the module's doc)")
    p.add_argument("--fault-after", type=int, default=0, help="answer the first N chat requests normally")
    p.add_argument("--fault-every", type=int, default=1, help="after those, fault every Nth request (default: all)")
    p.add_argument("--fault-match", default="", help="fault only requests whose prompt contains this text")
    return p.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    server = ScriptedServer(args)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", server.chat)
    app.router.add_get("/v1/models", server.models)
    app.router.add_get("/stats", server.stats)
    app.router.add_get("/requests", server.recorded_requests)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, backlog=1024)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"LISTENING {port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    try:
        asyncio.run(serve(parse_args(argv)))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
