"""Runs the snippet in the confined child: streams, start frame, audit hook, exec, traceback, exit code.

Everything the runner needs after the snippet has run (joining its non-daemon threads as the interpreter
would, flushing, ``os._exit``, the traceback printer) is bound before the snippet starts, so a snippet that
patches ``os``, ``sys``, ``threading`` or ``builtins`` changes only its own output and exit status, which
are its own to choose anyway.
"""

from __future__ import annotations

import io
import os
import sys
import types

from . import _audit, _wire

EVENT_FD = 3


def _seed_random() -> None:
    import random

    try:
        random.seed()
        npr = sys.modules.get("numpy.random")
        if npr is not None:
            npr.seed()
    except Exception:
        pass


def _set_streams() -> tuple:
    # line-buffered: what a snippet printed before a crash or a kill is still reported
    out = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                           line_buffering=True)
    err = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                           line_buffering=True)
    sys.stdout, sys.stderr = out, err
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.__stdout__, sys.__stderr__, sys.__stdin__ = sys.stdout, sys.stderr, sys.stdin  # type: ignore[misc]
    return out, err


def _execute(source: str, tree, globs: dict, err_stream) -> int:
    """Compiles and runs the snippet; returns its exit code.  Tracebacks start at the snippet's frame."""
    import traceback

    print_exception = traceback.print_exception
    this_code = _execute.__code__
    try:
        # tracebacks name snippet.py and the line but do not echo source lines: a checker scanning the
        # output for markers must only see what the code printed, not what it contains
        compiled = compile(tree if tree is not None else source, "snippet.py", "exec")
        exec(compiled, globs)
    except SystemExit as e:
        code = e.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code & 0xFF
        try:
            print(code, file=sys.stderr)
        except BaseException:
            pass
        return 1
    except BaseException as e:  # noqa: BLE001 - every failure of user code is reported, never raised
        try:
            if isinstance(e, MemoryError):
                err_stream.write("MemoryError: memory limit reached\n")
            else:
                tb = e.__traceback__
                if tb is not None and tb.tb_frame.f_code is this_code:
                    tb = tb.tb_next  # hide the sandbox's own frame
                print_exception(type(e), e, tb, file=sys.stderr)
        except BaseException:
            pass
        return 1
    return 0


def run(source: str, tree, static: list[str], layers: dict, scratch: str, lib_roots) -> None:
    """Runs the snippet and exits the process with its exit code; never returns.

    Args:
        source: the snippet's text.
        tree: its AST when it parsed (compiled from it, not parsed twice), else None.
        static: the static tags (sent in the start frame).
        layers: the confinement layers applied (sent in the start frame).
        scratch: the job's scratch directory.
        lib_roots: directories the interpreter reads modules from.
    """
    import builtins
    import threading

    _exit, write_all = os._exit, _wire.write_all
    join_threads = threading._shutdown  # type: ignore[attr-defined]  # what the interpreter does at exit
    _seed_random()
    own_streams = _set_streams()
    sys.argv = ["snippet.py"]
    # the snippet's globals are a real __main__ module, as for `python snippet.py`: pickle, dataclasses and
    # typing find what it defines through sys.modules["__main__"]
    main = types.ModuleType("__main__")
    main.__dict__.update({"__builtins__": builtins, "__file__": "snippet.py"})
    sys.modules["__main__"] = main
    globs = main.__dict__
    # start frame: "the snippet starts now" plus what the sandbox knows about it; written before the hook
    # and before any snippet code, so nothing the snippet writes can come first
    write_all(EVENT_FD, [_wire.encode_start({"static": static, "layers": layers})])
    _audit.install(scratch, lib_roots, EVENT_FD)
    exit_code = _execute(source, tree, globs, own_streams[1])
    del source, tree, globs
    try:  # like any Python program, wait for the threads it started that are not daemons
        join_threads()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr) + own_streams:
        try:
            stream.flush()
        except BaseException:
            pass
    _exit(exit_code)
