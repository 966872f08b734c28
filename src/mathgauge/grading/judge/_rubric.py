"""The judge rubric: a versioned data file (``rubric_v1.toml``) with the scale and the prompts built from it."""

from __future__ import annotations

import string
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ...errors import ConfigError

#: The rubric used when none is named.
DEFAULT_RUBRIC = "v1"
_SCALE = (1, 2, 3, 4, 5)
_USER_FIELDS = {"problem", "reference_answer", "reference_solution", "response", "scale"}


@dataclass(frozen=True)
class Rubric:
    """A 5-point judge rubric.

    Args:
        version: stored with every score (``v1``); scores under different versions are not comparable.
        system: the judge's system message.
        user: the grading request, a `str.format` template over ``problem``, ``reference_answer``,
            ``reference_solution``, ``response`` and ``scale``.
        retry: the follow-up sent after an unreadable reply (may use ``scale``).
        scores: what each score 1-5 means.
        correct_at: the lowest score that counts as a correct answer.
    """

    version: str
    system: str
    user: str
    retry: str
    scores: dict[int, str]
    correct_at: int = 4

    def scale_text(self) -> str:
        """The scale as the judge reads it, best score first."""
        return "\n".join(f"{score} = {self.scores[score]}" for score in sorted(self.scores, reverse=True))

    def messages(self, problem: str, reference_answer: str, reference_solution: str,
                 response: str) -> list[dict[str, str]]:
        """The chat messages asking for one score."""
        user = self.user.format(problem=problem, reference_answer=reference_answer,
                                reference_solution=reference_solution, response=response, scale=self.scale_text())
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def retry_message(self) -> dict[str, str]:
        """The user turn sent after an unreadable reply."""
        return {"role": "user", "content": self.retry.format(scale=self.scale_text())}


def load_rubric(rubric: str | Path | None = None) -> Rubric:
    """Load a rubric by version (``"v1"``, the files shipped beside this module) or from a ``.toml`` path.

    Args:
        rubric: a shipped version, a path, or ``None`` for `DEFAULT_RUBRIC`.

    Raises:
        ConfigError: unknown version, unreadable file, or a file missing fields or placeholders.
    """
    rubric = rubric or DEFAULT_RUBRIC
    path = Path(rubric)
    if path.suffix == ".toml" or path.exists():
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the judge rubric {where}: {exc.strerror or exc}") from None
    else:
        where = f"rubric_{rubric}.toml"
        try:
            text = resources.files(__package__).joinpath(where).read_text(encoding="utf-8")
        except (FileNotFoundError, OSError):
            raise ConfigError(f"unknown judge rubric {rubric!r}; expected {DEFAULT_RUBRIC!r} or a .toml file") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"judge rubric {where} is not valid TOML: {exc}") from None
    return _from_doc(doc, where)


def _from_doc(doc: dict, where: str) -> Rubric:
    missing = [k for k in ("version", "system", "user", "retry", "scores") if k not in doc]
    if missing:
        raise ConfigError(f"judge rubric {where} lacks {', '.join(missing)}")
    try:
        scores = {int(k): str(v) for k, v in dict(doc["scores"]).items()}
    except (TypeError, ValueError):
        raise ConfigError(f"judge rubric {where}: [scores] keys must be the numbers 1 to 5") from None
    if sorted(scores) != list(_SCALE):
        raise ConfigError(f"judge rubric {where}: [scores] must define exactly 1, 2, 3, 4 and 5")
    used = {name for _, name, _, _ in string.Formatter().parse(str(doc["user"])) if name}
    if used - _USER_FIELDS or not {"problem", "reference_answer", "response"} <= used:
        raise ConfigError(
            f"judge rubric {where}: `user` may use only {{{'}, {'.join(sorted(_USER_FIELDS))}}} and must use "
            f"{{problem}}, {{reference_answer}} and {{response}} (found {sorted(used)})"
        )
    correct_at = int(doc.get("correct_at", 4))
    if correct_at not in _SCALE:
        raise ConfigError(f"judge rubric {where}: correct_at must be between 1 and 5")
    return Rubric(version=str(doc["version"]), system=str(doc["system"]), user=str(doc["user"]),
                  retry=str(doc["retry"]), scores=scores, correct_at=correct_at)
