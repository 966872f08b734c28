"""A client that does nothing but HTTP: N chat requests (MATH-500 problems as prompts), c at a time, each response
read and parsed, nothing graded or stored. Run as its own process against the scripted server, it measures what the
server and the machine take for a pipeline run's requests alone: the floor a real client cannot beat here.

    python bench/_bare_client.py BASE_URL DATA_FILE N CONCURRENCY
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mathgauge.models._http import HttpSession  # noqa: E402


async def main(base_url: str, data: Path, n: int, concurrency: int) -> None:
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()[:n]]
    session = HttpSession(timeout_s=600)
    slots = asyncio.Semaphore(concurrency)

    async def one(problem: str) -> None:
        async with slots:
            body = {"model": "bench", "messages": [{"role": "user", "content": problem}], "temperature": 0.0}
            async with session.post(f"{base_url}/chat/completions", json=body) as resp:
                json.loads(await resp.read())

    await asyncio.gather(*(one(r["problem"]) for r in rows))
    await session.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
