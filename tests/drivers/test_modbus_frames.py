"""Modbus framing: CRC and frames against manual bytes; decoders never crash."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import ProtocolError
from drivers.modbus import frames
from drivers.modbus.frames import ModbusExceptionError


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(",", " "))


# (request ADU, reply ADU) pairs printed in public manuals
MANUAL_FRAMES = [
    # generic RS-485 transmitter (github.com/aje/scale-docs)
    h("01 03 00 50 00 02 C4 1A"), h("01 03 04 00 00 00 84 FA 50"),
    h("01 03 00 52 00 02 65 DA"), h("01 03 04 FF FF C1 EF EA 0B"),
    h("01 03 00 08 00 01 05 C8"), h("01 03 02 08 02 3E 45"),
    h("01 10 00 5E 00 01 02 00 01 6A EE"), h("01 10 00 5E 00 01 60 1B"),
    h("01 10 00 54 00 02 04 00 00 00 64 F6 8B"), h("01 10 00 54 00 02 00 18"),
    # Flintec FT-10/FT-11 family
    h("01 03 00 00 00 02 C4 0B"),
    h("01 03 00 02 00 01 25 CA"), h("01 10 00 08 00 01 02 00 02 26 D9"),
    h("01 03 00 03 00 02 34 0B"), h("01 03 04 00 00 27 10 E0 0F"),
    h("01 10 00 08 00 01 02 00 01 66 D8"),
]


@pytest.mark.parametrize("frame", MANUAL_FRAMES, ids=lambda f: f.hex())
def test_crc_of_manual_frames(frame):
    frames.check_rtu_crc("dev", frame)
    assert frames.rtu_frame(frame[0], frame[1:-2]) == frame


def test_flintec_manual_reply_example_has_a_wrong_crc():
    # The FT-10 and FT-112 manuals print the reply for weight 100000 as
    # 01 03 04 00 01 86 A0 38 4A; the CRC of those bytes is C9 EB, so a real
    # device cannot send it and the driver must reject it.
    printed = h("01 03 04 00 01 86 A0 38 4A")
    with pytest.raises(ProtocolError):
        frames.check_rtu_crc("dev", printed)
    assert frames.rtu_frame(1, printed[1:-2])[-2:] == h("C9 EB")


def test_requests_built_byte_exact():
    assert frames.rtu_frame(1, frames.read_request(3, 0x50, 2)) == h("01 03 00 50 00 02 C4 1A")
    assert frames.rtu_frame(1, frames.write_request(16, 0x5E, [1])) == \
        h("01 10 00 5E 00 01 02 00 01 6A EE")
    assert frames.rtu_frame(1, frames.write_request(16, 0x08, [2])) == \
        h("01 10 00 08 00 01 02 00 02 26 D9")


def test_parse_read_reply():
    req = frames.read_request(3, 0x50, 2)
    assert frames.parse_reply("d", 1, req, h("03 04 00 00 00 84")) == [0, 0x84]


def test_bad_crc_shows_bytes():
    bad = h("01 03 04 00 00 00 84 FA 51")
    with pytest.raises(ProtocolError) as e:
        frames.check_rtu_crc("modbus-rtu:///dev/x", bad)
    assert "CRC" in str(e.value) and e.value.raw == bad and "\\xfaQ" in str(e.value)


def test_exception_reply_names_unit_and_register():
    req = frames.read_request(3, 0x50, 2)
    with pytest.raises(ModbusExceptionError) as e:
        frames.parse_reply("modbus-tcp://h:502", 7, req, h("83 02"))
    msg = str(e.value)
    assert e.value.code == 2 and e.value.unit == 7 and e.value.address == 0x50
    assert "unit 7" in msg and "80 (0x0050)" in msg and "illegal data address" in msg


def test_wrong_count_is_protocol_error():
    req = frames.read_request(3, 0, 2)
    with pytest.raises(ProtocolError):
        frames.parse_reply("d", 1, req, h("03 02 00 01"))


@pytest.mark.parametrize("fn,address,values", [(6, 0, [1, 2]), (16, 0, []), (5, 0, [1]),
                                               (16, 70000, [1]), (16, 0, [70000])])
def test_bad_write_arguments(fn, address, values):
    with pytest.raises(ValueError):
        frames.write_request(fn, address, values)


@given(fn=st.sampled_from([3, 4, 6, 16]), address=st.integers(0, 0xFF00),
       count=st.integers(1, 125), reply=st.binary(max_size=260))
@settings(max_examples=400, deadline=None)
def test_arbitrary_reply_pdu_only_raises_protocol_error(fn, address, count, reply):
    if fn in (3, 4):
        req = frames.read_request(fn, address, count)
    else:
        req = frames.write_request(fn, address, [1] * min(count, 123 if fn == 16 else 1))
    try:
        words = frames.parse_reply("dev", 1, req, reply)
    except ProtocolError:
        return
    assert all(0 <= w <= 0xFFFF for w in words)


@given(st.binary(max_size=300))
@settings(max_examples=300, deadline=None)
def test_arbitrary_frames_crc_check(frame):
    try:
        frames.check_rtu_crc("dev", frame)
    except ProtocolError:
        return
    assert frames.rtu_frame(frame[0], frame[1:-2]) == frame


@given(st.binary(min_size=3, max_size=3))
def test_reply_length_total(head):
    n = frames.rtu_reply_length(head)
    assert n is None or n >= 5
