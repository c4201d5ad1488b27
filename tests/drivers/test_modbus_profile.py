"""Modbus profiles: the shipped ones load; malformed ones fail with a clear DriverError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import DriverError
from drivers.modbus.profile import get_profile, parse_profile
from drivers.scale_modbus import modbus_profiles


@pytest.mark.parametrize("name", ["generic-rs485", "flintec-ft11", "laumas-w100"])
def test_shipped_profiles_load_and_say_what_is_unverified(name):
    p = get_profile(name)
    assert p.name == name and p.unverified and "gross" in p.poll
    assert name in modbus_profiles()


def test_word_order_and_types():
    p = get_profile("generic-rs485")
    assert p.encode("int32", -2) == [0xFFFF, 0xFFFE]
    assert p.decode("net", [0xFFFF, 0xC1EF]) == -15889
    little = parse_profile({**p.raw, "modbus": {**p.raw["modbus"], "word_order": "little"}})
    assert little.encode("int32", 0x12345678) == [0x5678, 0x1234]
    assert little.decode("gross", [0x5678, 0x1234]) == 0x12345678
    with pytest.raises(ValueError):
        p.encode("uint16", 70000)


@pytest.mark.parametrize("patch,key", [
    ({"protocol": "serial"}, "protocol"),
    ({"registers": {"net": {"address": 2}}}, "registers.gross"),
    ({"registers": {"gross": {"address": 2, "type": "float64"}}}, "registers.gross"),
    ({"modbus": {"read_function": 5}}, "modbus.read_function"),
    ({"modbus": {"max_registers_per_request": 200}}, "max_registers_per_request"),
    ({"channels": {"count": 2, "stride": 0}}, "channels"),
    ({"poll": {"registers": ["gross", "weight"]}}, "poll.registers"),
    ({"status": {"unstbale": 1}}, "status"),
    ({"commands": {"zero": [{"address": 1, "value": "now"}]}}, "commands.zero[0].value"),
    ({"modbus": {"read_function": "three"}}, "malformed"),
])
def test_malformed_profiles_name_file_and_key(patch, key):
    data = {**get_profile("flintec-ft11").raw, "_path": "hardware/x.toml", **patch}
    with pytest.raises(DriverError) as e:
        parse_profile(data)
    assert "hardware/x.toml" in str(e.value) and key in str(e.value)


def test_unknown_profile_name():
    with pytest.raises(DriverError, match="unknown profile"):
        get_profile("no-such-thing")


toml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["address", "type", "value", "count", "stride", "registers", "gross",
                         "status", "unstable", "error_codes", "read_function"]),
        children, max_size=4),
    max_leaves=12)


@given(st.dictionaries(st.sampled_from(["modbus", "channels", "registers", "poll", "scaling",
                                        "status", "commands", "unverified", "name"]),
                       toml_values, max_size=6))
@settings(max_examples=300, deadline=None)
def test_arbitrary_tables_only_raise_driver_error(table):
    try:
        parse_profile({"protocol": "modbus", **table})
    except DriverError:
        pass
