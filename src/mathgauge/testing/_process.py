"""Start the scripted server as a real process and stop it again (for tests and benchmarks)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass
class RunningServer:
    process: subprocess.Popen[str]
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=10) as resp:
            counts: dict[str, Any] = json.loads(resp.read())
        return counts


@contextmanager
def scripted_server(*args: str) -> Iterator[RunningServer]:
    """Run ``python -m mathgauge.testing.server ARGS`` until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mathgauge.testing.server", "--port", "0", *args],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith("LISTENING "):
            raise RuntimeError(f"scripted server did not start (got {line!r})")
        yield RunningServer(process, int(line.split()[1]))
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    """Ask ``process`` to exit (SIGTERM); kill it if it has not within ``timeout_s``."""
    process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
