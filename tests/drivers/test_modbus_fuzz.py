"""Arbitrary bytes on real transports never crash anything with other than our errors."""

from __future__ import annotations

import struct
import time

import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.errors import DriverError
from drivers.modbus import frames
from drivers.modbus.emu_model import EmulatedScale
from drivers.modbus.links import RtuLink, TcpLink
from drivers.scale_modbus import ModbusScaleDriver
from drivers.scale_modbus_emu import RtuPtyEmulator
from fusion.types import SampleFlag
from tests.drivers.modbus_wire import ScriptedPtySlave, ScriptedTcpPeer

REQUEST = frames.read_request(3, 0x50, 2)
RTU_REQUEST = frames.rtu_frame(1, REQUEST)

# replies: pure noise, noise behind a plausible header, and valid frames with one byte changed
rtu_replies = st.one_of(
    st.binary(max_size=40),
    st.binary(max_size=12).map(lambda b: b"\x01\x03" + b),
    st.binary(max_size=4).map(lambda b: b"\x01\x83" + b),
    st.tuples(st.integers(0, 8), st.integers(1, 255)).map(
        lambda p: bytes(b ^ (p[1] if i == p[0] else 0) for i, b in
                        enumerate(frames.rtu_frame(1, bytes.fromhex("03 04 00 00 30 39"))))),
)


@given(reply=rtu_replies)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_rtu_link_arbitrary_reply(reply):
    with ScriptedPtySlave([(RTU_REQUEST, reply)]) as slave:
        link = RtuLink(slave.port, baud=115200, parity="N", timeout_s=0.1)
        try:
            words = link.transact(1, REQUEST)
        except DriverError as e:
            assert str(e)
        else:
            assert len(words) == 2
        finally:
            link.close()


def mbap_reply(body: bytes, tid_delta: int, proto: int, length_delta: int, unit: int):
    def reply(request: bytes) -> bytes:
        tid = (int.from_bytes(request[:2], "big") + tid_delta) & 0xFFFF
        length = max(0, min(0xFFFF, len(body) + 1 + length_delta))
        return struct.pack(">HHHB", tid, proto, length, unit) + body
    return reply


tcp_replies = st.one_of(
    st.binary(max_size=40).map(lambda b: (lambda _req: b)),
    st.builds(mbap_reply, st.binary(max_size=12), st.sampled_from([0, 0, 1]),
              st.sampled_from([0, 0, 7]), st.sampled_from([0, 0, 0, -1, 3]),
              st.sampled_from([1, 1, 2])),
)


@given(reply=tcp_replies)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_tcp_link_arbitrary_reply(reply):
    with ScriptedTcpPeer(reply) as peer:
        link = TcpLink("127.0.0.1", peer.port, timeout_s=0.1)
        try:
            words = link.transact(1, REQUEST)
        except DriverError as e:
            assert str(e)
        else:
            assert len(words) == 2
        finally:
            link.close()


@pytest.fixture(scope="module")
def emulator():
    with RtuPtyEmulator({1: EmulatedScale("generic-rs485", script=[(0.0, 55.5)])},
                        silence_s=0.02) as emu:
        yield emu


@given(junk=st.binary(min_size=1, max_size=64))
@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
def test_emulator_survives_junk_and_driver_recovers(emulator, junk):
    drv = ModbusScaleDriver(emulator.url(1, baud=115200, parity="N"), profile="generic-rs485",
                            timeout_s=0.3, retries=2, backoff_min_s=0.01)
    with serial.Serial(emulator.port, 115200) as noise, drv:
        noise.write(junk)
        time.sleep(0.05)  # let the emulator see a silence and drop what it cannot use
        for _ in range(100):
            s = drv.read()
            if len(s) and not s["flags"][0] & SampleFlag.GAP:
                break
            time.sleep(0.01)
    assert s["grams"][0] == 55.5
