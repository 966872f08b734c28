"""Schema 5: long texts stored once, compressed; a schema-4 store opens, reads and exports as before.

The schema-4 store (`tests/data/store_v4`) was written by that version itself, running a real ``mathgauge run``
against the scripted server, and exported by it; the exports this version makes of the migrated copy must say the
same, field for field, and the old response cache must still answer a new run.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import stored_calls

from mathgauge.solve import Attempt, Gradable
from mathgauge.store import SCHEMA_VERSION, Store, StoreWriter
from mathgauge.store._texts import decode, encode
from mathgauge.testing import scripted_server

REPO = Path(__file__).resolve().parents[1]
V4_DATA = REPO / "tests" / "data" / "store_v4"
#: The scripted server's port when the schema-4 store was made (`tests/data/store_v4/make_store.py`).
V4_PORT = 29418
EXPORTS = [("jsonl", []), ("csv", []), ("lm-eval-samples", []), ("sft", []), ("jsonl", ["--attempts"]),
           ("parquet", [])]
STRANGE = ["", "x", "Ünïcödé ∑ 数学 🙂" * 40, "lone \ud800 surrogate and a NUL \x00 byte" * 10,
           "\\boxed{\\frac{1}{2}}\n" * 500]


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.parametrize("text", STRANGE)
def test_every_text_comes_back_exactly(text: str, tmp_path: Path) -> None:
    digest, body = encode(text)
    assert decode(body) == text and len(digest) == 32
    with Store(tmp_path / "t.db") as store:
        run = store.create_run(name="r", benchmark="b", model="m", config={}, versions={})

        class P:
            id, problem, answer, solution, subject, level = "p", "Q?", "1", "", "s", None

        store.add_problems(run.run_id, [P], [[{"role": "user", "content": text}]], 1)
        call = Attempt("p", 0, 0, "cot", {"model": "m", "messages": [{"role": "user", "content": text}]},
                       response=text, reasoning=text or None, finish_reason="stop")
        store.save_sample(run.run_id, "p", 0, [call], graded=[Gradable(text, "boxed", 0)])
        store.put_response("k", {"text": text, "finish_reason": "stop", "reasoning": None, "extra": {"a": 1}})
        (stored,) = store.calls(run.run_id)
        assert (stored["response"], stored["reasoning"], stored["graded_text"]) == (text, text or None, text)
        assert json.loads(stored["request_json"]) == call.request
        assert store.get_response("k") == {"text": text, "finish_reason": "stop", "reasoning": None,
                                           "extra": {"a": 1}}
        assert store.unfinished_samples(run.run_id) == []
        assert next(iter(store.export_rows(run.run_id)))["prompt"] == [{"role": "user", "content": text}]


def test_every_codec_reads_back() -> None:
    import zlib

    from mathgauge.store._texts import CODEC_RAW, CODEC_ZLIB, CODEC_ZSTD

    text = "Mathematical prose, $\\frac{1}{2}$, ∑ 数学. " * 50
    data = text.encode()
    assert decode(bytes((CODEC_ZLIB,)) + zlib.compress(data)) == text  # what an earlier build may have written
    assert decode(bytes((CODEC_RAW,)) + data) == text
    assert encode(text)[1][0] == CODEC_ZSTD and len(encode(text)[1]) < len(data) / 3
    assert encode("short")[1] == bytes((CODEC_RAW,)) + b"short"
    with pytest.raises(ValueError, match="unknown text codec 9"):
        decode(bytes((9,)) + data)


def test_a_run_stores_each_text_once_and_compressed(run_cli, math500_path: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    with scripted_server("--data", str(math500_path), "--prose-kb", "2") as srv:
        result = run_cli("run", "--model", "m", "--base-url", srv.base_url, "--data-file", str(math500_path),
                         "--limit", "5", "--samples", "3", "--temperature", "0.6", "--store", str(db), "--quiet")
        sent = srv.stats()["content_bytes"]
    assert result.code == 0, result.err
    # Nothing inline: every call's texts, every prompt and every cached response point at `texts`.
    assert rows(db, "SELECT COUNT(*) FROM attempts WHERE response IS NOT NULL OR graded_text IS NOT NULL"
                    " OR reasoning IS NOT NULL OR request_json != '' OR response_ref IS NULL"
                    " OR graded_ref != response_ref") == [(0,)]
    assert rows(db, "SELECT COUNT(*) FROM samples WHERE prompt_json != ''") == [(0,)]
    assert rows(db, "SELECT COUNT(*) FROM response_cache c JOIN attempts a ON a.response_ref = c.text_ref") == [(15,)]
    assert all("text" not in json.loads(r) for (r,) in rows(db, "SELECT response_json FROM response_cache"))
    # Texts: 15 responses, and per problem its prompt (the message, and the messages as JSON) and one request body
    # for its 3 samples (they differ only in the sample index, which is not sent).
    assert rows(db, "SELECT COUNT(*) FROM texts") == [(15 + 5 * 3,)]
    (packed,) = rows(db, "SELECT SUM(LENGTH(body)) FROM texts t JOIN attempts a ON a.response_ref = t.text_id")[0]
    assert packed < 0.6 * sent  # real prose compresses to well under this
    calls = stored_calls(db)
    assert sum(len(c["response"].encode()) for c in calls) == sent


def test_the_writer_commits_jobs_together_and_fails_them_alone(tmp_path: Path) -> None:
    with Store(tmp_path / "w.db") as store:
        run = store.create_run(name="r", benchmark="b", model="m", config={}, versions={})
        writer = StoreWriter(store)
        ok = [writer.submit(store.put_response, f"k{i}", {"text": f"t{i}", "finish_reason": "stop"})
              for i in range(50)]
        bad = writer.submit(store.mark_run_ended, run.run_id, "finished", wall_s="not a number")  # type: ignore
        boom = writer.submit(lambda: 1 / 0)
        after = writer.submit(store.put_response, "last", {"text": "z", "finish_reason": "stop"})
        writer.shutdown(wait=True)
        assert [f.result() for f in ok] == [None] * 50 and after.result() is None
        with pytest.raises(ZeroDivisionError):
            boom.result()
        bad.exception()  # stored or refused, it never took the others with it
        assert store.get_response("k49")["text"] == "t49" and store.get_response("last")["text"] == "z"


# -- a schema-4 store ----------------------------------------------------------------------------------------------
# tests/data/store_v4: a run stored by the last schema-4 mathgauge, and what that version exported of it (made once by
# make_store.py there, with the scripted server on a fixed port: the endpoint's URL is part of the cache key).


def _cli(cwd: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OPENAI_API_KEY": "x"}
    done = subprocess.run([sys.executable, "-m", "mathgauge.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _records(name: str, exported: object) -> list[dict]:
    """An export's records: Parquet rows, CSV rows or JSON lines."""
    if name == "parquet":
        return list(exported)  # type: ignore[call-overload]
    text = str(exported)
    if name == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    return [json.loads(line) for line in text.splitlines()]


def _says_as_before(now: object, then: object) -> bool:
    """``now`` says all that ``then`` said, with the same values; fields added to the exports since are ignored."""
    if isinstance(then, dict) and isinstance(now, dict):
        return all(k in now and _says_as_before(now[k], v) for k, v in then.items())
    if isinstance(then, list) and isinstance(now, list):
        return len(now) == len(then) and all(_says_as_before(a, b) for a, b in zip(now, then))
    return now == then


@pytest.fixture
def v4_copy(tmp_path: Path) -> Path:
    db = tmp_path / "store.db"
    shutil.copy(V4_DATA / "v4.db", db)
    assert rows(db, "SELECT value FROM meta WHERE key = 'schema_version'") == [("4",)]
    return db


def test_a_schema_4_store_exports_as_before(v4_copy: Path, tmp_path: Path) -> None:
    then = json.loads((V4_DATA / "exports.json").read_text(encoding="utf-8"))
    with Store(v4_copy) as store:
        assert store.schema_version == SCHEMA_VERSION
    for fmt, extra in EXPORTS:
        name = f"{fmt}{''.join(extra)}"
        path = tmp_path / f"export-{name}"
        _cli(tmp_path, "export", "old", "--store", str(v4_copy), "--format", fmt, "--output", str(path), *extra)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            now: object = pq.read_table(path).to_pylist()
        else:
            now = path.read_text(encoding="utf-8")
        old_records, new_records = _records(name, then[name]), _records(name, now)
        assert old_records and len(new_records) == len(old_records), name
        # Every field the old version exported comes back with the same value: responses, prompts, requests
        # byte for byte (the exports gained fields since, e.g. the graded text; a chain-of-thought run graded its
        # responses, so lm-eval's resps are the same texts).
        assert all(_says_as_before(n, o) for n, o in zip(new_records, old_records)), name


def test_a_schema_4_cache_answers_a_new_run_stored_compressed(v4_copy: Path, math500_path: Path,
                                                             tmp_path: Path) -> None:
    db = v4_copy
    try:
        server = scripted_server("--data", str(math500_path), "--prose-kb", "1", "--port", str(V4_PORT))
        srv = server.__enter__()
    except Exception as exc:  # the port is the old run's endpoint: the cache is keyed by it
        pytest.fail(f"the schema-4 store's endpoint port {V4_PORT} could not be served ({exc})")
    try:
        _cli(tmp_path, "run", "--model", "m", "--base-url", srv.base_url, "--data-file", str(math500_path),
             "--limit", "6", "--samples", "2", "--temperature", "0.6", "--store", str(db), "--quiet",
             "--run-name", "new")
        assert srv.stats()["chat_requests"] == 0  # every call answered by the old version's cache
    finally:
        server.__exit__(None, None, None)
    calls = stored_calls(db)
    old = {(c["problem_id"], c["sample_index"]): c for c in calls if c["run_id"] != calls[-1]["run_id"]}
    new = [c for c in calls if c["run_id"] == calls[-1]["run_id"]]
    assert len(new) == len(old) == 12
    for c in new:
        was = old[(c["problem_id"], c["sample_index"])]
        assert (c["response"], c["graded_text"], c["request_json"]) == (was["response"], was["graded_text"],
                                                                        was["request_json"])
    # The new run's rows keep their texts in `texts`; the old run's are untouched.
    assert rows(db, "SELECT COUNT(*) FROM attempts WHERE response IS NULL AND response_ref IS NOT NULL") == [(12,)]
    assert rows(db, "SELECT COUNT(*) FROM attempts WHERE response IS NOT NULL AND response_ref IS NULL") == [(12,)]
