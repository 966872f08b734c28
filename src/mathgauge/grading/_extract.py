"""Final-answer extraction, one small function per answer format.

Thinking traces are never graded: text up to the last ``</think>`` is dropped,
and a response whose ``<think>`` block never closes has no final answer.

Each format first applies its own rule; when that finds nothing, the ``auto``
chain is tried (the labelling convention is "the last answer the response
commits to"), except for ``raw`` which always returns the whole response.

``auto`` tries, in order: ``think_answer_tags`` (an ``<answer>`` tag after the
thinking), ``json_answer_field`` (the last JSON ``answer`` field that is not a
placeholder such as ``"___"``), ``boxed``, ``final_answer_line`` ("The final
answer is X", "The answer is X") and ``answer_line`` ("ANSWER: X") within the
last 8 lines, a concluding statement in the last 5 lines ("Therefore, the value
of n is 3.", "The midpoint is (-1, 6).") unless the response stops mid-sentence
(taken as cut off: no answer), and finally ``raw`` when the whole response is a
short bare answer. ``program_output`` is only used when asked for.

Only the last 200,000 characters after the thinking are searched, and every
pattern is linear in the text, so extraction stays fast on adversarial input.
"""

from __future__ import annotations

import json
import re

ANSWER_FORMATS: tuple[str, ...] = (
    "auto",
    "boxed",
    "final_answer_line",
    "answer_line",
    "json_answer_field",
    "think_answer_tags",
    "program_output",
    "raw",
)

MAX_SCAN_CHARS = 200_000  # only the end of a very long response is searched
MAX_ANSWER_CHARS = 2000  # longer "answers" are cut here (and rejected as too_large later)


def check_format(answer_format: str) -> str:
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(
            f"unknown answer_format {answer_format!r}; valid formats: {', '.join(ANSWER_FORMATS)}"
        )
    return answer_format


# ---------------------------------------------------------------- thinking

_SPECIAL_TOKEN_RE = re.compile(r"<\|[a-z_]{1,40}\|>")


def strip_thinking(response: str) -> str:
    """Drop the thinking trace; an unclosed ``<think>`` leaves nothing."""
    if "<|" in response:
        response = _SPECIAL_TOKEN_RE.sub("\n", response)
    idx = response.rfind("</think>")
    if idx >= 0:
        return response[idx + len("</think>"):]
    if "<think>" in response:
        return ""
    return response


# ---------------------------------------------------------------- boxed

_BOX_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")


MAX_BOX_CHARS = 4000


_BRACE_RE = re.compile(r"\\.|[{}]", re.S)


def _braced(text: str, start: int) -> tuple[str, int] | None:
    """``text[start] == '{'``: return (content, end index) of the balanced group."""
    depth = 0
    n = min(len(text), start + MAX_BOX_CHARS)
    for m in _BRACE_RE.finditer(text, start, n):
        c = m.group(0)
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:m.start()], m.end()
    if n < len(text):
        # still open after MAX_BOX_CHARS: an over-long answer (rejected later as too_large)
        return text[start + 1:n], n
    return None


def _box_at(text: str, m: re.Match) -> tuple[str, int] | None:
    i = m.end()
    while i < len(text) and text[i] in " \t":
        i += 1
    if i < len(text) and text[i] == "{":
        got = _braced(text, i)
        if got is None:
            return None
        content, end = got
    else:
        if i == m.end():
            return None
        m2 = re.match(r"[^\s$\\]+|\\[A-Za-z]+", text[i:i + 200])
        if not m2:
            return None
        content, end = m2.group(0), i + m2.end()
    content = content.strip()
    return (content, end) if content else None


def extract_boxed(text: str) -> str | None:
    """Last ``\\boxed{}``/``\\fbox{}``; several different boxes on the last box's line are joined."""
    if "\\boxed" not in text and "\\fbox" not in text:
        return None
    boxes = []  # (start, end, content), outermost boxes only
    for m in list(_BOX_RE.finditer(text))[-64:]:
        if boxes and m.start() < boxes[-1][1]:
            continue  # nested inside the previous box
        got = _box_at(text, m)
        if got is not None:
            boxes.append((m.start(), got[1], got[0]))
    if not boxes:
        return None
    last_start = boxes[-1][0]
    line_start = text.rfind("\n", 0, last_start) + 1
    found: list[str] = []
    for start, _, content in boxes:
        if start >= line_start and content not in found:
            found.append(content)
    ans = ", ".join(found)
    for _ in range(3):  # \boxed{\boxed{5}}
        inner = _boxes_only(ans)
        if inner is None:
            break
        ans = inner
    return ans


def _boxes_only(s: str) -> str | None:
    m = re.match(r"\\(?:boxed|fbox)\s*\{", s)
    if not m:
        return None
    got = _braced(s, m.end() - 1)
    if got is None or s[got[1]:].strip():
        return None
    return got[0].strip() or None


# ---------------------------------------------------------------- final answer line

_FINAL_RE = re.compile(
    r"(?:final\s+answer|the\s+answer)\s*(?:is|:)\s*:?\s*(.+)", re.IGNORECASE
)
_HOPE_RE = re.compile(r"\.?\s*I hope it is correct\.?\s*$", re.IGNORECASE)


def _clean_line_answer(ans: str) -> str | None:
    ans = _HOPE_RE.sub("", ans).strip()
    box = extract_boxed(ans)
    if box is not None:
        return box
    ans = ans.strip().strip("*").strip()
    ans = re.sub(r"[.;,]\s*$", "", ans).strip()
    if ans.startswith("$") and ans.endswith("$") and len(ans) > 1:
        ans = ans.strip("$").strip()
    plain = _MATH_DELIMS.sub(" ", ans).strip()
    if plain != ans and not _looks_like_bare_answer(ans):
        ans = _strip_trailing_words(plain)
    elif re.match(r"[A-Za-z]{2,}\s", ans):
        ans = _strip_trailing_words(ans)
    return ans or None


def extract_final_answer_line(text: str) -> str | None:
    """"Final Answer: The final answer is X. I hope it is correct." / "The answer is X"."""
    last = None
    for m in _FINAL_RE.finditer(text):
        last = m
    if last is None:
        return None
    ans = last.group(1)
    for _ in range(3):
        inner = _FINAL_RE.search(ans)
        if inner is None:
            break
        ans = inner.group(1)
    return _clean_line_answer(ans)


_ANSWER_LINE_RE = re.compile(r"^[ \t*#]*answer[ \t*]*:[ \t*]*(.*\S.*)$", re.IGNORECASE | re.MULTILINE)


def extract_answer_line(text: str) -> str | None:
    """``ANSWER: X`` on its own line (the last one)."""
    last = None
    for m in _ANSWER_LINE_RE.finditer(text):
        last = m
    if last is None:
        return None
    return _clean_line_answer(last.group(1))


# ---------------------------------------------------------------- json

_JSON_KEY_RE = re.compile(r"[\"'](?:final_?)?answer[\"']\s*:\s*", re.IGNORECASE)


def _json_string(text: str, i: int) -> str | None:
    quote = text[i]
    j = i + 1
    n = len(text)
    while j < n:
        c = text[j]
        if c == "\\":
            j += 2
            continue
        if c == quote:
            break
        j += 1
    else:
        return None
    raw = text[i + 1:j]
    if quote == '"':
        try:
            val = json.loads('"' + raw + '"')
            # JSON turns LaTeX like "\frac" into a form feed + "rac"; keep raw text then
            if not any(ch in val for ch in "\f\b\t\r\n\x0b") or "\\\\" in raw:
                return val
        except ValueError:
            pass
    return raw.replace('\\"', '"').replace("\\\\", "\\").replace("\\'", "'")


def extract_json_answer(text: str) -> str | None:
    """The ``answer`` field of the last JSON object that has one."""
    matches = list(_JSON_KEY_RE.finditer(text))
    for m in reversed(matches):
        i = m.end()
        if i >= len(text):
            continue
        if text[i] in "\"'":
            val = _json_string(text, i)
            if val is None:
                continue
        else:
            m2 = re.match(r"[^,}\n]+", text[i:])
            if not m2:
                continue
            val = m2.group(0)
        val = val.strip()
        if val and val.lower() not in ("null", "none") and not _PLACEHOLDER_RE.match(val):
            return val
    return None


_PLACEHOLDER_RE = re.compile(r"^(?:[_.…\s-]+|<[^<>]{0,60}>|your answer.*|answer here)$", re.I)


# ---------------------------------------------------------------- think / answer tags



def extract_answer_tags(text: str) -> str | None:
    """Content of the last non-empty ``<answer>...</answer>`` (after thinking), reduced to its answer."""
    low = text.lower()
    pos = len(low)
    for _ in range(32):
        i = low.rfind("<answer>", 0, pos)
        if i < 0:
            break
        j = low.find("</answer>", i)
        content = text[i + len("<answer>"):j if j >= 0 else len(text)]
        if content.strip() and not _PLACEHOLDER_RE.match(content.strip()):
            return answer_from_statement(content[-4000:])
        pos = i
    if pos != len(low):
        return None
    # a closing tag after some other opening (<Solve> ... </answer>)
    end = low.rfind("</answer>")
    if end < 0:
        return None
    start = max(text.rfind(">", 0, end) + 1, end - 1000)
    return answer_from_statement(text[start:end])


# ---------------------------------------------------------------- program output

_OUTPUT_RE = re.compile(r"```output\s*\n(.*?)(?:```|$)", re.DOTALL)


def extract_program_output(text: str) -> str | None:
    """Last printed value: last non-empty line of the last ```output block, else of the text."""
    blocks = _OUTPUT_RE.findall(text)
    src = blocks[-1] if blocks else text
    lines = [ln.strip() for ln in src.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    return lines[-1]


# ---------------------------------------------------------------- statements

_MATH_DELIMS = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$+")
_STATEMENT_RES = [
    re.compile(r".*(?:answer|result)\s+(?:is|would be|will be|should be)\s*:?\s*(.+)", re.I),
    re.compile(r".*?(\S+)\s+is\s+(?:indeed\s+)?(?:the\s+)?(?:correct|final|right)\s+(?:answer|solution|result)", re.I),
    re.compile(r".*(?:=|\\equiv|\\approx|≈)\s*([^=]+)$"),
    re.compile(r".*\b(?:is|are|equals?|was|be|gives|get|as|becomes|has|have)\s*:?\s+(.+)", re.I),
]
_LEADING_WORDS_RE = re.compile(r"^(?:(?:indeed|exactly|just|approximately|about|equal to|definitely|simply|"
                               r"also|still|then|now|therefore|thus|so|me|us|that|the|a|an|value|of)\b[\s,:]*)+",
                               re.I)
_NUM_THEN_WORDS_RE = re.compile(r"^(-?\d[\d,]*(?:\.\d+)?)\s+(?:[A-Za-z][A-Za-z-]{2,})(?:\s|$).*$")


_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19", "twenty": "20",
}
_NUMBER_WORD_RE = re.compile(r"^(" + "|".join(_NUMBER_WORDS) + r")\b(?=\s+[A-Za-z])", re.I)
_WORDS_BEFORE_NUMBER_RE = re.compile(r"^(?:[A-Za-z]{2,}\s+){1,5}(?=-?\d[\d,.]*(?:\s+[A-Za-z]{2,}|$))")


def _strip_trailing_words(ans: str) -> str:
    ans = ans.strip().strip("*").strip()
    ans = re.sub(r"\s*(?:\\pmod\{[^}]*\}|\(\s*mod[^)]*\))\s*$", "", ans)
    ans = re.sub(r"^.*\b(?:is|are|was|equals)\s+(?=\S)", "", ans)
    ans = _LEADING_WORDS_RE.sub("", ans).strip()
    m = _WORDS_BEFORE_NUMBER_RE.match(ans)
    if m and not any(w.lower() in _MATH_WORDS or w.lower() in ("not", "no", "never", "nor") for w in m.group(0).split()):
        ans = ans[m.end():]
    ans = _NUMBER_WORD_RE.sub(lambda mm: _NUMBER_WORDS[mm.group(1).lower()], ans)
    m = _NUM_THEN_WORDS_RE.match(ans)
    if m and not re.match(r"^\S+\s+(?:" + "|".join(_MATH_WORDS) + r")\b", ans):
        ans = m.group(1)
    ans = re.sub(r"[,;:]\s*(?:which|and|so|as|since|because|where)\b.*$", "", ans)
    return ans.strip()


def answer_from_statement(text: str) -> str | None:
    """Reduce a sentence like "The volume is 65 cubic units." to its answer."""
    text = text.strip()
    if not text:
        return None
    box = extract_boxed(text)
    if box is not None:
        return box
    if "\\boxed" in text or "?" in text[-200:]:
        return None  # only empty boxes, or a question: nothing committed
    text = _collapse_display_math(text)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    last = lines[-1] if lines else text
    if len(last) <= 3 and len(lines) > 1:
        last = lines[-2] + " " + last
    last = last[-600:]  # statements are short; keeps the regexes linear
    m = _TRAILING_MATH_RE.search(last)
    if m:
        return (m.group(1) or m.group(2)).strip()
    m = _INLINE_ANSWER_RE.search(last)
    if m:
        cand = _clean_line_answer(_MATH_DELIMS.sub(" ", m.group(1)).strip(" }"))
        if cand:
            return cand
    plain = _MATH_DELIMS.sub(" ", last).strip()
    plain = re.sub(r"\*\*|__", "", plain)
    plain = re.sub(r"^(?:\\text\{\s*)?answer\s*:?\s*\}?\s*", "", plain, flags=re.I)
    plain = re.sub(r"[.!]\s*$", "", plain).strip()
    if _looks_like_bare_answer(plain):
        return plain
    sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", plain) if s.strip()]
    for sent in reversed(sentences):
        sent = re.sub(r"[.!]\s*$", "", sent.strip())
        for rx in _STATEMENT_RES:
            m = rx.match(sent)
            if m:
                cand = _strip_trailing_words(m.group(1))
                cand = re.sub(r"[.!]\s*$", "", cand).strip()
                if cand and (re.search(r"[\d\\]", cand) or len(cand.split()) <= 2):
                    return cand
        if re.search(r"\d", sent):
            break
    return plain if len(plain) <= 40 else None


_INLINE_ANSWER_RE = re.compile(r"answer\s*:\s*\}?(.{1,300})$", re.I)
_TRAILING_MATH_RE = re.compile(
    r"(?:\b(?:is|are|be|equals)|:)\s*(?:\*\*)?\s*(?:\$+([^$]{1,500})\$+|\\\((.{1,500}?)\\\))\s*(?:\*\*)?\s*[.!]?\s*(?:\*\*)?$"
)
_DISPLAY_RE = re.compile(r"\s*(?:\\\[(.{0,2000}?)\\\]|\$\$(.{0,2000}?)\$\$)\s*", re.S)


def _collapse_display_math(text: str) -> str:
    """Put display math on the line of the sentence that introduces it."""
    if "\\[" not in text and "$$" not in text:
        return text
    return _DISPLAY_RE.sub(lambda m: " $" + " ".join((m.group(1) or m.group(2) or "").split()) + "$\n", text)


_BARE_RE = re.compile(r"^[\s\dA-Za-z\\{}()\[\]^_+\-*/.,=<>|!:;'√π°%$&]*$")


def _looks_like_bare_answer(s: str) -> bool:
    if not s or len(s) > 200:
        return False
    if not _BARE_RE.match(s):
        return False
    words = re.findall(r"(?<![\\A-Za-z])[A-Za-z]{3,}", s)
    words = [w for w in words if w.lower() not in _MATH_WORDS]
    return len(words) <= 1 and not re.search(r"\b(?:is|are|the|of|so|and|then)\b", s, re.I)


_MATH_WORDS = {"sqrt", "frac", "dfrac", "tfrac", "pi", "sin", "cos", "tan", "cot", "sec", "csc", "log",
               "ln", "exp", "infty", "text", "mbox", "mathrm", "cdot", "times", "left", "right",
               "pmatrix", "bmatrix", "begin", "end", "circ", "cup", "cap", "pm", "mp", "le", "ge",
               "leq", "geq", "neq", "in", "dots", "ldots", "cdots", "arcsin", "arccos", "arctan"}


_CONCLUDE_RE = re.compile(
    r"(?:\b(?:therefore|thus|hence|so|finally|consequently|in conclusion)\b|answer|=)", re.I
)


def extract_conclusion(text: str) -> str | None:
    """A concluding statement in the last lines of an unmarked response.

    A response that stops mid-sentence (no closing punctuation) is taken as cut
    off and has no answer.
    """
    body = text[-3000:].rstrip()
    if not body:
        return None
    tail = body[-1]
    if tail not in ".!$)]}*" and not body.endswith("\\]"):
        return None
    body = _collapse_display_math(body)
    lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
    for ln in reversed(lines[-5:]):
        if ln.startswith("```"):
            return None
        plain = _MATH_DELIMS.sub(" ", ln).strip(" .*")
        if not re.search(r"[\d\\]", plain) or plain.endswith(":") or re.match(r"^\d+\.\s+[A-Z]", plain):
            continue
        ans = answer_from_statement(ln)
        if ans:
            return ans
        if not _CONCLUDE_RE.search(ln):
            return None
    return None


def _last_line_raw(text: str) -> str | None:
    s = text.strip()
    if s and len(s) <= 80 and "\n" not in s:
        s = _MATH_DELIMS.sub(" ", s).strip().rstrip(".").strip()
        return s if s and _looks_like_bare_answer(s) else None
    return None


# ---------------------------------------------------------------- dispatch

def _final_answer_line_tail(text: str) -> str | None:
    """``final_answer_line`` restricted to the last lines (auto mode)."""
    tail = text[-1500:]
    lines = tail.rstrip().splitlines()
    return extract_final_answer_line("\n".join(lines[-8:]))


def _answer_line_tail(text: str) -> str | None:
    """``answer_line`` restricted to the last lines (auto mode)."""
    lines = text[-1500:].rstrip().splitlines()
    return extract_answer_line("\n".join(lines[-8:]))


def _auto(text: str, skip=None) -> str | None:
    for fn in (
        extract_answer_tags,
        extract_json_answer,
        extract_boxed,
        _final_answer_line_tail,
        _answer_line_tail,
        extract_conclusion,
        _last_line_raw,
    ):
        if fn is skip:
            continue
        ans = fn(text)
        if ans:
            return ans
    return None


_PRIMARY = {
    "boxed": extract_boxed,
    "final_answer_line": extract_final_answer_line,
    "answer_line": extract_answer_line,
    "json_answer_field": extract_json_answer,
    "think_answer_tags": extract_answer_tags,
    "program_output": extract_program_output,
}


def extract_final_answer(response: str, answer_format: str = "auto") -> str | None:
    """Extract the final answer text from ``response`` (``None`` when there is none)."""
    check_format(answer_format)
    if response is None:
        return None
    if answer_format == "raw":
        ans = response.strip()
        return ans[:MAX_ANSWER_CHARS + 1] or None
    text = strip_thinking(response)
    if len(text) > MAX_SCAN_CHARS:
        text = text[-MAX_SCAN_CHARS:]  # the final answer is near the end
    if not text.strip():
        return None
    ans = None
    primary = _PRIMARY.get(answer_format)
    if primary is not None:
        ans = primary(text)
    if not ans:
        ans = _auto(text, skip=primary)
    if ans is None:
        return None
    ans = ans.strip()
    if len(ans) > MAX_ANSWER_CHARS:
        ans = ans[:MAX_ANSWER_CHARS + 1]
    return ans or None
