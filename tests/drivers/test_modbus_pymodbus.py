"""Interoperability with pymodbus: our driver against pymodbus's own simulator
server (register maps loaded as plain data, none of our emulator code), and
pymodbus's client against our emulator."""

from __future__ import annotations

import asyncio
import threading

import pytest

from drivers.errors import ProtocolError
from drivers.modbus.emu_model import EmulatedScale
from drivers.modbus.frames import ModbusExceptionError, raise_for_pymodbus, read_request
from drivers.scale_modbus import ModbusScaleDriver
from drivers.scale_modbus_emu import TcpEmulator
from fusion.types import SampleFlag
from tests.drivers.modbus_nullmodem import PtyNullModem

pymodbus = pytest.importorskip("pymodbus")
from pymodbus.server import ModbusSerialServer, ModbusTcpServer  # noqa: E402
from pymodbus.simulator import DataType, SimData, SimDevice  # noqa: E402

# Register maps written out by hand from the manuals (address -> value).
MAPS = {
    # status 0x0002: 2 decimals, stable; gross 0x00003039 = 123.45 -> 123.45 g
    "generic-rs485": ({0x08: 0x0002, 0x50: 0x0000, 0x51: 0x3039}, 123.45, SampleFlag.STABLE),
    # status: data ok, not in motion; gross 40006/7 = 0x000186A0 = 100000
    "flintec-ft11": ({2: 0x0002, 5: 0x0001, 6: 0x86A0}, 100000.0, SampleFlag.STABLE),
    # status: stable + gross negative; gross 40008/9 = 2500 -> -2500
    "laumas-w100": ({6: 0x0880, 7: 0x0000, 8: 2500}, -2500.0, SampleFlag.STABLE),
}


def sim_device(unit: int, regs: dict[int, int]) -> SimDevice:
    values = [0] * 0x60
    for a, v in regs.items():
        values[a] = v
    return SimDevice(unit, simdata=[SimData(0, values=values, datatype=DataType.REGISTERS)])


class LoopThread:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@pytest.mark.parametrize("profile", sorted(MAPS))
def test_driver_reads_pymodbus_tcp_simulator(profile):
    regs, grams, flags = MAPS[profile]
    with LoopThread() as lt:
        async def start():
            server = ModbusTcpServer([sim_device(4, regs)], address=("127.0.0.1", 0))
            await server.serve_forever(background=True)
            return server
        server = lt.run(start())
        port = server.transport.sockets[0].getsockname()[1]
        try:
            with ModbusScaleDriver(f"modbus-tcp://127.0.0.1:{port}?unit=4",
                                   profile=profile) as drv:
                s = drv.read()
                with pytest.raises(ModbusExceptionError, match="unit 4"):  # beyond the map
                    drv.link.transact(4, read_request(3, 0x60, 2), device=drv.url)
        finally:
            lt.run(server.shutdown())
    assert s["grams"][0] == pytest.approx(grams) and s["flags"][0] == flags


def test_driver_reads_pymodbus_rtu_server_over_ptys():
    regs, grams, flags = MAPS["generic-rs485"]
    with PtyNullModem() as cable, LoopThread() as lt:
        async def start():
            server = ModbusSerialServer([sim_device(2, regs)], port=cable.port_a,
                                        baudrate=19200, parity="N", stopbits=2)
            await server.serve_forever(background=True)
            return server
        server = lt.run(start())
        try:
            url = f"modbus-rtu://{cable.port_b}?baud=19200&parity=N&stop=2&unit=2"
            with ModbusScaleDriver(url, profile="generic-rs485", timeout_s=2.0) as drv:
                s = drv.read()
        finally:
            lt.run(server.shutdown())
    assert s["grams"][0] == pytest.approx(grams) and s["flags"][0] == flags


def test_pymodbus_client_reads_our_emulator_and_errors_convert():
    from pymodbus.client import ModbusTcpClient
    model = EmulatedScale("generic-rs485", script=[(0.0, 1234.5)])
    with TcpEmulator({1: model}) as emu:
        client = ModbusTcpClient("127.0.0.1", port=emu.port, timeout=2)
        assert client.connect()
        try:
            rr = client.read_holding_registers(0x50, count=2, device_id=1)
            raise_for_pymodbus(rr, device=emu.url(1), unit=1, address=0x50)
            assert rr.registers == [0, 12345]  # one decimal by default
            bad = client.read_holding_registers(0x2000, count=2, device_id=1)
            assert bad.isError()
            with pytest.raises(ModbusExceptionError) as e:
                raise_for_pymodbus(bad, device=emu.url(1), unit=1, address=0x2000)
            assert e.value.code == 2 and "register 8192" in str(e.value)
        finally:
            client.close()
    with pytest.raises(ProtocolError):
        raise_for_pymodbus(None, device="d", unit=1, address=0)
