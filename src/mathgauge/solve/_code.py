"""Find the Python code blocks a model wrote."""

from __future__ import annotations

import re

# ```python / ```py / ```Python3 ... ``` ; an unterminated last block (generation stopped at the fence) counts too.
_BLOCK = re.compile(r"```[ \t]*(?:python3?|py)[ \t]*\n(.*?)(?:```|\Z)", re.IGNORECASE | re.DOTALL)


def code_blocks(text: str) -> list[str]:
    """All Python code blocks of ``text``, in order, without their fences."""
    return [m.group(1).strip("\n") for m in _BLOCK.finditer(text) if m.group(1).strip()]


def last_code_block(text: str) -> str | None:
    """The last Python code block, or ``None`` when the text has none."""
    blocks = code_blocks(text)
    return blocks[-1] if blocks else None
