"""Final-answer extraction, one small function per answer format.

The response is cleaned first (:func:`prepare_response`): invisible characters dropped, a leaked chat turn
(``<|im_start|>user ...``) cut off, the thinking trace removed (a ``<think>`` block that never closes leaves no
answer), and only the last :data:`._limits.MAX_SCAN_CHARS` characters kept.

Each format applies its own rule; when that finds nothing, the ``auto`` chain is tried (the labelling
convention is "the last answer the response commits to"), except for ``raw``, which is always the whole
response (a lone ``$...$``/``\\[...\\]``/``\\boxed{}`` wrapper removed).

``auto`` tries, in order: ``think_answer_tags`` (an ``<answer>`` tag, also with a mangled or missing tag, or
a JSON object inside), ``json_answer_field`` (the last JSON ``answer`` field that is not a placeholder),
``boxed`` (the last box; a "Final Answer: ..." sentence after it wins), a response that is one math span, the
final-answer sentence ("The final answer is X") and the answer line ("ANSWER: X", "#### X") within the last
lines once trailing code blocks and tool transcripts are set aside, and finally a concluding statement
(:func:`._prose.find_conclusion`). ``program_output`` is only used when asked for.

Every pattern is linear in the text, so extraction stays fast on adversarial input.
"""

from __future__ import annotations

import html
import json
import re
from functools import lru_cache

from ._boxed import final_box, last_boxed
from ._limits import MAX_EXTRACT_CHARS, MAX_SCAN_CHARS
from ._prose import (answer_from_statement, clean_answer, drop_conclusion_word, find_conclusion, first_sentence,
                     looks_like_bare_answer, trim_tail)
from ._text import cut_chat_leak, remove_invisible, strip_thinking

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


def check_format(answer_format: str) -> str:
    """Return ``answer_format`` when it is known; raise ``ValueError`` naming the valid formats otherwise."""
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(
            f"unknown answer_format {answer_format!r}; valid formats: {', '.join(ANSWER_FORMATS)}"
        )
    return answer_format


_SCRIPT_RE = re.compile(r"<script[^>]{0,80}>|</script>", re.I)


_ESCAPED_TAG_RE = re.compile(r"&lt;/?(?:answer|think)&gt;", re.I)
#: A LaTeX dollar sign (``\$5``), not a math delimiter; ``\\$`` is a line break, then a delimiter.
_LITERAL_DOLLAR_RE = re.compile(r"(?<!\\)\\\$")


def prepare_response(response: str) -> str:
    """The part of a response that can hold its final answer (see the module docstring)."""
    text = strip_thinking(cut_chat_leak(remove_invisible(response)))
    if len(text) > MAX_SCAN_CHARS:
        text = text[-MAX_SCAN_CHARS:]
    if "<script" in text:
        text = _SCRIPT_RE.sub("$", text)  # <script type="math/tex">x</script> is math
    if "\\$" in text:
        # Currency is dropped when answers are compared anyway; read as a delimiter it would cut every math span
        # that holds it (``$\$1,\!250$``) in two.
        text = _LITERAL_DOLLAR_RE.sub(" ", text)
    return text


# ---------------------------------------------------------------- boxed

_FINAL_RE = re.compile(r"(?:final\s+answer|the\s+answer)\s*(?:is|:)\s*:?\s*(.+)", re.I)
_FINAL_AFTER_BOX_RE = re.compile(r"final\s+answer\s*(?:is|:)\s*:?\s*(?:the\s+final\s+answer\s+is\s*:?\s*)?(.+)",
                                 re.I)


def extract_boxed(text: str) -> str | None:
    """The last box (other boxes on its line joined), unless a "Final Answer:" sentence follows it."""
    found = final_box(text)
    if found is None:
        return None
    box, end = found
    after = text[end:end + 2000]
    m = _FINAL_AFTER_BOX_RE.search(after) if "inal" in after else None
    if m:
        stated = clean_answer(first_sentence(m.group(1).split("\n")[0]))
        if stated and (re.search(r"[\d\\]", stated) or len(stated.split()) == 1):
            return stated
    return box


# ---------------------------------------------------------------- final answer and answer lines

def extract_final_answer_line(text: str) -> str | None:
    """"Final Answer: The final answer is X. I hope it is correct." / "The answer is X" (the last one)."""
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
    return clean_answer(first_sentence(ans))


_ANSWER_LINE_RE = re.compile(r"^[ \t*#>]*(?:answer[ \t*]*[:=]|####)[ \t*]*(.*\S.*)$", re.I | re.M)
_ANSWER_MIDLINE_RE = re.compile(r"\bANSWER[ \t]*:[ \t]*(\S.*)$", re.M)


_ASSIGNMENT_RE = re.compile(r"[ \t]*answer[ \t]*=", re.I)


def _in_code_block(text: str, at: int) -> bool:
    """Whether ``at`` lies inside a fenced code block, in a text that may start inside one (the last lines of a
    response): an odd number of fences on either side."""
    if "```" not in text:
        return False
    return text.count("```", 0, at) % 2 == 1 or text.count("```", at) % 2 == 1


def extract_answer_line(text: str) -> str | None:
    """``ANSWER: X`` (or ``#### X``) on its own line, the last one; else an upper-case ``ANSWER:`` in a line."""
    last = None
    for m in _ANSWER_LINE_RE.finditer(text):
        if not (_ASSIGNMENT_RE.match(m.group(0)) and _in_code_block(text, m.start())):
            last = m  # "answer = n" in a program is code; 'Answer: "7"' in a JSON block is the answer
    if last is None:
        for m in _ANSWER_MIDLINE_RE.finditer(text):
            last = m
    if last is None:
        return None
    content = last.group(1)
    if len(content.split()) >= 8 and text[last.end():].strip():
        # "Answer: To find the volume, we use ..." opens a solution that goes on below: its conclusion answers
        found = find_conclusion(text[last.start(1):])
        if found:
            return found
    return clean_answer(content)


@lru_cache(maxsize=8)
def _tails(text: str, lines: int = 12, chars: int = 3000) -> tuple[str, ...]:
    """The last lines of the response, then the last lines once trailing code blocks and tool transcripts are
    set aside (a committed answer followed by a verification program still stands). Cached: the final-answer
    and the answer-line readers both look at them."""
    tails = ["\n".join(text[-chars:].splitlines()[-lines:])]
    trimmed = trim_tail(text[-chars * 4:])
    if len(trimmed) < min(len(text), chars * 4) - 2:
        tails.append("\n".join(trimmed[-chars:].splitlines()[-lines:]))
    return tuple(tails)


_STRONG_FINAL = ("Final Answer:", "final answer is", "Final answer is", "FINAL ANSWER:")


_NEW_QUESTION_RE = re.compile(r"^[ \t*#]*(?:\d{1,2}[.)]\s+\S|(?:question|problem|exercise)\s*\d*\s*[:.])", re.I | re.M)


def _final_answer_line_tail(text: str) -> str | None:
    """"The answer is X" in the last lines; else the last "Final Answer: ..." sentence anywhere (a committed
    final answer stands whatever trails it: notes, code, a tool transcript). Not when a numbered item or a
    new question follows it: the response went on to answer something else (its last statement decides)."""
    for tail in _tails(text):
        if "answer" not in tail and "Answer" not in tail and "ANSWER" not in tail:
            continue
        m = None
        for m in _FINAL_RE.finditer(tail):
            pass
        if m is not None:
            if _NEW_QUESTION_RE.search(tail, tail.find("\n", m.end()) + 1 or len(tail)):
                return None
            found = extract_final_answer_line(tail)
            if found:
                return found
    start = max(text.rfind(marker) for marker in _STRONG_FINAL)
    return extract_final_answer_line(text[start:start + 3000]) if start >= 0 else None


def _answer_line_tail(text: str) -> str | None:
    tails = [t for t in _tails(text) if "nswer" in t or "NSWER" in t or "####" in t]
    return next((a for a in map(extract_answer_line, tails) if a), None)


# ---------------------------------------------------------------- json

_JSON_KEY_RE = re.compile(r"[\"'](?:final_?)?answer[\"']\s*:\s*", re.I)
_PLACEHOLDER_RE = re.compile(r"^(?:[_.…\s-]+|<[^<>]{0,60}>|your answer.*|answer here|\.\.\.)$", re.I)


def _json_string(text: str, i: int) -> str | None:
    quote = text[i]
    j, n = i + 1, len(text)
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
            # JSON turns LaTeX like "\frac" into a form feed + "rac"; keep the raw text then
            if not any(ch in val for ch in "\f\b\t\r\n\x0b") or "\\\\" in raw:
                return val
        except ValueError:
            pass
    return raw.replace('\\"', '"').replace("\\\\", "\\").replace("\\'", "'")


_DECODER = json.JSONDecoder()
_BRACKETED_RE = re.compile(r"\[[^\[\]\n]{0,2000}\]")


def _json_bare_value(text: str, i: int) -> str | None:
    """The text of an unquoted JSON value at ``text[i]``: a number, a word, or a list of values (``[1, 2]`` ->
    ``1, 2``: a list of answers)."""
    if text[i] == "[":
        try:
            value, _ = _DECODER.raw_decode(text[i:i + 4000])
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, (int, float)) or isinstance(v, str) and v.isprintable()
                                           for v in value):
            return ", ".join(str(v) for v in value)
        # a Python-style list (['1', '2']), or LaTeX that JSON escapes would garble ("\frac" is a form feed)
        m = _BRACKETED_RE.match(text, i)
        return m.group(0)[1:-1].replace("'", "").replace('"', "").replace("\\\\", "\\") if m else None
    m = re.match(r"[^,}\n]+", text[i:i + 2000])
    return m.group(0) if m else None


def extract_json_answer(text: str) -> str | None:
    """The ``answer`` field of the last JSON object that has one (placeholders such as ``"___"`` skipped)."""
    if "nswer" not in text and "NSWER" not in text:
        return None
    for m in reversed(list(_JSON_KEY_RE.finditer(text))[-64:]):
        i = m.end()
        if i >= len(text):
            continue
        if text[i] in "\"'":
            val = _json_string(text, i)
            if val is None:
                continue
        else:
            val = _json_bare_value(text, i)
            if val is None:
                continue
        val = val.strip()
        if val and val.lower() not in ("null", "none") and not _PLACEHOLDER_RE.match(val):
            return unwrap_math(val)
    return None


# ---------------------------------------------------------------- answer tags

_OPEN_TAG_RE = re.compile(r"<\s*answer\s*>", re.I)
_CLOSE_TAG_RE = re.compile(r"<\s*/\s*answer\s*>?|<\s*\\\s*answer\s*>|<answer\s*/>|(?<![<\w/])answer>", re.I)


_FENCE_RE = re.compile(r"^```[\w+-]*[ \t]*\n?(.*?)\n?```$", re.S)


def _tag_content(content: str) -> str | None:
    content = content.strip()
    if not content or _PLACEHOLDER_RE.match(content):
        return None
    if content.startswith("{") or content.startswith("```"):
        inner = extract_json_answer(content)
        if inner:
            content = inner
        else:
            fence = _FENCE_RE.match(content)
            if fence:
                content = fence.group(1).strip()  # "```\n7\n```": the block's text
    if "\n\n" in content.strip():
        found = find_conclusion(content)  # several paragraphs: the concluding one, afterthoughts skipped
        if found:
            return found
    return answer_from_statement(content[-4000:])


def extract_answer_tags(text: str) -> str | None:
    """The last non-empty ``<answer>...</answer>`` (after the thinking), reduced to its answer.

    A missing closing tag runs to the end (or to the next opener: a closer written as ``<answer>``); a closer
    without an opener (``... 42</answer>``) is read back to the previous tag or paragraph; a mangled
    ``answer> 42`` at the end opens a tag; a JSON object inside is read by its ``answer`` field.
    """
    if "nswer>" not in text and "NSWER>" not in text and "nswer >" not in text:
        return None
    opens = list(_OPEN_TAG_RE.finditer(text))[-32:]
    for k in range(len(opens) - 1, -1, -1):
        o = opens[k]
        close = _CLOSE_TAG_RE.search(text, o.end())
        end = close.start() if close else None
        if k + 1 < len(opens) and (end is None or opens[k + 1].start() < end):
            end = opens[k + 1].start()  # "<answer>42<answer>": a closer written as an opener
        content = text[o.end():end] if end is not None else trim_tail(text[o.end():])
        got = _tag_content(content)
        if got:
            return got
    if opens:
        return None
    closes = list(_CLOSE_TAG_RE.finditer(text))
    if not closes:
        return None
    last = closes[-1]
    after = text[last.end():].strip()
    if not last.group(0).startswith("<") and after and "\n" not in after[:200]:
        got = _tag_content(after.split("\n")[0])  # a mangled opener "answer> 42" at the end
        if got:
            return got
    start = max(text.rfind(">", 0, last.start()) + 1, text.rfind("\n\n", 0, last.start()) + 1,
                last.start() - 1000)
    return _tag_content(text[start:last.start()])


# ---------------------------------------------------------------- whole-response shapes

_OUTPUT_RE = re.compile(r"```output\s*\n(.*?)(?:```|$)", re.DOTALL)
_LONE_MATH_RE = re.compile(r"^(?:\$\$(.+)\$\$|\$([^$]+)\$|\\\[(.+)\\\]|\\\((.+)\\\))$", re.S)


def extract_program_output(text: str) -> str | None:
    """Last printed value: the last non-empty line of the last ```output block, else of the text."""
    blocks = _OUTPUT_RE.findall(text)
    src = blocks[-1] if blocks else text
    lines = [ln.strip() for ln in src.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else None


def unwrap_math(s: str) -> str:
    """``$x$``, ``$$x$$``, ``\\[x\\]``, ``\\(x\\)`` or ``\\boxed{x}`` that is the whole text -> ``x``."""
    s = s.strip()
    m = _LONE_MATH_RE.match(s)
    if m:
        inner = next(g for g in m.groups() if g is not None)
        if "$" not in inner:
            s = inner.strip()
    if s.startswith("\\boxed") or s.startswith("\\fbox"):
        box = last_boxed(s)
        if box is not None and len(box) >= len(s) - 12:
            s = box
    return s


_CHOICE_LINE_RE = re.compile(r"^\(?([A-E])[.):]\s")


def _whole_math(text: str) -> str | None:
    """A response that is only one math span (``$...$``, ``$$...$$``, ``\\[...\\]``), a short bare answer, or
    one line that starts with a choice letter ("D. it can't be A or B")."""
    s = text.strip()
    if not s or len(s) > 2000:
        return None
    m = _CHOICE_LINE_RE.match(s)
    if m and "\n" not in s and len(s) <= 200:
        return m.group(1)
    inner = unwrap_math(s)
    if inner != s:
        return inner or None
    if "\n" not in s and len(s) <= 80:
        plain = drop_conclusion_word(re.sub(r"\\\(|\\\)|\\\[|\\\]|\$+", " ", s).strip().rstrip(".").strip())
        return plain if looks_like_bare_answer(plain) else None
    return None


# ---------------------------------------------------------------- dispatch

def _auto(text: str, skip=None) -> str | None:
    for fn in (extract_answer_tags, extract_json_answer, extract_boxed, _final_answer_line_tail, _answer_line_tail,
               _whole_math, find_conclusion):
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
    """Extract the final answer text from ``response``.

    Args:
        response: the model's whole response.
        answer_format: one of :data:`ANSWER_FORMATS`.

    Returns:
        The answer text (at most :data:`._limits.MAX_EXTRACT_CHARS` characters), or ``None`` when the response
        commits to no answer.
    """
    check_format(answer_format)
    if response is None:
        return None
    if answer_format == "raw":
        whole = unwrap_math(remove_invisible(response))
        return whole[:MAX_EXTRACT_CHARS] or None
    text = prepare_response(response)
    if not text.strip():
        return None
    primary = _PRIMARY.get(answer_format)
    ans = primary(text) if primary is not None else None
    if not ans:
        ans = _auto(text, skip=primary)
    if ans is None:
        if "&lt;" in response and _ESCAPED_TAG_RE.search(response):
            return extract_final_answer(html.unescape(response), answer_format)  # stored HTML-escaped
        return _thought_answer(response, answer_format)
    ans = ans.strip()
    return ans[:MAX_EXTRACT_CHARS] or None


_END_OF_THOUGHT = "<|end_of_thought|>"


def _thought_answer(response: str, answer_format: str) -> str | None:
    """A response in the visible-thought format (``<|begin_of_thought|> ... <|end_of_thought|>
    <|begin_of_solution|> ...``) whose solution commits to nothing (cut off while restating): the thought's
    committed answer stands, as its boxes already do."""
    cut = response.find(_END_OF_THOUGHT)
    return extract_final_answer(response[:cut], answer_format) if cut >= 0 else None
