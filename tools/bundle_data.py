"""Rebuild the benchmark copies shipped inside mathgauge (src/mathgauge/datasets/data/) and print their checksums.

    python tools/bundle_data.py [SHARED_DATA_DIR]     # default ../shared/data

Each copy is the published JSONL, byte for byte, gzip-compressed with no time stamp or file name in the header (the
same input always gives the same bytes). The SHA-256 printed for each is of the uncompressed bytes: it goes in
`bundled_sha256` of `benchmarks.toml`, and equals the checksum of the published file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "mathgauge" / "datasets" / "data"
#: bundled file -> the published copy under the shared data folder
SOURCES = {
    "math500.jsonl.gz": "math500.jsonl",
    "math_test.jsonl.gz": "math_test.jsonl",
    "gsm8k.jsonl.gz": "more/gsm8k.jsonl",
    "olympiadbench.jsonl.gz": "more/olympiadbench.jsonl",
}


def compress(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as handle:
        handle.write(data)
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    shared = Path(argv[0]) if argv else ROOT.parent / "shared" / "data"
    for name, relative in SOURCES.items():
        data = (shared / relative).read_bytes()
        packed = compress(data)
        (OUT / name).write_bytes(packed)
        print(f"{name:24} {len(data):>9,} -> {len(packed):>9,} bytes  sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
