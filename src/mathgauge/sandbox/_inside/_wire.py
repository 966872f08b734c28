"""Framing of the two channels the server speaks.

Host <-> server (fds 0/1 of the server): every message is a 4-byte big-endian length, a JSON header, then
the payloads the header announces (``code_len`` bytes of code in a request; ``out_len``/``err_len`` bytes
of stdout/stderr in a response).

Child -> server event channel (fd 3 of a job): append-only frames ``0x1E kind len(2 bytes, big-endian)
payload``.  Kind ``S`` (start) is written once by the sandbox's own code just before the snippet runs and
carries the static tags and the active layers; it doubles as the "setup done, snippet started" signal.
Kind ``E`` is one runtime event tag written by the audit hook, at most ``EVENT_MAX`` bytes so that a frame
is a single ``write`` below PIPE_BUF (never interleaved with another writer).  The snippet can append
bytes to the channel but cannot take back what was written: the parser counts any malformed frame, and
any start frame after the first, as a ``tamper:`` tag (unsafe) and resynchronises on the next frame.
"""

from __future__ import annotations

import json
import os
import struct

HEADER_MAX = 1 << 20
_LEN = struct.Struct(">I")

EVENT_KIND = b"E"
START_KIND = b"S"
FRAME_MARK = 0x1E
EVENT_MAX = 512
START_MAX = 65535
_SHORT = struct.Struct(">H")

#: The categories a runtime tag may have; any other tag is itself reported as tampering.
TAG_PREFIXES = ("process:", "network:", "signal:", "fs:", "ctypes:", "env:", "introspection:", "dynamic:",
                "tamper:", "kernel:")
TAG_MAX_CHARS = 300
TAMPER_MALFORMED = "tamper:malformed-event-frame"
TAMPER_START = "tamper:contradictory-start-frame"
TAMPER_OVERFLOW = "tamper:too-many-event-tags"
TAMPER_SATURATED = "tamper:too-many-event-frames"
#: Frames (and resynchronisations after garbage) the server parses per job; the rest is only counted.
FRAMES_MAX = 16384
_MARK = bytes((FRAME_MARK,))
_EVENT, _START = EVENT_KIND[0], START_KIND[0]
_KINDS = (_EVENT, _START)


# ---------------------------------------------------------------------------------------- host <-> server

def read_exact(fd: int, n: int) -> bytearray:
    """Reads exactly ``n`` bytes from ``fd``.

    Args:
        fd: a blocking file descriptor.
        n: how many bytes.

    Raises:
        EOFError: the other side closed before ``n`` bytes came.
    """
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = os.readv(fd, [view[got:]])
        if k == 0:
            raise EOFError
        got += k
    return buf


def write_all(fd: int, parts) -> None:
    """Writes every byte of ``parts`` (a sequence of bytes-like objects) to ``fd``.

    Args:
        fd: a blocking file descriptor.
        parts: the buffers, in order.
    """
    views = [memoryview(p).cast("B") for p in parts if len(p)]
    while views:
        k = os.writev(fd, views)
        while views and k >= len(views[0]):
            k -= len(views[0])
            views.pop(0)
        if views and k:
            views[0] = views[0][k:]


def send_message(fd: int, header: dict, *payloads) -> None:
    """Sends one framed message: length, JSON header, payloads.

    Args:
        fd: the channel.
        header: JSON-serialisable header (it announces the payload lengths itself).
        payloads: bytes-like objects written after the header.
    """
    h = json.dumps(header, separators=(",", ":")).encode()
    write_all(fd, [_LEN.pack(len(h)), h, *payloads])


def read_header(fd: int) -> dict:
    """Reads one message header (a JSON object of at most ``HEADER_MAX`` bytes).

    Args:
        fd: the channel.

    Raises:
        EOFError: the channel closed.
        ValueError: the header is oversized, not JSON, or not an object.
    """
    (n,) = _LEN.unpack(bytes(read_exact(fd, 4)))
    if n > HEADER_MAX:
        raise ValueError("header of %d bytes" % n)
    hdr = json.loads(bytes(read_exact(fd, n)))
    if not isinstance(hdr, dict):
        raise ValueError("header is not an object")
    return hdr


# ------------------------------------------------------------------------------------ child event channel

def encode_frame(kind: bytes, payload: bytes) -> bytes:
    """One event-channel frame.

    Args:
        kind: ``EVENT_KIND`` or ``START_KIND``.
        payload: at most ``EVENT_MAX`` (events) or ``START_MAX`` (start) bytes.
    """
    limit = EVENT_MAX if kind == EVENT_KIND else START_MAX
    if len(payload) > limit:
        raise ValueError("frame payload of %d bytes" % len(payload))
    return bytes((FRAME_MARK,)) + kind + _SHORT.pack(len(payload)) + payload


def encode_start(info: dict) -> bytes:
    """The start frame: static tags and layers, as JSON; always one whole, valid frame.

    A frame cut short would read as "the snippet never started" (and a snippet decides what its static
    tags are): when the JSON is too long, static tags are dropped from the end, keeping a marker.

    Args:
        info: JSON-serialisable object; ``info["static"]``, when present, a list of tags.
    """
    info = dict(info)
    while True:
        data = json.dumps(info, separators=(",", ":")).encode()
        static = info.get("static")
        if len(data) <= START_MAX or not isinstance(static, list) or not static:
            break
        info["static"] = static[: len(static) // 2] + ["dynamic:too-many-static-tags"]
        if len(static) == 1:
            info["static"] = ["dynamic:too-many-static-tags"]
    if len(data) > START_MAX:  # the layers alone cannot be this large; never send a frame cut short
        data = json.dumps({"static": info.get("static") if isinstance(info.get("static"), list) else []},
                          separators=(",", ":")).encode()[:START_MAX]
    return encode_frame(START_KIND, data)


def valid_tag(tag: str) -> bool:
    """Whether ``tag`` is a well-formed runtime tag (known category, printable, bounded).

    Args:
        tag: the decoded payload of an event frame.
    """
    return 0 < len(tag) <= TAG_MAX_CHARS and tag.startswith(TAG_PREFIXES) and tag.isprintable()


class EventChannel:
    """Server-side parser of one job's event channel.

    Bounded in memory (at most ``max_tags`` distinct tags, a buffer of two frames) and in work: at most
    ``max_frames`` frames and resynchronisations are parsed (about 1 us each), after which the channel is
    only counted, not read (``TAMPER_SATURATED``), so that bytes a snippet writes for free cannot cost the
    server, shared by every job, more than a few milliseconds.  Never raises; every malformed or
    contradictory frame is reported as a ``tamper:`` tag.

    Args:
        max_tags: distinct tags kept; one more adds ``TAMPER_OVERFLOW``.
        max_frames: frames (and resynchronisations after garbage) parsed at most.
    """

    def __init__(self, max_tags: int = 64, max_frames: int = FRAMES_MAX) -> None:
        self.max_tags = max_tags
        self.max_frames = max_frames
        self._tags: list[str] = []
        self._markers: list[str] = []  # what was dropped or left unread: always part of the record
        self._seen: set[str] = set()
        self.start: dict | None = None
        self.frames = 0
        self.work = 0
        self.saturated = False
        self._buf = bytearray()

    @property
    def tags(self) -> list[str]:
        """The record: distinct tags in order of arrival, then the markers (at most ``max_tags`` in all)."""
        return self.tags_within(self.max_tags)

    def tags_within(self, n: int) -> list[str]:
        """The record cut to ``n`` tags, keeping the markers (which say that tags were dropped).

        Args:
            n: how many tags at most (at least 3).
        """
        markers = list(self._markers)
        keep = n - len(markers)
        if len(self._tags) > keep and TAMPER_OVERFLOW not in markers:
            markers.append(TAMPER_OVERFLOW)
            keep -= 1
        return self._tags[:max(0, keep)] + markers

    def _mark(self, marker: str) -> None:
        if marker not in self._markers:
            self._markers.append(marker)

    def _tag(self, tag: str) -> None:
        if tag in self._seen:
            return
        if len(self._tags) >= self.max_tags:
            self._mark(TAMPER_OVERFLOW)
            return
        self._seen.add(tag)
        self._tags.append(tag)

    def _saturate(self) -> None:
        self.saturated = True
        self._buf = bytearray()
        self._mark(TAMPER_SATURATED)

    def feed(self, data: bytes) -> None:
        """Parses what the job wrote.

        Args:
            data: the next bytes read from the channel.
        """
        if self.saturated:
            return
        buf = self._buf
        buf += data
        end = len(buf)
        pos = 0
        while end - pos >= 4:
            if self.work >= self.max_frames:
                self._saturate()
                return
            self.work += 1
            kind = buf[pos + 1]
            n = (buf[pos + 2] << 8) | buf[pos + 3]
            if buf[pos] != FRAME_MARK or kind not in _KINDS or (kind == _EVENT and n > EVENT_MAX):
                self._tag(TAMPER_MALFORMED)
                nxt = buf.find(_MARK, pos + 1)  # resynchronise on the next frame mark
                pos = nxt if nxt > 0 else end
                continue
            if end - pos < 4 + n:
                break
            payload = bytes(buf[pos + 4:pos + 4 + n])
            pos += 4 + n
            self.frames += 1
            if kind == _START:
                self._start(payload)
            else:
                self._event(payload)
        del buf[:pos]

    def _start(self, payload: bytes) -> None:
        if self.start is not None or self.frames != 1:
            self._tag(TAMPER_START)
            return
        try:
            info = json.loads(payload)
        except (ValueError, RecursionError):
            info = None
        if not isinstance(info, dict):
            self._tag(TAMPER_START)
            return
        self.start = info

    def _event(self, payload: bytes) -> None:
        try:
            tag = payload.decode("utf-8")
        except UnicodeDecodeError:
            tag = ""
        if self.start is None or not valid_tag(tag):
            self._tag(TAMPER_MALFORMED)
            return
        self._tag(tag)

    def close(self) -> None:
        """End of the channel: an unfinished frame left over is malformed."""
        if self._buf and not self.saturated:
            self._tag(TAMPER_MALFORMED)
            self._buf.clear()
