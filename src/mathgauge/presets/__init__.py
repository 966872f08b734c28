"""Presets: named sets of `mathgauge run` options (data files beside this module) that reproduce a protocol."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from ..errors import ConfigError

_DIR = Path(__file__).parent
#: Keys whose values are files shipped beside the preset.
_FILE_KEYS = ("manifest", "prompt_template", "judge_rubric")


def list_presets() -> list[str]:
    """Names of the shipped presets."""
    return sorted(p.stem for p in _DIR.glob("*.toml"))


def load_preset(name: str) -> dict[str, Any]:
    """The option values of a preset (file keys resolved to paths), ``description`` included.

    Raises:
        ConfigError: an unknown preset, naming the known ones.
    """
    path = _DIR / f"{name}.toml"
    if not path.exists():
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(list_presets())}")
    values = tomllib.loads(path.read_text(encoding="utf-8"))
    for key in _FILE_KEYS:
        if key in values and (_DIR / values[key]).exists():
            values[key] = str(_DIR / values[key])
    return values
