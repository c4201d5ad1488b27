"""Bench test against a real serial device; skipped unless one is named.

    SHELF_FUSION_SERIAL_URL=/dev/serial/by-id/... SHELF_FUSION_SERIAL_PROFILE=mt-sics \
        pytest tests/drivers/test_serial_with_device.py

Set SHELF_FUSION_SERIAL_WRITE=1 to also zero the device (changes its state).
"""

import os
import time

import numpy as np
import pytest

from drivers.scale_serial import SerialScaleDriver, probe
from fusion.types import SampleFlag

URL = os.environ.get("SHELF_FUSION_SERIAL_URL")
PROFILE = os.environ.get("SHELF_FUSION_SERIAL_PROFILE", "mt-sics")
pytestmark = pytest.mark.skipif(not URL, reason="set SHELF_FUSION_SERIAL_URL to a real device")


def test_probe_finds_the_device():
    found = probe(URL, [PROFILE], timeout_s=1.0)
    assert found, f"{PROFILE} not found at {URL}"


def test_reads_two_seconds():
    with SerialScaleDriver(URL, profile=PROFILE, timeout_s=1.0) as drv:
        assert drv.info().profile == PROFILE
        time.sleep(2.0)
        got = drv.read()
    assert len(got) > 0
    valid = ~np.isnan(got["grams"])
    invalid_flags = SampleFlag.OVERLOAD | SampleFlag.UNDERLOAD | SampleFlag.ERROR | SampleFlag.GAP
    assert np.all((got["flags"][~valid] & invalid_flags) != 0)
    assert np.all(np.diff(got["t"]) >= 0)


@pytest.mark.skipif(os.environ.get("SHELF_FUSION_SERIAL_WRITE") != "1",
                    reason="set SHELF_FUSION_SERIAL_WRITE=1 to allow zeroing the device")
def test_zero():
    with SerialScaleDriver(URL, profile=PROFILE, timeout_s=1.0) as drv:
        time.sleep(1.0)
        drv.zero()
        drv.read()
        time.sleep(1.0)
        grams = drv.read()["grams"]
    assert abs(float(np.nanmedian(grams))) < 1.0
