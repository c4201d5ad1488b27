"""Each profile against its emulator, over a real pty (RTU) and a real pymodbus TCP server."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from drivers.errors import DriverError
from drivers.modbus.emu_model import EmulatedScale
from drivers.modbus.frames import ModbusExceptionError
from drivers.modbus.profile import get_profile
from drivers.scale_modbus import ModbusScaleDriver, modbus_profiles
from drivers.scale_modbus_emu import RtuPtyEmulator, TcpEmulator
from fusion.types import SampleFlag

PROFILES = ["generic-rs485", "flintec-ft11", "laumas-w100"]


class Rig:
    """An emulator on a transport plus a driver factory."""

    def __init__(self, transport: str, models: dict[int, EmulatedScale]):
        self.transport = transport
        self.models = models
        self.emu = RtuPtyEmulator(models) if transport == "rtu" else TcpEmulator(models)

    def url(self, unit: int = 1) -> str:
        if self.transport == "rtu":
            # 8N2: 11-bit characters like 8E1 (Linux ptys refuse parity bits)
            return self.emu.url(unit, baud=115200, parity="N") + "&stop=2"
        return self.emu.url(unit)

    def driver(self, unit: int = 1, **kw) -> ModbusScaleDriver:
        kw.setdefault("timeout_s", 1.0)
        return ModbusScaleDriver(self.url(unit), profile=self.models[unit].spec, **kw)


@pytest.fixture(params=["rtu", "tcp"])
def transport(request):
    return request.param


@pytest.fixture
def rig_factory(transport):
    rigs = []

    def make(models):
        rig = Rig(transport, models)
        rig.emu.start()
        rigs.append(rig)
        return rig
    yield make
    for r in rigs:
        r.emu.stop()


def read_good(drv, tries: int = 200) -> np.ndarray:
    """Read until a batch of valid samples arrives (after a fault or backoff)."""
    for _ in range(tries):
        s = drv.read()
        if len(s) and not (s["flags"] & SampleFlag.GAP).any():
            return s
        time.sleep(0.01)
    raise AssertionError(f"no good samples; last error: {drv.last_error}")


def test_every_modbus_profile_reads_from_its_emulator(rig_factory):
    names = modbus_profiles()
    assert set(PROFILES) <= set(names)
    for name in names:
        rig = rig_factory({1: EmulatedScale(name, signal=lambda t: 321.0)})
        with rig.driver() as drv:
            assert drv.read()["grams"][0] == pytest.approx(321.0), name


@pytest.mark.parametrize("profile", PROFILES)
def test_reads_script_and_signal(rig_factory, profile):
    model = EmulatedScale(profile, script=[(0.0, 1000.0)])
    rig = rig_factory({1: model})
    with rig.driver() as drv:
        s = drv.read()
        assert s["grams"][0] == pytest.approx(1000.0) and s["cell"][0] == 0
        model.set_script([(0.0, -250.0)])
        assert read_good(drv)["grams"][0] == pytest.approx(-250.0)
        model._signal = lambda t: 42.0 + 0 * t
        assert read_good(drv)["grams"][0] == pytest.approx(42.0)
        assert drv.info().profile == profile


@pytest.mark.parametrize("profile", PROFILES)
def test_zero_and_tare(rig_factory, profile):
    model = EmulatedScale(profile, script=[(0.0, 500.0)])
    rig = rig_factory({1: model})
    with rig.driver() as drv:
        assert drv.tare() == pytest.approx(500.0)
        assert read_good(drv)["grams"][0] == pytest.approx(500.0)  # gross is unchanged
        drv.clear_tare()
        drv.zero()
        assert read_good(drv)["grams"][0] == pytest.approx(0.0)
        model.set_script([(0.0, 800.0)])
        assert read_good(drv)["grams"][0] == pytest.approx(300.0)


@pytest.mark.parametrize("profile", ["generic-rs485", "flintec-ft11"])
def test_span_calibration(rig_factory, profile):
    model = EmulatedScale(profile, script=[(0.0, 990.0)])
    rig = rig_factory({1: model})
    with rig.driver() as drv:
        drv.calibrate_span(1000.0)
        assert read_good(drv)["grams"][0] == pytest.approx(1000.0)
        model.set_script([(0.0, 495.0)])
        assert read_good(drv)["grams"][0] == pytest.approx(500.0, abs=0.2)


def test_profile_without_span_says_so(rig_factory):
    rig = rig_factory({1: EmulatedScale("laumas-w100")})
    with rig.driver() as drv, pytest.raises(DriverError, match="no 'span' command"):
        drv.calibrate_span(1000.0)


def test_overload_is_nan_with_flag(rig_factory):
    for profile in PROFILES:
        model = EmulatedScale(profile, script=[(0.0, 5000.0)], capacity_g=2000.0)
        rig = rig_factory({1: model})
        with rig.driver() as drv:
            s = drv.read()
        assert math.isnan(s["grams"][0]), profile
        assert s["flags"][0] & SampleFlag.OVERLOAD, profile


def test_unstable_then_stable(rig_factory):
    t0 = time.monotonic()
    model = EmulatedScale("generic-rs485", signal=lambda t: 100.0 * t, settle_s=0.2)
    rig = rig_factory({1: model})
    with rig.driver() as drv:
        assert not drv.read()["flags"][0] & SampleFlag.STABLE
        model.set_script([(0.0, 7.0)])
        while time.monotonic() - t0 < 30:
            s = read_good(drv)
            if s["flags"][0] & SampleFlag.STABLE:
                break
        assert s["flags"][0] & SampleFlag.STABLE


def multi_channel_profile():
    data = dict(get_profile("flintec-ft11").raw)
    data["channels"] = {"count": 4, "stride": 10}
    data["name"] = "flintec-ft11-x4"
    return get_profile(data)


def test_multi_channel_board_packs_reads(rig_factory):
    spec = multi_channel_profile()
    model = EmulatedScale(spec, signal=lambda t: [100.0, 200.0, 300.0, 400.0])
    rig = rig_factory({1: model})
    with rig.driver(channel_cells=[7, 8, 9, 10]) as drv:
        assert drv.poll_requests() == [(2, 5), (12, 5), (22, 5), (32, 5)]
        s = drv.read()
        assert list(s["cell"]) == [7, 8, 9, 10]
        assert list(s["grams"]) == [100.0, 200.0, 300.0, 400.0]
        drv.tare(channel=2)
        assert model.tare_g[2] == 300.0 and model.tare_g[0] == 0.0
    with rig.driver(max_gap_registers=5) as packed:
        assert packed.poll_requests() == [(2, 35)]
        assert list(packed.read()["grams"]) == [100.0, 200.0, 300.0, 400.0]


# -- faults ------------------------------------------------------------------------

def fault_driver(rig):
    return rig.driver(timeout_s=0.3, retries=0, backoff_min_s=0.01, backoff_max_s=0.05)


def check_gap_then_recovery(drv, rows_before):
    gap_rows = drv.read()
    assert len(gap_rows) == 1 and gap_rows["flags"][0] == SampleFlag.GAP
    assert math.isnan(gap_rows["grams"][0])  # never a zero
    assert drv.gaps and drv.gaps[-1].t_end is None
    after = read_good(drv)
    gap = drv.gaps[-1]
    assert gap.t_end is not None and gap.t_start <= gap_rows["t"][0] <= gap.t_end
    assert gap.t_start == rows_before["t"][0]
    assert after["grams"][0] == pytest.approx(123.0)
    return gap


@pytest.mark.parametrize("kind", ["no_reply", "garbage", "bad_crc"])
def test_transient_faults_become_gaps(rig_factory, kind):
    model = EmulatedScale("generic-rs485", script=[(0.0, 123.0)])
    rig = rig_factory({1: model})
    with fault_driver(rig) as drv:
        before = drv.read()
        model.inject(kind, count=1)
        gap = check_gap_then_recovery(drv, before)
    if kind == "garbage":
        assert "bytes:" in gap.reason
    if kind == "bad_crc" and rig.transport == "rtu":
        assert "CRC" in gap.reason


def test_modbus_exception_raises_naming_device_unit_register(rig_factory):
    model = EmulatedScale("flintec-ft11", script=[(0.0, 1.0)])
    rig = rig_factory({1: model})
    with fault_driver(rig) as drv:
        model.inject("exception", count=1, code=2)
        with pytest.raises(ModbusExceptionError) as e:
            drv.read()
        assert e.value.code == 2 and e.value.unit == 1 and e.value.address == 2
        assert rig.url() in str(e.value) and "register 2" in str(e.value)
        model.inject("exception", count=1, code=6)  # busy: transient
        assert drv.read()["flags"][0] == SampleFlag.GAP


def test_stuck_values(rig_factory):
    model = EmulatedScale("laumas-w100", script=[(0.0, 10.0)])
    rig = rig_factory({1: model})
    with rig.driver() as drv:
        model.inject("stuck", count=None)
        model.set_script([(0.0, 99.0)])
        assert drv.read()["grams"][0] == 10.0
        model.clear_faults()
        assert drv.read()["grams"][0] == 99.0


def test_disconnect_and_reconnect(rig_factory):
    model = EmulatedScale("generic-rs485", script=[(0.0, 123.0)])
    rig = rig_factory({1: model})
    with fault_driver(rig) as drv:
        before = drv.read()
        rig.emu.disconnect()
        rows = [drv.read() for _ in range(3)]
        batches = [r for r in rows if len(r)]
        assert batches and all((b["flags"] == SampleFlag.GAP).all() for b in batches)
        assert len(drv.gaps) == 1 and drv.gaps[0].t_end is None
        rig.emu.reconnect()
        after = read_good(drv)
    assert after["grams"][0] == 123.0
    assert len(drv.gaps) == 1 and drv.gaps[0].t_end is not None
    assert drv.gaps[0].t_start == before["t"][0]


def test_unanswered_unit_is_not_found(rig_factory):
    rig = rig_factory({1: EmulatedScale("generic-rs485")})
    from drivers.errors import DeviceNotFoundError
    with pytest.raises(DeviceNotFoundError, match="unit 9"):
        ModbusScaleDriver(rig.url(9), profile="generic-rs485", timeout_s=0.3, retries=0).open()


def test_simulator_load_cell_signal_plugs_in(rig_factory):
    from fusion.sim.loadcell import LoadCellModel, LoadTimeline, sample_signal
    cell = LoadCellModel(sample_hz=80.0)
    timeline = LoadTimeline.build(4224.0, steps=[(0.3, 0.2, -352.0)])
    rng = np.random.default_rng(3)
    store_t = [0.0]  # the emulator runs on a store clock the test sets
    model = EmulatedScale("flintec-ft11", decimals=1, clock=lambda: store_t[0], t_origin_s=0.0,
                          signal=lambda t: sample_signal(cell, timeline, np.array([t]), rng))
    rig = rig_factory({1: model})
    with rig.driver(decimals=1) as drv:
        first = [drv.read()["grams"][0] for _ in range(5)]
        store_t[0] = 1.0
        later = [drv.read()["grams"][0] for _ in range(5)]
    first, later = np.array(first), np.array(later)
    assert np.isfinite(first).sum() >= 3 and np.isfinite(later).sum() >= 3
    assert np.nanmedian(first) == pytest.approx(4224.0, abs=30.0)
    assert np.nanmedian(later) == pytest.approx(3872.0, abs=30.0)
