"""``mathgauge sandbox exec | exec-batch | check``.

Also runnable on its own: ``python -m mathgauge.sandbox._cli exec < code.py``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from concurrent.futures import ThreadPoolExecutor

# any character that is not printable (C0/C1 controls, DEL, bidi and other format characters, line and
# paragraph separators, surrogates, unassigned) is written as a \uXXXX escape
_ESCAPE = re.compile(r"[^\x20-\x7e]")


class _UserError(Exception):
    pass


def _escape_char(m: re.Match) -> str:
    c = m.group()
    if c.isprintable():
        return c
    n = ord(c)
    if n > 0xFFFF:
        n -= 0x10000
        return "\\u%04x\\u%04x" % (0xD800 + (n >> 10), 0xDC00 + (n & 0x3FF))
    return "\\u%04x" % n


def json_line(obj) -> str:
    """One JSON text on one line, safe for a terminal and for ``str.splitlines()``.

    Non-ASCII printable characters stay readable; every character that could break the line or drive a
    terminal (C0/C1 controls, DEL, U+0085, U+2028/2029, bidi overrides and other format characters, lone
    surrogates) is escaped as ``\\uXXXX``, which JSON readers decode back to the same string.

    Args:
        obj: a JSON-serialisable value.
    """
    text = json.dumps(obj, ensure_ascii=False)
    return text if text.isascii() and text.isprintable() else _ESCAPE.sub(_escape_char, text)


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of seconds, got %r" % text) from None
    if not v > 0 or v > 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600 seconds, got %r" % text)
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number, got %r" % text) from None
    if v < 16 or v > 1 << 20:
        raise argparse.ArgumentTypeError("must be between 16 and 1048576 MB, got %r" % text)
    return v


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=_positive_float, default=10.0, metavar="S",
                   help="CPU-time limit per snippet; the wall clock is capped at 3x + 1 s (default 10)")
    p.add_argument("--memory-mb", type=_positive_int, default=1024, metavar="M", help="memory cap per snippet (default 1024)")
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run model code WITHOUT isolation when the sandbox layers are missing (dangerous)")


def add_sandbox_commands(subparsers) -> None:
    """Adds ``sandbox`` with ``exec``, ``exec-batch`` and ``check`` to an argparse sub-parsers action."""
    sp = subparsers.add_parser("sandbox", help="run Python snippets in the isolated sandbox",
                               description="Run model-written Python safely (bubblewrap + seccomp + Landlock).")
    sub = sp.add_subparsers(dest="sandbox_command", metavar="{exec,exec-batch,check}")
    sp.set_defaults(func=lambda args: (sp.print_help(sys.stderr), 2)[1])

    p = sub.add_parser("exec", help="run code read on stdin; print one JSON result")
    _common(p)
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("exec-batch", help="run a JSONL file of {id, code} concurrently; write JSONL results")
    p.add_argument("--input", required=True, metavar="IN.jsonl")
    p.add_argument("--output", required=True, metavar="OUT.jsonl")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="concurrent snippets (default: CPUs)")
    _common(p)
    p.set_defaults(func=cmd_exec_batch)

    p = sub.add_parser("check", help="say which isolation layers are active on this machine")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_check)


def _sandbox(args, workers=None):
    from ._host import Sandbox

    return Sandbox(timeout_s=args.timeout, memory_mb=args.memory_mb,
                   allow_unsafe_no_sandbox=args.unsafe_no_sandbox, workers=workers)


def _guard(fn):
    def wrapper(args) -> int:
        from ._result import SandboxUnavailable

        try:
            return fn(args)
        except SandboxUnavailable as e:
            print("error: %s" % e, file=sys.stderr)
            return 3
        except _UserError as e:
            print("error: %s" % e, file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:
            return 1
        except Exception as e:  # noqa: BLE001 - one line, never a traceback
            print("error: internal error in the sandbox command (%s: %s)" % (type(e).__name__, e), file=sys.stderr)
            return 1
    wrapper.__name__ = fn.__name__
    return wrapper


@_guard
def cmd_exec(args) -> int:
    if sys.stdin is None or sys.stdin.isatty():
        raise _UserError("pipe the code on stdin, e.g.  echo 'print(1+1)' | mathgauge sandbox exec")
    code = sys.stdin.buffer.read().decode("utf-8", "replace")
    with _sandbox(args, workers=1) as sb:
        res = sb.run(code)
        if sb.unsafe_mode:
            print("warning: ran WITHOUT sandbox (--unsafe-no-sandbox): %s" % sb.missing, file=sys.stderr)
    print(json_line(res.to_dict()))
    return 0


def _read_batch(path: str) -> list[tuple[str, str]]:
    try:
        f = open(path, "rb")
    except OSError as e:
        raise _UserError("cannot read %s: %s" % (path, e.strerror or e)) from None
    items = []
    with f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _UserError("%s line %d is not UTF-8 text (byte %d)" % (path, n, e.start + 1)) from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError):  # RecursionError: nested deeper than the decoder goes
                raise _UserError("%s line %d is not valid JSON (or nested too deeply)" % (path, n)) from None
            if not isinstance(obj, dict) or "code" not in obj or "id" not in obj or not isinstance(obj["code"], str):
                raise _UserError("%s line %d must be an object with \"id\" and \"code\" (a string)" % (path, n))
            items.append((obj["id"], obj["code"]))
    return items


@_guard
def cmd_exec_batch(args) -> int:
    items = _read_batch(args.input)
    if args.workers is not None and not 1 <= args.workers <= 256:
        raise _UserError("--workers must be between 1 and 256")
    try:
        out = open(args.output, "w", encoding="utf-8")
    except OSError as e:
        raise _UserError("cannot write %s: %s" % (args.output, e.strerror or e)) from None
    counts: dict[str, int] = {}
    unsafe = 0
    with out, _sandbox(args, workers=args.workers) as sb:
        sb.start()
        if sb.unsafe_mode:
            print("warning: running WITHOUT sandbox (--unsafe-no-sandbox): %s" % sb.missing, file=sys.stderr)
        with ThreadPoolExecutor(max_workers=sb.workers) as pool:
            futures = [pool.submit(sb.run, code) for _, code in items]
            for (cid, _), fut in zip(items, futures):
                try:
                    row = fut.result().to_dict()
                except Exception as e:  # noqa: BLE001 - one snippet's failure loses nothing else
                    row = {"status": "error", "stdout": "", "stderr": "[sandbox] internal error: %s: %s\n"
                           % (type(e).__name__, e), "exit_code": None, "duration_ms": 0.0, "unsafe": False,
                           "unsafe_static": [], "unsafe_runtime": [], "cpu_ms": None}
                counts[row["status"]] = counts.get(row["status"], 0) + 1
                unsafe += bool(row["unsafe"])
                out.write(json_line({"id": cid, **row}) + "\n")
                out.flush()
        alive = sb.run("print('alive')", timeout=10).stdout == "alive\n"
    summary = {"executions": len(items), "unsafe": unsafe, "statuses": counts, "sandbox_alive_after": alive}
    print(json.dumps(summary), file=sys.stderr)
    return 0 if alive else 4


@_guard
def cmd_check(args) -> int:
    from ._host import check_isolation

    layers = check_isolation()
    if getattr(args, "json", False):
        print(json.dumps(layers, indent=2))
    else:
        for k, v in layers.items():
            if k == "missing" and not v:
                continue
            print("%-26s %s" % (k, "yes" if v is True else ("no" if v is False else v)))
        if not layers.get("usable"):
            print("model code will NOT run unless --unsafe-no-sandbox is given", file=sys.stderr)
    return 0 if layers.get("usable") else 3


def main(argv=None) -> int:
    from ..cli import StrictArgumentParser

    parser = StrictArgumentParser(prog="mathgauge")
    subs = parser.add_subparsers(dest="command")
    add_sandbox_commands(subs)
    args = parser.parse_args(["sandbox", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
