"""Length-prefixed frames: an unsigned varint length, then that many bytes.

This is the libp2p convention (the same prefix multistream-select uses), so a
peer in any language can speak it. The length is checked against a hard limit
*before* any payload is buffered: a hostile peer can never make us allocate more
than ``max_size`` plus one varint.

The decoder is sans-I/O in the h11 style: feed it bytes with
:meth:`FrameDecoder.receive_data`, pull whole payloads with
:meth:`FrameDecoder.next_frame`. After an error the decoder is poisoned (the
stream has lost sync) and raises the same error again on every call.

:class:`Frames` puts the decoder in the shape every stream codec has
(``receive_data`` / ``next_event`` / ``send``, the shape of
:class:`protocol.connection.Connection`), with payload bytes as its events: the
runtime drives a stream through one of the two, and nothing else reads frames.
"""

from __future__ import annotations

from typing import Final

from ._exceptions import FrameTooLarge, LocalProtocolError, MalformedFrame, RemoteProtocolError

__all__ = [
    "MAX_FRAME_SIZE",
    "NEED_DATA",
    "PEER_CLOSED",
    "FrameDecoder",
    "Frames",
    "Sentinel",
    "decode_uvarint",
    "encode_frame",
    "encode_uvarint",
]

#: Default hard limit for one frame's payload, in bytes.
MAX_FRAME_SIZE = 64 * 1024

#: A uvarint for any length we accept fits in this many bytes (2**63 needs 9).
_MAX_VARINT_BYTES = 9


def encode_uvarint(value: int) -> bytes:
    """Unsigned LEB128, as used by multiformats."""
    if value < 0:
        raise ValueError("uvarint must be non-negative")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_uvarint(buf: bytes | bytearray | memoryview, start: int = 0) -> tuple[int, int] | None:
    """Decode a uvarint at ``buf[start:]``.

    Returns ``(value, bytes_used)``, or ``None`` if more bytes are needed.
    Raises :class:`MalformedFrame` for an over-long or non-minimal encoding.
    """
    value = 0
    for i in range(_MAX_VARINT_BYTES):
        pos = start + i
        if pos >= len(buf):
            return None
        byte = buf[pos]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if byte == 0 and i > 0:
                raise MalformedFrame("non-minimal varint length")
            return value, i + 1
    raise MalformedFrame("varint length too long")


def encode_frame(payload: bytes, *, max_size: int = MAX_FRAME_SIZE) -> bytes:
    """Prefix ``payload`` with its length. We never send what we would refuse."""
    if len(payload) > max_size:
        raise FrameTooLarge(f"frame of {len(payload)} bytes is over the {max_size}-byte limit")
    return encode_uvarint(len(payload)) + payload


class FrameDecoder:
    """Incremental frame decoder with a hard size limit."""

    __slots__ = ("_buf", "_error", "max_size")

    def __init__(self, max_size: int = MAX_FRAME_SIZE) -> None:
        self.max_size = max_size
        self._buf = bytearray()
        self._error: RemoteProtocolError | None = None

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes read from the stream."""
        if self._error is None:
            self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes held but not yet returned as frames."""
        return len(self._buf)

    def next_frame(self) -> bytes | None:
        """Return the next whole payload, or ``None`` if more data is needed."""
        if self._error is not None:
            raise self._error
        try:
            header = decode_uvarint(self._buf)
            if header is None:
                return None
            length, used = header
            if length > self.max_size:
                raise FrameTooLarge(
                    f"frame of {length} bytes is over the {self.max_size}-byte limit"
                )
        except RemoteProtocolError as exc:
            self._error = exc
            self._buf.clear()
            raise
        end = used + length
        if len(self._buf) < end:
            return None
        payload = bytes(self._buf[used:end])
        del self._buf[:end]
        return payload


class Sentinel:
    """A named marker returned by ``next_event`` instead of an event."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: No whole frame is buffered yet: read more bytes and call ``receive_data``.
NEED_DATA: Final = Sentinel("NEED_DATA")
#: The peer closed its side cleanly (``receive_data(b"")`` between frames).
PEER_CLOSED: Final = Sentinel("PEER_CLOSED")


class Frames:
    """One stream's framing, for one side: payload bytes in, payload bytes out.

    The codec of a stream whose messages this layer does not know (the agents'
    ``/kluis/negotiate`` session keeps its own state machine in :mod:`agents`),
    and the framing under every :class:`~protocol.connection.Connection`.
    Receiving errors are :class:`~protocol.RemoteProtocolError`s and stick;
    a payload we may not send is a :class:`~protocol.LocalProtocolError`.
    """

    __slots__ = ("_decoder", "_eof", "_error", "last_frame_size", "max_frame_size")

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._decoder = FrameDecoder(max_frame_size)
        self._eof = False
        self._error: RemoteProtocolError | None = None
        #: Payload bytes of the last frame returned by :meth:`next_event`.
        self.last_frame_size = 0

    @property
    def idle(self) -> bool:
        """Between frames with nothing buffered: the stream is in step with its peer."""
        return self._error is None and not self._eof and not self._decoder.buffered

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame (what a peer makes us hold)."""
        return self._decoder.buffered

    def receive_data(self, data: bytes) -> None:
        """Buffer bytes read from the stream; ``b""`` means the peer closed its side."""
        if not data:
            self._eof = True
        elif self._eof:
            raise LocalProtocolError("data received after the end of the stream")
        else:
            self._decoder.receive_data(data)

    def next_event(self) -> bytes | Sentinel:
        """The next whole payload, :data:`NEED_DATA`, or :data:`PEER_CLOSED`."""
        if self._error is not None:
            raise self._error
        payload = self._decoder.next_frame()  # its errors are sticky already
        if payload is not None:
            self.last_frame_size = len(payload)
            return payload
        if not self._eof:
            return NEED_DATA
        if self._decoder.buffered:
            self._error = MalformedFrame("the stream ended inside a frame")
            raise self._error
        return PEER_CLOSED

    def send(self, payload: bytes) -> bytes:
        """The framed bytes for ``payload``; we never send what we would refuse."""
        if not isinstance(payload, bytes | bytearray):
            raise LocalProtocolError("a frame's payload is bytes")
        try:
            return encode_frame(bytes(payload), max_size=self.max_frame_size)
        except FrameTooLarge as exc:
            raise LocalProtocolError(
                f"a frame of {len(payload)} bytes is over the {self.max_frame_size}-byte limit"
            ) from exc
