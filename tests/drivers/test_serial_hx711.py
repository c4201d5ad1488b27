"""HX711 line-format boards over a real pty: HX711_ADC, OpenScale, 4-channel CSV."""

import re
import threading
import time

import numpy as np
import pytest
import serial

from drivers.errors import DeviceNotFoundError, DriverError
from drivers.scale_serial import SerialScaleDriver, probe
from drivers.scale_serial_emu import PtySerialEmulator
from drivers.serial.profile import get_profile
from fusion.types import SampleFlag

pytestmark = pytest.mark.timeout(30)


def collect(drv, n, timeout_s=5.0):
    """Read until ``n`` samples arrived (a liveness wait, not a timing assert)."""
    parts, deadline = [], time.monotonic() + timeout_s
    while sum(len(p) for p in parts) < n and time.monotonic() < deadline:
        parts.append(drv.read())
        time.sleep(0.01)
    return np.concatenate(parts)


def test_hx711_adc_reads_grams_and_tares_on_device():
    with PtySerialEmulator("hx711-adc", signal=lambda t: 250.0, mode="80sps", seed=1) as emu:
        assert emu.sent[:2] == [b"Starting...\r\n", b"Startup is complete\r\n"]
        with SerialScaleDriver(emu.port, profile="hx711-adc", timeout_s=0.5) as drv:
            got = collect(drv, 40)
            assert abs(float(np.mean(got["grams"])) - 250.0) < 0.5
            assert np.all(got["flags"] == SampleFlag.NONE)
            drv.zero()                            # sends "t", waits for "Tare complete"
            assert emu.received == [b"t"]
            assert b"Tare complete\r\n" in emu.sent
            drv.read()
            after = collect(drv, 40)
    assert abs(float(np.mean(after["grams"]))) < 0.5
    assert emu.sent[2].startswith(b"Load_cell output val: 25")


def test_hx711_modes_from_profile():
    prof = get_profile("hx711-adc")
    modes = prof.emulator["modes"]
    assert modes["80sps"]["rate_hz"] == pytest.approx(92.0)
    assert modes["80sps"]["noise_g"] > 1.5 * modes["10sps"]["noise_g"]


def test_noise_differs_between_modes():
    stds = {}
    for mode in ("10sps", "80sps"):
        with PtySerialEmulator("hx711-adc", signal=lambda t: 0.0, mode=mode, seed=3,
                               rate_hz=200.0) as emu:
            with SerialScaleDriver(emu.port, profile="hx711-adc", timeout_s=0.5) as drv:
                stds[mode] = float(np.std(collect(drv, 150)["grams"]))
    assert stds["80sps"] > 1.4 * stds["10sps"]


def test_openscale_kg_software_zero_tare_span():
    load = {"g": 1000.0}
    with PtySerialEmulator("hx711-openscale", signal=lambda t: load["g"], rate_hz=100.0,
                           noise_g=0.0) as emu:
        with SerialScaleDriver(emu.port, profile="hx711-openscale", timeout_s=0.5) as drv:
            got = collect(drv, 10)
            assert np.all(got["grams"] == 1000.0)
            assert emu.sent[0] == b"Readings:\r\n"
            assert re.fullmatch(rb"\d+,1\.000,kg,\r\n", emu.sent[1])
            time.sleep(0.1)
            drv.zero()
            assert emu.received == []              # software zero: nothing sent
            drv.read()
            assert np.all(collect(drv, 5)["grams"] == 0.0)
            load["g"] = 1500.0
            time.sleep(0.6)                        # > SETTLE_WINDOW_S
            drv.read()
            drv.calibrate_span(1000.0)             # a 500 g reading becomes 1000 g
            drv.read()
            assert np.allclose(collect(drv, 5)["grams"], 1000.0)
            assert drv.tare() == pytest.approx(1000.0)
            drv.read()
            assert np.allclose(collect(drv, 5)["grams"], 0.0, atol=1e-3)
            cal = drv.calibration
        assert cal["zero_g"] == [1000.0] and cal["span"] == [pytest.approx(2.0)]
        with SerialScaleDriver(emu.port, profile="hx711-openscale", timeout_s=0.5,
                               calibration=cal) as drv:
            assert np.allclose(collect(drv, 5)["grams"], 0.0, atol=1e-3)


def test_span_needs_a_load():
    with PtySerialEmulator("hx711-openscale", signal=lambda t: 0.0, rate_hz=100.0,
                           noise_g=0.0) as emu:
        with SerialScaleDriver(emu.port, profile="hx711-openscale", timeout_s=0.5) as drv:
            collect(drv, 5)
            with pytest.raises(DriverError, match="put the"):
                drv.calibrate_span(500.0)
            with pytest.raises(ValueError):
                drv.calibrate_span(-1.0)


def test_four_channel_board_maps_cells():
    with PtySerialEmulator("hx711-ascii", signal=lambda t: [10.0, 20.0, 30.0, 40.0],
                           rate_hz=100.0, noise_g=0.0) as emu:
        with SerialScaleDriver(emu.port, profile="hx711-ascii", timeout_s=0.5,
                               channel_cells=[7, 5, 3, 1]) as drv:
            assert drv.info().channels == 4
            got = collect(drv, 20)
    by_cell = {int(c): set(got["grams"][got["cell"] == c].tolist()) for c in (7, 5, 3, 1)}
    assert by_cell == {7: {10.0}, 5: {20.0}, 3: {30.0}, 1: {40.0}}


def test_wrong_channel_cells_length():
    with PtySerialEmulator("hx711-ascii") as emu:
        drv = SerialScaleDriver(emu.port, profile="hx711-ascii", channel_cells=[0, 1])
        with pytest.raises(ValueError, match="4 channels"):
            drv.open()
        drv.close()


def test_stream_device_silent_is_not_found():
    with PtySerialEmulator("hx711-adc") as emu:
        emu.set_silent()
        with pytest.raises(DeviceNotFoundError, match="no valid hx711-adc line"):
            SerialScaleDriver(emu.port, profile="hx711-adc", timeout_s=0.2).open()


def test_probe_tells_profiles_apart():
    with PtySerialEmulator("hx711-openscale", rate_hz=50.0) as emu:
        found = probe(emu.port, ["hx711-adc", "hx711-openscale", "mt-sics"],
                      [9600, 57600], timeout_s=0.25)
    assert [(b, p) for b, p, _ in found] == [(9600, "hx711-openscale")]


def test_simulator_load_cell_model_plugs_in_as_signal():
    from fusion.sim.loadcell import LoadCellModel, LoadTimeline, true_load_g

    model = LoadCellModel(sample_hz=80.0)
    timeline = LoadTimeline.build(1000.0, steps=[(0.3, 0.05, -352.0)])

    def signal(t_s: float) -> float:
        return float(true_load_g(model, timeline, np.array([t_s]))[0])

    with PtySerialEmulator("hx711-adc", signal=signal, mode="80sps", seed=2) as emu:
        with SerialScaleDriver(emu.port, profile="hx711-adc", timeout_s=0.5) as drv:
            got = collect(drv, 20)
            while emu.elapsed_s() < 1.2:
                got = np.concatenate([got, collect(drv, 1)])
            got = np.concatenate([got, collect(drv, 20)])
    g = got["grams"]
    assert abs(float(np.median(g[:5])) - 1000.0) < 5.0
    assert abs(float(np.median(g[-20:])) - 648.0) < 5.0


def test_board_that_just_reset_gets_its_startup_time():
    # Banner at once, first value only after the timeout (the sketch's stabilising time).
    with PtySerialEmulator("hx711-adc", signal=lambda t: 3.0, noise_g=0.0) as emu:
        emu.set_silent(True)

        def boot(port, **kwargs):
            p = serial.serial_for_url(port, **kwargs)
            emu.inject(b"Starting...\r\n")
            threading.Timer(0.5, emu.set_silent, (False,)).start()
            return p

        drv = SerialScaleDriver(emu.port, profile="hx711-adc", timeout_s=0.2, opener=boot)
        with drv:
            assert collect(drv, 1)["grams"][0] == 3.0
