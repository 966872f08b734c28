"""Text cleanup that every reader of a model response needs: invisible characters, chat-template leaks and
thinking traces.

:func:`strip_thinking` is the one thinking-trace stripper of mathgauge (the grader, the LLM judge and the
report's peer-policy regrading all call it).
"""

from __future__ import annotations

import re

# NUL, zero-width and bidirectional-control characters: invisible, but they break every pattern and parser.
_INVISIBLE_RE = re.compile("[\x00\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def remove_invisible(text: str) -> str:
    """Drop NUL, zero-width and bidi-control characters (``U+200B``, ``U+202E``, ...).

    Args:
        text: any text.

    Returns:
        ``text`` without those characters (the same object when it has none).
    """
    if text.isascii() and "\x00" not in text:
        return text
    return _INVISIBLE_RE.sub("", text) if _INVISIBLE_RE.search(text) else text


# Markers that end the assistant's turn or start another one: what follows them is a leaked chat turn. ChatML
# (<|im_start|>), Llama 3 (<|eot_id|>, <|start_header_id|>), Phi (<|end|>, <|user|>), Gemma (<end_of_turn>),
# Cohere (<|END_OF_TURN_TOKEN|>), DeepSeek's full-width bars (<｜end▁of▁sentence｜>, <｜User｜>), Llama 2 and
# Mistral ([INST], and </s> when a new turn follows it).
_TAG_MARKERS = (r"<[|｜](?:im_start|im_end|eot_id|eom_id|endoftext|end_of_text|start_header_id|end|user|assistant|"
                r"system|END_OF_TURN_TOKEN|START_OF_TURN_TOKEN|USER_TOKEN|end▁of▁sentence|begin▁of▁sentence|User|"
                r"Assistant)[|｜]>|<(?:end_of_turn|start_of_turn)>|</s>(?=\s*(?:<s>|\[INST\]|\S))")
_TURN_MARKER_RE = re.compile(_TAG_MARKERS)  # every alternative starts with "<": a fast scan
_TURN_MARKER_INST_RE = re.compile(_TAG_MARKERS + r"|\[INST\]")
_SPECIAL_TOKEN_RE = re.compile(r"<[|｜][A-Za-z_▁]{1,40}[|｜]>|</?s>")  # and the <s> </s> sequence tokens

def cut_chat_leak(text: str) -> str:
    """Cut ``text`` at the first turn marker (``<|im_start|>``, ``<|eot_id|>``, ...) that follows content.

    A model that runs on past its turn invents the next user message and answers it; the committed answer is
    the one before. Markers before any content (a leading ``<|im_start|>assistant``) are skipped.

    Args:
        text: a model response.

    Returns:
        The response up to the leak (all of it when there is none).
    """
    inst = "[INST]" in text
    if not inst and "<" not in text:
        return text
    for m in (_TURN_MARKER_INST_RE if inst else _TURN_MARKER_RE).finditer(text):
        if text.startswith("<|start|>assistant", m.end()) or text.startswith("<|start|>assistant", m.start()):
            continue  # the harmony format's own next message (analysis, then final)
        before = _SPECIAL_TOKEN_RE.sub("", text[:m.start()])
        before = before.replace("assistant", "", 1) if before.lstrip().startswith("assistant") else before
        if before.strip():
            return text[:m.start()]
    return text


def strip_thinking(text: str, *, keep_unclosed: bool = False) -> str:
    """Drop the thinking trace of a response: everything up to the last ``</think>``.

    Chat-template special tokens (``<|end_of_solution|>``...) become line breaks. A ``<think>`` that never
    closes means the whole response is thinking: nothing is left, unless ``keep_unclosed`` (then the text is
    returned as it is, for readers that want to show an unfinished trace, such as the LLM judge). In the
    harmony format (``<|channel|>analysis<|message|>...``) the ``final`` channel's message is the visible part;
    with only an analysis channel, the response is all thinking.

    Args:
        text: a model response.
        keep_unclosed: keep the text when a ``<think>`` block never closes.

    Returns:
        The visible part of the response.
    """
    if "<|" in text or "<｜" in text:
        if "<|channel|>" in text:
            final = text.rfind("<|channel|>final")
            if final >= 0:
                start = text.find("<|message|>", final)
                text = text[start + len("<|message|>"):] if start >= 0 else ""
            elif not keep_unclosed:
                return ""
        text = _SPECIAL_TOKEN_RE.sub("\n", text)
    idx = text.rfind("</think>")
    if idx >= 0:
        return text[idx + len("</think>"):]
    if "<think>" in text and not keep_unclosed:
        return ""
    return text
