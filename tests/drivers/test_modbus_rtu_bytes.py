"""Byte-exact RTU exchanges of each profile over a real pty (bytes from the manuals).

Frames marked "manual" are printed in the vendor's public manual; the others
are built with our CRC (itself checked against the manual frames in
test_modbus_frames.py) because the manual shows no example for them.
"""

from __future__ import annotations

import math

from drivers.modbus import frames
from drivers.scale_modbus import ModbusScaleDriver
from fusion.types import SampleFlag
from tests.drivers.modbus_wire import ScriptedPtySlave


def h(s: str) -> bytes:
    return bytes.fromhex(s)


def rtu(unit: int, pdu_hex: str) -> bytes:
    return frames.rtu_frame(unit, h(pdu_hex))


GENERIC_POLL = [
    (h("01 03 00 08 00 01 05 C8"), h("01 03 02 08 02 3E 45")),            # manual: status
    (h("01 03 00 50 00 02 C4 1A"), h("01 03 04 00 00 00 84 FA 50")),      # manual: gross
]


def test_generic_rs485_bytes():
    script = GENERIC_POLL * 2 + [
        (h("01 03 00 52 00 02 65 DA"), h("01 03 04 FF FF C1 EF EA 0B")),          # manual: net
        (h("01 10 00 5E 00 01 02 00 01 6A EE"), h("01 10 00 5E 00 01 60 1B")),    # manual: zero
    ]
    with ScriptedPtySlave(script) as slave:
        url = f"modbus-rtu://{slave.port}?baud=9600&parity=N&unit=1"
        with ModbusScaleDriver(url, profile="generic-rs485", unit_g=1000.0) as drv:
            s = drv.read()
            assert drv.read_value("net") == -15889
            drv.zero()
        assert not slave.errors, slave.errors
    # status 0x0802: 2 decimals, bit 5 clear = stable; gross 0x84 = 1.32 (kg) = 1320 g
    assert s["grams"][0] == 1320.0 and s["flags"][0] == SampleFlag.STABLE
    assert len(slave.received) == len(script)


def test_flintec_ft11_bytes():
    poll = (rtu(1, "03 00 02 00 05"), rtu(1, "03 0A 00 06 00 00 00 00 00 00 03 E8"))
    script = [poll, poll,
              (h("01 03 00 00 00 02 C4 0B"), rtu(1, "03 04 00 01 86 A0")),    # manual request
              (h("01 03 00 03 00 02 34 0B"), h("01 03 04 00 00 27 10 E0 0F")),  # manual
              (h("01 10 00 08 00 01 02 00 01 66 D8"), rtu(1, "10 00 08 00 01")),  # manual: zero
              (h("01 10 00 08 00 01 02 00 02 26 D9"), rtu(1, "10 00 08 00 01")),  # manual: tare
              (rtu(1, "03 00 02 00 03"), rtu(1, "03 06 00 0E 00 00 03 E8"))]
    with ScriptedPtySlave(script) as slave:
        url = f"modbus-rtu://{slave.port}?baud=9600&parity=N&unit=1"
        with ModbusScaleDriver(url, profile="flintec-ft11") as drv:
            s = drv.read()
            assert drv.read_value("display") == 100000
            assert drv.read_value("tare") == 10000
            drv.zero()
            assert drv.tare() == 1000.0
        assert not slave.errors, slave.errors
    # status 0x0006: data ok, in motion -> not stable; gross 1000
    assert s["grams"][0] == 1000.0 and s["flags"][0] == SampleFlag.NONE


def test_flintec_error_code_overrange_is_overload_gap():
    poll = (rtu(1, "03 00 02 00 05"), rtu(1, "03 0A 40 00 00 00 00 00 7F FF FF FF"))
    with ScriptedPtySlave([poll, poll]) as slave:
        url = f"modbus-rtu://{slave.port}?baud=9600&parity=N&unit=1"
        with ModbusScaleDriver(url, profile="flintec-ft11") as drv:
            s = drv.read()
        assert not slave.errors
    assert math.isnan(s["grams"][0]) and s["flags"][0] == SampleFlag.OVERLOAD


def test_laumas_w100_bytes_sign_in_status():
    # computed frames: status 0x0880 = stable + gross negative; gross magnitude 1500
    poll = (rtu(5, "03 00 06 00 03"), rtu(5, "03 06 08 80 00 00 05 DC"))
    assert poll[0] == h("05 03 00 06 00 03") + poll[0][-2:]
    tare = (rtu(5, "10 00 05 00 01 02 00 07"), rtu(5, "10 00 05 00 01"))
    with ScriptedPtySlave([poll, poll, tare]) as slave:
        url = f"modbus-rtu://{slave.port}?baud=9600&parity=N&unit=5"
        with ModbusScaleDriver(url, profile="laumas-w100") as drv:
            s = drv.read()
            drv._command("tare", 0)
        assert not slave.errors, slave.errors
    assert s["grams"][0] == -1500.0 and s["flags"][0] == SampleFlag.STABLE


# -- the emulators answer the manuals' requests with the manuals' replies ---------------

def _emulated(profile, **kw):
    from drivers.modbus.emu_model import EmulatedScale
    return EmulatedScale(profile, **kw)


MANUAL_EXCHANGES = {
    # generic: 2 decimals, load 1.32 g, preset tare 160.21 g -> net -158.89 = FFFF C1EF
    "generic-rs485": (dict(decimals=2, script=[(0.0, 1.32)]), [
        ("01 03 00 50 00 02 C4 1A", "01 03 04 00 00 00 84 FA 50"),
        ("01 10 00 54 00 02 04 00 00 3E 95 00 00", None),   # preset tare 16021 counts: net = 132 - 16021
        ("01 03 00 52 00 02 65 DA", None),
        ("01 10 00 5E 00 01 02 00 01 6A EE", "01 10 00 5E 00 01 60 1B"),
        ("01 10 00 54 00 02 04 00 00 00 64 F6 8B", "01 10 00 54 00 02 00 18"),
    ]),
    # flintec: tare 10000 after a tare command with 10000 g on the plate
    "flintec-ft11": (dict(script=[(0.0, 10000.0)]), [
        ("01 10 00 08 00 01 02 00 02 26 D9", None),
        ("01 03 00 03 00 02 34 0B", "01 03 04 00 00 27 10 E0 0F"),
    ]),
}


def _fix(frame_hex: str) -> bytes:
    """The frame as given if its CRC is right (manual frames), else with our CRC
    (our own frames are written with a placeholder CRC of 00 00)."""
    b = h(frame_hex)
    return b if frames.crc16(b[:-2]) == int.from_bytes(b[-2:], "little") else \
        frames.rtu_frame(b[0], b[1:-2])


def test_rtu_emulator_answers_manual_requests_byte_exact():
    import serial

    from drivers.scale_modbus_emu import RtuPtyEmulator
    for profile, (kw, exchanges) in MANUAL_EXCHANGES.items():
        with RtuPtyEmulator({1: _emulated(profile, **kw)}) as emu, \
                serial.Serial(emu.port, 19200, timeout=2) as port:
            for request, reply in exchanges:
                req = _fix(request)
                port.write(req)
                head = port.read(3)
                got = head + port.read(frames.rtu_reply_length(head) - 3)
                frames.check_rtu_crc("emu", got)
                assert not got[1] & 0x80, (profile, request, got.hex(" "))
                if reply is not None:
                    assert got == h(reply), (profile, request, got.hex(" "))
                if request.startswith("01 03 00 52"):
                    assert got == h("01 03 04 FF FF C1 EF EA 0B"), got.hex(" ")


def test_tcp_emulator_answers_manual_pdus():
    from drivers.modbus.links import TcpLink
    from drivers.scale_modbus_emu import TcpEmulator
    kw, exchanges = MANUAL_EXCHANGES["generic-rs485"]
    with TcpEmulator({1: _emulated("generic-rs485", **kw)}) as emu:
        with TcpLink("127.0.0.1", emu.port, timeout_s=2.0) as link:
            assert link.transact(1, h("03 00 50 00 02")) == [0x0000, 0x0084]
            link.transact(1, h("10 00 54 00 02 04 00 00 3E 95"))
            assert link.transact(1, h("03 00 52 00 02")) == [0xFFFF, 0xC1EF]
