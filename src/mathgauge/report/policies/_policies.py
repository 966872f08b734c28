"""Alternative grading policies that emulate what peer harnesses do, to measure how much a score depends on the
grader alone. Written for mathgauge (no peer code): each policy is ``policy(text, gold, answer_format=None) ->
bool``, given the text mathgauge graded and the answer format it graded it in.

Each policy reads a prose answer its own way (below). A text whose format states the answer without prose (a
program's printed output: ``program_output``, ``raw``) is not prose: peer harnesses that run programs take the
printed value as the answer, so every policy reads it as mathgauge does for that format (the last printed line)
and only compares it its own way.

* ``minerva``: the answer is what the Minerva sentence "Final Answer: The final answer is X. I hope it is
  correct." commits to, normalised (``$``, ``\\text``, units, spaces, ``\\dfrac``), then compared as strings.
  Responses that do not use that sentence score 0, as in Minerva-prompted harnesses.
* ``hendrycks``: the last ``\\boxed{}`` and the MATH paper's style of string cleaning (spaces, ``\\left``,
  ``\\right``, ``\\dfrac``, degrees, dollars, units, ``0.5`` vs ``.5``, ``\\frac12``, ``a/b``), exact string equality.
* ``lenient``: the last ``\\boxed{}``, else the "answer is" sentence, else the last number in the text; numbers
  (integers, decimals, fractions, percentages) equal within a relative tolerance of 1e-2 (absolute 1e-6 near 0);
  otherwise case-insensitive cleaned string equality.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from fractions import Fraction

from ...grading import extract_final_answer, last_boxed, strip_thinking

#: Answer formats whose text states the answer without prose (a program's output): read as the format says.
STATED_FORMATS = ("program_output", "raw")


def _strip_thinking(text: str) -> str:
    # peers' graders read everything when a trace never closes: keep it then
    return strip_thinking(text, keep_unclosed=True)


def _answer(text: str, answer_format: str | None, read_prose: Callable[[str], str | None]) -> str | None:
    """The answer a policy compares: the format's own where the format is not prose, else the policy's reading."""
    if answer_format in STATED_FORMATS:
        return extract_final_answer(text, answer_format)
    return read_prose(text)


# -- hendrycks-style cleaning ------------------------------------------------------------------------------------
def _fix_fracs(s: str) -> str:
    # \frac12 -> \frac{1}{2}; \frac1{2} -> \frac{1}{2}
    out = []
    parts = s.split("\\frac")
    out.append(parts[0])
    for part in parts[1:]:
        out.append("\\frac")
        if part.startswith("{"):
            out.append(part)
            continue
        if len(part) < 2:
            out.append(part)
            continue
        a, rest = part[0], part[1:]
        if rest.startswith("{"):
            out.append("{" + a + "}" + rest)
        else:
            out.append("{" + a + "}{" + rest[0] + "}" + rest[1:])
    return "".join(out)


def _fix_slash(s: str) -> str:
    m = re.fullmatch(r"(-?\d+)/(\d+)", s)
    return f"\\frac{{{m.group(1)}}}{{{m.group(2)}}}" if m else s


def _fix_sqrt(s: str) -> str:
    return re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)


def hendrycks_clean(s: str) -> str:
    s = s.replace("\n", "").replace("\\!", "")
    s = s.replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "")
    s = s.replace("\\$", "").replace("$", "")
    s = re.sub(r"\\text\{\s*[a-zA-Z ]*\}$", "", s.strip()) if re.search(r"\d", s) else s
    s = s.replace("\\%", "").replace("%", "")
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if s.startswith("."):
        s = "0" + s
    if len(s.split("=")) == 2 and len(s.split("=")[0].strip()) <= 2:
        s = s.split("=")[1]
    s = _fix_sqrt(s)
    s = s.replace(" ", "")
    s = _fix_fracs(s)
    if s == "0.5":
        s = "\\frac{1}{2}"
    s = _fix_slash(s)
    return s


def hendrycks_policy(response: str, gold: str, answer_format: str | None = None) -> bool:
    """hendrycks-style: the last ``\\boxed{}``, cleaned, equal as strings.

    Args:
        response: the graded text.
        gold: the reference answer.
        answer_format: the format it was graded in (`STATED_FORMATS` are read as mathgauge reads them).
    """
    got = _answer(response or "", answer_format, lambda text: last_boxed(_strip_thinking(text)))
    if got is None:
        return False
    return hendrycks_clean(got) == hendrycks_clean(gold)


# -- minerva-style -----------------------------------------------------------------------------------------------
_MINERVA_RE = re.compile(r"Final Answer:\s*The final answer is\s*(.+?)\.?\s*I hope it is correct", re.IGNORECASE)
_UNIT_WORDS = ("square units", "units", "sq units", "degrees", "degree", "cm", "meters", "inches", "feet",
               "dollars", "cents", "mph", "hours", "minutes", "seconds", "points", "inch", "foot", "mm")


def minerva_clean(ans: str) -> str:
    s = ans.strip()
    s = s.split("=")[-1] if "=" in s else s
    s = re.sub(r"\\text\{(.*?)\}", r"\1", s)
    s = re.sub(r"\\textbf\{(.*?)\}", r"\1", s)
    s = re.sub(r"\\mbox\{(.*?)\}", r"\1", s)
    for word in _UNIT_WORDS:
        s = re.sub(rf"(\d)\s*(\\\s*)?{word}\b", r"\1", s)
    s = s.replace("$", "").replace("\\%", "").replace("%", "").replace("^\\circ", "").replace("^{\\circ}", "")
    s = s.replace("dfrac", "frac").replace("tfrac", "frac").replace("\\left", "").replace("\\right", "")
    s = re.sub(r"(\\frac)(\d)(\d)", r"\1{\2}{\3}", s)
    s = re.sub(r"(\\sqrt)(\d+)", r"\1{\2}", s)
    s = s.replace(" ", "").rstrip(".")
    if re.fullmatch(r"-?[\d,]+", s) and "," in s and all(len(g) == 3 for g in s.lstrip("-").split(",")[1:]):
        s = s.replace(",", "")
    return s


def _minerva_answer(text: str) -> str | None:
    found = _MINERVA_RE.findall(_strip_thinking(text))
    if not found:
        return None
    got = found[-1].strip()
    boxed = last_boxed(got)
    return got if boxed is None else boxed


def minerva_policy(response: str, gold: str, answer_format: str | None = None) -> bool:
    """Minerva-style: the answer of the "Final Answer: The final answer is X." sentence, normalised, equal as
    strings (args as `hendrycks_policy`)."""
    got = _answer(response or "", answer_format, _minerva_answer)
    if got is None:
        return False
    return minerva_clean(got) == minerva_clean(gold)


# -- lenient tolerance -------------------------------------------------------------------------------------------
_NUM_RE = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def parse_number(s: str) -> float | None:
    t = s.strip().replace("$", "").replace("\\!", "").replace(" ", "")
    t = re.sub(r"\\text\{.*?\}", "", t).replace("\\%", "").replace("%", "").replace("^\\circ", "")
    t = t.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    t = t.rstrip(".")
    if "=" in t:
        t = t.split("=")[-1]
    m = re.fullmatch(r"(-?)\\frac\{(-?\d+)\}\{(\d+)\}", t) or re.fullmatch(r"(-?)\\frac(\d)(\d)", t)
    if m:
        den = int(m.group(3))
        if den == 0:
            return None
        v = float(Fraction(int(m.group(2)), den))
        return -v if m.group(1) else v
    m = re.fullmatch(r"(-?\d+)/(\d+)", t)
    if m and int(m.group(2)) != 0:
        return float(Fraction(int(m.group(1)), int(m.group(2))))
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", t):
        t = t.replace(",", "")
    try:
        return float(t)
    except ValueError:
        return None


def _lenient_extract(text: str) -> str | None:
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    m: list[str] = re.findall(r"answer is[:\s]*\$?([^\n$]+?)\$?(?:\.\s|\.$|\n|$)", text, re.IGNORECASE)
    if m:
        return m[-1]
    nums: list[str] = _NUM_RE.findall(text)
    return nums[-1] if nums else None


def lenient_policy(response: str, gold: str, answer_format: str | None = None) -> bool:
    """Lenient: boxed, else "answer is", else the last number; numbers within a relative 1e-2 (args as
    `hendrycks_policy`)."""
    got = _answer(response or "", answer_format, lambda text: _lenient_extract(_strip_thinking(text)))
    if got is None:
        return False
    a, b = parse_number(got), parse_number(gold)
    if a is not None and b is not None:
        return abs(a - b) <= max(1e-6, 1e-2 * abs(b))
    return _loose(got) == _loose(gold)


def _loose(s: str) -> str:
    """hendrycks-cleaned, without spaces and braces, lower case."""
    return re.sub(r"[\s{}]", "", hendrycks_clean(s)).lower()


#: A policy: (graded text, reference answer, the text's answer format) -> correct.
Policy = Callable[[str, str, str | None], bool]

POLICIES: dict[str, tuple[str, Policy]] = {
    "minerva": ("Minerva-style 'Final Answer: The final answer is X. I hope it is correct.' sentence, normalised "
                "string match", minerva_policy),
    "hendrycks": ("hendrycks-style last \\boxed{}, cleaned exact string match", hendrycks_policy),
    "lenient": ("lenient: boxed / 'answer is' / last number, numeric tolerance 1e-2", lenient_policy),
}

#: which policy is closest to a published source's grader (registry ``grader_kind``), when one is.
CLOSEST_POLICY = {"prm800k": "rules", "llm-judge": "lenient", "math-verify": "rules", "qwen-math": "rules",
                  "sympy-em": "rules", "opencompass": "hendrycks"}
