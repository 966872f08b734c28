"""Loading benchmarks from local files, subsets, stratified sampling and manifests."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mathgauge.datasets import (
    MATH_SUBJECTS,
    load_manifest,
    load_problems,
    save_manifest,
    select_problems,
)
from mathgauge.datasets._boxed import last_boxed_content
from mathgauge.errors import DatasetError


def test_math500_file_loads_all_rows_with_their_ids(math500_path: Path) -> None:
    problems = load_problems("math500", data_file=math500_path)
    assert len(problems) == 500
    first = problems[0]
    assert first.id == "test/precalculus/807.json"
    assert first.subject == "Precalculus" and first.level == 2
    assert first.answer.startswith("\\left( 3")
    assert Counter(p.subject for p in problems)["Algebra"] == 124


def test_full_math_answers_are_last_boxed_and_ids_stable(math_test_path: Path) -> None:
    a = load_problems("math", data_file=math_test_path)
    b = load_problems("math", data_file=math_test_path)
    assert len(a) == 5000
    assert [p.id for p in a] == [p.id for p in b]
    assert len({p.id for p in a}) == 5000
    assert {p.subject for p in a} == set(MATH_SUBJECTS)
    assert Counter(p.subject for p in a)["Counting & Probability"] == 474
    assert a[0].answer == "2" and a[0].level == 3


def test_math500_answers_match_full_math_for_the_same_problems(math500_path: Path, math_test_path: Path) -> None:
    full = {p.problem.strip(): p for p in load_problems("math", data_file=math_test_path)}
    mismatched = [
        p.id for p in load_problems("math500", data_file=math500_path)
        if p.problem.strip() in full and full[p.problem.strip()].answer != p.answer
    ]
    # MATH-500's answer column is the last \boxed{} of the same solutions: our extraction must agree.
    assert len(mismatched) <= 5, mismatched


def test_ids_are_independent_of_file_order(tmp_path: Path, math_test_path: Path) -> None:
    lines = math_test_path.read_text(encoding="utf-8").splitlines()[:50]
    forward, backward = tmp_path / "f.jsonl", tmp_path / "b.jsonl"
    forward.write_text("\n".join(lines))
    backward.write_text("\n".join(reversed(lines)))
    ids_f = {p.problem: p.id for p in load_problems("math", data_file=forward)}
    ids_b = {p.problem: p.id for p in load_problems("math", data_file=backward)}
    assert ids_f == ids_b


def test_parquet_file_loads_like_jsonl(tmp_path: Path, math500_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [json.loads(line) for line in math500_path.read_text().splitlines()[:20]]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "m.parquet")
    from_parquet = load_problems("math500", data_file=tmp_path / "m.parquet")
    from_jsonl = load_problems("math500", data_file=math500_path)[:20]
    assert from_parquet == from_jsonl


def test_boxed_extraction_handles_nesting_and_unbraced() -> None:
    assert last_boxed_content(r"x \boxed{1} then \boxed{\frac{1}{2}}") == r"\frac{1}{2}"
    assert last_boxed_content(r"so $\boxed 5$.") == "5"
    assert last_boxed_content(r"\fbox{\{1, 2\}}") == r"\{1, 2\}"
    assert last_boxed_content("no answer") is None


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"problem": "1+1", "answer": "2"\n', ":1: invalid JSON"),
        ('{"question_text": "1+1", "answer": "2"}\n', ":1: missing problem text"),
        ('{"problem": "1+1", "answer": "2", "level": "hard"}\n', ":1: field 'level' must be 1-5"),
        ('[1, 2]\n', ":1: expected a JSON object"),
    ],
)
def test_malformed_rows_name_file_line_and_field(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"problem": "ok", "answer": "1"}\n' + content.replace(":1:", ":2:"))
    with pytest.raises(DatasetError) as err:
        load_problems("math500", data_file=path)
    assert str(path) in str(err.value)
    assert expected.replace(":1:", ":2:") in str(err.value)


def test_unknown_benchmark_and_missing_file_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="unknown benchmark 'gsm9k'; known benchmarks: aime24, aime25, amc23, "):
        load_problems("gsm9k", data_file=tmp_path / "x.jsonl")
    with pytest.raises(DatasetError, match="data file not found"):
        load_problems("math500", data_file=tmp_path / "missing.jsonl")


def test_column_mapping_reads_unusual_files(tmp_path: Path) -> None:
    path = tmp_path / "custom.jsonl"
    path.write_text(json.dumps({"q": "What is 2+2?", "target": "4", "topic": "algebra", "difficulty": 1}) + "\n")
    [p] = load_problems("math500", data_file=path, columns={"problem": "q", "answer": "target"})
    assert (p.problem, p.answer, p.subject, p.level) == ("What is 2+2?", "4", "Algebra", 1)
    with pytest.raises(DatasetError, match="unknown field 'prompt'"):
        load_problems("math500", data_file=path, columns={"prompt": "q"})


def test_hub_failure_suggests_data_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetError, match="--data-file"):
        load_problems("math500", source="hub")
    with pytest.raises(DatasetError, match="--data-file"):
        load_problems("aime24")  # not bundled: the hub is the default


def test_stratified_945_is_deterministic_and_balanced(math_test_path: Path) -> None:
    problems = load_problems("math", data_file=math_test_path)
    a = select_problems(problems, per_cell=27, seed=7)
    b = select_problems(problems, per_cell=27, seed=7)
    c = select_problems(problems, per_cell=27, seed=8)
    assert len(a.problems) == 945 and not a.notes
    assert [p.id for p in a.problems] == [p.id for p in b.problems]
    assert [p.id for p in a.problems] != [p.id for p in c.problems]
    cells = Counter((p.subject, p.level) for p in a.problems)
    assert set(cells.values()) == {27} and len(cells) == 35


def test_short_cells_are_reported_and_taken_whole(math500_path: Path) -> None:
    problems = load_problems("math500", data_file=math500_path)
    selection = select_problems(problems, per_cell=10, seed=0)
    short = [n for n in selection.notes if "Counting & Probability / level 1" in n]
    assert short and "took all" in short[0]
    cp1 = [p for p in problems if p.subject == "Counting & Probability" and p.level == 1]
    assert all(p in selection.problems for p in cp1)


def test_filters_and_limit(math500_path: Path) -> None:
    problems = load_problems("math500", data_file=math500_path)
    chosen = select_problems(problems, subjects=["number_theory", "Geometry"], levels=[4, 5], limit=10).problems
    assert len(chosen) == 10
    assert all(p.subject in ("Number Theory", "Geometry") and p.level in (4, 5) for p in chosen)
    with pytest.raises(DatasetError, match="unknown subject 'topology'"):
        select_problems(problems, subjects=["topology"])
    with pytest.raises(DatasetError, match="levels must be between 1 and 5"):
        select_problems(problems, levels=[6])


def test_manifest_round_trip_and_unknown_ids(tmp_path: Path, math_test_path: Path) -> None:
    problems = load_problems("math", data_file=math_test_path)
    chosen = select_problems(problems, per_cell=27, seed=1).problems
    path = tmp_path / "subset.json"
    save_manifest(path, "math", chosen, {"per_cell": 27, "seed": 1})
    ids = load_manifest(path, "math")
    assert [p.id for p in select_problems(problems, ids=ids).problems] == [p.id for p in chosen]
    doc = json.loads(path.read_text())
    doc["ids"] = doc["ids"][:3] + ["math/algebra/nope"]
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match="1 id\\(s\\) not in the dataset: 'math/algebra/nope'"):
        select_problems(problems, ids=load_manifest(path, "math"))
    with pytest.raises(DatasetError, match="is for benchmark 'math', not 'math500'"):
        load_manifest(path, "math500")
    path.write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        load_manifest(path)


def _fake_hub_cache(cache: Path, repo: str, files: dict[str, str]) -> None:
    """Lay files out as huggingface_hub's cache does after a download (refs/main -> snapshots/<sha>/...)."""
    sha = "0123456789abcdef0123456789abcdef01234567"
    root = cache / ("datasets--" + repo.replace("/", "--"))
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(sha)
    for name, text in files.items():
        path = root / "snapshots" / sha / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_hub_loading_uses_huggingface_hub_cache(tmp_path: Path, math500_path: Path, math_test_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as hf_constants

    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    _fake_hub_cache(cache, "HuggingFaceH4/MATH-500", {"test.jsonl": math500_path.read_text(encoding="utf-8")})
    problems = load_problems("math500", source="hub")
    assert len(problems) == 500 and problems[0].id == "test/precalculus/807.json"

    # The MATH mirror: one parquet per subject folder, no subject column: the folder names the subject.
    every = [json.loads(line) for line in math_test_path.read_text().splitlines()]
    rows = [r for r in every if r["type"] == "Algebra"][:15] + [r for r in every if r["type"] == "Number Theory"][:15]
    mirror = tmp_path / "mirror"
    for subject in ("algebra", "number_theory"):
        (mirror / subject).mkdir(parents=True)
        subset = [{k: v for k, v in r.items() if k != "type"} for r in rows
                  if r["type"].lower().replace(" ", "_") == subject]
        pq.write_table(pa.Table.from_pylist(subset), mirror / subject / "test-00000-of-00001.parquet")
    sha = "0123456789abcdef0123456789abcdef01234567"
    root = cache / "datasets--EleutherAI--hendrycks_math"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(sha)
    import shutil

    shutil.copytree(mirror, root / "snapshots" / sha)
    math = load_problems("math", source="hub")
    assert {p.subject for p in math} == {"Algebra", "Number Theory"}
    assert len(math) == sum(1 for r in rows if r["type"] in ("Algebra", "Number Theory"))


def test_a_missing_answer_column_names_the_columns_found_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text('{"problem": "1+1?", "target": "2"}\n{"problem": "2+2?", "target": "4"}\n')
    with pytest.raises(DatasetError) as err:
        load_problems("math500", data_file=path)
    message = str(err.value)
    assert f"{path}:1:" in message and "columns found: 'problem', 'target'" in message
    assert "--columns answer=NAME" in message
    assert [p.answer for p in load_problems("math500", data_file=path, columns={"answer": "target"})] == ["2", "4"]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_a_file_that_is_not_utf8_names_the_line_and_the_byte(tmp_path: Path, suffix: str) -> None:
    import gzip

    raw = '{"problem": "1+1?", "answer": "2"}\n'.encode() + b'{"problem": "caf\xe9?", "answer": "3"}\n'
    path = tmp_path / f"latin1{suffix}"
    path.write_bytes(gzip.compress(raw) if suffix.endswith(".gz") else raw)
    with pytest.raises(DatasetError) as err:
        load_problems("math500", data_file=path)
    assert str(err.value).startswith(f"{path}:2: not UTF-8 text (byte 0xe9 at column 17)")
