"""JSON Lines as every export writes them: one record a line, valid UTF-8, the exact text back when parsed."""

from __future__ import annotations

import json
from typing import Any

# Characters that JSON allows raw inside strings but that many line readers (str.splitlines, some editors) take
# for line breaks, and lone surrogates (a model's broken output, which no UTF-8 file can hold raw): written as \u
# escapes, so one record stays one line, the file is valid UTF-8, and it parses back to the exact text.
JSON_ESCAPES = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029",
                **{c: f"\\u{c:04x}" for c in range(0xD800, 0xE000)}}


def json_line(record: dict[str, Any]) -> str:
    """One JSONL record: UTF-8 text as it is, but for line breaks and lone surrogates (see `JSON_ESCAPES`)."""
    return json.dumps(record, ensure_ascii=False).translate(JSON_ESCAPES) + "\n"
