"""Answers stated in prose: reducing a sentence to its answer, and finding the concluding statement of a
response that marks no answer.

:func:`answer_from_statement` reads one statement ("The volume is 65 cubic units." -> ``65``, "So 9.6 is the
correct sum of 4.1 and 5.5." -> ``9.6``, "Hence $y \\le 4$ is the solution." -> ``y \\le 4``).
:func:`find_conclusion` walks back over the last paragraphs of a response, skipping afterthoughts (a
double-check, a closing remark) and trailing code or tool transcripts, to the last statement that commits to
an answer; a response that stops mid-sentence is cut off and has none.
"""

from __future__ import annotations

import re

from ._boxed import last_boxed

_MATH_DELIMS = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$+")
_HOPE_RE = re.compile(r"[.!]?\s*I hope (?:it|this|that) (?:is correct|helps)[.!]?\s*$", re.I)
_CONTRACTIONS = (("it's", "it is"), ("that's", "that is"), ("It's", "It is"), ("That's", "That is"),
                 ("what's", "what is"), ("What's", "What is"))

# ---------------------------------------------------------------- cleaning a captured answer

_LEADING_WORDS_RE = re.compile(
    r"^(?:(?:indeed|exactly|just|approximately|about|equal to|definitely|simply|clearly|for sure|surely|"
    r"also|still|then|now|therefore|thus|so|me|us|that|the|a|an|value|of|given by|as follows)\b[\s,:]*)+", re.I)
# a number then words ("65 cubic units"), not then another value ("4 objects and 4/9 remain": two values)
_NUM_THEN_WORDS_RE = re.compile(r"^(-?\d+(?:,\d{3})*(?:\.\d+)?)\s+(?:(?!(?:and|or)\b)[A-Za-z][A-Za-z-]{2,})"
                                r"(?:\s(?!.*\b(?:and|or)\s+-?\d)|$).*$")
_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14",
    "fifteen": "15", "sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19", "twenty": "20",
}
_NUMBER_WORD_RE = re.compile(r"^(" + "|".join(_NUMBER_WORDS) + r")\b(?=\s+(?!hundred|thousand|million|billion|and\b)"
                             r"[A-Za-z])", re.I)
_WORDS_BEFORE_NUMBER_RE = re.compile(r"^(?:[A-Za-z]{2,}\s+){1,5}(?=-?\d[\d,.]*(?:\s+[A-Za-z]{2,}|$))")
_MOD_SUFFIX_RE = re.compile(r"\s*(?:\\pmod\{[^}]*\}|\(\s*mod[^)]*\)|\\pmod\s*\d+)\s*$")
_TRAILING_CLAUSE_RE = re.compile(r"[,;:]\s*(?:which|and so|so|as|since|because|where|it|but|not|i|we|this)\b.*$"
                                 # a restatement: ", approximately 5.66", " (i.e., 1/2)", ", that is 0.5"
                                 r"|\s*[,;(]\s*(?:i\.\s?e\.|e\.\s?g\.|that is|approximately|approx\.|about|roughly|"
                                 r"around|or about|equivalently|in decimal)(?![A-Za-z]).*$", re.I)
_PROSE_TAIL_RE = re.compile(r",\s+(?![^,]*\d)(?:[a-z']+\s+){2,}[a-z']+.*$")
_FILLER_WORDS = {"the", "a", "an", "final", "correct", "right", "answer", "solution", "result", "it", "this", "that",
                 "yes", "no", "true", "false", "done", "wrong", "incorrect", "unclear", "here", "below", "above",
                 "following", "as", "follows", "not", "is", "my", "our", "clearly", "highlighted", "shown",
                 "boxed", "given", "indeed", "all", "i", "need", "to", "do", "verified", "confirmed", "consistent",
                 "accurate", "valid", "checked", "same", "unchanged", "also"}
MATH_WORDS = {"sqrt", "frac", "dfrac", "tfrac", "pi", "sin", "cos", "tan", "cot", "sec", "csc", "log",
              "ln", "exp", "infty", "text", "mbox", "mathrm", "cdot", "times", "left", "right",
              "pmatrix", "bmatrix", "begin", "end", "circ", "cup", "cap", "pm", "mp", "le", "ge",
              "leq", "geq", "neq", "in", "dots", "ldots", "cdots", "arcsin", "arccos", "arctan", "mod", "pmod"}
_NEGATIONS = ("not", "no", "never", "nor")


def strip_trailing_words(ans: str) -> str:
    """Reduce a captured phrase to its answer: ``the value of 65 cubic units`` -> ``65``."""
    ans = re.sub(r"[ \t]{2,}", " ", ans.strip().strip("*").strip())  # removed math delimiters leave double spaces
    ans = _MOD_SUFFIX_RE.sub("", ans)
    clause = _RELATIVE_CLAUSE_RE.search(ans) if "," in ans else None
    if clause and re.search(r"[\d\\]", ans[:clause.start()]):
        ans = ans[:clause.start()]  # "12, which is divisible by 3": a remark on the value, not a new one
    ans = re.sub(r"^.*\b(?:is|are|was|equals)\s+(?=\S)", "", ans)
    ans = _LEADING_WORDS_RE.sub("", ans).strip()
    m = _WORDS_BEFORE_NUMBER_RE.match(ans)
    if m and not any(w.lower() in MATH_WORDS or w.lower() in _NEGATIONS for w in m.group(0).split()):
        ans = ans[m.end():]
    ans = _NUMBER_WORD_RE.sub(lambda mm: _NUMBER_WORDS[mm.group(1).lower()], ans)
    m = _NUM_THEN_WORDS_RE.match(ans)
    if m and not re.match(r"^\S+\s+(?:" + "|".join(MATH_WORDS) + r")\b", ans):
        ans = m.group(1)
    ans = _TRAILING_CLAUSE_RE.sub("", ans)
    ans = _PROSE_TAIL_RE.sub("", ans)
    ans = ans.strip().strip("*").strip()
    if ans.endswith(")") and ans.count(")") + ans.count("]") > ans.count("(") + ans.count("["):
        ans = ans[:-1].rstrip()  # "(35 + 70 = 105)." read from its "=": "105)" -> "105"
    return ans


_BARE_RE = re.compile(r"^[\s\dA-Za-z\\{}()\[\]^_+\-*/.,=<>|!:;'√π°%$&]*$")
_PROSE_WORDS = {"thus", "so", "hence", "therefore", "answer", "final", "we", "get", "then", "is", "are", "the", "of",
                "and", "it", "this", "that", "result", "solution", "since", "because", "which", "where", "when",
                "for", "with", "to", "be", "was", "has", "have", "gives", "equals", "value", "our", "my", "its",
                "assistant", "user", "note", "step", "find", "let", "if", "not", "no", "yes"}


def looks_like_bare_answer(s: str) -> bool:
    """Short, mathematical, at most one plain word that is not prose: ``(3, -1)``, ``x = 5``, ``12 cm``."""
    if not s or len(s) > 200 or not _BARE_RE.match(s) or not re.search(r"[\dA-Za-z]", s):
        return False
    words = [w.lower() for w in re.findall(r"(?<![\\A-Za-z])[A-Za-z]{2,}", s)]
    words = [w for w in words if w not in MATH_WORDS]
    return len(words) <= 1 and not any(w in _PROSE_WORDS for w in words)


# what separates listed values: a comma (not a thousands separator: "32,253.99"), "and", "or"
_VALUE_SEP_RE = re.compile(r"\s*(?:,(?!\d{3}(?!\d))|\band\b|\bor\b)\s*")


def _is_value_list(s: str) -> bool:
    """Several short values joined by commas, "and" or "or": ``x = 3 or x = -2``, ``1, 2 and 3``."""
    parts = [p for p in _VALUE_SEP_RE.split(s) if p.strip()]
    return len(parts) > 1 and all(len(p) <= 40 and looks_like_bare_answer(p) and not _has_words(p) for p in parts)


def _has_words(s: str) -> bool:
    return any(w.lower() not in MATH_WORDS for w in re.findall(r"(?<![\\A-Za-z])[A-Za-z]{2,}", s))


_BOLD_SPAN_RE = re.compile(r"(?:^|(?<=[\s$(]))\*\*([^*\s][^*]{0,200}?)\*\*(?=[\s$.,;:!)]|$)")
_LONE_PAREN_MATH_RE = re.compile(r"^\\\(((?:(?!\\[()]).)*)\\\)$|^\\\[((?:(?!\\[\[\]]).)*)\\\]$", re.S)


def clean_answer(ans: str) -> str | None:
    """Clean what follows "The answer is" / "Answer:": a box, ``$...$``, bold, trailing words and periods."""
    ans = ans.strip()
    if "**" in ans:
        if ans.count("**") % 2 and re.match(r"[^*\s]{1,40}\*\*(?:\s|$)", ans):
            ans = ans.replace("**", "", 1)  # "Answer:** **225** battalions": the opening marker went with the label
        ans = _BOLD_SPAN_RE.sub(r"\1", ans)  # "**225** battalions", "$**1.25**$ miles" (not 2**3: a power)
    if "hope" in ans[-60:]:
        ans = _HOPE_RE.sub("", ans).strip()
    box = last_boxed(ans, join_line=True)
    if box is not None:
        return box
    for _ in range(3):  # "**$\\frac34$**." : punctuation and bold in either order
        ans = re.sub(r"[.;,]\s*$", "", ans.strip().strip("*").strip()).strip()
    if ans.startswith("$") and ans.endswith("$") and len(ans) > 1 and "$" not in ans.strip("$"):
        ans = ans.strip("$").strip()
    lone = _LONE_PAREN_MATH_RE.match(ans)
    if lone:
        ans = (lone.group(1) or lone.group(2)).strip()  # "\\(4\\)" -> "4", as "$4$" -> "4"
    plain = _MATH_DELIMS.sub(" ", ans).strip()
    if plain != ans and not looks_like_bare_answer(ans):
        ans = strip_trailing_words(plain)
    elif re.match(r"[A-Za-z]{2,}\s", ans) or "," in ans:
        ans = strip_trailing_words(ans)
    if len(ans) > 3 and len(re.split(r"(?<=[.!])\s+(?=[A-Z])", ans)) > 1:
        reduced = answer_from_statement(ans)
        if reduced:
            ans = reduced  # "Answer: ... Therefore 9 mod 3 = 0." -> 0
    if not ans or _is_filler(ans):
        return None
    return ans


# ---------------------------------------------------------------- one statement

_FINAL_ANSWER_RE = re.compile(r"(?:final\s+answer|the\s+answer)\s*(?:is|:)\s*:?\s*(.+)", re.I)
_ANSWER_IS_RE = re.compile(
    r"(?:answer|result|option|choice)\s+(?:is|would be|will be|should be)\s*:?\s*(.+)"
    r"|\b(?:choose|pick|select|go with)\s+(?:option|choice|answer)?\s*:?\s*(\(?[A-Ea-e]\)?)"
    r"(?![\w']|\s*[-=<>+*/^])", re.I)
_NUMBER_TOKEN = r"(?<![\w.,/])-?\d[\d.,/]{0,40}%?"
_MATH_SPAN = r"\$+[^$]{1,500}?\$+|\\\(.{1,500}?\\\)|\*\*[^*]{1,200}\*\*"
_SUBJECT_IS_RE = re.compile(
    rf"(?P<subj>{_MATH_SPAN}|{_NUMBER_TOKEN}|\([A-Ea-e]\)|\b[A-Z])\s+is\s+(?:indeed\s+|clearly\s+|also\s+|"
    r"therefore\s+|then\s+|thus\s+)?(?:the|our|my)\s+(?:only\s+|correct\s+|right\s+|final\s+|required\s+|"
    r"desired\s+|exact\s+)*(?:answer|solution|result|value|number|sum|product|total|option|choice|"
    r"remainder|probability|area|length|count)\b|"
    rf"(?P<subj2>{_MATH_SPAN}|{_NUMBER_TOKEN}|\([A-Ea-e]\)|\b[A-Z])\s+is\s+(?:indeed\s+)?(?:the\s+)?"
    r"(?:correct|right|final)\b", re.I)
_TRAILING_MATH_RE = re.compile(
    r"(?:\b(?:is|are|be|was|equals?|get|gets|got|obtain|obtained|find|found|have|has|gives?|yields?|"
    r"becomes?|conclude|that|to|as|at|thus|therefore|so|hence)[,:]?|[:=])\s*(?:\*\*)?\s*"
    r"(?:\$+([^$]{1,500})\$+|\\\((.{1,500}?)\\\))\s*(?:\*\*)?\s*[.!]?\s*(?:\*\*)?$")
_BOLD_RE = re.compile(r"\*\*([^*]{1,200})\*\*")
_EQUALS_END_RE = re.compile(r".*(?:=|\\equiv|≡|\\approx|≈)\s*([^=]+)$")
_IS_CLAUSE_RE = re.compile(r".*\b(?:is|are|equals?|was|be|gives|get|got|as|becomes|has|have)\s*:?\s+(.+)", re.I)
_CONCLUDE_START_RE = re.compile(
    r"^(?:\**\s*)?(?:(?:therefore|thus|hence|so|finally|consequently|in conclusion|in total|in summary|overall|"
    r"this means|the answer|the final answer|answer)\b|∴|\$?\\therefore\b|=>|⇒|⟹|"
    r"\$?\\(?:Rightarrow|implies)\b)", re.I)
_NUMBER_RE = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?![\w.]*\d)")
_INLINE_ANSWER_RE = re.compile(r"answer\s*:\s*\}?(.{1,300})$", re.I)


def _expand(s: str) -> str:
    for a, b in _CONTRACTIONS:
        if a in s:
            s = s.replace(a, b)
    return s


def _is_filler(s: str) -> bool:
    """Only filler words ("the final answer", "correct"): not an answer."""
    if _LONE_LETTER_RE.match(s):
        return False  # "A": a choice letter, not the article
    words = re.findall(r"[A-Za-z']+", s.lower())
    return not re.search(r"[\d\\]", s) and all(w in _FILLER_WORDS for w in words)


_LONE_LETTER_RE = re.compile(r"^\s*\**\(?[A-E]\)?\**\s*[.!]?\s*$")


def _acceptable(cand: str | None) -> str | None:
    if not cand:
        return None
    cand = re.sub(r"[.!]\s*$", "", cand).strip().strip("*").strip()
    if not cand or _is_filler(cand):
        return None
    if re.search(r"[\d\\]", cand) or len(cand.split()) <= 2:
        return cand
    return None


def _rule_answer_is(sent: str) -> str | None:
    m = _FINAL_ANSWER_RE.search(sent) or _ANSWER_IS_RE.search(sent)
    return _acceptable(clean_answer(m.group(m.lastindex or 1))) if m else None


def _rule_subject_is(sent: str) -> str | None:
    m = _SUBJECT_IS_RE.search(sent) if " is " in sent else None
    if not m:
        return None
    subj = (m.group("subj") or m.group("subj2")).strip("*").strip()
    if subj.startswith("$") or subj.startswith("\\("):
        subj = _MATH_DELIMS.sub(" ", subj).strip()
    return _acceptable(subj.rstrip(",").strip())


_VALUES_ARE_RE = re.compile(
    r"^(?:(?:so|thus|hence|therefore|in conclusion|finally),?\s+)?(?P<vals>.{1,200}?)\s+(?:are|is)\s+"
    r"(?:the|all the|our)\s+"
    r"(?:only\s+|possible\s+|real\s+|two\s+|three\s+|required\s+)*(?:solutions|roots|answers|values|zeros|zeroes)\b",
    re.I)


def _rule_values_are(sent: str) -> str | None:
    """"In conclusion, $x = -1$ and $x = 4$ are the solutions." -> the values, joined."""
    m = _VALUES_ARE_RE.match(sent) if " are " in sent or " is " in sent else None
    if not m:
        return None
    vals = _plain(m.group("vals"))
    if _is_value_list(vals):
        return ", ".join(p.strip() for p in _VALUE_SEP_RE.split(vals) if p.strip())
    return None


def _rule_trailing_math(sent: str) -> str | None:
    m = _TRAILING_MATH_RE.search(sent[-600:])
    return _acceptable((m.group(1) or m.group(2)).strip()) if m else None


def _rule_bold(sent: str) -> str | None:
    found = _BOLD_RE.findall(sent)
    if not found or not _CONCLUDE_START_RE.match(sent) and len(found) > 1:
        return None
    inner = _MATH_DELIMS.sub(" ", found[-1]).strip()
    return _acceptable(inner) if re.search(r"[\d\\]", inner) or len(inner) <= 3 else None


def _plain(sent: str) -> str:
    plain = _MATH_DELIMS.sub(" ", sent)
    plain = re.sub(r"\*\*|__", "", plain)
    return re.sub(r"[.!]\s*$", "", plain).strip()


_LAST_MATH_RE = re.compile(r"\$([^$]{1,500})\$\s*[.!]?\s*$")


def _rule_equals_end(sent: str) -> str | None:
    m = _EQUALS_END_RE.match(_plain(sent)[-600:])
    if not m:
        return None
    value = strip_trailing_words(m.group(1))
    if value == "0":
        last = _LAST_MATH_RE.search(sent)
        if last and re.search(r"[A-Za-z]", last.group(1).split("=")[0]):
            return last.group(1).strip()  # "It is the plane $2x+3y-z=0$.": the equation, not its zero side
    return _acceptable(value)


_VALUE_CLAUSE_RE = re.compile(
    r"\b(?:is|are|equals)\s+(\$[^$]{1,200}\$|-?\d[\d,./]*(?<![.,]))(?=\s*(?:,|;|\band\b|[.!]?\s*$))")


def _rule_several_values(sent: str) -> str | None:
    """"The square root of 64 is 8, and the cube root of 64 is 4." states two values: both are returned
    (compared as a list, so a single reference value does not match)."""
    if " and " not in sent:
        return None
    values = [v.strip("$ ") for v in _VALUE_CLAUSE_RE.findall(sent)]
    distinct = list(dict.fromkeys(values))
    return ", ".join(distinct) if len(distinct) > 1 else None


_LIST_MARKER_RE = re.compile(r"\b(?:are|is|be|were|get|obtain|find|gives?|yields?)\b|:|^(?:so|thus|hence|therefore),?",
                             re.I)


def _rule_value_list(sent: str) -> str | None:
    """"Therefore, x = 3 or x = -2." / "So the solutions are x=1 and x=2." -> all the values, joined."""
    plain = _plain(sent)
    for m in _LIST_MARKER_RE.finditer(plain):
        tail = plain[m.end():].strip()
        if len(tail) <= 200 and _is_value_list(tail):
            return ", ".join(p.strip() for p in _VALUE_SEP_RE.split(tail) if p.strip())
    return None


_NEGATED_VERB_RE = re.compile(r"\b(?:not|never|cannot|can't|won't|isn't|aren't|wasn't|couldn't|wouldn't|shouldn't)"
                              r"\s+(?:\w+\s+)?$", re.I)


def _rule_is_clause(sent: str) -> str | None:
    m = _IS_CLAUSE_RE.match(_plain(sent)[-600:])
    if not m or _NEGATED_VERB_RE.search(m.string, 0, m.start(1)):
        return None  # "It cannot be 7": a value ruled out
    return _acceptable(strip_trailing_words(m.group(1)))


# a value ruled out: "So the total would not be 7" (not "So, no matter how, I get 4")
_NEGATED_VALUE_RE = re.compile(r"\b(?:not|no|never|cannot|can't|won't|isn't|aren't|wasn't|doesn't|don't)\s+"
                               r"(?:[A-Za-z]+\s+){0,3}-?\d", re.I)


def _rule_single_number(sent: str) -> str | None:
    """A concluding sentence with one number and no math: "Therefore, Frank answered 56 questions correctly."""
    if not _CONCLUDE_START_RE.match(sent) or "$" in sent or "\\" in sent or _NEGATED_VALUE_RE.search(sent):
        return None
    nums = _NUMBER_RE.findall(sent)
    return nums[0] if len(nums) == 1 else None


_ANY_NEGATION_RE = re.compile(r"\b(?:not|never|cannot|can't|won't|isn't|aren't|wasn't|doesn't|don't|no)\b", re.I)
_MATH_SPAN_RE = re.compile(r"\$([^$]{1,200})\$|\\\((.{1,200}?)\\\)")
#: What a value written as math may hold: digits, operators, and the commands of numbers and units.
_MATH_VALUE_RE = re.compile(r"^(?:[\d\s.,+\-/^(){}%:!]|\\(?:d?t?frac|sqrt|pi|cdot|times|circ|%|!|,|;|left|right|"
                            r"infty|text\{[^{}]{0,30}\}|mathrm\{[^{}]{0,30}\}))+$")
#: After the value: a unit or an object ("minutes to catch the elephant"), not a new clause.
_NEW_CLAUSE_RE = re.compile(r"[,;:$]|\\\(|\b(?:is|are|was|were|equals?|but|and|or|so|if|then)\b", re.I)


def _rule_single_math(sent: str) -> str | None:
    """A concluding sentence whose one math span is a value, followed at most by a unit or an object: "Therefore
    she paid $\\$1,\\!250$ in total.", "Therefore, it will take the lion \\(12\\) minutes to catch it." (the verb
    is not one the other rules know; the value is the conclusion's)."""
    if not _CONCLUDE_START_RE.match(sent) or _ANY_NEGATION_RE.search(sent):
        return None  # "Thus $3$ cannot be right."
    spans = list(_MATH_SPAN_RE.finditer(sent))
    if len(spans) != 1 or sent.count("$") not in (0, 2):
        return None
    after = sent[spans[0].end():]
    if _NEW_CLAUSE_RE.search(after) or len(re.findall(r"[A-Za-z]+", after)) > 10:
        return None
    value = (spans[0].group(1) or spans[0].group(2)).strip()
    return value if re.search(r"\d", value) and _MATH_VALUE_RE.match(value) else None


_COUNT_RE = re.compile(
    r"\b(?:there\s+(?:are|is|were|was|will\s+be)|has|have|had)\s+(?:exactly\s+|only\s+|a\s+total\s+of\s+)?"
    r"(?:\$([^$]{1,40})\$|\\\((.{1,40}?)\\\)|(-?\d[\d,]*(?:\.\d+)?))(?=\s+(?:[A-Za-z]|\$[^$\d]))")


def _rule_count(sent: str) -> str | None:
    """"Therefore, there are $3$ two-digit integers that divide both 100 and 150.", "So the polygon has 15
    sides.": the count, whatever numbers the rest of the sentence names."""
    m = _COUNT_RE.search(sent) if _CONCLUDE_START_RE.match(sent) else None
    if not m or _ANY_NEGATION_RE.search(sent, 0, m.end()):
        return None  # "there are no ...", "there are not 3 ..." ("... so that they are not together" is fine)
    value = (m.group(1) or m.group(2) or m.group(3)).strip()
    return value if re.search(r"\d", value) and _MATH_VALUE_RE.match(value) else None


_RULES = (_rule_answer_is, _rule_subject_is, _rule_values_are, _rule_several_values, _rule_trailing_math, _rule_bold,
          _rule_count, _rule_value_list, _rule_equals_end, _rule_single_number, _rule_single_math, _rule_is_clause)
_RELATIVE_CLAUSE_RE = re.compile(r",\s*(?:which|since|because|as|so that|where|when|but|although|though|"
                                 r"assuming|given that|(?:and\s+)?(?:it\s+is\s+)?(?:achieved|attained|obtained|"
                                 r"reached|occurring|occurs|with equality))\b"
                                 # to the end of the sentence, not over a parenthetical's end (", is 3")
                                 r"(?:[^,.!?]|[.!?](?!\s)|,(?!\s*(?:is|are|was|equals)\b|\s*=))*$", re.I)


_CONCLUDE_WORD_RE = re.compile(r"^\W*(?:therefore|thus|hence|so|finally|consequently|then)\W*$", re.I)
_FRONTED_CLAUSE_RE = re.compile(r",\s*(?:when|if|since|as|because|given that|assuming)\b[^,]{1,120},\s*(?=\S)", re.I)
_WHICH_VALUE_RE = re.compile(r",\s*which\s+(?:is|are|equals|gives)\s+", re.I)


_SENTENCE_END_RE = re.compile(r"[.!]\s+(?=[A-Z\[(])")


def first_sentence(s: str) -> str:
    """Text up to the end of its first sentence ("$28\\%$. I hope it is correct. Note: ..." -> "$28\\%$.");
    a period inside ``$...$`` does not end it."""
    for m in _SENTENCE_END_RE.finditer(s):
        if s.count("$", 0, m.start()) % 2 == 0:
            return s[:m.start() + 1]
    return s


_ALIGN_RE = re.compile(r"\\begin\{(align|equation|gather|eqnarray|multline)(\*?)\}(.{0,3000}?)\\end\{\1\2\}", re.S)


def _last_aligned_statement(m: re.Match[str]) -> str:
    """An ``align``-like display as the display math of its last statement: rows that go on with ``&=`` belong
    to the statement above them (``AB + B &= 10 + 2 \\\\ &= 12`` is one chain)."""
    statements: list[str] = []
    for row in re.split(r"\\\\(?:\[[^\]]{0,20}\])?", m.group(3)):
        row = re.sub(r"\\(?:label|tag|nonumber|notag)(?:\{[^{}]*\})?", "", row).strip()
        if not row:
            continue
        if statements and re.match(r"&?\s*(?:=|\\le|\\ge|<|>|\\approx|\\equiv)", row):
            statements[-1] += " " + row
        else:
            statements.append(row)
    last = statements[-1].replace("&", " ") if statements else ""
    return "\\[" + last + "\\]"


def collapse_display_math(text: str) -> str:
    """Put display math on the line of the sentence that introduces it."""
    if "\\begin{" in text:
        text = _ALIGN_RE.sub(_last_aligned_statement, text)
    if "\\[" not in text and "$$" not in text:
        return text
    text = _BEFORE_DISPLAY_RE.sub(" ", text)
    return _DISPLAY_RE.sub(lambda m: " $" + " ".join((m.group(1) or m.group(2) or "").split()) + "$\n", text)


_BEFORE_DISPLAY_RE = re.compile(r"[ \t]*\n[ \t]*(?=\\\[|\$\$)")  # the line break before display math
_DISPLAY_RE = re.compile(r"(?:\\\[(.{0,2000}?)\\\]|\$\$(.{0,2000}?)\$\$)[ \t]*\n?", re.S)
_SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(*$\\])")


def _sentences(line: str) -> list[str]:
    """Sentences of a line; a period inside ``$...$`` does not end one."""
    if "$" not in line:
        return [s for s in _SENTENCE_SPLIT_RE.split(line) if s.strip()]
    out, buf = [], ""
    for piece in _SENTENCE_SPLIT_RE.split(line):
        buf = f"{buf} {piece}" if buf else piece
        if buf.count("$") % 2 == 0:
            out.append(buf)
            buf = ""
    if buf:
        out.append(buf)
    return [s for s in out if s.strip()]


def answer_from_statement(text: str, *, loose: bool = True) -> str | None:
    """Reduce a statement (a line, a tag's content, a sentence) to the answer it commits to.

    Args:
        text: the statement; when it has several lines, the last one that states something is read.
        loose: the text was marked as the answer (a tag, an answer line): a short plain phrase is an answer
            ("This equation represents an ellipse"). Otherwise a sentence without a value only counts when it
            says what the answer is ("the only correct option is (B) Ellipse").

    Returns:
        The answer text, or ``None`` when the statement commits to none (a question, an empty box, prose
        without a value).
    """
    text = text.strip()
    if "hope" in text[-60:]:
        text = _HOPE_RE.sub("", text).strip()
    if not text:
        return None
    box = last_boxed(text, join_line=True)
    if box is not None:
        return box
    if "\\boxed" in text or text.rstrip(" *$").endswith("?"):
        return None  # only empty boxes, or a question: nothing committed
    lines = [ln.strip() for ln in collapse_display_math(text).splitlines() if ln.strip()]
    last = lines[-1] if lines else text
    if len(last) <= 3 and len(lines) > 1 and not looks_like_bare_answer(last):
        last = lines[-2] + " " + last
    return _line_answer(last[-1200:], loose)


_FIRST_PERSON_RE = re.compile(r"^(?:i|i'm|we|let|let's|let me|yes|no|ok|okay|hmm|wait)\b", re.I)


_STRONG_RULES = (_rule_answer_is, _rule_subject_is)


_REJECTION_RE = re.compile(r"\b(?:not (?:correct|right|valid|possible|equal|an? (?:integer|solution|answer))|"
                           r"incorrect|wrong|invalid|impossible|contradiction|doesn't work|does not work)\b", re.I)
# a condition after a stated value: "The remainder is 3 when $2^{100}$ is divided by 7."
_CONDITION_RE = re.compile(r"(?<=[\d$}])\s+(?:when|whenever|if|once|after|provided)\s+[^=]*$", re.I)
_PUNCT_IN_MATH_RE = re.compile(r"([,;])\s*\$(?=\s|$)")


_ARROW_RE = re.compile(r"=>|⇒|⟹|∴|\\(?:Rightarrow|implies|therefore)(?![A-Za-z])")


_CONCLUSION_WORD_RE = re.compile(r"^(?:finally|therefore|thus|hence|so|then)\s*,\s*", re.I)


def drop_conclusion_word(plain: str) -> str:
    """``Finally, x = 5`` -> ``x = 5``: the word that marks a conclusion is not part of it."""
    return _CONCLUSION_WORD_RE.sub("", plain)


def _line_answer(line: str, loose: bool = True) -> str | None:
    if ",$" in line or ";$" in line:
        line = _PUNCT_IN_MATH_RE.sub(r"$\1", line)  # "is $\\sqrt{2},$ which ...": the comma ends the clause
    arrow = None
    for arrow in _ARROW_RE.finditer(line):
        pass
    if arrow is not None and line[arrow.end():].strip(" $.*"):
        line = line[arrow.end():]  # "2x = 14 => x = 7", "∴ x = 7": what the last implication concludes
    plain = _plain(line)
    plain = re.sub(r"^(?:\\text\{\s*)?(?:final answer|answer|assistant|solution|result)\s*[:=]?\s*\}?\s*"
                   r"|^=\s*|^#{1,4}\s+", "", plain, flags=re.I)
    plain = drop_conclusion_word(plain)
    if looks_like_bare_answer(plain) and (loose or _has_value(plain) or len(plain) <= 3):
        return plain
    m = _INLINE_ANSWER_RE.search(line)
    if m:
        cand = clean_answer(_MATH_DELIMS.sub(" ", m.group(1)).strip(" }"))
        if cand:
            return cand
    for sent in reversed(_sentences(line)):
        sent = _expand(sent.strip())
        clause = _RELATIVE_CLAUSE_RE.search(sent)
        if clause:
            if _REJECTION_RE.search(clause.group(0)):
                if re.search(r"\d", sent):
                    break  # "x = 0, but this is not correct": a value ruled out, nothing committed
                continue
            main = sent[:clause.start()]
            fronted = _FRONTED_CLAUSE_RE.match(clause.group(0)) if _CONCLUDE_WORD_RE.match(main) else None
            if fronted:
                # "Therefore, when $a = 4$, the value of $b$ is $0$.": the condition comes first, the statement after
                sent = main + ", " + clause.group(0)[fronted.end():]
            elif not (_WHICH_VALUE_RE.match(clause.group(0)) and re.search(r"[\d$\\]", clause.group(0))
                      and not re.search(r"[\d$\\]", main)):
                # A remark after the value ("12, which is even") is not the answer; but when the main clause only
                # names what is meant ("... our desired number, which is 5."), the value is the clause's.
                sent = main
        sent = _CONDITION_RE.sub("", sent)
        bare = _plain(sent)
        if looks_like_bare_answer(bare) and (loose or _has_value(bare) or len(bare) <= 3):
            return bare  # "The value is computed. 12"
        valued = (loose or _has_value(sent) or _CHOICE_IN_TEXT_RE.search(_plain(sent))
                  or _CONCLUDE_START_RE.match(sent))
        for rule in _RULES if valued else _STRONG_RULES:
            cand = rule(sent)
            if cand:
                return cand
        if re.search(r"\d", sent):
            break  # a statement with a value that is not a conclusion: nothing committed
    if loose and len(plain) <= 40 and not plain.endswith(":") and not _is_filler(plain) \
            and not _FIRST_PERSON_RE.match(plain):
        return plain
    return None


_CHOICE_IN_TEXT_RE = re.compile(r"\([A-E]\)|\b[A-E]\b(?=[.)]?\s*$)")


# ---------------------------------------------------------------- the end of a response

_TOOL_NOISE_RE = re.compile(
    r"[ \t]*(?:tool call limit reached|maximum (?:number of )?tool calls reached|<tool_(?:call|response)>.*|"
    r"</tool_(?:call|response)>|\[?(?:execution|code) (?:error|timed out)\]?.*)[ \t]*$", re.I)


def _drop_noise_line(text: str) -> str:
    """``text`` without its last line when that line is a tool-call notice."""
    start = text.rfind("\n") + 1
    return text[:start].rstrip() if _TOOL_NOISE_RE.match(text, start) else text


def trim_tool_noise(text: str) -> str:
    """Remove trailing tool-call notices ("Tool call limit reached")."""
    text = text.rstrip()
    for _ in range(5):
        cut = _drop_noise_line(text)
        if cut == text:
            break
        text = cut
    return text


def trim_tail(text: str) -> str:
    """Remove what trails a statement without committing a new answer: code blocks (closed, or left open at
    the end), program output, tool-call notices, and the line that introduces them ("Let me verify with
    code:")."""
    text = text.rstrip()
    for _ in range(12):
        before = text
        text = _drop_noise_line(text)
        if text.endswith("```"):
            opening = max(text.rfind("```", 0, len(text) - 3), 0)
            if _commits(text[opening:]):
                break  # the block states the answer ('Answer: "7"' in a JSON block)
            text = text[:opening].rstrip()
        elif text.count("```") % 2:
            text = text[:text.rfind("```")].rstrip()  # a block still open at the end (cut off)
        if text != before and text.endswith(":"):
            text = text[:text.rfind("\n") + 1].rstrip()  # "Let me verify with code:"
        if text == before:
            break
    return text


_AFTERTHOUGHT_RE = re.compile(
    r"^(?:\**\s*)?(?:let(?:'s| me| us)\s+(?:double[- ]?check|check|verify|confirm|make sure|quickly|also|"
    r"see if|recheck|re-check|re-?verify|plug|substitute)|to (?:double[- ]?check|check|verify|confirm|be sure)|"
    r"double[- ]?check|check(?:ing)?\b|verif(?:y|ication|ying)|i don't think|i do not think|i think\b|"
    r"i'm (?:confident|sure|pretty)|i am (?:confident|sure)|everything (?:checks|seems|looks)|this (?:confirms|matches|checks|is "
    r"consistent|makes sense|seems|looks)|that (?:confirms|matches|checks|makes sense|seems)|it (?:checks|"
    r"matches|makes sense)|yes,|alternatively|note:|just to|as a (?:check|sanity)|sanity check|the (?:check|"
    r"verification)|i (?:hope|think|believe) (?:this|that|it)|hope (?:this|that) helps|all (?:the )?steps)",
    re.I)
_COMMITS_RE = re.compile(r"\b(?:the (?:final )?answer is|final answer\s*(?:is|:)|answer:)\s*\S", re.I)
_VALUE_RE = re.compile(r"\d|\\(?![()\[\]])")


def _commits(text: str) -> bool:
    """States "the answer is ..." / "Final answer: ..."."""
    return ("nswer" in text or "NSWER" in text) and bool(_COMMITS_RE.search(text))


def _has_value(text: str) -> bool:
    """Holds a number or a LaTeX command (math delimiters aside)."""
    return bool(_VALUE_RE.search(text))
_CONNECTOR_END_RE = re.compile(
    r"(?:[-+*/=^_{(\[,:;&|<>\\]|\b(?:and|or|the|of|to|is|are|we|a|an|that|which|by|for|with|from|in|on|as|be|"
    r"then|so|because|since|let|if|when|get|gives|equals|plus|minus|times))\s*$", re.I)


_HEDGE_RE = re.compile(r"\b(?:maybe|perhaps|possibly|probably|might|could|guess|let me|let's)\b", re.I)


def _ends_complete(body: str) -> bool:
    """The response ends at the end of a sentence or of a math block (not cut off mid-sentence)."""
    tail = body.rstrip()
    if tail.endswith("$") and (tail[-2:-1] in ",;:" or tail[tail.rfind("\n") + 1:].count("$") % 2):
        return False  # "... the sides of triangle $ABC,$" or "... the coefficient of $": mid-sentence
    return tail[-1:] in ".!)]}*$" or tail.endswith("\\]") or tail.endswith("\\)")


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def _paragraph_answer(para: str) -> str | None:
    """The answer the last stating line of a paragraph commits to."""
    lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
    if any(ln in ("$", "\\(", "\\)") for ln in lines):
        return None  # inline math broken over lines: nothing stated
    for ln in reversed(lines[-6:]):
        if ln.startswith("```"):
            return None
        if ln.rstrip(" .*$").endswith(":") or not ln.strip(" .*$"):
            continue
        ans = answer_from_statement(ln, loose=False)
        if ans:
            return ans
        if _has_value(ln):
            return None  # a working line with a value but no conclusion
    return None


_CLOSING_STATEMENT_RE = re.compile(
    r"(?:^|[.!]\s+)(?:(?:so|thus|therefore|hence),?\s+)?the\s+[a-z]+(?:\s+[a-z]+){0,3}\s+(?:is|are|equals)\s+"
    r"(?P<value>\$[^$]{1,300}\$|\\\(.{1,300}?\\\)|\*\*[^*]{1,200}\*\*|\(?-?[\d.,/\s]+\)?)\s*[.!]?\s*$", re.I)


def _closing_statement(para: str) -> str | None:
    """In an afterthought paragraph only a closing statement of a value counts ("The midpoint is (-1,6).",
    "So, $x = 4$ is indeed the correct solution.")."""
    last = collapse_display_math(para).strip().splitlines()[-1]
    m = _CLOSING_STATEMENT_RE.search(last[-400:])
    if m:
        return _acceptable(_plain(m.group("value")))
    sentences = _sentences(last[-600:])
    if not sentences:
        return None
    sent = _expand(sentences[-1])
    if _CONCLUDE_START_RE.match(sent):
        return _line_answer(sent, loose=False)  # "So, 9/2 expressed as a decimal is 4.5."
    return _rule_subject_is(sent) or _rule_answer_is(sent)


def _ends_with_code_to_run(text: str) -> bool:
    """The response ends with a closed code block that is not program output (a tool-use turn)."""
    if not text.endswith("```"):
        return False
    opening = text.rfind("```", 0, len(text) - 3)
    return opening >= 0 and not text.startswith("```output", opening)


def _checks_a_stated_answer(text: str) -> bool:
    """The code block that ends ``text`` (closed, or cut off) is introduced as a check ("Let's verify this with
    Python code."): what was stated before it stands, whether or not the program is ever run."""
    fence = text.rfind("```", 0, len(text) - 3) if text.count("```") % 2 == 0 else text.rfind("```")
    before = text[:fence].rstrip()
    line = before[before.rfind("\n") + 1:].strip()
    intro = (_sentences(line) or [line])[-1].strip()
    return bool(intro) and bool(_AFTERTHOUGHT_RE.match(intro)) and _has_value(before[-3000:])


_FIRST_ITEM_RE = re.compile(r"(?:^|\n)[^\n]*:[ \t*]*\n(?:[ \t]*\n)*[ \t]*(?:1[.)]|[-*•]|\**step 1\b[^\n]{0,3})[ \t*]*$",
                            re.I)


def _starts_list(body: str) -> bool:
    """The text ends with the bare marker of a list's first item, after a line that introduces it."""
    return bool(_FIRST_ITEM_RE.search(body[-300:]))


def _unbalanced(line: str) -> bool:
    """More brackets opened than closed: the line stops inside an expression (``\\frac{37113``)."""
    return line.count("{") > line.count("}") or line.count("(") > line.count(")") or line.count("[") > line.count("]")


_NAME_LINE_RE = re.compile(r"[A-Z][A-Za-z'-]{1,19}")


def _restated_name(paragraphs: list[str]) -> str | None:
    """A last line that is one name the paragraph before it concludes with ("Thus, Navin earns the most.\n\n
    Navin"): a word answer restated on its own, as a number would be."""
    if len(paragraphs) < 2:
        return None
    last = paragraphs[-1].strip().strip("*").strip()
    if not _NAME_LINE_RE.fullmatch(last) or _is_filler(last) or last.lower() in _PROSE_WORDS:
        return None
    return last if re.search(r"\b" + re.escape(last) + r"\b", paragraphs[-2]) else None


def find_conclusion(text: str) -> str | None:
    """The answer of the concluding statement at the end of an unmarked response.

    Afterthought paragraphs (a double-check, "I don't think there are other steps") are skipped when they do
    not state a new answer; a working paragraph with values but no conclusion ends the search (nothing
    committed). A response that stops mid-sentence is cut off: only a bare final answer line counts then.

    Args:
        text: the response after its thinking trace.

    Returns:
        The answer text or ``None``.
    """
    tail = trim_tool_noise(text[-8000:])
    if (tail.count("```") % 2 or _ends_with_code_to_run(tail)) and not _checks_a_stated_answer(tail):
        return None  # cut off inside a code block, or waiting for a program to be run
    body = collapse_display_math(trim_tail(tail)[-3000:])
    if not body.strip():
        return None
    if _starts_list(body):
        return None  # "we compute the partial derivatives:\n\n1." was cut off at its first item
    named = _restated_name(_paragraphs(body)[-2:])
    if named:
        return named
    if not _ends_complete(body):
        # cut off mid-sentence: only the unfinished sentence itself can commit ("So the answer is 12")
        last = _expand((_sentences(body.strip().splitlines()[-1].strip()) or [""])[-1])
        if _CONNECTOR_END_RE.search(last.rstrip("$ ")[-40:]) or last.count("$") % 2 or _unbalanced(last):
            return None
        ans = answer_from_statement(last, loose=False)
        commits = (looks_like_bare_answer(_plain(last)) or _commits(last) or _CONCLUDE_START_RE.match(last)
                   or _ARROW_RE.search(last))
        # a statement of a value ("the probability is $\\frac13$, which confirms it") counts unless it ends in a
        # digit: then its last number may itself be cut ("a factor of 200")
        stated = (re.search(r"\b(?:is|are)\b", last) and not last.rstrip()[-1:].isdigit()
                  and not _HEDGE_RE.search(last))
        return ans if ans and (commits or stated) else None
    for para in reversed(_paragraphs(body)[-5:]):
        if _AFTERTHOUGHT_RE.match(para) and not _commits(para):
            ans = _closing_statement(para)
            if ans:
                return ans
            continue
        ans = _paragraph_answer(para)
        if ans:
            return ans
        if _has_value(para):
            return None
    return None


def reduce_sentence(answer: str) -> str | None:
    """An extracted answer that is a sentence ("The answer is 5", "4 (since x > 0)") reduced to its value."""
    stripped = _REMARK_RE.sub("", answer).strip()
    if stripped != answer and stripped:
        return stripped
    return answer_from_statement(answer)


_REMARK_RE = re.compile(r"\s*[(,;]\s*(?:since|as|because|where|for|when|if|assuming)\b.*$", re.I)
