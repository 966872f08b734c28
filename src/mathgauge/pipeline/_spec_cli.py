"""The ``mathgauge run`` options, derived from `RunSpec`'s fields, and the spec a parsed command line asks for.

Every option's flag, type, choices, help and default come from the field's metadata and default, so the command
line cannot drift from the Python API. A preset becomes the parser's defaults before parsing: whatever the user
types wins. Options scoped per benchmark also take ``BENCHMARK=VALUE`` (``--samples aime24=64``, ``--data-file
gsm8k=test.jsonl``), which goes to the spec's ``per_benchmark`` settings.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from collections.abc import Callable
from dataclasses import MISSING
from typing import Any

from ..solve._sampling import SamplingConfig
from ._spec import RunSpec, preset_values

_GROUP_TITLES = {"problems": "problems", "solving": "solving", "grading": "grading", "generation": "generation",
                 "execution": "execution"}


def csv_list(value: str) -> list[str]:
    """``a, b,c`` -> ``["a", "b", "c"]``."""
    return [v.strip() for v in value.split(",") if v.strip()]


def _levels(value: str) -> list[int]:
    try:
        return [int(v) for v in csv_list(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated levels 1-5, got {value!r}") from None


def _columns(value: str) -> dict[str, str]:
    mapping = {}
    for item in csv_list(value):
        name, sep, column = item.partition("=")
        if not sep or not name or not column:
            raise argparse.ArgumentTypeError(f"expected FIELD=COLUMN pairs (problem=question), got {item!r}")
        mapping[name.strip()] = column.strip()
    return mapping


def key_value(value: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with a JSON value (numbers, true/false, null, lists), else the raw string."""
    key, sep, raw = value.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        parsed = raw
    return key.strip(), parsed


_TYPES: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str, "csv": csv_list, "levels": _levels,
                                           "columns": _columns}


class _PairsAction(argparse.Action):
    """Repeatable ``KEY=VALUE`` into a dict (a fresh one: the default is never changed)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        pairs = dict(getattr(namespace, self.dest) or {})
        key, value = values
        pairs[key] = value
        setattr(namespace, self.dest, pairs)


def _benchmark_prefixed(raw: str) -> tuple[str | None, str]:
    """``aime24=64`` -> (``aime24``, ``64``) when the part before ``=`` is a registry benchmark; else (None, raw)."""
    head, sep, rest = raw.partition("=")
    if sep and head.strip():
        from ..datasets import list_benchmarks

        if head.strip() in {b.name for b in list_benchmarks()}:
            return head.strip(), rest
    return None, raw


class _ScopedAction(argparse.Action):
    """An option a run of several benchmarks may set per benchmark: ``VALUE`` sets it for every benchmark,
    ``BENCHMARK=VALUE`` (repeatable) for that one, into ``per_benchmark`` (a fresh dict: defaults are shared)."""

    def __init__(self, *args: Any, convert: Any, setting: str, allowed: tuple[str, ...] | None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.convert, self.setting, self.allowed = convert, setting, allowed

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        benchmark, raw = _benchmark_prefixed(str(values))
        try:
            value = self.convert(raw)
        except (ValueError, argparse.ArgumentTypeError) as exc:
            detail = str(exc) if isinstance(exc, argparse.ArgumentTypeError) else f"invalid value {raw!r}"
            raise argparse.ArgumentError(self, detail) from None
        if self.allowed is not None and value not in self.allowed:
            raise argparse.ArgumentError(self, f"invalid choice {raw!r} (choose from {', '.join(self.allowed)})")
        if benchmark is None:
            setattr(namespace, self.dest, value)
            return
        per = {name: dict(settings) for name, settings in (getattr(namespace, "per_benchmark", None) or {}).items()}
        per.setdefault(benchmark, {})[self.setting] = value
        namespace.per_benchmark = per


_SCOPE_HELP = {
    "benchmark": "; BENCHMARK=VALUE sets it for one benchmark of several (repeatable)",
    "data": "; with several benchmarks give it per benchmark: BENCHMARK=VALUE (repeatable)",
}


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def spec_options() -> list[tuple[str, dataclasses.Field[Any], str]]:
    """Every option of ``mathgauge run`` as (dest, field, help group): the `RunSpec` fields, its sampling fields
    with dests ``sampling.NAME``."""
    out: list[tuple[str, dataclasses.Field[Any], str]] = []
    for f in dataclasses.fields(RunSpec):
        if f.metadata.get("kind") == "nested":
            out.extend((f"sampling.{s.name}", s, f.metadata["group"]) for s in dataclasses.fields(SamplingConfig))
        else:
            out.append((f.name, f, f.metadata.get("group", "")))
    return out


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Add every `RunSpec` option to ``parser`` (the ``run`` subcommand)."""
    groups: dict[str, Any] = {"": parser}
    for dest, f, group in spec_options():
        meta = f.metadata
        target = groups.get(group)
        if target is None:
            target = groups[group] = parser.add_argument_group(_GROUP_TITLES.get(group, group))
        flag = meta.get("flag") or "--" + f.name.replace("_", "-")
        default = _default(f)
        kind = meta.get("kind", "value")
        metavar = meta.get("metavar") or flag[2:].upper().replace("-", "_")
        help_text = meta["help"].replace("%", "%%")
        scope = meta.get("scope", "run")
        if kind == "per_benchmark":  # filled by the BENCHMARK=VALUE forms of the scoped options
            parser.set_defaults(**{dest: default})
        elif scope != "run":
            if default not in (MISSING, None) and not isinstance(default, (dict, list)):
                help_text += f" (default {default})"
            choices = meta.get("choices")
            target.add_argument(flag, dest=dest, action=_ScopedAction, convert=_TYPES[meta.get("type") or "str"],
                                setting=f.name, allowed=choices, default=default,
                                metavar="{" + ",".join(choices) + "}" if choices else metavar,
                                help=help_text + _SCOPE_HELP[scope])
        elif kind == "switch":
            target.add_argument(flag, dest=dest, action="store_true", default=default, help=help_text)
        elif kind == "negated":
            target.add_argument(flag, dest=dest, action="store_false", default=default, help=help_text)
        elif kind == "pairs":
            target.add_argument(flag, dest=dest, action=_PairsAction, type=key_value, default=default,
                                metavar=metavar, help=help_text)
        elif kind == "repeat":
            target.add_argument(flag, dest=dest, action="append", default=default, metavar=metavar, help=help_text)
        else:
            if default not in (MISSING, None) and not isinstance(default, (dict, list)):
                help_text += f" (default {default})"
            target.add_argument(flag, dest=dest, type=_TYPES[meta.get("type") or "str"], choices=meta.get("choices"),
                                metavar=None if meta.get("choices") else metavar, required=default is MISSING,
                                default=None if default is MISSING else default, help=help_text)


def apply_preset(parser: argparse.ArgumentParser, name: str) -> str:
    """Make a preset's values the defaults of ``parser`` (before parsing, so options typed on the command line
    win); returns the preset's description.

    Raises:
        ConfigError: an unknown preset, or one naming an option that does not exist.
    """
    from ..presets import load_preset

    values = preset_values(name)
    sampling = {f.name for f in dataclasses.fields(SamplingConfig)}
    parser.set_defaults(**{f"sampling.{k}" if k in sampling else k: v for k, v in values.items()})
    return str(load_preset(name).get("description", ""))


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The `RunSpec` a parsed ``run`` command line asks for."""
    values: dict[str, Any] = {}
    sampling: dict[str, Any] = {}
    for dest, f, _ in spec_options():
        value = copy.copy(getattr(args, dest))  # parser defaults are shared between parses: never hand them out
        if dest.startswith("sampling."):
            sampling[f.name] = value
        else:
            values[dest] = value
    return RunSpec(**values, sampling=SamplingConfig(**sampling))
