"""Our exceptions cross process boundaries intact.

A worker of a ``multiprocessing.Pool`` that replays a recording and hits a
malformed line sends the exception back pickled; an exception class whose
``__init__`` takes several arguments does not unpickle by default (the pool's
result thread dies and the caller hangs), so each defines ``__reduce__``.
"""

from __future__ import annotations

import pickle
from multiprocessing import get_context

import pytest

from drivers.errors import DeviceTimeoutError, ProtocolError
from drivers.modbus.frames import ModbusExceptionError
from fusion.errors import RecordingError, StoreConfigError

ERRORS = [
    RecordingError("weights.csv", 12, "grams", "'abc' is not a number"),
    StoreConfigError("store.toml", "cell[3].skus", "unknown SKU 'cola-33'"),
    ProtocolError("/dev/ttyUSB0", "bad checksum", b"\x01\x02"),
    ModbusExceptionError("tcp://127.0.0.1:5020", 3, 0x03, 40001, 2, b"\x83\x02"),
    DeviceTimeoutError("/dev/ttyUSB0: no answer in 0.5 s"),
]


@pytest.mark.parametrize("err", ERRORS, ids=lambda e: type(e).__name__)
def test_round_trip_keeps_class_message_and_fields(err):
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err)
    assert str(back) == str(err)
    assert vars(back) == vars(err)


def _raise_recording_error(line: int) -> None:
    raise RecordingError("weights.csv", line, "t", "time goes backwards")


def test_an_error_raised_in_a_pool_worker_reaches_the_caller():
    with get_context("spawn").Pool(1) as pool:
        with pytest.raises(RecordingError, match=r"weights.csv:7: field 't': time goes backwards"):
            # without __reduce__ the pool's result thread dies and get() would wait forever
            pool.apply_async(_raise_recording_error, (7,)).get(timeout=60)
