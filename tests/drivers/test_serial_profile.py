"""Serial profiles and their line parser: manual examples, and arbitrary bytes (hypothesis)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import DriverError, ProtocolError
from drivers.registry import load_profile
from drivers.scale_serial import serial_profiles
from drivers.serial.profile import build_profile, get_profile
from drivers.serial.reader import LineReader
from fusion.types import SampleFlag

PROFILES = ["mt-sics", "hx711-adc", "hx711-openscale", "hx711-ascii"]


def test_all_profiles_are_found():
    assert set(PROFILES) <= set(serial_profiles())


# Byte-exact lines from the MT-SICS manuals ("S S     100.00 g" etc.).
@pytest.mark.parametrize("raw, grams, flag", [
    (b"S S     100.00 g\r", 100.0, SampleFlag.STABLE),
    (b"S D     100.00 g\r", 100.0, SampleFlag.NONE),
    (b"S S    -12.345 g\r", -12.345, SampleFlag.STABLE),
    (b"S D     1.2500 kg\r", 1250.0, SampleFlag.NONE),
])
def test_mt_sics_weight_lines(raw, grams, flag):
    parsed = get_profile("mt-sics").parse_line(raw)
    assert parsed.kind == "weight"
    assert parsed.grams[0] == pytest.approx(grams)
    assert parsed.flags == (int(flag),)


@pytest.mark.parametrize("raw, flag", [
    (b"S +\r", SampleFlag.OVERLOAD), (b"S -\r", SampleFlag.UNDERLOAD), (b"S I\r", SampleFlag.ERROR),
])
def test_mt_sics_invalid_lines_are_nan_not_zero(raw, flag):
    parsed = get_profile("mt-sics").parse_line(raw)
    assert parsed.kind == "invalid"
    assert math.isnan(parsed.grams[0]) and parsed.flags == (int(flag),)


@pytest.mark.parametrize("raw", [b"ES\r", b"ET\r", b"EL\r"])
def test_mt_sics_general_errors(raw):
    parsed = get_profile("mt-sics").parse_line(raw)
    assert parsed.kind == "device_error" and parsed.text.startswith(raw[:2].decode())


@pytest.mark.parametrize("raw", [b"S X     100.00 g", b"S S 100,00 g", b"S S     100.00", b"s s 1 g",
                                 b"S S     100.00 oz", b"\xff\xfe", b"S S  1.0 g\x00"])
def test_mt_sics_bad_lines_show_bytes(raw):
    with pytest.raises(ProtocolError) as e:
        get_profile("mt-sics").parse_line(raw)
    assert repr(raw)[2:-1][:6] in str(e.value)


def test_hx711_adc_lines():
    p = get_profile("hx711-adc")
    assert p.parse_line(b"Load_cell output val: 12.34\r").grams == (12.34,)
    assert p.parse_line(b"Load_cell output val: -0.50\r").grams == (-0.5,)
    assert p.parse_line(b"Tare complete\r").kind == "ignore"
    assert p.parse_line(b"Starting...\r").kind == "ignore"


@pytest.mark.parametrize("raw, grams", [
    (b"1234,0.450,kg,\r", 450.0), (b"0.450,kg\r", 450.0), (b"77,1.00,lbs,", 453.59237),
    (b"77,1.00,lbs,8388607,21.5,", 453.59237), (b"-0.25,kg", -250.0),
])
def test_openscale_csv(raw, grams):
    parsed = get_profile("hx711-openscale").parse_line(raw)
    assert parsed.grams[0] == pytest.approx(grams)


@pytest.mark.parametrize("raw", [b"12,abc,kg", b"1.0,g", b"nan,kg", b"1_0,kg", b"inf,kg", b"x,1,kg"])
def test_openscale_rejects(raw):
    with pytest.raises(ProtocolError):
        get_profile("hx711-openscale").parse_line(raw)


def test_multichannel_csv():
    parsed = get_profile("hx711-ascii").parse_line(b"1.5,-2.0,300.0,0.0\r")
    assert parsed.channels == (0, 1, 2, 3)
    assert parsed.grams == (1.5, -2.0, 300.0, 0.0)


def test_bad_profile_is_driver_error(tmp_path):
    data = dict(load_profile("mt-sics"))
    data["kind"] = "push"
    with pytest.raises(DriverError, match="kind"):
        build_profile(data)
    data["kind"] = "command"
    data["weight"] = {"regex": "^(?P<v>1)$"}
    with pytest.raises(DriverError, match="value"):
        build_profile(data)


@pytest.mark.parametrize("name", PROFILES)
@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=80))
def test_arbitrary_bytes_only_raise_protocol_error(name, raw):
    p = get_profile(name)
    try:
        parsed = p.parse_line(raw)
    except ProtocolError as e:
        assert e.raw == (raw[:-1] if raw.endswith(b"\r") else raw) or e.raw == raw
        return
    assert parsed.kind in ("weight", "invalid", "device_error", "ignore")
    assert len(parsed.grams) == len(parsed.flags) == len(parsed.channels)


@pytest.mark.parametrize("name", PROFILES)
@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("0123456789.,-+ SDIgkl:_abLoutvpc\r")),
                    max_size=40))
def test_near_miss_text_only_raises_protocol_error(name, text):
    try:
        get_profile(name).parse_line(text.encode())
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(value=st.floats(min_value=-99999, max_value=99999, allow_nan=False),
       stable=st.booleans())
def test_mt_sics_value_round_trip(value, stable):
    line = f"S {'S' if stable else 'D'} {f'{value:.2f}':>10} g"
    parsed = get_profile("mt-sics").parse_line(line.encode() + b"\r")
    assert parsed.grams[0] == pytest.approx(round(value, 2), abs=0.006)
    assert bool(parsed.flags[0] & SampleFlag.STABLE) == stable


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 300), max_size=8))
def test_line_reader_reassembles_any_chunking(data, cuts):
    reader = LineReader(max_line_bytes=1000)
    bounds = sorted({0, len(data), *[c for c in cuts if c <= len(data)]})
    lines = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        lines += reader.feed(data[a:b])
    assert lines == data.split(b"\n")[:-1]


def test_line_reader_drops_overlong_garbage():
    reader = LineReader(max_line_bytes=8)
    assert reader.feed(b"x" * 20) == []
    assert reader.overflow() == [b"x" * 8]
    assert reader.feed(b"ok\n") == [b"ok"]


DOC_EXAMPLE = '''
name = "my-board"
kind = "stream"
channels = 2
[serial]
baud = 115200
[units]
g = 1.0
kg = 1000.0
[weight]
regex = '^ch(?P<channel>\\d): (?P<value>[-+]?\\d+\\.\\d+) (?P<unit>g|kg)$'
unit = "g"
[weight.invalid]
"OL" = "overload"
[device_errors]
ERR = "the board did not understand"
[ignore]
patterns = ['^#', '^$']
[emulator]
line = "ch0: {v0} g"
'''


def test_profile_example_from_docs(tmp_path):
    path = tmp_path / "my_board.toml"
    path.write_text(DOC_EXAMPLE)
    p = get_profile(str(path))
    assert p.parse_line(b"ch1: 0.250 kg\r").channels == (1,)
    assert p.parse_line(b"ch1: 0.250 kg").grams == (250.0,)
    assert p.parse_line(b"OL").flags == (int(SampleFlag.OVERLOAD),) * 2
    assert p.parse_line(b"ERR").kind == "device_error"
    assert p.parse_line(b"# hello").kind == "ignore"
    with pytest.raises(ProtocolError, match="channel"):
        p.parse_line(b"ch2: 1.000 g")
