"""String normalisation of answers (no parsing, no evaluation).

Removes presentation-only LaTeX and markdown (``$``, ``**bold**``, ``\\left``/``\\right``, ``\\displaystyle``,
spacing commands,
``\\dfrac``/``\\tfrac``), invisible characters, ``<script type="math/tex">`` wrappers, thousands separators
(``10,\\!080``, ``12,\\! 345``, ``1\\,234``, ``14{,}916``, ``54,000`` and ``1 000`` when that is the whole
answer), degree signs, percent signs, currency, ``\\text{}``-style wrappers, trailing periods and backslashes,
and units written as words after a number (``15\\mbox{ cm}^2`` -> ``15``). LaTeX that was escaped twice
(``\\\\frac``) is repaired where the doubled backslash is followed by a known command. ASCII and Unicode
relations become LaTeX ones (``>=`` -> ``\\ge``), so ``x >= 5`` is never read as an equation.
"""

from __future__ import annotations

import re

from ._text import remove_invisible

_UNICODE = {
    "√": "\\sqrt", "π": "\\pi", "∞": "\\infty", "−": "-", "–": "-", "—": "-", "×": "\\times",
    "·": "\\cdot", "⋅": "\\cdot", "÷": "\\div", "≤": "\\le ", "≥": "\\ge ", "⩽": "\\le ", "⩾": "\\ge ",
    "≠": "\\ne ", "±": "\\pm ", "∓": "\\mp ", "°": "^\\circ", "∪": "\\cup ", "∩": "\\cap ", "≈": "\\approx ",
    "≡": "\\equiv ", "\u2009": " ", "\u00a0": " ", "\u202f": " ", "θ": "\\theta", "α": "\\alpha", "β": "\\beta",
    "₀": "_0", "₁": "_1", "₂": "_2", "₃": "_3", "₄": "_4", "₅": "_5", "₆": "_6", "₇": "_7", "₈": "_8", "₉": "_9",
    "½": "1/2", "¼": "1/4", "¾": "3/4", "∈": "\\in ", "€": " ", "£": " ", "¥": " ",
}
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_UNICODE_RE = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+|" + "|".join(map(re.escape, _UNICODE)))


def _unicode_sub(m: re.Match) -> str:
    s = m.group(0)
    rep = _UNICODE.get(s)
    if rep is not None:
        return rep
    return "^{" + s.translate(_SUPERSCRIPTS) + "}"


_TEXT_CMD_RE = re.compile(
    r"\\(?:text|textbf|textit|textrm|textsf|texttt|mathrm|mathbf|mathit|mbox|textnormal|operatorname|mathsf|"
    r"mathtt|emph|hbox|boldsymbol|bm)\s*\{"
)
_SCRIPT_RE = re.compile(r"<script[^>]{0,60}>|</script>", re.I)

# Commands that a doubled backslash may precede when LaTeX was escaped twice (``\\frac`` for ``\frac``).
_KNOWN_COMMANDS = (
    "frac|dfrac|tfrac|cfrac|sqrt|left|right|le|leq|ge|geq|lt|gt|ne|neq|pm|mp|cdot|times|div|pi|infty|text|"
    "textbf|mathrm|mathbf|boxed|circ|degree|in|cup|cap|approx|equiv|sin|cos|tan|cot|sec|csc|log|ln|exp|"
    "alpha|beta|gamma|delta|theta|lambda|mu|sigma|phi|omega|dots|ldots|cdots|binom|dbinom|overline|angle|"
    "begin|end|mbox|operatorname|displaystyle|quad|qquad|emptyset|varnothing|infty|sum|prod|int|lfloor|"
    "rfloor|lceil|rceil|vert|mid|[{}()\\[\\]%$#,!;:]"
)
_DOUBLE_ESCAPE_RE = re.compile(r"\\\\(?=(?:" + _KNOWN_COMMANDS + r")(?![A-Za-z]))")

UNIT_WORDS = {
    "cm", "m", "km", "mm", "in", "inch", "inches", "ft", "feet", "foot", "yard", "yards", "yd", "mile", "miles",
    "meter", "meters", "metre", "metres", "centimeter", "centimeters", "kilometer", "kilometers", "units", "unit",
    "square", "sq", "cubic", "degree", "degrees", "deg", "radian", "radians", "second", "seconds", "sec", "s",
    "minute", "minutes", "min", "hour", "hours", "hr", "hrs", "h", "day", "days", "week", "weeks", "year", "years",
    "month", "months", "dollar", "dollars", "cent", "cents", "percent", "pct", "mph", "kg", "g", "gram", "grams",
    "lb", "lbs", "pound", "pounds", "ounce", "ounces", "oz", "liter", "liters", "gallon", "gallons", "ml", "l",
    "people", "students", "times", "ways", "points", "per", "and", "percentage",
}


def _unwrap_text(s: str) -> str:
    """Replace ``\\text{...}`` (and friends) by their content between spaces."""
    for _ in range(20):
        m = _TEXT_CMD_RE.search(s)
        if not m:
            break
        start = m.end() - 1
        depth = 0
        end = None
        for j in range(start, min(len(s), start + 4000)):
            if s[j] == "{":
                depth += 1
            elif s[j] == "}":
                depth -= 1
                if depth == 0:
                    end = j
                    break
        if end is None:
            s = s[:m.start()] + s[m.end():]
            continue
        s = s[:m.start()] + " " + s[start + 1:end] + " " + s[end + 1:]
    return s


def repair_double_escapes(s: str) -> str:
    """``\\\\frac{1}{2}`` -> ``\\frac{1}{2}`` where a doubled backslash precedes a known command.

    Left alone in matrices and aligned environments, where ``\\\\`` is a row break.
    """
    if "\\\\" not in s or "\\begin" in s and "\\\\begin" not in s:
        return s
    return _DOUBLE_ESCAPE_RE.sub(r"\\", s)


_MOD_RE = re.compile(r"\s*(?:\\pmod\s*\{[^{}]*\}|\\pmod\s*\w+|\(\s*\\?(?:mod|bmod)\s*[^()]*\)|\\bmod\s*\w+|\bmod\s+\d+)$")
_ORDINAL_RE = re.compile(r"(\d)\s*\^\s*\{?\s*(?:st|nd|rd|th)\s*\}?|(\d)(?:st|nd|rd|th)\b")
_SEPARATOR_RE = re.compile(r"(\d)\s*(?:,\\!|\{\s*,\s*\}|\\,|,\\,|\\ |\\!)\s*(?=\d{3}(?!\d))")
_THOUSANDS_RE = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SPACED_THOUSANDS_RE = re.compile(r"-?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_SPACING_RE = re.compile(r"(?<!\\)\\[,!;:>]|(?<!\\)\\ |~")
_RELATION_ASCII_RE = re.compile(r">=|<=(?!>)|!=|=/=")
_RELATION_ASCII = {">=": "\\ge ", "<=": "\\le ", "!=": "\\ne ", "=/=": "\\ne "}
_BOLD_RE = re.compile(r"(?<![\w)}\]])\*\*(?=\S)(.+?)(?<=\S)\*\*(?![\w({\[])")
_LEADING_WORD_RE = re.compile(r"^(?:\\therefore|therefore|thus|so|hence)[\s,]+", re.I)


def basic_normalize(s: str) -> str:
    """Presentation-level cleanup shared by every comparison.

    Args:
        s: an answer (extracted from a response, or a reference answer).

    Returns:
        The answer with presentation removed (see the module docstring).
    """
    s = s.strip()
    if len(s) < 12 and s.isascii() and s.lstrip("-").isdigit():
        return s
    s = remove_invisible(s)
    if "<" in s:
        s = _SCRIPT_RE.sub(" ", s)
    if not s.isascii():
        s = _UNICODE_RE.sub(_unicode_sub, s)
    s = repair_double_escapes(s)
    if '\\"' in s:
        s = s.replace('\\"', '"')
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'`":
        s = s[1:-1].strip()
    if "**" in s:
        s = _BOLD_RE.sub(r"\1", s)  # markdown bold, never Python's power (2**3)
    s = s.replace("\\$", " ").replace("$", " ").replace("\\#", " ")
    s = re.sub(r"\\[()\[\]]", " ", s)
    s = re.sub(r"\\(?:dfrac|tfrac|cfrac)", r"\\frac", s)
    s = re.sub(r"\\dbinom|\\tbinom", r"\\binom", s)
    s = s.replace("\\displaystyle", " ").replace("\\limits", "")
    s = re.sub(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)\s*(?=[()\[\]|.]|\\[{}|])", "", s)
    s = re.sub(r"\\(?:left|right)\.", "", s)
    s = s.replace("\\lbrace", "\\{").replace("\\rbrace", "\\}").replace("\\lvert", "|").replace("\\rvert", "|")
    if "\\langle" in s:
        s = s.replace("\\langle", "(").replace("\\rangle", ")")  # a vector <1, 2> is the tuple (1, 2)
    s = _SEPARATOR_RE.sub(r"\1", s)
    s = _SPACING_RE.sub(" ", s)
    s = re.sub(r"\\(?:quad|qquad)", " ", s)
    s = re.sub(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree", " ", s)
    s = re.sub(r"\\%|%|\\percent", " ", s)
    if "=" in s or "<" in s or ">" in s:
        s = _RELATION_ASCII_RE.sub(lambda m: _RELATION_ASCII[m.group(0)], s)
    s = _unwrap_text(s)
    s = _ORDINAL_RE.sub(lambda m: m.group(1) or m.group(2), s)
    s = re.sub(r"\s+", " ", s).strip()
    s = _LEADING_WORD_RE.sub("", s)
    s = s.rstrip(" .;,")
    s = _MOD_RE.sub("", s).rstrip(" .;,")
    if s.endswith("\\") and not s.endswith("\\\\"):
        s = s[:-1].rstrip(" .;,")  # a stray trailing backslash: "185\"
    return plain_number(s)


def plain_number(s: str) -> str:
    """A whole answer written with thousands separators, ``54,000`` or ``1 000``, as digits only; one in
    scientific notation (``1.5e3``) as a power of ten."""
    if _THOUSANDS_RE.fullmatch(s):
        return s.replace(",", "")
    if _SPACED_THOUSANDS_RE.fullmatch(s):
        return s.replace(" ", "")
    sci = _SCIENTIFIC_RE.fullmatch(s)
    if sci:
        return f"{sci.group(1)}\\times 10^{{{sci.group(2).lstrip('+')}}}"  # 1.5e3, a program's float
    return s


_SCIENTIFIC_RE = re.compile(r"(-?\d+(?:\.\d+)?)[eE]([-+]?\d{1,3})")


_TRAIL_POW_RE = re.compile(r"\s*\^\s*\{?[23]\}?$")


def _split_trailing_words(s: str) -> tuple[str, list[str], bool]:
    """Split ``s`` into (head, trailing alphabetic words, space before the words)."""
    rest = s.rstrip()
    m = _TRAIL_POW_RE.search(rest[-8:]) if rest else None
    if m and rest[: len(rest) - len(m.group(0))][-1:].isalpha():
        rest = rest[: len(rest) - len(m.group(0))]
    words: list[str] = []
    spaced = False
    while True:
        j = len(rest)
        while j > 0 and (rest[j - 1].isalpha() or rest[j - 1] == ".") and rest[j - 1].isascii():
            j -= 1
        word = rest[j:]
        if not word or not word[0].isalpha() or (j > 0 and rest[j - 1] == "\\"):
            break
        words.insert(0, word)
        head = rest[:j]
        spaced = head[-1:].isspace()
        rest = head.rstrip()
        if not spaced:
            break
    return rest, words, spaced


def strip_units(s: str) -> str:
    """Drop trailing unit/noun words after a number: ``9 customers`` -> ``9``.

    Only words of two or more letters (or a known unit) after a digit-bearing head are removed, so ``2x`` or
    ``4t`` keep their variables.

    Args:
        s: a normalised answer.

    Returns:
        The answer without its trailing unit words.
    """
    head, words, spaced = _split_trailing_words(s)
    if not words or not head or not re.search(r"\d", head) or head.endswith("\\"):
        return s
    if not all(len(w.strip(".")) >= 2 or w.lower().strip(".") in UNIT_WORDS for w in words):
        return s
    if any(w.lower() in ("sqrt", "pi", "sin", "cos", "tan", "ln", "log", "i", "or", "and", "e") for w in words):
        return s
    if not spaced and words[0].lower().strip(".") not in UNIT_WORDS:
        return s
    return plain_number(head.rstrip())


def text_key(s: str) -> str:
    """Loose key for comparing word answers (``\\text{4:30 p.m.}`` vs ``4:30 p.m.``)."""
    s = s.lower()
    s = re.sub(r"\\[a-z]+", " ", s)
    s = re.sub(r"[\s{}.,'\"*]+", "", s)
    return s
