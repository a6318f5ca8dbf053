"""SPDY/3.1 framing, as kubectl's port-forward speaks it (tunnelled in WebSocket binary messages).

The wire format (SPDY protocol draft 3.1):

    control frame: 1 | version:15 (3) | type:16 || flags:8 | length:24 || payload
    data frame:    0 | stream-id:31           || flags:8 | length:24 || payload

Control types used here: SYN_STREAM 1 (stream-id, associated-to, priority:3 + unused:5, slot:8, header
block), SYN_REPLY 2 (stream-id, header block), RST_STREAM 3 (stream-id, status), SETTINGS 4, PING 6 (id),
GOAWAY 7 (last-good-stream-id, status), HEADERS 8, WINDOW_UPDATE 9. Flag 0x01 is FIN on every frame.

A header block is `count:32` then `(len:32 name len:32 value)*`, names lowercase, several values of a name
joined by NUL. It is zlib-compressed with the SPDY/3 dictionary as preset dictionary, one compression
context per direction for the whole session: the compressor is sync-flushed after each block, never reset,
so both sides' contexts stay in step. `Codec` holds the two contexts and the reassembly buffer: `feed`
takes bytes as they come (a frame may be split over several messages, or several frames packed in one)
and returns the whole frames; `encode_*` build frames to send.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

__all__ = [
    "DICTIONARY", "FLAG_FIN", "Codec", "Data", "GoAway", "Headers", "Ping", "RstStream", "SpdyError", "SynReply",
    "SynStream", "Unknown", "WindowUpdate", "decode_header_block", "encode_header_block",
]

VERSION = 3
FLAG_FIN = 0x01
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL, INTERNAL_ERROR = 1, 2, 3, 5, 6
MAX_DATA = (1 << 24) - 1

# The SPDY/3 header compression dictionary (spec section 2.6.10.1): length-prefixed header names and common
# values, then a run of status codes, reason phrases, dates and media types without prefixes.
_DICTIONARY_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset", "accept-encoding",
    "accept-language", "accept-ranges", "age", "allow", "authorization", "cache-control", "connection",
    "content-base", "content-encoding", "content-language", "content-length", "content-location", "content-md5",
    "content-range", "content-type", "date", "etag", "expect", "expires", "from", "host", "if-match",
    "if-modified-since", "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after",
    "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie",
    "keep-alive", "origin",
)
_DICTIONARY_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _DICTIONARY_WORDS) + _DICTIONARY_TAIL.encode()


class SpdyError(Exception):
    """The peer sent something that is not SPDY/3: the session cannot go on."""


# ---- frames ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynStream:
    stream_id: int
    headers: dict[str, str]
    flags: int = 0
    associated_to: int = 0
    priority: int = 0


@dataclass(frozen=True)
class SynReply:
    stream_id: int
    headers: dict[str, str]
    flags: int = 0


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    status: int


@dataclass(frozen=True)
class Ping:
    id: int


@dataclass(frozen=True)
class GoAway:
    last_good_stream_id: int
    status: int = 0


@dataclass(frozen=True)
class Headers:
    stream_id: int
    headers: dict[str, str]
    flags: int = 0


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    delta: int


@dataclass(frozen=True)
class Data:
    stream_id: int
    data: bytes
    flags: int = 0

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


@dataclass(frozen=True)
class Unknown:
    """A control frame this module does not act on (SETTINGS, CREDENTIAL, ...): skipped."""

    type: int
    flags: int
    payload: bytes = field(repr=False)


Frame = SynStream | SynReply | RstStream | Ping | GoAway | Headers | WindowUpdate | Data | Unknown


# ---- header blocks ---------------------------------------------------------------------------------------


def encode_header_block(headers: dict[str, str]) -> bytes:
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode(), value.encode()
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_header_block(block: bytes) -> dict[str, str]:
    try:
        (count,), at = struct.unpack_from(">I", block), 4
        headers: dict[str, str] = {}
        for _ in range(count):
            (size,) = struct.unpack_from(">I", block, at)
            name, at = block[at + 4:at + 4 + size], at + 4 + size
            (size,) = struct.unpack_from(">I", block, at)
            value, at = block[at + 4:at + 4 + size], at + 4 + size
            headers[name.decode().lower()] = value.decode()
    except (struct.error, UnicodeDecodeError) as e:
        raise SpdyError(f"malformed header block: {e}") from None
    return headers


# ---- the codec -------------------------------------------------------------------------------------------


class Codec:
    """One SPDY session's framing state: reassembly of incoming bytes and both zlib contexts."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(level=9, zdict=DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        """The frames completed by `data` (the rest is kept for the next call)."""
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            first, flags_length = struct.unpack_from(">II", self._buffer)
            length = flags_length & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            payload = bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            flags = flags_length >> 24
            if first & 0x80000000:
                version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
                if version != VERSION:
                    raise SpdyError(f"unsupported SPDY version {version}")
                frames.append(self._control(kind=kind, flags=flags, payload=payload))
            else:
                frames.append(Data(stream_id=first & 0x7FFFFFFF, data=payload, flags=flags))
        return frames

    def _headers(self, block: bytes) -> dict[str, str]:
        try:
            return decode_header_block(self._inflate.decompress(block))
        except zlib.error as e:
            raise SpdyError(f"header block does not decompress: {e}") from None

    def _control(self, *, kind: int, flags: int, payload: bytes) -> Frame:
        def word(at: int) -> int:
            if len(payload) < at + 4:
                raise SpdyError(f"control frame {kind} too short")
            return int(struct.unpack_from(">I", payload, at)[0])

        if kind == SYN_STREAM:
            if len(payload) < 10:
                raise SpdyError("SYN_STREAM too short")
            return SynStream(stream_id=word(0) & 0x7FFFFFFF, associated_to=word(4) & 0x7FFFFFFF,
                             priority=payload[8] >> 5, flags=flags, headers=self._headers(payload[10:]))
        if kind == SYN_REPLY:
            return SynReply(stream_id=word(0) & 0x7FFFFFFF, flags=flags, headers=self._headers(payload[4:]))
        if kind == HEADERS:
            return Headers(stream_id=word(0) & 0x7FFFFFFF, flags=flags, headers=self._headers(payload[4:]))
        if kind == RST_STREAM:
            return RstStream(stream_id=word(0) & 0x7FFFFFFF, status=word(4))
        if kind == PING:
            return Ping(id=word(0))
        if kind == GOAWAY:
            return GoAway(last_good_stream_id=word(0) & 0x7FFFFFFF, status=word(4) if len(payload) >= 8 else 0)
        if kind == WINDOW_UPDATE:
            return WindowUpdate(stream_id=word(0) & 0x7FFFFFFF, delta=word(4) & 0x7FFFFFFF)
        return Unknown(type=kind, flags=flags, payload=payload)

    # ---- encoding -----------------------------------------------------------------------------------

    @staticmethod
    def _control_frame(kind: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload

    def _block(self, headers: dict[str, str]) -> bytes:
        return self._deflate.compress(encode_header_block(headers)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def encode_syn_stream(self, *, stream_id: int, headers: dict[str, str], flags: int = 0) -> bytes:
        payload = struct.pack(">IIBB", stream_id, 0, 0, 0) + self._block(headers)
        return self._control_frame(SYN_STREAM, flags, payload)

    def encode_syn_reply(self, *, stream_id: int, headers: dict[str, str] | None = None, flags: int = 0) -> bytes:
        return self._control_frame(SYN_REPLY, flags, struct.pack(">I", stream_id) + self._block(headers or {}))

    def encode_rst_stream(self, *, stream_id: int, status: int = CANCEL) -> bytes:
        return self._control_frame(RST_STREAM, 0, struct.pack(">II", stream_id, status))

    def encode_ping(self, *, id: int) -> bytes:
        return self._control_frame(PING, 0, struct.pack(">I", id))

    def encode_goaway(self, *, last_good_stream_id: int, status: int = 0) -> bytes:
        return self._control_frame(GOAWAY, 0, struct.pack(">II", last_good_stream_id, status))

    @staticmethod
    def encode_data(*, stream_id: int, data: bytes, fin: bool = False) -> bytes:
        """One or more DATA frames carrying `data` (FIN, when asked, on the last)."""
        out: list[bytes] = []
        at = 0
        while True:
            chunk = data[at:at + MAX_DATA]
            at += len(chunk)
            last = at >= len(data)
            flags = FLAG_FIN if fin and last else 0
            out.append(struct.pack(">II", stream_id & 0x7FFFFFFF, (flags << 24) | len(chunk)) + chunk)
            if last:
                return b"".join(out)
