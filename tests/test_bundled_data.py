"""The copies of MATH-500, MATH, GSM8K and OlympiadBench shipped inside mathgauge: identical to the published files,
checked against their checksum on every load, used with no network, and the hub still one option away."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from mathgauge.datasets import BUNDLED_DIR, get_benchmark, list_benchmarks, load_benchmark, load_problems
from mathgauge.errors import DatasetError
from mathgauge.testing import scripted_server

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ORIGINALS = {"math500": SHARED / "math500.jsonl", "math": SHARED / "math_test.jsonl",
             "gsm8k": SHARED / "more" / "gsm8k.jsonl", "olympiadbench": SHARED / "more" / "olympiadbench.jsonl"}


def test_bundled_copies_are_the_published_files_byte_for_byte() -> None:
    bundled = {b.name for b in list_benchmarks() if b.bundled}
    assert bundled == set(ORIGINALS)
    for name, original in ORIGINALS.items():
        spec = get_benchmark(name)
        raw = gzip.decompress((BUNDLED_DIR / spec.bundled).read_bytes())
        assert raw == original.read_bytes()
        assert hashlib.sha256(raw).hexdigest() == spec.bundled_sha256
        assert load_problems(name) == load_problems(name, data_file=original)
    total = sum((BUNDLED_DIR / get_benchmark(n).bundled).stat().st_size for n in ("math500", "math"))
    assert total < 1_300_000  # MATH-500 + MATH: about 1.2 MB compressed
    licences = {p.name for p in (BUNDLED_DIR / "licenses").iterdir()}
    assert {"MIT-MATH.txt", "MIT-OpenAI.txt", "Apache-2.0.txt", "NOTICE-OlympiadBench.txt"} <= licences


def test_a_damaged_bundled_copy_is_refused_with_one_clear_error(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from mathgauge.datasets import _sources

    copy = tmp_path / "data"
    shutil.copytree(BUNDLED_DIR, copy)
    target = copy / get_benchmark("math500").bundled
    lines = gzip.decompress(target.read_bytes()).decode("utf-8").splitlines()
    row = json.loads(lines[7])
    row["answer"] = "42"  # a changed reference answer, still valid JSON
    lines[7] = json.dumps(row)
    target.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
    monkeypatch.setattr(_sources, "BUNDLED_DIR", copy)
    with pytest.raises(DatasetError, match=r"math500.jsonl.gz: the bundled copy of math500 fails its checksum"):
        load_problems("math500")
    (copy / get_benchmark("gsm8k").bundled).write_bytes(b"not gzip")
    with pytest.raises(DatasetError, match=r"the bundled copy of gsm8k cannot be read .*--source hub"):
        load_problems("gsm8k")


def test_source_choices_and_their_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    data = load_benchmark("math500")
    assert data.source == {"bundled": "math500.jsonl.gz", "sha256": get_benchmark("math500").bundled_sha256}
    with pytest.raises(DatasetError, match="could not download 'HuggingFaceH4/MATH-500'.*--data-file"):
        load_benchmark("math500", source="hub")
    with pytest.raises(DatasetError, match="benchmark 'aime24' has no copy bundled with mathgauge"):
        load_benchmark("aime24", source="bundled")
    with pytest.raises(DatasetError, match="--source hub and --data-file both say"):
        load_benchmark("math500", source="hub", data_file=ORIGINALS["math500"])
    with pytest.raises(DatasetError, match="unknown source 'web'"):
        load_benchmark("math500", source="web")
    # a gzip-compressed local copy reads like the plain one
    packed = tmp_path / "gsm8k.jsonl.gz"
    packed.write_bytes(gzip.compress(ORIGINALS["gsm8k"].read_bytes()))
    assert load_problems("gsm8k", data_file=packed) == load_problems("gsm8k")


def test_run_math500_with_no_network_and_no_data_file(run_cli, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    summary, db = tmp_path / "s.json", tmp_path / "r.db"
    with scripted_server("--data", str(ORIGINALS["math500"]), "--latency", "0") as server:
        result = run_cli("run", "--model", "scripted", "--base-url", server.base_url, "--benchmark", "math500",
                         "--limit", "25", "--store", str(db), "--quiet", "--summary-json", str(summary))
        assert result.code == 0, result.err
        hub = run_cli("run", "--model", "scripted", "--base-url", server.base_url, "--benchmark", "math500",
                      "--source", "hub", "--store", str(db), "--quiet")
    assert json.loads(summary.read_text())["n"] == 25
    assert hub.code == 2 and hub.err.startswith("error: could not download 'HuggingFaceH4/MATH-500'")
    import sqlite3

    with sqlite3.connect(db) as conn:
        (config,) = conn.execute("SELECT config_json FROM runs").fetchone()
    assert json.loads(config)["data_source"] == {"bundled": "math500.jsonl.gz",
                                                 "sha256": get_benchmark("math500").bundled_sha256}
