"""MT-SICS over a real pty: byte-exact exchanges from the manual, then the driver."""

import time

import numpy as np
import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import DriverError
from drivers.scale_serial import SerialScaleDriver, probe
from drivers.scale_serial_emu import PtySerialEmulator
from fusion.types import SampleFlag

pytestmark = pytest.mark.timeout(30)


def wait_for(pred, timeout_s=3.0):
    """Poll ``pred`` until true (a liveness wait, not a timing assert)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def ask(port, cmd: bytes, n_lines: int = 1) -> bytes:
    port.write(cmd)
    out = b""
    while out.count(b"\n") < n_lines:
        chunk = port.read(1)
        assert chunk, f"no reply to {cmd!r}; got {out!r}"
        out += chunk + port.read(port.in_waiting)
    return out


@pytest.fixture()
def emu():
    with PtySerialEmulator("mt-sics", signal=lambda t: 100.0) as e:
        yield e


@pytest.fixture()
def port(emu):
    s = serial.serial_for_url(emu.port, baudrate=9600, timeout=1.0)
    yield s
    s.close()


# (sent, reply) pairs as printed in the MT-SICS reference manuals (level 0/1).
MANUAL = [
    (b"S\r\n", b"S S     100.00 g\r\n"),
    (b"SI\r\n", b"S S     100.00 g\r\n"),
    (b"T\r\n", b"T S     100.00 g\r\n"),
    (b"TA\r\n", b"TA A     100.00 g\r\n"),
    (b"SI\r\n", b"S S       0.00 g\r\n"),
    (b"TAC\r\n", b"TAC A\r\n"),
    (b"Z\r\n", b"Z A\r\n"),
    (b"ZI\r\n", b"ZI S\r\n"),
    (b"SI\r\n", b"S S       0.00 g\r\n"),
    (b"I4\r\n", b'I4 A "0123456789"\r\n'),
    (b"@\r\n", b'I4 A "0123456789"\r\n'),
    (b"XYZ\r\n", b"ES\r\n"),
    (b"TA 1.5 oz\r\n", b"EL\r\n"),
]


def test_manual_exchanges_byte_exact(port):
    for sent, reply in MANUAL:
        assert ask(port, sent) == reply, sent


def test_i0_lists_commands_and_ends_with_a(port):
    out = ask(port, b"I0\r\n", n_lines=14).split(b"\r\n")[:-1]
    assert out[0] == b'I0 B 0 "I0"' and out[-1] == b'I0 A 1 "TAC"'


def test_overload_underload_and_unstable():
    level = {"g": 100.0}
    with PtySerialEmulator("mt-sics", signal=lambda t: level["g"]) as emu:
        with serial.serial_for_url(emu.port, baudrate=9600, timeout=1.0) as s:
            level["g"] = 7000.0
            assert ask(s, b"SI\r\n") == b"S +\r\n"
            level["g"] = -500.0
            assert ask(s, b"SI\r\n") == b"S -\r\n"
    ramp = PtySerialEmulator("mt-sics", signal=lambda t: 100.0 * t)
    with ramp, serial.serial_for_url(ramp.port, baudrate=9600, timeout=1.0) as s:
        assert ask(s, b"S\r\n") == b"S I\r\n"        # not stable in time
        assert ask(s, b"SI\r\n").startswith(b"S D ")  # dynamic value
        assert ask(s, b"Z\r\n") == b"Z I\r\n"


def test_sir_repeats_until_next_command(port):
    port.write(b"SIR\r\n")
    lines = [port.readline() for _ in range(3)]
    assert lines == [b"S S     100.00 g\r\n"] * 3
    port.write(b"TAC\r\n")
    rest = port.read_until(b"TAC A\r\n")
    assert rest.endswith(b"TAC A\r\n")
    port.reset_input_buffer()
    time.sleep(0.3)
    assert port.in_waiting == 0


def test_driver_identifies_and_polls(emu):
    with SerialScaleDriver(emu.port, profile="mt-sics", timeout_s=0.5, rate_hz=50) as drv:
        info = drv.info()
        assert info.serial_number == "0123456789"
        assert info.model.startswith("SHELF-EMU")
        assert info.profile == "mt-sics" and info.extra["baud"] == "9600"
        assert wait_for(lambda: emu.received.count(b"SI") >= 5)
        got = drv.read()
    assert emu.received[:4] == [b"I4", b"I2", b"I3", b"I1"]
    assert len(got) >= 4
    assert np.all(got["grams"] == np.float32(100.0))
    assert np.all(got["flags"] == SampleFlag.STABLE)
    assert np.all(np.diff(got["t"]) >= 0)


def test_driver_zero_tare_and_span(emu):
    with SerialScaleDriver(emu.port, profile="mt-sics", timeout_s=0.5) as drv:
        assert drv.tare() == pytest.approx(100.0)
        assert emu.tare_g[0] == pytest.approx(100.0)
        assert drv.send_command("tare_query")["value"].strip() == "100.00"
        drv.send_command("tare_clear")
        drv.zero()
        assert emu.zero_g[0] == pytest.approx(100.0)
        drv.read()
        assert wait_for(lambda: len(emu.received) > 0 and emu.received[-1] == b"SI")
        assert wait_for(lambda: emu.received.count(b"SI") >= 3)
        assert np.all(drv.read()["grams"][-1:] == 0.0)
        with pytest.raises(DriverError, match="C2"):
            drv.calibrate_span(500.0)


def test_refused_zero_is_driver_error():
    with PtySerialEmulator("mt-sics", signal=lambda t: 10.0 * t) as emu:
        with SerialScaleDriver(emu.port, profile="mt-sics", timeout_s=0.5) as drv:
            with pytest.raises(DriverError, match="Z I"):
                drv.zero()


def test_driver_reads_overload_as_nan():
    with PtySerialEmulator("mt-sics", signal=lambda t: 9000.0) as emu:
        with SerialScaleDriver(emu.port, profile="mt-sics", timeout_s=0.5) as drv:
            assert wait_for(lambda: emu.received.count(b"SI") >= 2)
            got = drv.read()
    assert len(got) and np.all(np.isnan(got["grams"]))
    assert np.all(got["flags"] == SampleFlag.OVERLOAD)


def test_driver_sir_streaming(emu):
    with SerialScaleDriver(emu.port, profile="mt-sics", timeout_s=0.5, stream=True) as drv:
        assert wait_for(lambda: b"SIR" in emu.received)
        assert wait_for(lambda: len(emu.sent) >= 12)
        drv.tare()                                   # a command in the middle of the stream
        assert wait_for(lambda: emu.received.count(b"SIR") >= 2)
        assert wait_for(lambda: len(emu.sent) >= 20)
        got = drv.read()
    assert b"SI" not in emu.received
    g = got["grams"]
    assert g[0] == 100.0 and g[-1] == 0.0 and not np.isnan(g).any()
    assert not drv.gaps


def test_probe_finds_the_baud_rate():
    with PtySerialEmulator("mt-sics", signal=lambda t: 1.0, baud=19200) as emu:
        found = probe(emu.port, ["mt-sics", "hx711-adc"], [9600, 19200], timeout_s=0.3)
    assert [(b, p) for b, p, _ in found] == [(19200, "mt-sics")]
    assert found[0][2].serial_number == "0123456789"


@settings(max_examples=300, deadline=None)
@given(cmd=st.text(max_size=20))
def test_emulated_balance_answers_any_command_line(cmd):
    from drivers.serial.emu_logic import CommandLogic
    from drivers.serial.profile import get_profile

    logic = CommandLogic(get_profile("mt-sics"), lambda t: 50.0)
    replies = logic.on_command(cmd, 1.0)
    assert all(isinstance(r, str) and "\n" not in r for r in replies)
    if cmd not in ("SIR",):
        assert replies
