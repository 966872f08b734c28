"""Make the schema-3 store that `tests/test_store_migration.py` migrates: run once, by hand, and commit its output.

The store is written by the last mathgauge whose schema is 3 (commit `V3_COMMIT`, taken from this repository's
history with ``git archive``), running real ``mathgauge run`` processes against the scripted server of the
mathgauge checked out here: one run per mode the migration recomputes differently (chain-of-thought,
program-of-thought with two tries, tool use, self-verification, a cascade judge), with the scripts the current tests
use (`test_solve_modes`, `test_judge_pipeline`). It needs the full git history and the sandbox (bubblewrap).

Writes, into this folder (or ``--out``):

* ``v3.db``: the store, checkpointed and vacuumed into one file (rollback journal, no WAL beside it);
* ``summaries.json``: run name -> the summary that version reported (``--summary-json``), which the migrated
  store must still report.

Usage (from the repository root)::

    python tests/data/store_v3/make_store.py
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
#: The last commit whose mathgauge writes schema 3.
V3_COMMIT = "6d86663580f30b4b1eefc59db73b5c7b4424c1a0"
#: Summary fields whose values depend on the machine and the moment (left out of the stored summaries).
VOLATILE = ("run_id", "wall_s", "generation_s", "requests_per_s", "exec_s", "p50_ms", "p95_ms", "total_ms")


def v3_source(dest: Path) -> Path:
    """The schema-3 mathgauge's source, from git history, under ``dest``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", V3_COMMIT, "src/mathgauge"],
                             capture_output=True, timeout=60)
    if archive.returncode != 0:
        sys.exit(f"error: git archive {V3_COMMIT[:12]} failed ({archive.stderr.decode().strip()}); this needs the "
                 f"repository's full history (git fetch --unshallow)")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "src"


def make(out: Path) -> None:
    sys.path.insert(0, str(TESTS))
    sys.path.insert(0, str(REPO / "src"))
    from test_judge_pipeline import _files as judge_files
    from test_solve_modes import POT_SCRIPT, PROBLEMS, TIR_SCRIPT, VERIFY_SCRIPT, write_problems, write_script

    from mathgauge.testing import scripted_server

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        code = v3_source(work / "v3")
        db = work / "v3.db"
        toy = write_problems(work / "toy.jsonl")
        summaries: dict[str, dict] = {}

        def run(name: str, url: str, data: Path, *options: str) -> None:
            summary = work / f"{name}.json"
            done = subprocess.run(
                [sys.executable, "-m", "mathgauge.cli", "run", "--model", "m", "--base-url", url, "--data-file",
                 str(data), "--store", str(db), "--quiet", "--run-name", name, "--summary-json", str(summary),
                 *options],
                cwd=work, env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                sys.exit(f"error: the schema-3 run {name!r} failed:\n{done.stderr[-3000:]}")
            doc = json.loads(summary.read_text())
            summaries[name] = {k: v for k, v in doc.items() if k not in VOLATILE}

        with scripted_server("--script", str(write_script(work / "cot.jsonl", [
                {"match": "six times seven", "calls": ["So $\\boxed{42}$."]},
                {"match": "", "calls": ["It is $\\boxed{5}$."]}]))) as srv:
            run("cot", srv.base_url, toy)
        with scripted_server("--script", str(write_script(work / "pot.jsonl", POT_SCRIPT))) as srv:
            run("pot", srv.base_url, toy, "--mode", "pot", "--attempts", "2", "--exec-timeout", "1")
        with scripted_server("--script", str(write_script(work / "tir.jsonl", TIR_SCRIPT))) as srv:
            run("tir", srv.base_url, toy, "--mode", "tir", "--max-rounds", "2", "--limit", "3")
        verify_data = work / "verify.jsonl"
        verify_data.write_text("".join(json.dumps({"problem": PROBLEMS[k][0], "answer": PROBLEMS[k][1],
                                                   "unique_id": k}) + "\n" for k in ("wrong", "times", "power")))
        with scripted_server("--script", str(write_script(work / "verify-script.jsonl", VERIFY_SCRIPT))) as srv:
            run("verify", srv.base_url, verify_data, "--mode", "verify")
        judge_dir = work / "judge"
        judge_dir.mkdir()
        data, model_script, judge_script = judge_files(judge_dir)
        with scripted_server("--script", str(model_script)) as model, \
                scripted_server("--script", str(judge_script)) as judge:
            run("cascade", model.base_url, data, "--grader", "cascade", "--judge-model", "judge",
                "--judge-base-url", judge.base_url)

        with sqlite3.connect(db) as conn:
            if conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() != ("3",):
                sys.exit(f"error: commit {V3_COMMIT[:12]} did not write a schema-3 store")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode = DELETE")
        conn = sqlite3.connect(db)
        conn.execute("VACUUM")
        conn.close()
        out.mkdir(parents=True, exist_ok=True)
        (out / "v3.db").write_bytes(db.read_bytes())
        (out / "summaries.json").write_text(json.dumps(summaries, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out / 'v3.db'} ({(out / 'v3.db').stat().st_size:,} bytes) and {out / 'summaries.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write v3.db and summaries.json to")
    make(parser.parse_args().out)


if __name__ == "__main__":
    main()
