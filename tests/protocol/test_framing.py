"""uvarint length-prefixed frames with a hard size limit."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import FrameTooLarge, MalformedFrame
from protocol.framing import (
    MAX_FRAME_SIZE,
    FrameDecoder,
    decode_uvarint,
    encode_frame,
    encode_uvarint,
)


@settings(max_examples=200)
@given(st.integers(0, 2**63 - 1))
def test_uvarint_round_trip(n: int) -> None:
    data = encode_uvarint(n)
    assert decode_uvarint(data) == (n, len(data))
    assert decode_uvarint(data[:-1]) is None


def test_uvarint_known_values() -> None:
    assert encode_uvarint(0) == b"\x00"
    assert encode_uvarint(127) == b"\x7f"
    assert encode_uvarint(128) == b"\x80\x01"
    assert encode_uvarint(300) == b"\xac\x02"
    with pytest.raises(ValueError):
        encode_uvarint(-1)


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=300), max_size=6), st.integers(1, 50))
def test_frames_round_trip_in_any_chunking(payloads: list[bytes], chunk: int) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    dec = FrameDecoder()
    out = []
    for i in range(0, len(stream), chunk):
        dec.receive_data(stream[i : i + chunk])
        while (frame := dec.next_frame()) is not None:
            out.append(frame)
    assert out == payloads
    assert dec.buffered == 0


def test_split_at_every_byte_boundary() -> None:
    payloads = [b"", b"x", b"hello" * 40]
    stream = b"".join(encode_frame(p) for p in payloads)
    for cut in range(len(stream) + 1):
        dec = FrameDecoder()
        out = []
        for part in (stream[:cut], stream[cut:]):
            dec.receive_data(part)
            while (frame := dec.next_frame()) is not None:
                out.append(frame)
        assert out == payloads, cut


def test_oversized_is_refused_before_the_payload_arrives() -> None:
    dec = FrameDecoder(max_size=10)
    dec.receive_data(encode_uvarint(11))  # only the prefix: nothing to buffer yet
    with pytest.raises(FrameTooLarge):
        dec.next_frame()
    assert dec.buffered == 0
    dec.receive_data(b"x" * 1000)  # a poisoned decoder buffers nothing more
    assert dec.buffered == 0


def test_default_limit() -> None:
    assert MAX_FRAME_SIZE == 64 * 1024
    encode_frame(b"x" * MAX_FRAME_SIZE)
    with pytest.raises(FrameTooLarge):
        encode_frame(b"x" * (MAX_FRAME_SIZE + 1))
    dec = FrameDecoder()
    dec.receive_data(encode_uvarint(MAX_FRAME_SIZE + 1))
    with pytest.raises(FrameTooLarge):
        dec.next_frame()


@pytest.mark.parametrize("prefix", [b"\x80\x00", b"\xff\x80\x00", b"\x80" * 9, b"\xff" * 10])
def test_bad_varints(prefix: bytes) -> None:
    dec = FrameDecoder(max_size=2**64)
    dec.receive_data(prefix)
    with pytest.raises(MalformedFrame):
        dec.next_frame()


def test_decoder_stays_poisoned() -> None:
    dec = FrameDecoder()
    dec.receive_data(b"\x80\x00")
    with pytest.raises(MalformedFrame) as first:
        dec.next_frame()
    dec.receive_data(encode_frame(b"ok"))
    with pytest.raises(MalformedFrame) as again:
        dec.next_frame()
    assert again.value is first.value


# -- Frames: the framing-only codec the runtime drives a raw stream with ---------------------


def test_frames_codec_events_and_end_of_stream() -> None:
    from protocol.framing import NEED_DATA, PEER_CLOSED, Frames

    frames = Frames(max_frame_size=16)
    assert frames.idle
    data = frames.send(b"one") + frames.send(b"two")
    frames.receive_data(data[:2])
    assert frames.next_event() is NEED_DATA and not frames.idle
    frames.receive_data(data[2:])
    assert frames.next_event() == b"one" and frames.last_frame_size == 3
    assert frames.next_event() == b"two"
    assert frames.next_event() is NEED_DATA and frames.idle
    frames.receive_data(b"")
    assert frames.next_event() is PEER_CLOSED and not frames.idle


def test_frames_codec_errors() -> None:
    from protocol import LocalProtocolError
    from protocol.framing import Frames

    frames = Frames(max_frame_size=4)
    with pytest.raises(LocalProtocolError):
        frames.send(b"too long")  # we never send what we would refuse
    with pytest.raises(LocalProtocolError):
        frames.send("text")  # type: ignore[arg-type]
    frames.receive_data(encode_frame(b"abc")[:-1])
    frames.receive_data(b"")
    with pytest.raises(MalformedFrame) as first:  # the stream ended inside a frame
        frames.next_event()
    with pytest.raises(MalformedFrame) as again:
        frames.next_event()
    assert again.value is first.value  # sticky
    with pytest.raises(LocalProtocolError):
        frames.receive_data(b"late")
    oversized = Frames(max_frame_size=4)
    oversized.receive_data(encode_uvarint(5))
    with pytest.raises(FrameTooLarge):
        oversized.next_event()
