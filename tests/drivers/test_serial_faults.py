"""Faults over a real pty: garbage, silence, stuck values, unplug/replug, bad ports."""

import time

import numpy as np
import pytest

from drivers.errors import DriverError, ProtocolError
from drivers.scale_serial import SerialScaleDriver
from drivers.scale_serial_emu import PtySerialEmulator
from fusion.types import SampleFlag

pytestmark = pytest.mark.timeout(30)


def wait_for(pred, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


class Collector:
    """Reads a driver repeatedly, keeping samples and errors (a consumer loop)."""

    def __init__(self, drv):
        self.drv, self.parts, self.errors = drv, [], []

    def pump(self):
        try:
            self.parts.append(self.drv.read())
        except (ProtocolError, DriverError) as e:
            self.errors.append(e)
        return self

    @property
    def samples(self):
        return np.concatenate(self.parts) if self.parts else np.zeros(0)

    def until(self, pred, timeout_s=5.0):
        assert wait_for(lambda: pred(self.pump()), timeout_s)


def test_garbage_reply_is_protocol_error_with_bytes_and_samples_survive():
    with PtySerialEmulator("mt-sics", signal=lambda t: 42.0) as emu:
        with SerialScaleDriver(emu.port, profile="mt-sics", timeout_s=0.5, rate_hz=50) as drv:
            c = Collector(drv).pump()
            c.until(lambda c: len(c.samples) >= 3)
            emu.corrupt_next(1)
            c.until(lambda c: c.errors)
            c.until(lambda c: np.sum(c.samples["flags"] == SampleFlag.STABLE) >= 8)
    err = c.errors[0]
    assert isinstance(err, ProtocolError) and err.raw and "bytes:" in str(err)
    s = c.samples
    bad = s["flags"] == SampleFlag.ERROR
    assert bad.sum() == 1 and np.isnan(s["grams"][bad]).all()
    assert np.all(s["grams"][~bad] == 42.0)
    assert np.all(np.diff(s["t"]) >= 0)


def test_non_strict_mode_flags_without_raising():
    with PtySerialEmulator("hx711-adc", signal=lambda t: 5.0, rate_hz=100.0, noise_g=0.0) as emu:
        with SerialScaleDriver(emu.port, profile="hx711-adc", timeout_s=0.5, strict=False) as drv:
            c = Collector(drv)
            c.until(lambda c: len(c.samples) >= 3)
            emu.inject(b"\x00\xff\xfe garbage\r\n")
            c.until(lambda c: (c.samples["flags"] == SampleFlag.ERROR).any())
            c.until(lambda c: (c.samples["flags"] == SampleFlag.NONE).sum() >= 10)
    assert not c.errors


def test_silence_is_a_gap_then_recovers():
    with PtySerialEmulator("mt-sics", signal=lambda t: 7.0) as emu:
        with SerialScaleDriver(emu.port, profile="mt-sics", timeout_s=0.5, rate_hz=50) as drv:
            c = Collector(drv)
            c.until(lambda c: len(c.samples) >= 3)
            emu.set_silent(True)
            c.until(lambda c: (c.samples["flags"] & SampleFlag.GAP).any())
            assert drv.gaps and drv.gaps[-1].t_end is None
            assert "no reply to 'SI'" in drv.gaps[-1].reason
            emu.set_silent(False)
            c.until(lambda c: drv.gaps[-1].t_end is not None)
            c.until(lambda c: c.samples["t"][-1] > drv.gaps[-1].t_end)
    gap = drv.gaps[0]
    s = c.samples
    marker = s[s["flags"] == SampleFlag.GAP]
    assert len(marker) == 1 and np.isnan(marker["grams"]).all()
    assert gap.t_start <= marker["t"][0] <= gap.t_end
    good = s[s["flags"] == SampleFlag.STABLE]
    assert np.all(good["grams"] == 7.0)
    assert (good["t"] <= gap.t_start).any() and (good["t"] >= gap.t_end).any()


def test_unplug_and_replug_reconnects_with_gap():
    with PtySerialEmulator("hx711-openscale", signal=lambda t: 300.0, rate_hz=100.0,
                           noise_g=0.0) as emu:
        with SerialScaleDriver(emu.port, profile="hx711-openscale", timeout_s=0.5,
                               reconnect_backoff_s=(0.02, 0.1)) as drv:
            c = Collector(drv)
            c.until(lambda c: len(c.samples) >= 5)
            emu.disconnect()
            c.until(lambda c: (c.samples["flags"] == SampleFlag.GAP).any())
            n_before = len(c.samples)
            time.sleep(0.3)
            emu.reconnect()
            c.until(lambda c: drv.gaps and drv.gaps[-1].t_end is not None)
            c.until(lambda c: len(c.samples) >= n_before + 10)
    assert len(drv.gaps) == 1
    assert "connection lost" in drv.gaps[0].reason
    s = c.samples
    gap_rows = s["flags"] == SampleFlag.GAP
    assert gap_rows.sum() == 1
    assert np.all(s["grams"][~gap_rows] == 300.0)
    assert np.all(np.diff(s["t"]) >= 0)


def test_stuck_value_repeats_exactly():
    with PtySerialEmulator("hx711-adc", signal=lambda t: 100.0, rate_hz=100.0, noise_g=1.0,
                           seed=5) as emu:
        with SerialScaleDriver(emu.port, profile="hx711-adc", timeout_s=0.5) as drv:
            c = Collector(drv)
            c.until(lambda c: len(c.samples) >= 10)
            assert len(set(c.samples["grams"].tolist())) > 3
            emu.set_stuck(True)
            c.until(lambda c: True)
            time.sleep(0.05)
            drv.read()
            c.parts.clear()
            c.until(lambda c: len(c.samples) >= 10)
    assert len(set(c.samples["grams"].tolist())) == 1


def test_missing_port_is_driver_error_naming_it(tmp_path):
    drv = SerialScaleDriver(str(tmp_path / "ttyUSB9"), profile="mt-sics")
    with pytest.raises(DriverError, match="ttyUSB9.*cannot open port"):
        drv.open()
    drv.close()
    drv.close()


def test_constructor_does_no_io_and_read_needs_open():
    drv = SerialScaleDriver("/dev/does-not-exist", profile="no-such-profile")
    with pytest.raises(DriverError, match="not open"):
        drv.read()
    with pytest.raises(DriverError, match="unknown profile"):
        drv.open()


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError):
        SerialScaleDriver("loop://", timeout_s=0)
    with pytest.raises(ValueError):
        SerialScaleDriver("loop://", rate_hz=-1)
    with pytest.raises(ValueError):
        SerialScaleDriver("loop://", reconnect_backoff_s=(1.0, 0.5))
