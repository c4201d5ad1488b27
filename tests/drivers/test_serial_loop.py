"""The driver against a device that is not our emulator: pyserial ``loop://`` scripted replies.

``loop://`` returns whatever is written to it, so the script is written into
the port before the driver uses it, and the driver's own commands come back as
an echo (as on a two-wire RS-485 adapter), which it must skip.
"""

import time

import numpy as np
import pytest
import serial
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.errors import ProtocolError
from drivers.scale_serial import SerialScaleDriver
from fusion.types import SampleFlag

pytestmark = pytest.mark.timeout(30)


def scripted(script: bytes = b"", replies=()):
    """An opener returning a loop:// port pre-loaded with ``script`` that also
    answers each expected command in ``replies`` [(sent, reply), ...] in order."""
    pending = list(replies)
    sent = []

    def opener(url, **kwargs):
        port = serial.serial_for_url(url, **kwargs)
        loop_write = port.write

        def write(data):
            n = loop_write(data)             # the loop echoes our command
            sent.append(bytes(data))
            if pending and pending[0][0] == data:
                loop_write(pending.pop(0)[1])
            return n

        port.write = write
        if script:
            loop_write(script)              # unsolicited lines already on the wire
        return port

    opener.sent = sent
    opener.pending = pending
    return opener


def read_until(drv, n, timeout_s=3.0):
    parts, deadline = [], time.monotonic() + timeout_s
    while sum(map(len, parts)) < n and time.monotonic() < deadline:
        parts.append(drv.read())
        time.sleep(0.01)
    return np.concatenate(parts)


# (sent, reply) in the manual's formats; serial number and type strings from its examples.
MT_SICS_EXCHANGES = [
    (b"I4\r\n", b'I4 A "B021002593"\r\n'),
    (b"I2\r\n", b'I2 A "WMS404C-L/10 WMS-Bridge 410.0090 g"\r\n'),
    (b"I3\r\n", b'I3 A "2.10 10.28.0.493.142"\r\n'),
    (b"I1\r\n", b'I1 A "0123" "2.00" "2.20" "1.00" "1.50"\r\n'),
    (b"SI\r\n", b"S S     100.00 g\r\n"),
    (b"SI\r\n", b"S D     100.50 g\r\n"),
    (b"SI\r\n", b"S +\r\n"),
    (b"SI\r\n", b"S -\r\n"),
    (b"SI\r\n", b"S S    -0.0020 kg\r\n"),
    (b"T\r\n", b"T S     100.00 g\r\n"),
    (b"Z\r\n", b"Z A\r\n"),
]


def test_mt_sics_scripted_device():
    opener = scripted(replies=MT_SICS_EXCHANGES[:-2])
    with SerialScaleDriver("loop://", profile="mt-sics", timeout_s=0.3, rate_hz=50,
                           opener=opener) as drv:
        info = drv.info()
        got = read_until(drv, 5)
        opener.pending.extend(MT_SICS_EXCHANGES[-2:])
        assert drv.tare() == 100.0
        drv.zero()
    assert opener.sent[:5] == [sent for sent, _ in MT_SICS_EXCHANGES[:5]]
    assert not opener.pending
    assert info.serial_number == "B021002593"
    assert info.model == "WMS404C-L/10 WMS-Bridge 410.0090 g"
    assert info.extra["software"] == "2.10 10.28.0.493.142"
    assert got["grams"][0] == 100.0 and got["flags"][0] == SampleFlag.STABLE
    assert got["grams"][1] == 100.5 and got["flags"][1] == SampleFlag.NONE
    assert np.isnan(got["grams"][2]) and got["flags"][2] == SampleFlag.OVERLOAD
    assert np.isnan(got["grams"][3]) and got["flags"][3] == SampleFlag.UNDERLOAD
    assert got["grams"][4] == pytest.approx(-2.0)


def test_hx711_adc_scripted_board_with_a_garbled_line():
    script = (b"Starting...\r\nStartup is complete\r\n"
              b"Load_cell output val: 12.34\r\nLoad_cell output val: 12.3\x804\r\n"
              b"Load_cell output val: 12.36\r\n")
    opener = scripted(script)
    with SerialScaleDriver("loop://", profile="hx711-adc", timeout_s=0.3, opener=opener) as drv:
        time.sleep(0.1)
        with pytest.raises(ProtocolError, match=r"x80"):
            drv.read()
        got = drv.read()
    assert got["grams"][0] == pytest.approx(12.34) and got["grams"][2] == pytest.approx(12.36)
    assert got["flags"][1] == SampleFlag.ERROR and np.isnan(got["grams"][1])


def test_openscale_scripted_lines():
    script = b"Readings:\r\n1000,0.500,kg,\r\n1100,1.000,lbs,\r\n"
    with SerialScaleDriver("loop://", profile="hx711-openscale", timeout_s=0.3,
                           opener=scripted(script)) as drv:
        got = read_until(drv, 2)
    assert got["grams"].tolist() == pytest.approx([500.0, 453.59237])


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=300))
def test_arbitrary_bytes_on_the_wire_never_stop_the_driver(garbage):
    script = (b"Load_cell output val: 1.00\r\n" + garbage
              + b"\r\nLoad_cell output val: 2.00\r\nLoad_cell output val: 3.00\r\n")
    with SerialScaleDriver("loop://", profile="hx711-adc", timeout_s=0.3, strict=False,
                           opener=scripted(script)) as drv:
        got = read_until(drv, 3)
        while len(got) == 0 or got["grams"][-1] != 3.0:
            more = read_until(drv, 1, timeout_s=1.0)
            assert len(more), "driver stopped producing samples"
            got = np.concatenate([got, more])
    good = got[~np.isnan(got["grams"])]
    assert good["grams"][0] == 1.0 and good["grams"][-1] == 3.0
    assert set(np.unique(got["flags"])) <= {int(SampleFlag.NONE), int(SampleFlag.ERROR)}


def test_optional_identify_failures_and_unasked_restart_announcement():
    restart_then_weight = b'I4 A "B021002593"\r\nS S     2.00 g\r\n'
    replies = [(b"I4\r\n", b'I4 A "B021002593"\r\n'), (b"I2\r\n", b"I2 I\r\n"),
               (b"I3\r\n", b"ES\r\n"), (b"I1\r\n", b"I1 I\r\n"),
               (b"SI\r\n", restart_then_weight)]
    with SerialScaleDriver("loop://", profile="mt-sics", timeout_s=0.3, rate_hz=50,
                           opener=scripted(replies=replies)) as drv:
        info = drv.info()
        got = read_until(drv, 1)        # strict: would raise if the I4 line were an error
    assert info.serial_number == "B021002593"
    assert info.model == "Mettler-Toledo MT-SICS level 0/1"   # I2 refused: profile title
    assert "software" not in info.extra and "level" not in info.extra
    assert got["grams"][0] == 2.0 and got["flags"][0] == SampleFlag.STABLE
