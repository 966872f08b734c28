"""Model text and program output made safe to show: raw control characters become visible escapes.

A response or a program's stdout may hold terminal escape sequences (ESC), other C0 and C1 controls (U+0085 NEL
among them), bidirectional overrides and isolates (U+202E reverses the text after it) and the Unicode line and
paragraph separators (U+2028, U+2029), invisible characters that hide text (zero-width space U+200B, word joiner
U+2060 and its invisible operators, the byte-order mark U+FEFF) and lone surrogates (a string that holds one cannot
even be written as UTF-8). Printed raw they can rewrite the terminal, hide or reorder what a reader sees, break
lines where a viewer does not expect it or stop a report from being written; `neutralise` turns each into a
visible ``\\x1b`` / ``\\u202e`` escape. Tab and newline are kept; CRLF becomes LF, a lone CR is escaped.
"""

from __future__ import annotations

from typing import Any

_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_INVISIBLE = [0x200B, *range(0x2060, 0x2065), 0xFEFF]
_SURROGATES = list(range(0xD800, 0xE000))
_CODES = ([c for c in range(0x20) if c not in (0x09, 0x0A)] + list(range(0x7F, 0xA0)) + _BIDI + [0x2028, 0x2029]
          + _INVISIBLE + _SURROGATES)
_TABLE = {c: (f"\\x{c:02x}" if c <= 0xFF else f"\\u{c:04x}") for c in _CODES}
_CODE_SET = frozenset(chr(c) for c in _CODES)


def neutralise(text: str) -> str:
    """``text`` with every raw control, bidirectional-override and line-separator character made a visible escape.

    Args:
        text: model text, program output, an error message: anything not written by mathgauge.
    """
    if text.isascii() and text.isprintable():  # the common case: nothing to do
        return text
    return text.replace("\r\n", "\n").translate(_TABLE)


def has_controls(text: str) -> bool:
    """Whether ``text`` holds any character `neutralise` escapes (newline and tab excluded)."""
    return not _CODE_SET.isdisjoint(text)


def neutralise_tree(value: Any) -> Any:
    """`neutralise` every string inside nested dicts, lists and tuples (keys included); other values as they are.

    Args:
        value: a JSON-like document.
    """
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, dict):
        return {neutralise_tree(k): neutralise_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [neutralise_tree(v) for v in value]
    return value
