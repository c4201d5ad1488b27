"""RTU line timing, request packing, the bus scheduler and scanning."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus.emu_model import EmulatedScale
from drivers.modbus.links import RtuLink, TcpLink, parse_url
from drivers.modbus_bus import (
    BusScheduler,
    char_bits,
    inter_frame_gap_s,
    max_polls_per_s,
    pack_reads,
    read_exchange_s,
    worthwhile_gap_registers,
)
from drivers.scale_modbus import ModbusScaleDriver, scan_modbus
from drivers.scale_modbus_emu import RtuPtyEmulator, TcpEmulator
from fusion.types import SampleFlag

# -- line timing --------------------------------------------------------------------


def test_char_bits():
    assert char_bits("E", 1) == 11 and char_bits("N", 2) == 11 and char_bits("N", 1) == 10


def test_gap_is_fixed_above_19200():
    assert inter_frame_gap_s(115200) == 0.00175
    assert inter_frame_gap_s(38400) == 0.00175
    assert inter_frame_gap_s(19200) == pytest.approx(3.5 * 11 / 19200)
    assert inter_frame_gap_s(9600, "N", 1) == pytest.approx(3.5 * 10 / 9600)


def test_two_register_read_at_115200():
    # (8 + 9) characters * 11 bits / 115200 + 2 * 1.75 ms = 5.12 ms -> ~195 polls/s
    assert read_exchange_s(2, 115200) == pytest.approx(17 * 11 / 115200 + 0.0035)
    assert read_exchange_s(2, 115200) == pytest.approx(5.12e-3, abs=0.01e-3)
    assert max_polls_per_s([2], 115200) == pytest.approx(195.2, abs=0.1)


def test_slow_lines_and_turnaround():
    # 9600 8E1, 3 registers: 19 chars + 2 * 3.5 chars = 26 chars of 11 bits
    assert read_exchange_s(3, 9600) == pytest.approx(26 * 11 / 9600)
    assert read_exchange_s(2, 115200, turnaround_s=0.005) == \
        pytest.approx(read_exchange_s(2, 115200) + 0.005)
    assert max_polls_per_s([1, 2], 19200) < max_polls_per_s([2], 19200)


@pytest.mark.parametrize("bad", [dict(n_registers=0, baud=9600), dict(n_registers=126, baud=9600),
                                 dict(n_registers=2, baud=0), dict(n_registers=2, baud=9600,
                                                                   parity="X")])
def test_timing_rejects_bad_arguments(bad):
    with pytest.raises(ValueError):
        read_exchange_s(**bad)


def test_worthwhile_gap_grows_with_relative_overhead():
    assert worthwhile_gap_registers(115200) > worthwhile_gap_registers(9600) > 0


@given(n=st.integers(1, 125), baud=st.sampled_from([1200, 9600, 19200, 38400, 115200]),
       parity=st.sampled_from("NEO"), stop=st.sampled_from([1, 2]))
def test_timing_monotone_in_registers(n, baud, parity, stop):
    t = read_exchange_s(n, baud, parity, stop)
    assert t > 0 and math.isfinite(t)
    if n < 125:
        assert read_exchange_s(n + 1, baud, parity, stop) > t


# -- packing ------------------------------------------------------------------------

def test_pack_contiguous_and_limits():
    assert pack_reads([(5, 2), (2, 1), (3, 2)]) == [(2, 5)]
    assert pack_reads([(8, 1), (0x50, 2)]) == [(8, 1), (0x50, 2)]
    assert pack_reads([(8, 1), (0x50, 2)], max_gap=100) == [(8, 74)]
    assert pack_reads([(0, 2), (2, 2), (4, 2)], max_registers=4) == [(0, 4), (4, 2)]
    with pytest.raises(ValueError):
        pack_reads([(0, 40)], max_registers=32)


@given(st.lists(st.tuples(st.integers(0, 300), st.integers(1, 4)), min_size=1, max_size=30),
       st.integers(4, 125), st.integers(0, 10))
@settings(max_examples=300)
def test_pack_covers_every_range_and_respects_limit(ranges, max_registers, max_gap):
    reqs = pack_reads(ranges, max_registers=max_registers, max_gap=max_gap)
    assert all(1 <= c <= max_registers for _, c in reqs)
    assert [a for a, _ in reqs] == sorted(a for a, _ in reqs)
    for a, c in ranges:  # each range lies inside one request, never split
        assert any(ra <= a and a + c <= ra + rc for ra, rc in reqs)
    if max_gap == 0:  # contiguous-only packing never reads unrequested registers
        wanted = {r for a, c in ranges for r in range(a, a + c)}
        assert {r for a, c in reqs for r in range(a, a + c)} == wanted


# -- URLs ---------------------------------------------------------------------------

def test_parse_urls():
    u = parse_url("modbus-rtu:///dev/ttyUSB0?baud=9600&parity=n&unit=3&stop=2")
    assert (u.path, u.baud, u.parity, u.unit, u.stop_bits) == ("/dev/ttyUSB0", 9600, "N", 3, 2)
    t = parse_url("modbus-tcp://10.0.0.5:1502?unit=7")
    assert (t.host, t.port, t.unit) == ("10.0.0.5", 1502, 7)
    assert parse_url("modbus-tcp://plc").port == 502
    assert u.bus_key == "modbus-rtu:///dev/ttyUSB0"


@pytest.mark.parametrize("url", ["modbus-rtu:///dev/x?unit=300", "modbus-rtu:///dev/x?baud=fast",
                                 "modbus-rtu:///dev/x?parity=Q", "modbus-tcp://?unit=1",
                                 "modbus-tcp://h?speed=1", "modbus-udp://h"])
def test_bad_urls(url):
    with pytest.raises(ValueError):
        parse_url(url)


# -- scheduler ----------------------------------------------------------------------

@pytest.fixture
def three_unit_bus():
    models = {1: EmulatedScale("generic-rs485", script=[(0.0, 100.0)]),
              2: EmulatedScale("flintec-ft11", script=[(0.0, 200.0)]),
              3: EmulatedScale("laumas-w100", script=[(0.0, 300.0)])}
    with RtuPtyEmulator(models, line_baud=115200) as emu:  # replies paced like a real line
        yield emu


def test_scheduler_polls_several_units_on_one_line(three_unit_bus):
    emu = three_unit_bus
    link = RtuLink(emu.port, baud=115200, parity="N", stop_bits=2, timeout_s=1.0)
    profiles = {1: "generic-rs485", 2: "flintec-ft11", 3: "laumas-w100"}
    sched = BusScheduler(link)
    for unit, profile in profiles.items():
        drv = ModbusScaleDriver(emu.url(unit, baud=115200, parity="N") + "&stop=2",
                                profile=profile, link=link, channel_cells=[unit * 10])
        sched.add(drv, rate_hz={1: 50.0, 2: 20.0, 3: 10.0}[unit])
    with sched:
        samples = sched.run_for(0.5)
    stats = sched.stats()
    by_cell = {c: samples["grams"][samples["cell"] == c] for c in (10, 20, 30)}
    assert all(len(v) >= 1 for v in by_cell.values())
    assert set(by_cell[10]) == {100.0} and set(by_cell[20]) == {200.0} \
        and set(by_cell[30]) == {300.0}
    assert np.all(np.diff(samples["t"]) >= 0)
    assert stats.polls == len(samples) and stats.requests >= stats.polls
    assert stats.failures == 0 and stats.requested_polls_per_s == 80.0
    # limit for this mix: generic does 2 requests (1 + 2 regs), flintec 1 x 5, laumas 1 x 3
    expected_poll_s = np.average(
        [read_exchange_s(1, 115200, "N", 2) + read_exchange_s(2, 115200, "N", 2),
         read_exchange_s(5, 115200, "N", 2), read_exchange_s(3, 115200, "N", 2)],
        weights=[50, 20, 10])
    assert stats.limit_polls_per_s == pytest.approx(1 / expected_poll_s)
    assert stats.achieved_polls_per_s > 0 and 0 < stats.utilisation


def test_scheduler_rejects_foreign_driver(three_unit_bus):
    link = RtuLink(three_unit_bus.port, baud=115200, parity="N")
    sched = BusScheduler(link)
    drv = ModbusScaleDriver(three_unit_bus.url(1, parity="N"), profile="generic-rs485")
    with pytest.raises(ValueError, match="link="):
        sched.add(drv, 10.0)
    with pytest.raises(ValueError):
        BusScheduler(link).poll_once()


def test_scheduler_keeps_polling_through_a_dead_unit(three_unit_bus):
    emu = three_unit_bus
    link = RtuLink(emu.port, baud=115200, parity="N", timeout_s=0.2)
    sched = BusScheduler(link)
    live = ModbusScaleDriver(emu.url(1, parity="N"), profile="generic-rs485", link=link,
                             channel_cells=[1], retries=0)
    dying = ModbusScaleDriver(emu.url(3, parity="N"), profile="laumas-w100", link=link,
                              channel_cells=[3], retries=0, backoff_min_s=0.05)
    sched.add(live, 20.0)
    sched.add(dying, 20.0)
    with sched:
        emu.devices[3].inject("no_reply", count=None)
        samples = sched.run_for(0.6)
    assert (samples["grams"][samples["cell"] == 1] == 100.0).all()
    dead = samples[samples["cell"] == 3]
    assert len(dead) >= 1 and (dead["flags"] == SampleFlag.GAP).all()
    assert sched.stats().failures >= 1 and len(dying.gaps) == 1


def test_tcp_scheduler_has_no_line_limit():
    with TcpEmulator({1: EmulatedScale("generic-rs485")}) as emu:
        link = TcpLink("127.0.0.1", emu.port)
        sched = BusScheduler(link)
        sched.add(ModbusScaleDriver(emu.url(1), profile="generic-rs485", link=link), 10.0)
        with sched:
            sched.poll_once()
        assert math.isinf(sched.stats().limit_polls_per_s) and sched.stats().polls == 1


# -- scan ---------------------------------------------------------------------------

def test_scan_finds_units_and_fitting_profiles(three_unit_bus):
    url = three_unit_bus.url(1, baud=115200, parity="N")
    hits = scan_modbus(url, [1, 2, 4], ["laumas-w100", "generic-rs485", "flintec-ft11"],
                       timeout_s=0.3)
    found = {(h.unit, h.profile) for h in hits}
    assert {1, 2} == {u for u, _ in found}  # unit 4 is silent
    assert (1, "generic-rs485") in found and (2, "flintec-ft11") in found
    assert (2, "generic-rs485") not in found  # 0x50 is beyond the FT-11's map: exception 2
    hit = next(h for h in hits if h.unit == 1 and h.profile == "generic-rs485")
    assert hit.grams == (100.0,) and hit.url.endswith("unit=1")
