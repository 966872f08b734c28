"""Prompt templates as data: a TOML file with `system` and `user` messages (and optional few-shot `[[examples]]`),
or plain text used as the user message."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from ..errors import ConfigError

PLACEHOLDER = "{problem}"
_BUILTIN_DIR = Path(__file__).with_name("templates")
DEFAULT_TEMPLATE = "cot_boxed"


@dataclass(frozen=True)
class PromptTemplate:
    """A chat prompt with one ``{problem}`` placeholder.

    Args:
        name: a label stored with the run.
        user: the user message; must contain ``{problem}``.
        system: an optional system message ("" for none).
        answer_format: how the template asks for the final answer (the grader's extraction format).
        examples: few-shot examples as (problem, solution) pairs, sent as earlier user/assistant turns (the
            multi-turn way chat models take shots); empty for zero-shot.
    """

    name: str
    user: str
    system: str = ""
    answer_format: str = "boxed"
    examples: tuple[tuple[str, str], ...] = ()

    @property
    def shots(self) -> int:
        """How many solved examples precede the problem."""
        return len(self.examples)

    def render(self, problem: str) -> list[dict[str, str]]:
        """The chat messages for one problem (plain replacement: LaTeX braces are left alone)."""
        messages = []
        if self.system:
            messages.append({"role": "system", "content": self.system.replace(PLACEHOLDER, problem)})
        for example_problem, solution in self.examples:
            messages.append({"role": "user", "content": self.user.replace(PLACEHOLDER, example_problem)})
            messages.append({"role": "assistant", "content": solution})
        messages.append({"role": "user", "content": self.user.replace(PLACEHOLDER, problem)})
        return messages

    @property
    def fingerprint(self) -> str:
        """A short hash of the text, so runs with different wording never look alike."""
        text = f"{self.system}\x00{self.user}\x00{self.answer_format}"
        for example_problem, solution in self.examples:
            text += f"\x00{example_problem}\x00{solution}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "system": self.system, "user": self.user,
                               "answer_format": self.answer_format}
        if self.examples:  # zero-shot templates keep the form runs were stored with before examples existed
            doc["shots"] = self.shots
            doc["examples"] = [{"problem": p, "solution": s} for p, s in self.examples]
        return doc


def builtin_templates() -> list[str]:
    """Names of the templates shipped with mathgauge."""
    return sorted(p.stem for p in _BUILTIN_DIR.glob("*.toml"))


def load_template(source: str | Path | None = None) -> PromptTemplate:
    """Load a template by built-in name, from a ``.toml``/text file, or the default when ``source`` is None.

    Raises:
        ConfigError: unreadable file, missing ``user`` field, or no ``{problem}`` placeholder.
    """
    if source is None:
        source = DEFAULT_TEMPLATE
    path = Path(source)
    if not path.exists() and (_BUILTIN_DIR / f"{source}.toml").exists():
        path = _BUILTIN_DIR / f"{source}.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{source}: cannot read prompt template ({exc.strerror}); built-in templates: "
            f"{', '.join(builtin_templates())}"
        ) from None
    if path.suffix == ".toml":
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML ({exc})") from None
        if not isinstance(raw.get("user"), str):
            raise ConfigError(f"{path}: field 'user' (the user message, a string with {PLACEHOLDER}) is missing")
        template = PromptTemplate(
            name=str(raw.get("name", path.stem)),
            user=raw["user"],
            system=str(raw.get("system", "")),
            answer_format=str(raw.get("answer_format", "boxed")),
            examples=_examples(raw.get("examples", []), path),
        )
    else:
        template = PromptTemplate(name=path.stem, user=text.rstrip("\n"))
    if PLACEHOLDER not in template.user and PLACEHOLDER not in template.system:
        raise ConfigError(f"{path}: the template has no {PLACEHOLDER} placeholder")
    return template


def _examples(raw: object, path: Path) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: 'examples' must be an array of tables ([[examples]] with problem and solution)")
    examples = []
    for i, example in enumerate(raw, 1):
        if not isinstance(example, dict) or not all(isinstance(example.get(k), str) and example[k].strip()
                                                    for k in ("problem", "solution")):
            raise ConfigError(f"{path}: example {i} needs 'problem' and 'solution' strings")
        examples.append((example["problem"], example["solution"]))
    return tuple(examples)
