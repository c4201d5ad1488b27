"""shelf_fusion.live: [[controller]] validation, the merged live reader, the live engine loop."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modbus.emu_model import EmulatedScale
from drivers.scale_modbus_emu import TcpEmulator
from drivers.scale_serial_emu import PtySerialEmulator
from fusion.errors import StoreConfigError
from fusion.store import load_store
from fusion.types import WEIGHT_DTYPE, GateTap, VisionFrame
from shelf_fusion.live import (
    LiveShelf,
    interleave,
    load_controllers,
    read_gates_file,
    sort_events,
)
from tests.bringup_helpers import controller, write_store


def _store(tmp_path, *ctrls):
    return load_store(write_store(tmp_path, *ctrls))


def test_cells_and_channels_forms(tmp_path):
    store = _store(tmp_path, controller("/dev/ttyUSB0", "mt-sics", ["B1"], 15),
                   '\n[[controller]]\nurl = "modbus-tcp://h:502?unit=2"\nprofile = "x"\n'
                   'channels = {"3" = "A1"}\nscale = {"A1" = 1.5}\nzero_g = {"A1" = -2}\n')
    a, b = load_controllers(store)
    assert (a.url, a.channel_cells, a.rate_hz) == ("/dev/ttyUSB0", {0: 1}, 15.0)
    assert (b.channel_cells, b.scale, b.zero_g, b.rate_hz) == ({3: 0}, {3: 1.5}, {3: -2.0}, 10.0)


@pytest.mark.parametrize("table, key", [
    ('url = "u"\ncells = ["A1"]', "controller[0].profile"),
    ('url = "u"\nprofile = "p"', "controller[0]"),
    ('url = "u"\nprofile = "p"\ncells = ["A1"]\nchannels = {"0" = "A1"}', "controller[0]"),
    ('url = "u"\nprofile = "p"\ncells = ["nope"]', "controller[0].cells"),
    ('url = "u"\nprofile = "p"\nchannels = {"x" = "A1"}', "controller[0].channels"),
    ('url = "u"\nprofile = "p"\ncells = ["A1"]\nrate_hz = 0', "controller[0].rate_hz"),
    ('url = "u"\nprofile = "p"\ncells = ["A1"]\nscale = {"B1" = 1.0}', "controller[0].scale"),
    ('url = "u"\nprofile = "p"\ncells = ["A1"]\nzero_g = {"A1" = "x"}', "controller[0].zero_g.A1"),
])
def test_bad_controller_tables_name_file_and_key(tmp_path, table, key):
    store = _store(tmp_path, "\n[[controller]]\n" + table + "\n")
    with pytest.raises(StoreConfigError) as e:
        load_controllers(store)
    assert e.value.key == key and e.value.path.endswith("store.toml")


def test_cell_read_twice_is_refused(tmp_path):
    store = _store(tmp_path, controller("u1", "p", ["A1"]), controller("u2", "p", ["A1"]))
    with pytest.raises(StoreConfigError, match="already read by controller"):
        load_controllers(store)


def test_live_shelf_merges_serial_and_modbus_in_time_order(tmp_path):
    scale = EmulatedScale("generic-rs485", signal=lambda t: 1234.5)
    with PtySerialEmulator("mt-sics", signal=lambda t: 7.0) as emu, TcpEmulator({1: scale}) as srv:
        store = _store(tmp_path, controller(emu.port, "mt-sics", ["A1"], 20),
                       f'\n[[controller]]\nurl = "{srv.url(1)}"\nprofile = "generic-rs485"\n'
                       'channels = {"0" = "B1"}\nrate_hz = 40\n'
                       'scale = {"B1" = 2.0}\nzero_g = {"B1" = 100.0}\n')
        chunks = []
        with LiveShelf(load_controllers(store)) as shelf:
            while shelf.clock() < 0.8:
                chunks.append(shelf.poll())
            chunks.append(shelf.drain())
    w = np.concatenate(chunks)
    assert w.dtype == WEIGHT_DTYPE and np.all(np.diff(w["t"]) >= 0) and w["t"][0] >= 0
    a, b = w[w["cell"] == 0], w[w["cell"] == 1]
    assert len(a) >= 3 and len(b) >= 3 and len(a) + len(b) == len(w)
    assert np.all(a["grams"] == 7.0)
    assert np.allclose(b["grams"], (1234.5 - 100.0) * 2.0)


def test_interleave_feeds_events_between_weights_in_time_order():
    events = sort_events([VisionFrame(0.5, "C1", ()), GateTap(0.25, "G1", "S9"),
                          GateTap(5.0, "G1", "S1")])
    w = np.zeros(4, WEIGHT_DTYPE)
    w["t"] = [0.1, 0.2, 0.3, 0.6]
    items, nxt = interleave(w, events, 0, upto_t=0.6)
    kinds = [("w", len(x)) if isinstance(x, np.ndarray) else x.t for x in items]
    assert kinds == [("w", 2), 0.25, ("w", 1), 0.5, ("w", 1)] and nxt == 2
    items, nxt = interleave(np.zeros(0, WEIGHT_DTYPE), events, nxt, upto_t=4.9)
    assert items == [] and nxt == 2  # not due yet: waits
    items, nxt = interleave(np.zeros(0, WEIGHT_DTYPE), events, nxt, upto_t=5.0)
    assert items == [GateTap(5.0, "G1", "S1")] and nxt == 3


def test_gates_file_unknown_gate_names_line(tmp_path):
    from fusion.errors import RecordingError
    store = _store(tmp_path)
    p = tmp_path / "gates.csv"
    p.write_text("t,gate,shopper\n1.0,G1,A\n2.0,G7,B\n")
    with pytest.raises(RecordingError) as e:
        read_gates_file(p, store)
    assert e.value.line == 3 and e.value.field == "gate"


def _walk_frames() -> list[VisionFrame]:
    """A shopper taps in at G1 (t=0.5), walks to plate A1, reaches it 2-5 s, leaves by G1.

    The reach is wide on purpose: the emulator's script runs from its own start,
    which comes before the shelf clock's zero by however long opening the port
    took (up to a second or two on a loaded machine)."""
    from fusion.types import Hand, PersonDetection
    frames = []
    for k in range(80):
        t = k * 0.1
        a = min(max((t - 0.5) / 1.5, 0.0), 1.0) if t < 5.5 else 1.0 - min((t - 5.5) / 1.5, 1.0)
        xy = np.array([4.5, 0.4]) + a * np.array([0.2 - 4.5, 2.5 - 0.4])
        hands = (Hand(np.array([0.2, 2.0, 1.2])),) if 2.0 <= t <= 5.0 else ()
        frames.append(VisionFrame(round(t, 2), "C1", (PersonDetection(xy, 0.95, hands),)))
    return frames


def test_live_engine_charges_a_take_seen_on_an_emulated_plate(tmp_path):
    from shelf_fusion.live import LiveRun
    # one 352 g can leaves the plate 4 s after the emulator starts
    with PtySerialEmulator("mt-sics", script=[(0.0, 1056.0), (4.0, 704.0)], noise_g=0.3) as emu:
        store = _store(tmp_path, controller(emu.port, "mt-sics", ["A1"], 20))
        seen = []
        with LiveShelf(load_controllers(store)) as shelf:
            run = LiveRun(store, shelf, [GateTap(0.5, "G1", "S1"), *_walk_frames()],
                          on_receipt=seen.append)
            receipts = run.run(seconds=10.0)
    assert seen == receipts and [r.shopper for r in receipts] == ["S1"]
    assert dict(receipts[0].items) == {"cola-330": 1}
    assert [(ln.cell, ln.qty) for ln in receipts[0].lines] == [("A1", 1)]


def test_two_units_on_one_rtu_line_share_the_port(tmp_path):
    from drivers.scale_modbus_emu import RtuPtyEmulator
    models = {1: EmulatedScale("generic-rs485", signal=lambda t: 111.0),
              2: EmulatedScale("flintec-ft11", signal=lambda t: 222.0)}
    with RtuPtyEmulator(models) as bus:
        store = _store(tmp_path, controller(bus.url(1, parity="N"), "generic-rs485", ["A1"], 20),
                       controller(bus.url(2, parity="N"), "flintec-ft11", ["B1"], 20))
        chunks = []
        with LiveShelf(load_controllers(store)) as shelf:
            assert len({id(d.link) for d in shelf.drivers}) == 1
            while shelf.clock() < 0.5:
                chunks.append(shelf.poll())
            chunks.append(shelf.drain())
        assert bus.crc_errors == 0
    w = np.concatenate(chunks)
    assert np.all(np.diff(w["t"]) >= 0)
    assert np.all(w["grams"][w["cell"] == 0] == 111.0) and np.all(w["grams"][w["cell"] == 1] == 222.0)
    assert (w["cell"] == 0).sum() >= 3 and (w["cell"] == 1).sum() >= 3


def test_channel_the_device_lacks_is_a_store_error(tmp_path):
    with PtySerialEmulator("mt-sics", signal=lambda t: 1.0) as emu:
        store = _store(tmp_path, f'\n[[controller]]\nurl = "{emu.port}"\nprofile = "mt-sics"\n'
                                 'channels = {"1" = "A1"}\n')
        shelf = LiveShelf(load_controllers(store))
        with pytest.raises(StoreConfigError, match="has 1 channel"):
            shelf.open()
        assert shelf.drivers == []  # what was opened got closed


_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.floats(allow_nan=True),
                    st.sampled_from(["A1", "B1", "u", "", "0", "x"]),
                    st.lists(st.sampled_from(["A1", "B1", "Z"]), max_size=3),
                    st.lists(st.one_of(st.integers(), st.lists(st.integers())), max_size=2),
                    st.dictionaries(st.sampled_from(["0", "1", "A1", "B1", "x"]),
                                    st.one_of(st.sampled_from(["A1", "B1"]), st.floats(),
                                              st.lists(st.integers(), max_size=1)),
                                    max_size=3))


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({"url": st.sampled_from(["u", "", 3]),
                              "profile": st.sampled_from(["p", None])}),
       st.dictionaries(st.sampled_from(["cells", "channels", "rate_hz", "scale", "zero_g",
                                        "other"]), _values, max_size=5))
def test_any_controller_table_loads_or_names_its_key(base, rest):
    table = {**base, **rest}
    import tomllib

    from fusion.store import parse_store
    from tests.bringup_helpers import STORE_HEAD
    data = tomllib.loads(STORE_HEAD)
    data["controller"] = [{k: v for k, v in table.items() if v is not None}]
    store = parse_store(data, source="bench/store.toml")
    try:
        (cfg,) = load_controllers(store)
    except StoreConfigError as e:
        assert e.path == "bench/store.toml" and e.key.startswith("controller[0]")
    else:
        assert cfg.url and cfg.profile and cfg.channel_cells and cfg.rate_hz > 0
        assert set(cfg.channel_cells.values()) <= {0, 1}
