"""The benchmarks beyond MATH, read exactly from their local copies (../shared/data/more/): row counts, reference
answers (each readable, each parsed by the grader's parser), subjects, units, bad rows left out with file and line,
and a scripted server answering every reference scoring 100% through a real `mathgauge run --data-file`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from mathgauge.datasets import NO_SUBJECT, get_benchmark, load_benchmark, load_problems
from mathgauge.grading import answers_equivalent, unreadable_parts
from mathgauge.testing import scripted_server

SHARED_MORE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "more"
GAPS = json.loads((Path(__file__).with_name("data") / "reference_parse_gaps.json").read_text(encoding="utf-8"))

#: name -> (rows in the file, problems loaded): the counts of the shared README; GaoKao has two rows without answers.
ROWS = {
    "aime24": (30, 30), "aime25": (30, 30), "amc23": (40, 40), "gsm8k": (1319, 1319), "minerva_math": (272, 272),
    "olympiadbench": (675, 675), "gaokao2023en": (385, 383), "college_math": (2818, 2818),
}
#: Benchmarks whose every reference is a number or short expression: each one must parse, no exceptions.
STRICT = ("aime24", "aime25", "amc23", "gsm8k")
#: Files too large for the fast suite's full run: a sample runs fast, the whole file under -m slow.
LARGE = ("gsm8k", "college_math")


def _path(name: str) -> Path:
    path = SHARED_MORE / f"{name}.jsonl"
    if not path.exists():
        pytest.fail(f"missing {path}: tests read ../shared/data/more beside the repository")
    return path


@pytest.mark.parametrize("name", list(ROWS))
def test_each_copy_loads_exactly_with_a_readable_reference_for_every_row(name: str) -> None:
    data = load_benchmark(name, data_file=_path(name))
    rows, loaded = ROWS[name]
    assert data.rows == rows and len(data.problems) == loaded == get_benchmark(name).size - (rows - loaded)
    assert all(p.benchmark == name for p in data.problems)
    assert all(p.answer.strip() and p.answer == p.answer.strip() for p in data.problems)
    assert len({p.id for p in data.problems}) == loaded
    # every reference parses with the grader's parser; the known gaps of the parser (units, Greek-letter
    # variables, floor brackets...) are listed in tests/data/reference_parse_gaps.json and may only shrink
    failures = {p.id for p in data.problems if unreadable_parts(p.answer)}
    if name in STRICT:
        assert failures == set()
    else:
        assert failures <= set(GAPS.get(name, [])), sorted(failures - set(GAPS.get(name, [])))[:5]


def test_answer_readers_follow_each_source_convention() -> None:
    gsm = load_problems("gsm8k", data_file=_path("gsm8k"))
    assert gsm[0].answer == "18" and "#### 18" in gsm[0].solution
    raw = [json.loads(line) for line in _path("gsm8k").read_text(encoding="utf-8").splitlines()]
    with_commas = [i for i, r in enumerate(raw) if "," in r["answer"].rsplit("####", 1)[1]]
    assert with_commas, "GSM8K has answers written with thousands separators"
    assert all("," not in gsm[i].answer and gsm[i].answer.isdigit() for i in with_commas)
    assert all(p.answer.lstrip("-").replace(".", "", 1).isdigit() for p in gsm)

    amc = load_problems("amc23", data_file=_path("amc23"))
    assert amc[0].answer == "27" and all(not p.answer.endswith(".0") for p in amc)
    assert Counter(p.subject for p in amc) == {"AMC 12A 2023": 22, "AMC 12B 2023": 18}

    aime24 = load_problems("aime24", data_file=_path("aime24"))
    assert aime24[0].id == "aime24/60" and aime24[0].answer == "204"
    aime25 = load_problems("aime25", data_file=_path("aime25"))
    assert all(0 <= int(p.answer) <= 999 for p in aime24 + aime25)
    # the public AIME 2025 copy's broken escapes are repaired: no control characters, the commands restored
    assert not any(ch in p.problem for p in aime25 for ch in "\x0c\x08\x07\x0b\t")
    assert "\\prod^{63}_{k=4} \\frac{\\log_k" in aime25[18].problem and "$\\triangle DEF$" in aime25[19].problem
    assert [p.subject for p in aime25] == ["AIME 2025 I"] * 15 + ["AIME 2025 II"] * 15

    minerva = load_problems("minerva_math", data_file=_path("minerva_math"))
    assert minerva[0].answer == "1.6" and minerva[1].answer == "4.5e33"
    assert Counter(p.subject for p in minerva)["Introduction to Solid State Chemistry (3.091 Fall 2010)"] == 97

    olympiad = {p.id: p for p in load_problems("olympiadbench", data_file=_path("olympiadbench"))}
    assert olympiad["olympiadbench/1606"].answer == "2" and olympiad["olympiadbench/1606"].subject == "Combinatorics"
    raw_ob = {r["id"]: r for r in map(json.loads, _path("olympiadbench").read_text(encoding="utf-8").splitlines())}
    multiple = [i for i, r in raw_ob.items() if r["is_multiple_answer"]]
    assert len(multiple) == 94 and all("$" not in olympiad[f"olympiadbench/{i}"].answer for i in multiple)
    assert olympiad["olympiadbench/2444"].answer == "8" and olympiad["olympiadbench/2444"].unit == "min"
    assert sum(1 for p in olympiad.values() if p.unit) == 8

    gaokao = load_problems("gaokao2023en", data_file=_path("gaokao2023en"))
    college = load_problems("college_math", data_file=_path("college_math"))
    assert gaokao[0].answer == "\\{x|-2\\leq x < 1\\}" and college[0].answer == "10-4 n"
    assert not any("$" in p.answer.replace("\\$", "") for p in gaokao + college)
    assert {p.subject for p in gaokao} == {NO_SUBJECT}
    assert Counter(p.subject for p in college)["Differential Equation"] == 309


def test_rows_without_a_readable_answer_are_reported_with_file_and_line_and_left_out(tmp_path: Path) -> None:
    data = load_benchmark("gaokao2023en", data_file=_path("gaokao2023en"))
    assert [r.where.rsplit(":", 1)[1] for r in data.left_out] == ["168", "193"]
    assert all(r.where.startswith(str(_path("gaokao2023en"))) and "is empty" in r.reason for r in data.left_out)
    assert data.notes[0] == "2 of 385 gaokao2023en rows have no readable reference answer and were left out:"

    # a GSM8K row whose solution has no "####", and one whose answer is blank: both left out, the rest loaded
    lines = _path("gsm8k").read_text(encoding="utf-8").splitlines()[:5]
    broken = json.loads(lines[1])
    broken["answer"] = broken["answer"].replace("####", "so")
    blank = json.loads(lines[3])
    blank["answer"] = "  "
    path = tmp_path / "gsm8k.jsonl"
    path.write_text("\n".join([lines[0], json.dumps(broken), lines[2], json.dumps(blank), lines[4]]) + "\n")
    data = load_benchmark("gsm8k", data_file=path)
    assert [p.answer for p in data.problems] == ["18", "70000", "20"]
    assert [(r.where, r.reason) for r in data.left_out] == [
        (f"{path}:2", "no reference answer: after_hashes, drop_thousands_commas finds none in column 'answer'"),
        (f"{path}:4", "no reference answer: column 'answer' is empty")]

    # nothing readable at all: one error naming the first row
    path.write_text(json.dumps(broken) + "\n")
    from mathgauge.errors import DatasetError

    with pytest.raises(DatasetError, match=r"gsm8k.jsonl:1: no reference answer.*no row of the data has a readable"):
        load_benchmark("gsm8k", data_file=path)


def test_college_math_duplicates_with_different_answers_are_noted() -> None:
    data = load_benchmark("college_math", data_file=_path("college_math"))
    assert len(data.ambiguous) == 24 and sum(len(g) for g in data.ambiguous) == 50
    assert any("24 problem texts of college_math appear 50 times with different reference answers" in n
               for n in data.notes)


def _sample(name: str, tmp_path: Path, rows: int | None) -> Path:
    """The benchmark's file, or its first ``rows`` lines, under the benchmark's own file name."""
    lines = _path(name).read_text(encoding="utf-8").splitlines()
    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(lines[:rows] if rows else lines) + "\n", encoding="utf-8")
    return path


def _expected_correct(problems: list) -> int:
    """Every problem is answered with its reference; a text that appears twice gets the first one's answer."""
    first: dict[str, str] = {}
    for p in problems:
        first.setdefault(p.problem, p.answer)
    return sum(answers_equivalent(first[p.problem], p.answer).correct for p in problems)


def _run_full_score(name: str, data: Path, tmp_path: Path, run_cli) -> None:
    problems = load_benchmark(name, data_file=data)
    summary = tmp_path / f"{name}.json"
    with scripted_server("--data", str(data), "--benchmark", name, "--correct-rate", "1",
                         "--no-answer-rate", "0") as server:
        result = run_cli("run", "--model", "scripted", "--base-url", server.base_url, "--benchmark", name,
                         "--data-file", str(data), "--store", str(tmp_path / "runs.db"), "--quiet",
                         "--summary-json", str(summary))
    assert result.code == 0, result.err
    doc = json.loads(summary.read_text(encoding="utf-8"))
    assert doc["benchmark"] == name and doc["n"] == len(problems.problems) and doc["failed"] == 0
    assert doc["no_answer"] == 0
    assert doc["correct"] == _expected_correct(problems.problems)
    if not problems.ambiguous:
        assert doc["accuracy"] == 1.0
    for left in problems.left_out:  # every left-out row is named on the terminal
        assert left.where in result.err
    if get_benchmark(name).sampling.min_samples > 1:
        assert f"warning: {get_benchmark(name).title} is reported as avg@k and pass@k" in result.err
    else:
        assert "warning:" not in result.err


@pytest.mark.parametrize("name", list(ROWS))
def test_scripted_server_answering_every_reference_scores_100_percent(name: str, tmp_path: Path, run_cli) -> None:
    _run_full_score(name, _sample(name, tmp_path, 300 if name in LARGE else None), tmp_path, run_cli)


@pytest.mark.slow
@pytest.mark.parametrize("name", LARGE)
def test_scripted_server_scores_100_percent_on_the_whole_large_files(name: str, tmp_path: Path, run_cli) -> None:
    _run_full_score(name, _sample(name, tmp_path, None), tmp_path, run_cli)


def test_registry_defaults_and_the_sampling_advice(run_cli) -> None:
    from mathgauge.datasets import list_benchmarks, sampling_warning
    from mathgauge.prompts import load_template

    for spec in list_benchmarks():
        assert load_template(spec.prompt_template).answer_format == spec.answer_format
        assert spec.hub_repo and spec.hub_files and spec.size and spec.published_names
    assert sampling_warning("math500", 1) is None and sampling_warning("aime24", 16) is None
    warning = sampling_warning("amc23", 4)
    assert warning.startswith("warning: AMC 2023 is reported as avg@k and pass@k with k = 16 or more samples")
    assert "this run draws 4" in warning and warning.endswith("--samples 64 --temperature 0.6 --top-p 0.95")
    result = run_cli("benchmarks", "--json")
    assert result.code == 0, result.err
    doc = {b["name"]: b for b in json.loads(result.out)}
    assert list(doc) == [b.name for b in list_benchmarks()] and len(doc) == 10
    assert doc["aime25"]["reported_as"] == ["avg@k", "pass@k"] and doc["aime25"]["recommended_samples"] == 64
    assert doc["gsm8k"]["bundled"] is True and doc["minerva_math"]["bundled"] is False
    text = run_cli("benchmarks").out
    assert "aime24         AIME 2024 (30 problems; hub: HuggingFaceH4/aime_2024)" in text
    assert "reported as avg@k and pass@k, k = 64 (at least 16), T=0.6, top_p=0.95" in text


def test_a_registry_entry_naming_an_unknown_reader_or_key_is_refused() -> None:
    from mathgauge.datasets._registry import _benchmark
    from mathgauge.errors import DatasetError

    entry = {"description": "d", "hub_repo": "o/r", "hub_files": ["x.jsonl"],
             "answer": [{"column": "answer", "readers": ["after_hashes", "guess"]}]}
    with pytest.raises(DatasetError, match=r"\[x\]: unknown reader\(s\) \['guess'\]; readers are: strip, "):
        _benchmark("x", entry)
    with pytest.raises(DatasetError, match=r"\[x\]: unknown key\(s\) \['hub_file'\]"):
        _benchmark("x", {**entry, "answer": [], "hub_file": "y"})
