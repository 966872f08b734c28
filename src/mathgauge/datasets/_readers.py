"""Named, reusable transforms that turn a source column into a reference answer (or repaired problem text).

`benchmarks.toml` names them in order (``readers = ["after_hashes", "drop_thousands_commas"]``); each takes the
value so far and the whole row, and returns the new value or ``None`` when the value cannot be read (the row is then
reported and left out, never graded against an empty reference).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Mapping
from typing import Any

from ._boxed import last_boxed_content

#: A reader: (value so far, whole source row) -> new value, or None when nothing readable is left.
Reader = Callable[[Any, Mapping[str, Any]], Any]

_NUMBER_RE = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_THOUSANDS_RE = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+)(?![\d,]*\d)")
_DOLLAR_RE = re.compile(r"(?<!\\)\$")
# JSON written without escaping backslashes turns `\frac` into a form feed + "rac", `\triangle` into a tab +
# "riangle", `\begin` into a backspace + "egin", `\vec` into a vertical tab, `\right` into a carriage return.
_CONTROL_ESCAPES = {"\x07": "a", "\x08": "b", "\x0b": "v", "\x0c": "f"}
# A tab or carriage return is real whitespace unless the letters after it finish a LaTeX command (`\times`).
_T_COMMANDS = ("riangle", "imes", "heta", "extbf", "extit", "ext", "frac", "binom", "ilde", "an", "au", "op", "o")
_R_COMMANDS = ("ight", "angle", "ceil", "floor", "brace", "vert", "ho", "m")
_TAB_CR_COMMANDS = re.compile(
    r"\t(?P<t>" + "|".join(_T_COMMANDS) + r")(?![A-Za-z])|\r(?P<r>" + "|".join(_R_COMMANDS) + r")(?![A-Za-z])"
)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN from a Parquet null
        return None
    text = str(value).strip()
    return text or None


def strip(value: Any, row: Mapping[str, Any]) -> str | None:
    """The value as text, surrounding whitespace removed; empty means unreadable."""
    return _text(value)


def after_hashes(value: Any, row: Mapping[str, Any]) -> str | None:
    """GSM8K: the text after the last ``####`` of a worked solution; none when the solution has no ``####``."""
    text = _text(value)
    if text is None or "####" not in text:
        return None
    return _text(text.rsplit("####", 1)[1])


def drop_thousands_commas(value: Any, row: Mapping[str, Any]) -> str | None:
    """``1,319`` -> ``1319`` (only digit groups of three, so the list ``1,2`` is left alone)."""
    text = _text(value)
    if text is None:
        return None
    return _THOUSANDS_RE.sub(lambda m: m.group(1).replace(",", ""), text)


def integer_float(value: Any, row: Mapping[str, Any]) -> str | None:
    """AMC 2023's float answers: ``27.0`` -> ``27``; other numbers (``2.5``) and non-numbers are kept."""
    if isinstance(value, float) and value == value and value.is_integer():
        return str(int(value))
    text = _text(value)
    if text is not None and _NUMBER_RE.match(text) and "." in text and set(text.split(".", 1)[1]) <= {"0"}:
        return text.split(".", 1)[0]
    return text


def last_boxed(value: Any, row: Mapping[str, Any]) -> str | None:
    """The content of the last ``\\boxed{}`` (or ``\\fbox{}``) of a worked solution."""
    text = _text(value)
    return None if text is None else _text(last_boxed_content(text))


def strip_dollars(value: Any, row: Mapping[str, Any]) -> str | None:
    """Drop the ``$`` math delimiters (``$\\frac{1}{2}$`` -> ``\\frac{1}{2}``); an escaped ``\\$`` is kept."""
    text = _text(value)
    if text is None:
        return None
    if text.startswith("$$") and text.endswith("$$") and len(text) > 4:
        text = text[2:-2]
    return _text(_DOLLAR_RE.sub("", text))


def answer_list(value: Any, row: Mapping[str, Any]) -> str | None:
    """OlympiadBench's ``final_answer``: a list (or its Python-list spelling ``"['2']"``) holding one answer, or
    several (joined with commas, which the grader reads as an unordered set) when ``is_multiple_answer`` is set."""
    items = value
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                items = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                items = [text]
        else:
            items = [text]
    if not isinstance(items, (list, tuple)):
        items = [items]
    parts = [t for t in (_text(i) for i in items) if t is not None]
    if not parts:
        return None
    if len(parts) > 1 and not row.get("is_multiple_answer"):
        return None  # several answers for a single-answer problem: nothing says which one is meant
    return ", ".join(parts)


def repair_escapes(value: Any, row: Mapping[str, Any]) -> str | None:
    """Undo LaTeX commands broken by unescaped JSON (``\\x0crac`` -> ``\\frac``, tab + ``riangle`` ->
    ``\\triangle``); real tabs and line breaks are kept."""
    if value is None:
        return None
    text = str(value)
    for char, letter in _CONTROL_ESCAPES.items():
        text = re.sub(re.escape(char) + r"(?=[A-Za-z])", "\\\\" + letter, text)
    text = _TAB_CR_COMMANDS.sub(lambda m: "\\t" + m.group("t") if m.group("t") else "\\r" + m.group("r"), text)
    return text if text.strip() else None


#: Every reader `benchmarks.toml` may name.
READERS: dict[str, Reader] = {
    "strip": strip,
    "after_hashes": after_hashes,
    "drop_thousands_commas": drop_thousands_commas,
    "integer_float": integer_float,
    "last_boxed": last_boxed,
    "strip_dollars": strip_dollars,
    "answer_list": answer_list,
    "repair_escapes": repair_escapes,
}


def apply_readers(names: tuple[str, ...], value: Any, row: Mapping[str, Any]) -> Any:
    """Run the named readers in order; ``None`` as soon as one finds nothing readable."""
    for name in names:
        value = READERS[name](value, row)
        if value is None:
            return None
    return value
