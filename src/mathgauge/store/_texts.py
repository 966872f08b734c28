"""Schema 5: every long text is stored once, compressed, in the ``texts`` table.

Responses, reasoning traces, the texts grades read, prompts and request bodies are what a run at reasoning scale
stores (500 problems x 64 samples x 20 KB is 640 MB of responses). Before schema 5 each response was kept three
times (``attempts.response``, ``attempts.graded_text``, ``response_cache.response_json``) and every call repeated its
whole request body. Now:

* ``texts(text_id, digest, body)``: each distinct text once, found by the SHA-256 of its UTF-8 bytes; ``body`` is
  one codec byte then the payload (``0``: the UTF-8 bytes as they are, for short texts that do not shrink; ``1``:
  zlib; ``2``: zstd level 4, what is written). Lone surrogates (which JSON can carry) survive the round trip.
  zstd rather than zlib: on 8 KB of mathematical prose, each text compressed alone, zstd level 4 keeps 40% of the
  bytes and zlib level 6 39%, but zstd compresses 2x faster (68 vs 140 us per text; level 3: 41% in 39 us; `python
  bench/scale.py --only compression`): at reasoning scale zlib alone was a fifth of a run's CPU. zlib is read too.
* ``attempts.request_ref``, ``response_ref``, ``reasoning_ref``, ``graded_ref`` point at texts; a new row leaves
  ``request_json`` empty and ``response``, ``reasoning``, ``graded_text`` NULL. A request is stored as its body with
  every message's text replaced by a reference, so a prompt, or a multi-turn call's earlier turns, are stored once
  however many calls repeat them.
* ``problems.prompt_ref``: the problem's prompt messages (as JSON text), shared by its samples, whose
  ``prompt_json`` is then empty.
* ``response_cache.text_ref`` and ``reasoning_ref``: a cached response points at the same text rows as the call
  stored from it; ``response_json`` keeps the other fields.

Rows written before schema 5 are left as they were and read as before (the upgrade is instant whatever the size
of the store). SQL reads the texts through the ``mg_inflate(body)`` function the store registers on its connection
(the text's UTF-8 bytes, decoded by the reader with `as_text`: SQLite cannot carry a lone surrogate as text).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import zlib
from collections.abc import Callable
from typing import Any

CODEC_RAW, CODEC_ZLIB, CODEC_ZSTD = 0, 1, 2
#: Texts shorter than this many bytes are stored as they are: compression would not pay for its header.
_COMPRESS_FROM = 96
#: zstd's level: 4 keeps 2.4% fewer bytes than 3 (the default) on 8 KB texts for 30 us more; 5 and up gain <1%.
_ZSTD_LEVEL = 4
_local = threading.local()  # zstd (de)compressors are not to be shared between threads

SCHEMA = """
CREATE TABLE texts (
    text_id INTEGER PRIMARY KEY,
    digest  BLOB NOT NULL UNIQUE,   -- SHA-256 of the text's UTF-8 bytes
    body    BLOB NOT NULL           -- codec byte + payload
);
ALTER TABLE attempts ADD COLUMN request_ref INTEGER;
ALTER TABLE attempts ADD COLUMN response_ref INTEGER;
ALTER TABLE attempts ADD COLUMN reasoning_ref INTEGER;
ALTER TABLE attempts ADD COLUMN graded_ref INTEGER;
ALTER TABLE problems ADD COLUMN prompt_ref INTEGER;
ALTER TABLE response_cache ADD COLUMN text_ref INTEGER;
ALTER TABLE response_cache ADD COLUMN reasoning_ref INTEGER;
"""


def add_text_store(db: sqlite3.Connection) -> None:
    """The schema-5 migration: the ``texts`` table and the columns pointing at it; older rows stay as they are."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


def encode(text: str) -> tuple[bytes, bytes]:
    """(digest, body) of ``text``."""
    data = text.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).digest(), pack(data)


def pack(data: bytes) -> bytes:
    """The stored body of a text's UTF-8 bytes: compressed, or as they are when that does not make them smaller."""
    if len(data) >= _COMPRESS_FROM:
        packed = _zstd().compress(data)
        if len(packed) < len(data):
            return bytes((CODEC_ZSTD,)) + packed
    return bytes((CODEC_RAW,)) + data


def inflate(body: bytes) -> bytes:
    """The UTF-8 bytes of a stored ``body`` (the SQL function ``mg_inflate``)."""
    codec = body[0]
    if codec == CODEC_ZSTD:
        return _unzstd().decompress(memoryview(body)[1:])
    if codec == CODEC_ZLIB:
        return zlib.decompress(memoryview(body)[1:])
    if codec == CODEC_RAW:
        return body[1:]
    raise ValueError(f"unknown text codec {codec} (written by a newer mathgauge?)")


def _zstd() -> Any:
    compressor = getattr(_local, "compressor", None)
    if compressor is None:
        import zstandard

        compressor = _local.compressor = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
    return compressor


def _unzstd() -> Any:
    decompressor = getattr(_local, "decompressor", None)
    if decompressor is None:
        import zstandard

        decompressor = _local.decompressor = zstandard.ZstdDecompressor()
    return decompressor


def decode(body: bytes) -> str:
    """The text of a stored ``body``."""
    return inflate(body).decode("utf-8", "surrogatepass")


def as_text(value: str | bytes | None) -> str | None:
    """A text column as read through `text_sql`: ``mg_inflate``'s bytes (newer rows), or inline text (older)."""
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value


def register(db: sqlite3.Connection) -> None:
    """Make ``mg_inflate(body)`` available to SQL on ``db``."""
    db.create_function("mg_inflate", 1, lambda body: None if body is None else inflate(body), deterministic=True)


def text_sql(ref: str, alias: str, inline: str) -> str:
    """SQL for a text that newer rows keep in ``texts`` (joined as ``alias`` on ``ref``) and older rows in
    ``inline``; read the value with `as_text`."""
    return f"CASE WHEN {ref} IS NULL THEN {inline} ELSE mg_inflate({alias}.body) END"


class Texts:
    """Stores and reads texts on a connection (inside the caller's transaction).

    Args:
        db: the store's connection.
    """

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def put(self, text: str | None) -> int | None:
        """The id of ``text``, stored now unless it already is; ``None`` for ``None``."""
        if text is None:
            return None
        data = text.encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(data).digest()
        row = self._db.execute("SELECT text_id FROM texts WHERE digest = ?", (digest,)).fetchone()
        if row is not None:
            return int(row[0])
        text_id = self._db.execute("INSERT INTO texts(digest, body) VALUES (?, ?)", (digest, pack(data))).lastrowid
        assert text_id is not None  # set by the INSERT
        return text_id

    def get(self, text_id: int | None) -> str | None:
        if text_id is None:
            return None
        row = self._db.execute("SELECT body FROM texts WHERE text_id = ?", (text_id,)).fetchone()
        if row is None:
            raise ValueError(f"text {text_id} is missing from the store")
        return decode(row[0])

    def put_request(self, body: dict[str, Any]) -> int:
        """Store a request body: each message's text on its own (shared with every other call that sends it),
        then the body with those texts replaced by their ids."""
        messages = body.get("messages")
        refs: list[int] = []
        if isinstance(messages, list):
            shown = []
            for i, message in enumerate(messages):
                if isinstance(message, dict) and isinstance(message.get("content"), str):
                    message = {**message, "content": self.put(message["content"])}
                    refs.append(i)
                shown.append(message)
            body = {**body, "messages": shown}
        skeleton = json.dumps({"body": body, "refs": refs}, ensure_ascii=False, sort_keys=True)
        return self.put(skeleton)  # type: ignore[return-value]

    def get_request(self, text_id: int) -> dict[str, Any]:
        """The request body `put_request` stored as ``text_id``."""
        return expand_request(json.loads(self.get(text_id) or "{}"), self.get)


def expand_request(skeleton: dict[str, Any], get: Callable[[int], str | None]) -> dict[str, Any]:
    """A request body from its stored skeleton, reading each referenced message text with ``get``."""
    body = skeleton["body"]
    refs = skeleton.get("refs") or []
    if refs:
        messages = list(body["messages"])
        for i in refs:
            messages[i] = {**messages[i], "content": get(messages[i]["content"])}
        body = {**body, "messages": messages}
    return body
