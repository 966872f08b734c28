"""Where a benchmark's rows come from: the copy bundled with mathgauge (checksummed), the Hugging Face hub, or a
local JSONL / JSONL.gz / Parquet file."""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from ._registry import Benchmark

#: The folder of the bundled copies (see its README for licences and checksums).
BUNDLED_DIR = Path(__file__).with_name("data")
#: ``--source`` values: ``auto`` takes the bundled copy when there is one, else the hub.
SOURCES = ("auto", "bundled", "hub")


@dataclass
class RawRows:
    """Rows read from one source, in file order, each with its ``file:line`` and the file it came from.

    ``description`` is what a run records as its data source (kind, file or repository, checksum).
    """

    rows: list[tuple[str, Path, dict[str, Any]]] = field(default_factory=list)
    description: dict[str, str] = field(default_factory=dict)
    from_hub: bool = False


def read_rows(spec: Benchmark, *, data_file: str | Path | None, hub_repo: str | None, source: str) -> RawRows:
    """Read every row of the benchmark from the source the options name.

    Raises:
        DatasetError: an unknown or impossible source, a missing or malformed file, a damaged bundled copy, or a
            hub download that failed (naming ``--data-file`` as the way out).
    """
    if source not in SOURCES:
        raise DatasetError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    if data_file is not None:
        if source != "auto":
            raise DatasetError(f"--source {source} and --data-file both say where the problems come from; give one")
        path = Path(data_file)
        return RawRows(list(_rows_of(path)), {"file": path.resolve().name})
    if hub_repo is not None and source == "bundled":
        raise DatasetError("--hub-repo names a hub mirror; it cannot be combined with --source bundled")
    if source == "bundled" or (source == "auto" and hub_repo is None and spec.bundled):
        return read_bundled(spec)
    repo = hub_repo or spec.hub_repo
    rows = [r for path in download(spec, repo) for r in _rows_of(path)]
    return RawRows(rows, {"hub_repo": repo}, from_hub=True)


def read_bundled(spec: Benchmark) -> RawRows:
    """The copy shipped with mathgauge, after checking its SHA-256 against the registry's."""
    if not spec.bundled:
        raise DatasetError(f"benchmark {spec.name!r} has no copy bundled with mathgauge ({spec.licence}); "
                           f"use --source hub or --data-file PATH")
    path = BUNDLED_DIR / spec.bundled
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DatasetError(f"{path}: the bundled copy of {spec.name} cannot be read ({exc}); reinstall mathgauge, "
                           f"or use --source hub or --data-file PATH") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.bundled_sha256:
        raise DatasetError(f"{path}: the bundled copy of {spec.name} fails its checksum (SHA-256 {digest[:16]}..., "
                           f"expected {str(spec.bundled_sha256)[:16]}...): the file is damaged; reinstall mathgauge, "
                           f"or use --source hub or --data-file PATH")
    lines = _utf8_lines(raw, str(path), "gzip-compressed JSONL")
    label = f"{spec.bundled} (bundled)"
    rows = [(where, path, row) for where, row in _jsonl_lines(lines, label)]
    return RawRows(rows, {"bundled": spec.bundled, "sha256": digest})


def download(spec: Benchmark, repo: str) -> list[Path]:
    """The benchmark's files from the hub (or the local hub cache), in a stable order."""
    try:
        from huggingface_hub import snapshot_download

        local = Path(snapshot_download(repo_id=repo, repo_type="dataset", allow_patterns=list(spec.hub_files)))
    except Exception as exc:  # the hub client raises many types; all mean "could not get the files"
        raise DatasetError(
            f"could not download {repo!r} from the Hugging Face hub ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no detail'}); "
            f"pass --data-file PATH to load a local JSONL or Parquet copy"
        ) from None
    files = matching_files(local, spec.hub_files)
    if not files:
        raise DatasetError(f"hub repository {repo!r} has no files matching {list(spec.hub_files)}")
    return files


def matching_files(root: Path, patterns: Iterable[str]) -> list[Path]:
    """Files under ``root`` whose relative path matches a pattern the way the hub client's ``allow_patterns`` does
    (``fnmatch``: ``*`` also crosses folders), sorted by path."""
    found = set()
    for path in root.rglob("*"):
        if path.is_file():
            rel = path.relative_to(root).as_posix()
            if any(fnmatch.fnmatch(rel, p) for p in patterns):
                found.add(path)
    return sorted(found)


def _rows_of(path: Path) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    for where, row in read_records(path):
        yield where, path, row


def read_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """``("file:line", row)`` for every row of a ``.jsonl``/``.json``/``.ndjson`` (optionally ``.gz``) or
    ``.parquet`` file."""
    if not path.exists():
        raise DatasetError(f"{path}: data file not found")
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes[-1:] == [".parquet"]:
        yield from _read_parquet(path)
    elif suffixes[-1:] == [".gz"] and suffixes[:1] in ([".jsonl"], [".json"], [".ndjson"]):
        try:
            raw = gzip.decompress(path.read_bytes())
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise DatasetError(f"{path}: not gzip-compressed UTF-8 JSONL ({exc})") from None
        yield from _jsonl_lines(_utf8_lines(raw, str(path), "gzip-compressed UTF-8 JSONL"), str(path))
    elif suffixes[-1:] in ([".jsonl"], [".json"], [".ndjson"]):
        yield from read_jsonl_records(path)
    else:
        raise DatasetError(f"{path}: unsupported data file type {path.suffix!r}; expected .jsonl, .jsonl.gz or "
                           f".parquet")


def read_jsonl_records(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield ``("file:line", object)`` for every non-blank line of a JSONL file; `DatasetError` names the line."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read data file: {exc.strerror}") from None
    with handle:
        yield from _jsonl_lines(_decoded(handle, str(path)), str(path))


def _decoded(lines: Iterable[bytes], label: str) -> Iterator[str]:
    """Each line as text; a line that is not UTF-8 raises `DatasetError` naming the line and the byte."""
    for lineno, raw in enumerate(lines, start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DatasetError(_not_utf8(label, lineno, raw, exc, "JSONL")) from None


def _utf8_lines(raw: bytes, label: str, expected: str) -> list[str]:
    """The lines of a whole file's bytes as text; not UTF-8 raises `DatasetError` naming the line and the byte."""
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        lineno = raw.count(b"\n", 0, exc.start) + 1
        start = raw.rfind(b"\n", 0, exc.start) + 1
        line_exc = UnicodeDecodeError(exc.encoding, exc.object, exc.start - start, exc.end - start, exc.reason)
        raise DatasetError(_not_utf8(label, lineno, raw[start:], line_exc, expected)) from None


def _not_utf8(label: str, lineno: int, line: bytes, exc: UnicodeDecodeError, expected: str) -> str:
    byte = line[exc.start:exc.start + 1].hex()
    return (f"{label}:{lineno}: not UTF-8 text (byte 0x{byte} at column {exc.start + 1}); expected {expected}: "
            f"save the file as UTF-8")


def _jsonl_lines(lines: Iterable[str], label: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{label}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{label}:{lineno}: expected a JSON object, got {type(row).__name__}")
        yield f"{label}:{lineno}", row


def _read_parquet(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise DatasetError(f"{path}: cannot read Parquet file ({exc})") from None
    for i, row in enumerate(rows, start=1):
        yield f"{path} row {i}", row
