"""Facts about a GGUF file without loading the model: its metadata values and a fingerprint of its contents.

The reader follows the GGUF layout (version 2 and 3, little-endian): ``GGUF``, version (u32), tensor count (u64),
key-value count (u64), then each key (u64 length + UTF-8) with a value type (u32) and a value. Arrays (the
vocabulary, merges) are skipped; scalars and strings are returned.
"""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import ConfigError

# GGUF value type -> struct format of a scalar of that type.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
#: Bytes read from each end of the file for its fingerprint: the metadata at the start, the last tensors' data
#: at the end (two fine-tunes of one base share the first but not the second).
_FINGERPRINT_CHUNK = 4 << 20


class _Truncated(Exception):
    pass


def _read(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise _Truncated
    return data


def _unpack(handle: BinaryIO, fmt: str) -> Any:
    return struct.unpack(fmt, _read(handle, struct.calcsize(fmt)))[0]


def _string(handle: BinaryIO) -> str:
    return _read(handle, _unpack(handle, "<Q")).decode("utf-8", "replace")


def _skip_array(handle: BinaryIO) -> None:
    item_type, count = _unpack(handle, "<I"), _unpack(handle, "<Q")
    if item_type in _SCALARS:
        handle.seek(struct.calcsize(_SCALARS[item_type]) * count, 1)
    elif item_type == _STRING:
        for _ in range(count):
            handle.seek(_unpack(handle, "<Q"), 1)
    elif item_type == _ARRAY:
        for _ in range(count):
            _skip_array(handle)
    else:
        raise ValueError(f"unknown array item type {item_type}")


def read_gguf_metadata(path: Path) -> dict[str, Any]:
    """The scalar and string metadata of the GGUF file ``path`` (``general.name``, ``tokenizer.chat_template``,
    ``<arch>.context_length``, ...); arrays are left out.

    Args:
        path: a GGUF file.

    Raises:
        ConfigError: the file is missing, is not GGUF, or ends inside its metadata; the message names the file.
    """
    try:
        with open(path, "rb") as handle:
            if handle.read(4) != b"GGUF":
                raise ConfigError(f"{path}: not a GGUF file (it does not start with 'GGUF')")
            version = _unpack(handle, "<I")
            if version not in (2, 3):
                raise ConfigError(f"{path}: GGUF version {version} is not supported (expected 2 or 3)")
            _unpack(handle, "<Q")  # tensor count
            values: dict[str, Any] = {}
            for _ in range(_unpack(handle, "<Q")):
                key = _string(handle)
                kind = _unpack(handle, "<I")
                if kind in _SCALARS:
                    values[key] = _unpack(handle, _SCALARS[kind])
                elif kind == _STRING:
                    values[key] = _string(handle)
                elif kind == _ARRAY:
                    _skip_array(handle)
                else:
                    raise ConfigError(f"{path}: metadata {key!r} has an unknown value type {kind}")
            return values
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found; expected a GGUF model file or a bundled model alias") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; expected a GGUF model file") from None
    except (_Truncated, ValueError):
        raise ConfigError(f"{path}: the GGUF metadata is cut short or corrupt") from None


def gguf_fingerprint(path: Path) -> str:
    """A digest of the file's size and its first and last 4 MiB: tells model files apart in the response cache
    without reading gigabytes at every start."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(str(size).encode())
    with open(path, "rb") as handle:
        digest.update(handle.read(_FINGERPRINT_CHUNK))
        if size > _FINGERPRINT_CHUNK:
            handle.seek(max(_FINGERPRINT_CHUNK, size - _FINGERPRINT_CHUNK))
            digest.update(handle.read(_FINGERPRINT_CHUNK))
    return digest.hexdigest()[:32]
