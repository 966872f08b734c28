"""`mathgauge report`: the self-contained HTML file, checked by parsing it and by rendering it in headless
Chromium (through chromedriver's W3C HTTP interface: no console errors, key elements and numbers present, the
sample browser filters, a screenshot)."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from mathgauge.datasets import load_problems
from mathgauge.testing import ScriptRates, scripted_outcome, scripted_server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report_compare import write_run  # noqa: E402
from test_report_gap import CASES, _items  # noqa: E402


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.ids: set[str] = set()
        self.external: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for key in ("src", "href"):
            if tag in ("script", "link", "img") and a.get(key):
                self.external.append(a[key])
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory, math500_path: Path) -> tuple[Path, dict[str, Any]]:
    """Two real runs through the scripted server (one with truncations) plus one Store-API run of a model with
    published MATH-500 figures; built once for the module."""
    from mathgauge.cli import main as cli_main

    tmp = tmp_path_factory.mktemp("html")
    small = tmp / "math500_small.jsonl"
    small.write_text("\n".join(math500_path.read_text(encoding="utf-8").splitlines()[:40]) + "\n", encoding="utf-8")
    db = tmp / "h.db"
    with scripted_server("--data", str(math500_path), "--correct-rate", "0.7") as a, \
            scripted_server("--data", str(math500_path), "--correct-rate", "0.5", "--truncate-rate", "0.2") as b:
        for name, srv, extra in (("strong", a, []), ("weak", b, ["--max-tokens", "512"])):
            code = cli_main(["run", "--model", f"model-{name}", "--base-url", srv.base_url, "--data-file",
                             str(small), "--store", str(db), "--quiet", "--run-name", name, *extra])
            assert code == 0
    write_run(db, "qwen", "Qwen/Qwen2.5-7B-Instruct", _items(CASES))
    problems = load_problems("math500", data_file=small)
    expected = {
        "strong": sum(scripted_outcome(p.problem, ScriptRates(0.7)) == "correct" for p in problems),
        "weak": sum(scripted_outcome(p.problem, ScriptRates(0.5, 0.05, 0.2)) == "correct" for p in problems),
        "weak_truncated": sum(scripted_outcome(p.problem, ScriptRates(0.5, 0.05, 0.2)) == "truncated"
                              for p in problems),
    }
    return db, expected


def test_report_html_is_self_contained_with_charts_and_numbers(run_cli, two_runs, tmp_path: Path) -> None:
    db, expected = two_runs
    out = tmp_path / "report.html"
    result = run_cli("report", "strong", "weak", "qwen", "--store", str(db), "--output", str(out))
    assert result.code == 0, result.err
    html = out.read_text(encoding="utf-8")
    doc = parse(html)
    assert doc.external == []  # nothing fetched from anywhere
    assert "http://" not in "".join(doc.scripts) and "https://" not in "".join(doc.scripts)
    assert doc.tags["svg"] >= 8  # heatmaps (3), level lines, subject bars, policies, forest, histograms, ...
    for element in ("headline-table", "gap", "breakdown", "distributions", "browser", "samples-data", "failures"):
        assert element in doc.ids, element
    assert f"{100 * expected['strong'] / 40:.1f}%" in html and f"({expected['strong']}/40)" in html
    assert f"{100 * expected['weak'] / 40:.1f}%" in html
    # strong vs weak compared on their 40 shared problems; qwen shares none with them (said so, not compared)
    assert html.count("class='pair-row'") == 1 and "comparison" in doc.ids
    assert f"strong only: {expected['strong'] - expected['weak']}</summary>" in html  # the weak script's subset
    assert "qwen: the runs share no graded problem" in html or "vs qwen: the runs share no graded problem" in html
    # heatmap cells carry accuracy and counts; level chart points carry CIs
    assert "accuracy by subject x level" in html and "Accuracy vs level (95% CI)" in html
    # the published MATH-500 figures for Qwen2.5-7B-Instruct, and the policies table
    assert "77.6" in html and "77.1" in html and "https://arxiv.org/abs/2504.07086" in html
    assert "<td class='num'>1/6</td>" in html and "<td class='num'>2/6</td>" in html  # minerva, hendrycks
    data = json.loads(html.split("id='samples-data'>", 1)[1].split("</script>", 1)[0])
    assert len(data["samples"]) == 86 and [r["name"] for r in data["runs"]] == ["strong", "weak", "qwen"]
    verdicts = [s["v"] for s in data["samples"] if s["r"] == 0]
    assert verdicts.count("correct") == expected["strong"]
    assert sum(s["fin"] == "length" for s in data["samples"] if s["r"] == 1) == expected["weak_truncated"]


def test_report_bad_input(run_cli, tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    write_run(db, "strong", "m", _items(CASES[:2]))
    r = run_cli("report", "nope", "--store", str(db), "--output", str(tmp_path / "x.html"))
    assert r.code == 2 and r.err.startswith("error: no run 'nope'")
    r = run_cli("report", "strong", "--store", str(db), "--output", str(tmp_path / "missing" / "x.html"))
    assert r.code == 2 and "cannot write" in r.err and "Traceback" not in r.err


# -- headless Chromium ----------------------------------------------------------------------------------------


class Browser:
    """A minimal W3C WebDriver client for chromedriver (no selenium needed)."""

    def __init__(self, profile: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = subprocess.Popen([shutil.which("chromedriver") or "chromedriver", f"--port={port}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                self._call("GET", "/status")
                break
            except OSError:
                time.sleep(0.1)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}", "--window-size=1300,1800"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": shutil.which("chromium") or "chromium", "args": args}}}}
        self.sid = self._call("POST", "/session", caps)["value"]["sessionId"]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        req = urllib.request.Request(self.base + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())

    def get(self, url: str) -> None:
        self._call("POST", f"/session/{self.sid}/url", {"url": url})

    def js(self, script: str, *args: Any) -> Any:
        return self._call("POST", f"/session/{self.sid}/execute/sync", {"script": script, "args": list(args)})["value"]

    def console(self) -> list[dict[str, Any]]:
        return self._call("POST", f"/session/{self.sid}/se/log", {"type": "browser"})["value"]

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self._call("GET", f"/session/{self.sid}/screenshot")["value"]))

    def close(self) -> None:
        try:
            self._call("DELETE", f"/session/{self.sid}")
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("headless Chromium not installed (Debian packages chromium, chromium-driver)")
    b = Browser(tmp_path / "chrome-profile")
    try:
        yield b
    finally:
        b.close()


_STATE = """
return {ready: document.body.getAttribute('data-ready'), svgs: document.querySelectorAll('svg').length,
        shown: document.querySelectorAll('#samples .sample').length, count: document.getElementById('count').textContent,
        headline: document.getElementById('headline-table').innerText,
        gap: document.getElementById('gap').parentElement.innerText.length};
"""
_FILTER = """
var sel = document.getElementById(arguments[0]); sel.value = arguments[1];
sel.dispatchEvent(new Event('change'));
return {count: document.getElementById('count').textContent,
        verdicts: Array.from(document.querySelectorAll('#samples .sample > div > span:first-child')).map(
            function(e){ return e.textContent; })};
"""


def test_report_renders_in_headless_chromium(run_cli, two_runs, browser: Browser, tmp_path: Path) -> None:
    db, expected = two_runs
    out = tmp_path / "report.html"
    assert run_cli("report", "strong", "weak", "qwen", "--store", str(db), "--output", str(out)).code == 0
    browser.get(out.as_uri())
    state = browser.js(_STATE)
    assert state["ready"] == "1"
    assert state["svgs"] >= 8
    assert state["shown"] == 50 and state["count"].startswith("86 of 86 samples")
    assert f"{100 * expected['strong'] / 40:.1f}%" in state["headline"]
    # filter: run 'strong', verdict 'correct' -> exactly the scripted correct answers
    browser.js(_FILTER, "f-run", "0")
    got = browser.js(_FILTER, "f-verdict", "correct")
    assert got["count"].startswith(f"{expected['strong']} of 86 samples")
    assert set(got["verdicts"]) == {"correct"}
    errors = [e for e in browser.console() if e.get("level") == "SEVERE"]
    assert errors == []
    shot = tmp_path / "report.png"
    browser.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


@pytest.mark.slow
def test_report_with_5000_samples_stays_usable(browser: Browser, tmp_path: Path, math500_path: Path,
                                               run_cli) -> None:
    rows = [json.loads(line) for line in math500_path.read_text(encoding="utf-8").splitlines()]
    items = []
    for i, r in enumerate(rows):
        responses = []
        for k in range(10):
            ok = (i * 7 + k * 3) % 10 < 7
            responses.append((r["solution"][:1200] + (f" So $\\boxed{{{r['answer']}}}$." if ok else " \\boxed{999}"),
                              ok, "stop"))
        items.append({"pid": r["unique_id"], "subject": r["subject"], "level": r["level"], "gold": r["answer"],
                      "problem": r["problem"], "responses": responses})
    db = tmp_path / "big.db"
    write_run(db, "big", "Qwen/Qwen2.5-7B-Instruct", items, samples=10)
    out = tmp_path / "big.html"
    started = time.monotonic()
    assert run_cli("report", "big", "--store", str(db), "--output", str(out)).code == 0
    build_s = time.monotonic() - started
    size_mb = out.stat().st_size / 1e6
    started = time.monotonic()
    browser.get(out.as_uri())
    state = browser.js(_STATE)
    while state["ready"] != "1" and time.monotonic() - started < 20:  # a loaded CI machine renders slower
        time.sleep(0.2)
        state = browser.js(_STATE)
    load_s = time.monotonic() - started
    print(f"5000-sample report: {size_mb:.1f} MB, built in {build_s:.1f}s, loaded in {load_s:.2f}s")
    assert state["ready"] == "1", browser.console()
    assert state["count"].startswith("5000 of 5000 samples; page 1 of 100")
    assert size_mb < 15 and load_s < 10
    t0 = time.monotonic()
    got = browser.js(_FILTER, "f-verdict", "incorrect")
    assert got["count"].startswith("1500 of 5000") and time.monotonic() - t0 < 3
    assert [e for e in browser.console() if e.get("level") == "SEVERE"] == []


def test_report_shows_judge_scores_and_agreement(run_cli, tmp_path: Path) -> None:
    from mathgauge.grading import Verdict
    from mathgauge.store import Store

    from test_report_compare import base_config

    db = tmp_path / "j.db"
    cfg = base_config()
    cfg["grader"] = "judge"
    rules = [True, True, False, False]
    judge = [5, 2, 4, 1]
    items = [{"pid": f"p{i}", "subject": "Algebra", "level": 1, "gold": "1",
              "responses": [("\\boxed{1}" if ok else "\\boxed{2}", ok, "stop")]} for i, ok in enumerate(rules)]
    write_run(db, "judged", "m", items, config=cfg)
    with Store(db) as store:
        run = store.get_run("judged")
        for r in store.sample_results(run.run_id):
            attempt_id = store.attempts_for(run.run_id, r.problem_id, r.sample_index)[0]["attempt_id"]
            score = judge[int(r.problem_id[1:])]
            v = Verdict(correct=score >= 4, extracted=r.extracted, normalized=None, normalized_gold=None,
                        method="judge", reason=None if score >= 4 else "mismatch")
            store.add_grade(run.run_id, r.problem_id, 0, attempt_id, v, grader="judge", score=score, marks_done=False)
            store.add_grade(run.run_id, r.problem_id, 0, attempt_id, v, grader="final", marks_done=True)
    out = tmp_path / "j.html"
    assert run_cli("report", "judged", "--store", str(db), "--output", str(out)).code == 0
    html = out.read_text(encoding="utf-8")
    assert "judged: judge score distribution" in html
    assert "4 judged; agreement 50.0% over 4 scored (Cohen&#39;s kappa 0.000); 2 disagreements" in html
    assert "class='judge-matrix'" in html


def test_model_text_cannot_inject_markup(run_cli, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    evil = "<script>alert(1)</script><!-- </script><img src=x onerror=alert(2)>"
    write_run(db, "x<b>", "m<i>", [{"pid": "p<1>", "subject": "Algebra", "level": 1, "gold": "</script>",
                                    "responses": [(evil, False, "stop")]}])
    out = tmp_path / "x.html"
    assert run_cli("report", "x<b>", "--store", str(db), "--output", str(out)).code == 0
    html = out.read_text(encoding="utf-8")
    doc = parse(html)
    assert doc.tags.get("script") == 2 and doc.tags.get("img") is None and doc.tags.get("b") is None
    data = json.loads(html.split("id='samples-data'>", 1)[1].split("</script>", 1)[0])
    assert data["samples"][0]["resp"] == evil and data["problems"]["p<1>"]["gold"] == "</script>"
