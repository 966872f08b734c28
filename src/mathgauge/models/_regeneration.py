"""Token-by-token regeneration: watch a streamed answer, cut it back where it went wrong, and resume from there.

`RegeneratingBackend` wraps any streaming `ModelBackend` and is one itself, so solvers use it unchanged. While the
inner backend streams, detectors read the text:

* degeneration: a word n-gram seen too often (``repetition``), a periodic tail such as ``1111...`` or a phrase
  repeated without spaces (``loop``);
* code: each completed line of a ```` ```python ```` block is checked with `codeop`; a line after which the code
  can no longer become valid Python (``code_syntax``), or a block that closes unparseable, is cut back to the last
  valid line; optionally the stream stops right after a block closes (``code_end``), so the model never writes an
  output it has not seen (the caller runs the code);
* length: ``runaway`` (more than ``max_chars`` characters) and ``budget`` (the request's ``max_tokens`` is nearly
  spent and no answer was written) stop the answer instead of letting it run on.

At a degeneration or code detection the stream is stopped, the text is cut back to the last line or sentence
boundary before the fault (the last valid line for code), and generation resumes from the kept prefix with
adjusted sampling (a temperature step, a frequency penalty, another seed), at most ``max_regenerations`` times.
Resuming sends the kept prefix as a partial assistant message with ``continue_final_message`` (vLLM, SGLang); when
an endpoint rejects that (HTTP 400/422) and the same resumption as an assistant turn followed by a user turn asking
to continue goes through, the endpoint is remembered as one without the field and gets user turns from then on. A
user-turn continuation that starts the answer over replaces the kept text instead of being appended to it.

Every call's `ChatResponse.extra["regeneration"]` records the regenerations, the characters (and estimated tokens)
discarded, and each cut: where, why, what was dropped and what happened next.
"""

from __future__ import annotations

import ast
import codeop
import re
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..errors import ConfigError
from ._protocol import ChatRequest, ChatResponse, DeltaCallback, ModelBackend, ModelCallError

#: Detections after which generation resumes from the cut; the others end the answer.
REGENERATING_REASONS = ("repetition", "loop", "code_syntax")
#: Detections that end the answer where it was cut.
STOPPING_REASONS = ("code_end", "runaway", "budget")
RESUME_MODES = ("auto", "continue", "user_turn")

_WORD = re.compile(r"\S+")
_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[ \t]*$")
_PYTHON_LANGS = {"python", "python3", "py"}
_ANSWER = re.compile(r"\\boxed\s*\{|\\fbox\s*\{")
# Penalties that multiply logits are neutral at 1, the additive OpenAI ones at 0.
_NEUTRAL_PENALTY = {"repetition_penalty": 1.0}
_CONTINUE_BODY = {"continue_final_message": True, "add_generation_prompt": False}


@dataclass(frozen=True)
class RegenerationPolicy:
    """What counts as going wrong, and how to try again.

    Args:
        max_regenerations: most cut-and-resume steps per call; after that a detection ends the answer.
        ngram_words: length of the word n-grams counted for ``repetition``.
        ngram_repeats: occurrences of one n-gram that make a ``repetition`` (4: the fourth copy stops it).
        loop_max_period: longest repeating unit, in characters, the ``loop`` detector looks for.
        loop_min_chars: shortest periodic tail that counts as a ``loop``.
        loop_min_repeats: fewest copies of the unit in that tail.
        max_chars: ``runaway``: stop an answer longer than this (``None``: no limit).
        check_code: check ```` ```python ```` blocks line by line as they stream.
        stop_after_code_block: end the answer right after a Python block closes (tool-integrated solving: the
            caller runs the code and feeds its output back, so an invented output never gets written).
        chars_per_token: characters per token for estimates (discarded tokens, the budget) while streaming.
        answer_reserve_tokens: ``budget``: stop an answer with no ``\\boxed{}`` and no closed code block when fewer
            than this many of the request's ``max_tokens`` remain (it cannot reach an answer any more).
        temperature_step: added to the temperature at each regeneration (not when the request leaves it unset).
        max_temperature: cap for the raised temperature.
        penalty_field: request field raised at each regeneration (``frequency_penalty`` is OpenAI-standard;
            ``repetition_penalty`` for vLLM-style servers; ``None`` for none).
        penalty_step: added to that field at each regeneration (from its neutral value, 0 or 1 for
            ``repetition_penalty``, or from the request's value).
        max_penalty: cap for the penalty (use e.g. 1.3 with ``repetition_penalty``).
        resume: ``auto`` (try ``continue_final_message``, fall back to a user turn and remember), ``continue``
            or ``user_turn``.
        continue_instruction: the user turn of the ``user_turn`` fallback.
    """

    max_regenerations: int = 3
    ngram_words: int = 10
    ngram_repeats: int = 4
    loop_max_period: int = 100
    loop_min_chars: int = 200
    loop_min_repeats: int = 4
    max_chars: int | None = None
    check_code: bool = True
    stop_after_code_block: bool = False
    chars_per_token: float = 4.0
    answer_reserve_tokens: int = 32
    temperature_step: float = 0.3
    max_temperature: float = 1.2
    penalty_field: str | None = "frequency_penalty"
    penalty_step: float = 0.4
    max_penalty: float = 1.5
    resume: str = "auto"
    continue_instruction: str = (
        "Your previous message was cut off at its end. Continue it from exactly where it stops: do not repeat "
        "anything already written and do not start over."
    )

    def __post_init__(self) -> None:
        if self.max_regenerations < 0:
            raise ConfigError("max_regenerations must not be negative")
        if self.ngram_words < 2 or self.ngram_repeats < 2:
            raise ConfigError("ngram_words and ngram_repeats must be at least 2")
        if self.loop_min_repeats < 2 or self.loop_max_period < 1:
            raise ConfigError("loop_min_repeats must be at least 2 and loop_max_period at least 1")
        if self.resume not in RESUME_MODES:
            raise ConfigError(f"unknown resume mode {self.resume!r}; expected one of {', '.join(RESUME_MODES)}")
        if self.chars_per_token <= 0:
            raise ConfigError("chars_per_token must be positive")

    def describe(self) -> dict[str, Any]:
        """The settings (they change answers, so they are part of the cache key and the run config)."""
        return asdict(self)


@dataclass
class _Detection:
    reason: str
    at: int  # where in the text the fault was seen (end of the line or word that showed it)
    cut: int  # where the text is cut back to
    detail: str


def _last_boundary(text: str, pos: int) -> int:
    """The last line or sentence end at or before ``pos``; failing that (one long line) the last word end; 0 when
    there is none."""
    i = min(pos, len(text))
    while i > 0:
        before = text[i - 1]
        if before == "\n":
            return i
        # After ". " / "? " / "! ": cut before the space, so the kept text ends with the sentence.
        if before in ".!?" and i < len(text) and text[i] in " \t":
            return i
        i -= 1
    word_end = max(text.rfind(" ", 0, pos), text.rfind("\t", 0, pos))
    return max(word_end, 0)


class _StreamMonitor:
    """Reads the growing text (kept prefix + streamed deltas) and records the first detection."""

    def __init__(self, policy: RegenerationPolicy, prefix: str, budget_chars: int | None) -> None:
        self.policy = policy
        self.budget_chars = budget_chars
        self._start(prefix)

    def __call__(self, delta: str) -> bool:
        return self.feed(delta)

    def restart(self) -> None:
        """The backend streams the round again from its start: forget what this round delivered so far."""
        self._start(self.text[:self.prefix_len])

    def _start(self, prefix: str) -> None:
        self.text = ""
        self.detection: _Detection | None = None
        self._line_pos = 0  # start of the first line not processed yet
        self._word_pos = 0  # where the next word may start
        self._window: list[tuple[str, int]] = []  # the last n words and their positions
        self._ngrams: dict[str, list[int]] = {}
        self._loop_checked = 0
        self._answer_scan = 0
        self.answer_seen = False
        self._in_python = False
        self._in_other_fence = False
        self._code_start = 0
        self._code_complete_at = 0  # end of the last line after which the block was complete, valid code
        self.prefix_len = len(prefix)
        self._priming = True
        self.feed(prefix)
        self._priming = False

    def feed(self, delta: str) -> bool:
        """Take one streamed delta; ``False`` once something was detected (the stream should stop)."""
        if self.detection is not None:
            return False
        if len(delta) > 16 and not self._priming:
            # A whole text at once (a cache hit, a re-read): take it in token-sized steps, so that a loop that
            # ends before the text does is still seen at its tail.
            for start in range(0, len(delta), 8):
                if not self.feed(delta[start:start + 8]):
                    return False
            return True
        self.text += delta
        self._scan_lines()
        if self.detection is None:
            self._scan_words()
        if self.detection is None and not self._priming:
            self._check_loop()
            self._check_length()
        return self.detection is None

    def finish(self) -> None:
        """The stream ended: its last line, without a newline, is complete too (a closing fence at the end)."""
        if self.detection is None and self._line_pos < len(self.text):
            start, self._line_pos = self._line_pos, len(self.text)
            self._line(self.text[start:], start, len(self.text))

    def _detect(self, reason: str, at: int, cut: int, detail: str) -> None:
        if not self._priming and self.detection is None:
            self.detection = _Detection(reason, at, cut, detail)

    # -- code blocks -------------------------------------------------------------------------------------------

    def _scan_lines(self) -> None:
        text = self.text
        while self.detection is None:
            end = text.find("\n", self._line_pos)
            if end < 0:
                return
            start, self._line_pos = self._line_pos, end + 1
            self._line(text[start:end], start, end + 1)

    def _line(self, line: str, start: int, end: int) -> None:
        fence = _FENCE.match(line)
        if self._in_python:
            if line.lstrip().startswith("```"):
                self._close_python_block(start, end)
            elif self.policy.check_code and line.strip():
                self._check_code_line(start, end)
            return
        if fence is None:
            return
        if self._in_other_fence:
            self._in_other_fence = False
        elif fence.group(1).lower() in _PYTHON_LANGS:
            self._in_python = True
            self._code_start = self._code_complete_at = end
        else:
            self._in_other_fence = True  # e.g. an ```output block: its closing fence opens nothing

    def _check_code_line(self, start: int, end: int) -> None:
        source = self.text[self._code_start:end]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # invalid escapes and the like are warnings, not faults
                compiled = codeop.compile_command(source, "<stream>", "exec")
        except (SyntaxError, ValueError, OverflowError) as exc:
            message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
            line = self.text[start:end].rstrip("\n")
            self._detect("code_syntax", end, start, f"{message}: {line[:120]!r}")
            return
        if compiled is not None:
            self._code_complete_at = end

    def _close_python_block(self, start: int, end: int) -> None:
        self._in_python = False
        source = self.text[self._code_start:start]
        if self.policy.check_code:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ast.parse(source)
            except (SyntaxError, ValueError, OverflowError) as exc:
                message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
                # An unfinished statement at the fence: back to the last line where the code was complete.
                self._detect("code_syntax", end, self._code_complete_at, f"block closed unfinished: {message}")
                return
        if self.policy.stop_after_code_block:
            self._detect("code_end", end, end, "stopped after the code block (its output comes from running it)")
        self.answer_seen = True  # a program is an answer for program-of-thought

    # -- degeneration ------------------------------------------------------------------------------------------

    def _scan_words(self) -> None:
        text = self.text
        limit = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1  # only words known to be complete
        n, repeats = self.policy.ngram_words, self.policy.ngram_repeats
        for match in _WORD.finditer(text, self._word_pos, limit):
            self._word_pos = match.end()
            self._window.append((match.group(), match.start()))
            if len(self._window) > n:
                del self._window[0]
            if len(self._window) < n:
                continue
            key = " ".join(word for word, _ in self._window)
            starts = self._ngrams.setdefault(key, [])
            first_word_at = self._window[0][1]
            if starts and first_word_at < starts[-1] + len(key) // 2:
                continue  # overlaps the previous copy (a run of one word): the loop detector's business
            starts.append(first_word_at)
            if len(starts) >= repeats:
                # Keep the first copy, cut from the second: the first may well have been meant.
                self._detect("repetition", match.end(), _last_boundary(text, starts[1]),
                             f"{len(starts)} copies of {key[:80]!r}")
                return

    def _check_loop(self) -> None:
        text = self.text
        p = self.policy
        # Checked at every delta: a short run (a few copies of a token pattern) may be over by the next check.
        if len(text) == self._loop_checked or len(text) - self.prefix_len < p.loop_min_chars // 2:
            return
        self._loop_checked = len(text)
        tail = text[-(p.loop_max_period + 1):]
        last = len(tail) - 1
        j = last
        # Only periods at which the last character recurs can be periods of the tail: visit just those.
        while (j := tail.rfind(tail[-1], 0, j)) >= 0:
            period = last - j
            # The tail is `repeats` copies of a unit when it equals itself shifted by one unit.
            span = max(p.loop_min_chars, period * p.loop_min_repeats) - period
            if len(text) < span + period:
                return
            if text[-span:] != text[-span - period:-period]:
                continue
            begin = len(text) - span - period
            while begin > 0 and text[begin - 1] == text[begin - 1 + period]:
                begin -= 1  # back to where the periodic run starts
            unit = text[begin:begin + period]
            if not unit.strip():
                detail = f"{len(text) - begin} characters of whitespace"
            else:
                detail = f"{(len(text) - begin) // period} copies of {unit[:80]!r}"
            self._detect("loop", len(text), _last_boundary(text, begin + period), detail)
            return

    # -- length ------------------------------------------------------------------------------------------------

    def _check_length(self) -> None:
        text = self.text
        if not self.answer_seen:
            if _ANSWER.search(text, max(0, self._answer_scan - 16)):
                self.answer_seen = True
            self._answer_scan = len(text)
        if self.policy.max_chars is not None and len(text) > self.policy.max_chars:
            self._detect("runaway", len(text), len(text), f"longer than {self.policy.max_chars} characters")
        elif self.budget_chars is not None and len(text) >= self.budget_chars and not self.answer_seen:
            self._detect("budget", len(text), len(text),
                         f"about {self.policy.answer_reserve_tokens} tokens of max_tokens left and no answer yet")


@dataclass
class _CallRecord:
    """What one wrapped call did, for ``ChatResponse.extra["regeneration"]``."""

    regenerations: int = 0
    discarded_chars: int = 0
    cuts: list[dict[str, Any]] = field(default_factory=list)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    resume_mode: str | None = None
    generation_s: float = 0.0
    gave_up: str | None = None
    stopped: str | None = None

    def to_dict(self, chars_per_token: float) -> dict[str, Any]:
        doc = asdict(self)
        doc["discarded_tokens_est"] = round(self.discarded_chars / chars_per_token)
        return doc


def _restarts(segment: str, kept: str) -> bool:
    """Whether a user-turn continuation starts the answer over (it begins with the kept text's first line)."""
    head = kept.strip().split("\n", 1)[0][:80]
    return len(head) >= 12 and segment.lstrip().startswith(head)


class RegeneratingBackend:
    """A `ModelBackend` that regenerates from where the inner backend's streamed answer went wrong.

    Calls always stream from ``inner`` (whether or not the caller passes ``on_delta``); the caller's ``on_delta``
    gets the final text once, after all cuts (text already cut away is never shown).

    Args:
        inner: the streaming backend that generates (OpenAI-compatible, in-process, ...).
        policy: detectors and resumption settings.
    """

    def __init__(self, inner: ModelBackend, policy: RegenerationPolicy | None = None) -> None:
        self.inner = inner
        self.policy = policy or RegenerationPolicy()
        # Whether the endpoint takes continue_final_message: None until a resumption finds out.
        self.continue_supported: bool | None = {"auto": None, "continue": True, "user_turn": False}[self.policy.resume]

    @property
    def model(self) -> str:
        return self.inner.model

    def cache_identity(self) -> dict[str, Any]:
        return {**self.inner.cache_identity(), "regeneration": self.policy.describe()}

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        return self.inner.request_body(request)

    async def check(self) -> list[str]:
        return await self.inner.check()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def complete(self, request: ChatRequest, on_delta: DeltaCallback | None = None) -> ChatResponse:
        """Generate one answer, cutting and resuming as the policy says.

        Returns:
            The final answer; ``finish_reason`` is the last round's (``stop`` after ``code_end``, ``length``
            after ``runaway``, ``budget`` or when regenerations ran out on a loop); ``extra["regeneration"]``
            describes the cuts. Token counts and latencies are summed over the rounds.
        """
        policy = self.policy
        record = _CallRecord()
        started = time.monotonic()
        kept = ""
        prompt_tokens = completion_tokens = 0
        usage_known = True
        latency = 0.0
        retries = 0
        reasoning: list[str] = []
        text, finish = "", None
        while True:
            regeneration = record.regenerations
            budget_chars = None
            max_tokens = request.max_tokens
            if request.max_tokens is not None:
                kept_tokens = int(len(kept) / policy.chars_per_token)
                max_tokens = max(1, request.max_tokens - kept_tokens)
                budget_chars = int((request.max_tokens - policy.answer_reserve_tokens) * policy.chars_per_token)
            monitor = _StreamMonitor(policy, kept, budget_chars)
            response, mode = await self._generate(request, kept, regeneration, max_tokens, monitor, record)
            latency += response.latency_s
            retries += response.retries
            if response.reasoning:
                reasoning.append(response.reasoning)
            if response.prompt_tokens is None or response.completion_tokens is None:
                usage_known = False
            else:
                prompt_tokens += response.prompt_tokens
                completion_tokens += response.completion_tokens
            segment = response.text
            restarted = mode == "user_turn" and _restarts(segment, kept)
            if restarted:
                # Asked to continue, the model wrote the answer again from its beginning: take the new one.
                record.discarded_chars += len(kept)
                kept = ""
            if restarted or monitor.text != kept + segment:
                # The callback saw other text than the response holds (a retried stream, a restart): read the
                # response again as a whole so that positions refer to the text that is kept.
                monitor = _StreamMonitor(policy, kept, budget_chars)
                monitor.feed(segment)
            record.rounds.append({"regeneration": regeneration, "resume": mode, "chars": len(segment),
                                  "finish_reason": response.finish_reason, "latency_s": round(response.latency_s, 4),
                                  "restarted": restarted,
                                  "temperature": self._adjusted(request, regeneration, max_tokens).temperature})
            if monitor.detection is None and response.finish_reason != "stopped_by_client":
                monitor.finish()
            detection = monitor.detection
            if detection is None:
                text, finish = kept + segment, response.finish_reason
                break
            full = monitor.text
            cut = {"round": regeneration, "reason": detection.reason, "at": detection.at, "cut_at": detection.cut,
                   "discarded_chars": len(full) - detection.cut, "detail": detection.detail,
                   "discarded": full[detection.cut:detection.cut + 200]}
            record.cuts.append(cut)
            record.discarded_chars += len(full) - detection.cut
            if detection.reason in STOPPING_REASONS:
                cut["action"] = "stop"
                record.stopped = detection.reason
                text = full[:detection.cut]
                finish = "stop" if detection.reason == "code_end" else "length"
                break
            if record.regenerations >= policy.max_regenerations:
                cut["action"] = "give_up"
                record.gave_up = detection.reason
                if detection.reason == "code_syntax":
                    # Keep the broken line: running the code shows the error, which is what the caller handles.
                    text, finish = full[:detection.at], "stop"
                    record.discarded_chars -= detection.at - detection.cut
                    cut["discarded_chars"] = len(full) - detection.at
                else:
                    text, finish = full[:detection.cut], "length"
                break
            cut["action"] = "regenerate"
            record.regenerations += 1
            kept = full[:detection.cut]
        record.generation_s = round(latency, 4)
        if on_delta is not None and text and on_delta(text) is False:
            finish = "stopped_by_client"
        return ChatResponse(
            text=text, finish_reason=finish,
            prompt_tokens=prompt_tokens if usage_known else None,
            completion_tokens=completion_tokens if usage_known else None,
            latency_s=latency, total_s=time.monotonic() - started, retries=retries,
            reasoning="".join(reasoning) or None,
            extra={"regeneration": record.to_dict(policy.chars_per_token)},
        )

    def _adjusted(self, request: ChatRequest, regeneration: int, max_tokens: int | None) -> ChatRequest:
        """The request for regeneration ``regeneration`` (0: the original sampling)."""
        if regeneration == 0:
            return replace(request, max_tokens=max_tokens)
        p = self.policy
        temperature = request.temperature
        if temperature is not None and p.temperature_step:
            # Never lower a temperature the request set above the cap.
            temperature = round(min(max(p.max_temperature, temperature),
                                    temperature + regeneration * p.temperature_step), 4)
        extra_body = dict(request.extra_body)
        if p.penalty_field and p.penalty_step:
            neutral = _NEUTRAL_PENALTY.get(p.penalty_field, 0.0)
            base = float(extra_body.get(p.penalty_field, neutral) or neutral)
            extra_body[p.penalty_field] = round(min(max(p.max_penalty, base), base + regeneration * p.penalty_step), 4)
        # Another seed: a seeded server would otherwise replay the same continuation.
        seed = None if request.seed is None else request.seed + 1_000_003 * regeneration
        return replace(request, temperature=temperature, extra_body=extra_body, seed=seed, max_tokens=max_tokens,
                       try_index=request.try_index)

    async def _generate(self, request: ChatRequest, kept: str, regeneration: int, max_tokens: int | None,
                        monitor: _StreamMonitor, record: _CallRecord) -> tuple[ChatResponse, str]:
        """Stream one round: the original request, or a resumption from ``kept``."""
        adjusted = self._adjusted(request, regeneration, max_tokens)
        if not kept:
            return await self.inner.complete(adjusted, monitor), "fresh"
        partial = {"role": "assistant", "content": kept}
        rejected = False
        if self.continue_supported is not False:
            resumed = replace(adjusted, messages=[*request.messages, partial],
                              extra_body={**adjusted.extra_body, **_CONTINUE_BODY})
            try:
                response = await self.inner.complete(resumed, monitor)
            except ModelCallError as exc:
                if self.continue_supported or exc.status not in (400, 422):
                    raise
                rejected = True
            else:
                self.continue_supported = True
                record.resume_mode = "continue"
                return response, "continue"
        record.resume_mode = "user_turn"
        resumed = replace(adjusted, messages=[*request.messages, partial,
                                              {"role": "user", "content": self.policy.continue_instruction}])
        response = await self.inner.complete(resumed, monitor)
        if rejected:
            # The same request without the field went through, so the 400 was about the field (not, say, the
            # context length): resume with a user turn from now on.
            self.continue_supported = False
        return response, "user_turn"
