"""Make the schema-4 store that `tests/test_store_texts.py` migrates: run once, by hand, and commit its output.

The store is written by the last mathgauge whose schema is 4 (commit `V4_COMMIT`, taken from this repository's
history with ``git archive``): one chain-of-thought run of 6 MATH-500 problems x 2 samples against the scripted
server of the mathgauge checked out here (on the fixed port `PORT`), with 1 KB of real prose before each answer (``--prose-kb 1``). That
version then exports the run in every format, and the exports are kept beside the store.

Writes, into this folder (or ``--out``):

* ``v4.db``: the store, checkpointed and vacuumed into one file (rollback journal, no WAL beside it);
* ``exports.json``: export name -> what that version exported (JSONL, CSV and lm-eval files as text, Parquet as
  rows), which the migrated store must still export.

Usage (from the repository root)::

    python tests/data/store_v4/make_store.py
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parents[1]
REPO = TESTS.parent
#: The last commit whose mathgauge writes schema 4.
V4_COMMIT = "b8a60f932e99c62cbc9bde7175bd81be370b146b"
#: The scripted server's port: the endpoint's URL is part of the response cache's key, so the test serves on the
#: same one to show that the old cache still answers (outside Linux's ephemeral range, where tests bind port 0).
PORT = 29418
#: (format, extra options) of every export kept.
EXPORTS = [("jsonl", []), ("csv", []), ("lm-eval-samples", []), ("sft", []), ("jsonl", ["--attempts"]),
           ("parquet", [])]


def source_at(commit: str, dest: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", commit, "src/mathgauge"],
                             capture_output=True, timeout=60)
    if archive.returncode != 0:
        sys.exit(f"error: git archive {commit[:12]} failed ({archive.stderr.decode().strip()}); this needs the "
                 f"repository's full history (git fetch --unshallow)")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


def export_name(fmt: str, extra: list[str]) -> str:
    return f"{fmt}{''.join(extra)}"


def make(out: Path) -> None:
    sys.path.insert(0, str(REPO / "src"))
    from mathgauge.testing import scripted_server

    math500 = REPO.parent / "shared" / "data" / "math500.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        code = source_at(V4_COMMIT, work / "v4")
        db = work / "v4.db"

        def cli(*args: str) -> None:
            done = subprocess.run([sys.executable, "-m", "mathgauge.cli", *args], cwd=work,
                                  env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True, text=True,
                                  timeout=300)
            if done.returncode != 0:
                sys.exit(f"error: the schema-4 mathgauge failed ({' '.join(args[:2])}):\n{done.stderr[-3000:]}")

        with scripted_server("--data", str(math500), "--prose-kb", "1", "--port", str(PORT)) as srv:
            cli("run", "--model", "m", "--base-url", srv.base_url, "--data-file", str(math500), "--limit", "6",
                "--samples", "2", "--temperature", "0.6", "--store", str(db), "--quiet", "--run-name", "old")
        exports: dict[str, object] = {}
        for fmt, extra in EXPORTS:
            path = work / f"export-{export_name(fmt, extra)}"
            cli("export", "old", "--store", str(db), "--format", fmt, "--output", str(path), *extra)
            if fmt == "parquet":
                import pyarrow.parquet as pq

                exports[export_name(fmt, extra)] = pq.read_table(path).to_pylist()
            else:
                exports[export_name(fmt, extra)] = path.read_text(encoding="utf-8")
        with sqlite3.connect(db) as conn:
            if conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() != ("4",):
                sys.exit(f"error: commit {V4_COMMIT[:12]} did not write a schema-4 store")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode = DELETE")
        conn = sqlite3.connect(db)
        conn.execute("VACUUM")
        conn.close()
        out.mkdir(parents=True, exist_ok=True)
        (out / "v4.db").write_bytes(db.read_bytes())
        (out / "exports.json").write_text(json.dumps(exports, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    print(f"wrote {out / 'v4.db'} ({(out / 'v4.db').stat().st_size:,} bytes) and {out / 'exports.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write v4.db and exports.json to")
    make(parser.parse_args().out)


if __name__ == "__main__":
    main()
