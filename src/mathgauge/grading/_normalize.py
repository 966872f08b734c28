"""String normalisation of answers (no parsing, no evaluation).

Removes presentation-only LaTeX (``$``, ``\\left``/``\\right``, ``\\displaystyle``,
spacing commands, ``\\dfrac``/``\\tfrac``), thousands separators (``10,\\!080``,
``1\\,234``, ``1{,}234``, ``54,000`` when that is the whole answer), degree signs,
percent signs, currency, ``\\text{}``-style wrappers, trailing periods, and units
written as words after a number (``15\\mbox{ cm}^2`` -> ``15``).
"""

from __future__ import annotations

import re

_UNICODE = {
    "√": "\\sqrt", "π": "\\pi", "∞": "\\infty", "−": "-", "–": "-", "—": "-", "×": "\\times",
    "·": "\\cdot", "⋅": "\\cdot", "÷": "\\div", "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "±": "\\pm ",
    "∓": "\\mp ", "²": "^2", "³": "^3", "°": "^\\circ", "∪": "\\cup ", "∩": "\\cap ", "≈": "\\approx ",
    "\u2009": " ", "\u00a0": " ", "\u202f": " ", "θ": "\\theta", "α": "\\alpha", "β": "\\beta",
    "₀": "_0", "₁": "_1", "₂": "_2", "₃": "_3", "₄": "_4", "₅": "_5", "₆": "_6", "₇": "_7", "₈": "_8", "₉": "_9",
    "¹": "^1", "⁴": "^4", "½": "1/2", "¼": "1/4", "¾": "3/4", "∈": "\\in ",
}
_UNICODE_RE = re.compile("|".join(map(re.escape, _UNICODE)))

_TEXT_CMD_RE = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mathit|mbox|textnormal|operatorname|mathsf|mathtt|emph|hbox)\s*\{")

UNIT_WORDS = {
    "cm", "m", "km", "mm", "in", "inch", "inches", "ft", "feet", "foot", "yard", "yards", "yd", "mile", "miles",
    "meter", "meters", "metre", "metres", "centimeter", "centimeters", "kilometer", "kilometers", "units", "unit",
    "square", "sq", "cubic", "degree", "degrees", "deg", "radian", "radians", "second", "seconds", "sec", "s",
    "minute", "minutes", "min", "hour", "hours", "hr", "hrs", "h", "day", "days", "week", "weeks", "year", "years",
    "month", "months", "dollar", "dollars", "cent", "cents", "percent", "mph", "kg", "g", "gram", "grams", "lb",
    "lbs", "pound", "pounds", "ounce", "ounces", "oz", "liter", "liters", "gallon", "gallons", "ml", "l",
    "people", "students", "times", "ways", "points", "per", "and",
}


def _unwrap_text(s: str) -> str:
    """Replace ``\\text{...}`` (and friends) by their content, keeping a marker for words."""
    for _ in range(20):
        m = _TEXT_CMD_RE.search(s)
        if not m:
            break
        start = m.end() - 1
        depth = 0
        end = None
        for j in range(start, len(s)):
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


_MOD_RE = re.compile(r"\s*(?:\\pmod\s*\{[^{}]*\}|\\pmod\s*\w+|\(\s*\\?(?:mod|bmod)\s*[^()]*\)|\\bmod\s*\w+|\bmod\s+\d+)$")
_ORDINAL_RE = re.compile(r"(\d)\s*\^\s*\{?\s*(?:st|nd|rd|th)\s*\}?|(\d)(?:st|nd|rd|th)\b")


def basic_normalize(s: str) -> str:
    """Presentation-level cleanup shared by every comparison."""
    s = s.strip()
    if "\\" not in s and "$" not in s and len(s) < 12 and s.isascii() and s.lstrip("-").isdigit():
        return s
    s = _UNICODE_RE.sub(lambda m: _UNICODE[m.group(0)], s)
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'`":
        s = s[1:-1].strip()
    s = s.replace("\\$", " ").replace("$", " ").replace("\\#", " ")
    s = re.sub(r"\\[()\[\]]", " ", s)
    s = re.sub(r"\\(?:dfrac|tfrac|cfrac)", r"\\frac", s)
    s = re.sub(r"\\dbinom|\\tbinom", r"\\binom", s)
    s = s.replace("\\displaystyle", " ").replace("\\limits", "")
    s = re.sub(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)\s*(?=[()\[\]|.]|\\[{}|])", "", s)
    s = re.sub(r"\\(?:left|right)\.", "", s)
    s = s.replace("\\lbrace", "\\{").replace("\\rbrace", "\\}").replace("\\lvert", "|").replace("\\rvert", "|")
    # thousands separators
    s = re.sub(r"(\d)(?:,\\!|\{,\}|\\,|,\\,|\\ )(?=\d{3}(?!\d))", r"\1", s)
    s = re.sub(r"(?<!\\)\\[,!;:>]|(?<!\\)\\ |~", " ", s)
    s = re.sub(r"\\(?:quad|qquad)", " ", s)
    # degrees, percent
    s = re.sub(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree", " ", s)
    s = re.sub(r"\\%|%|\\percent", " ", s)
    s = _unwrap_text(s)
    s = _ORDINAL_RE.sub(lambda m: m.group(1) or m.group(2), s)
    s = re.sub(r"\s+", " ", s).strip()
    s = re.sub(r"^(?:\\therefore|therefore|thus|so|hence)[\s,]+", "", s, flags=re.I)
    s = s.rstrip(" .;,")
    s = _MOD_RE.sub("", s).rstrip(" .;,")
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    return s


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

    Only words of two or more letters (or a known unit) after a digit-bearing head
    are removed, so ``2x`` or ``4t`` keep their variables.
    """
    head, words, spaced = _split_trailing_words(s)
    if not words or not head or not re.search(r"\d", head) or head.endswith("\\"):
        return s
    if not all(len(w.strip(".")) >= 2 or w.lower().strip(".") in UNIT_WORDS for w in words):
        return s
    if any(w.lower() in ("sqrt", "pi", "sin", "cos", "tan", "ln", "log", "i", "or", "and") for w in words):
        return s
    if not spaced and words[0].lower().strip(".") not in UNIT_WORDS:
        return s
    return head.rstrip()


def text_key(s: str) -> str:
    """Loose key for comparing word answers (``\\text{4:30 p.m.}`` vs ``4:30 p.m.``)."""
    s = s.lower()
    s = re.sub(r"\\[a-z]+", " ", s)
    s = re.sub(r"[\s{}.,'\"*]+", "", s)
    return s
