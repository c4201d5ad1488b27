"""Emulated Modbus weighing controllers on real transports.

* :class:`RtuPtyEmulator` -- one RS-485 bus (any number of units) on a
  pseudo-terminal: real RTU bytes, CRC and inter-frame timing, read by the
  driver through pyserial on :attr:`RtuPtyEmulator.port`.
* :class:`TcpEmulator` -- a real pymodbus ``ModbusTcpServer`` on 127.0.0.1
  (ephemeral port) whose registers come from the same models.

Both serve :class:`~drivers.modbus.emu_model.EmulatedScale` models (one per
unit), built from the same ``hardware/`` profile as the driver, fed by a
script or any signal callable, with faults on demand (``model.inject``) and
disconnect/reconnect on the transport.

Example::

    scale = EmulatedScale("generic-rs485", script=[(0.0, 1234.5)])
    with RtuPtyEmulator({1: scale}) as bus:
        url = bus.url(1, baud=9600, parity="N")
"""

from __future__ import annotations

import asyncio
import os
import select
import threading
import time
import tty
from collections.abc import Mapping

from drivers.modbus import frames
from drivers.modbus.emu_model import FAULT_KINDS, EmulatedScale, Signal

__all__ = ["EmulatedScale", "FAULT_KINDS", "RtuPtyEmulator", "Signal", "TcpEmulator"]


def rtu_request_length(buf: bytes) -> int | None:
    """Length of the RTU request at the start of ``buf`` (None: unknown yet)."""
    if len(buf) < 2:
        return None
    fn = buf[1]
    if fn in (1, 2, 3, 4, 5, 6):
        return 8
    if fn in (15, 16):
        return 9 + buf[6] if len(buf) >= 7 else None
    return None


class RtuPtyEmulator:
    """A Modbus RTU bus on a pty; the driver opens :attr:`port` with pyserial.

    Args:
        devices: unit id -> model. Units not listed never answer (as on RS-485).
        silence_s: a partial frame followed by this much silence is dropped.
        reply_delay_s: slave turnaround before each reply (s).
        line_baud: if set, delay each reply by the time the request and the
            reply would take on a real line at this speed (11-bit characters)
            plus the t3.5 silence, so polls/s match a real bus (a pty itself
            has no line speed).
    """

    def __init__(self, devices: Mapping[int, EmulatedScale], *, silence_s: float = 0.05,
                 reply_delay_s: float = 0.0, line_baud: int | None = None):
        self.devices = dict(devices)
        self.silence_s, self.reply_delay_s = silence_s, reply_delay_s
        self.line_baud = line_baud
        self._master = self._slave = -1
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.connected = True
        self.port = ""
        #: Frames dropped for a bad CRC / frames seen / bytes dropped as noise.
        self.crc_errors = 0
        self.frames = 0
        self.noise_bytes = 0

    def url(self, unit: int, *, baud: int = 19200, parity: str = "E") -> str:
        """Device URL of ``unit`` on this bus."""
        return f"modbus-rtu://{self.port}?baud={baud}&parity={parity}&unit={unit}"

    def start(self) -> None:
        if self._thread is not None:
            return
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        self.port = os.ttyname(self._slave)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rtu-emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the pty; safe to call twice."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._thread = None
        for fd in (self._master, self._slave):
            os.close(fd)
        self._master = self._slave = -1

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def disconnect(self) -> None:
        """Pull the cable: every request goes unanswered until :meth:`reconnect`."""
        self.connected = False

    def reconnect(self) -> None:
        self.connected = True

    def _run(self) -> None:
        buf = bytearray()
        last_rx = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.01)
            if ready:
                try:
                    data = os.read(self._master, 4096)
                except OSError:
                    data = b""
                if data:
                    buf += data
                    last_rx = time.monotonic()
            silent = time.monotonic() - last_rx > self.silence_s
            buf = self._consume(buf, silent)

    def _consume(self, buf: bytearray, silent: bool) -> bytearray:
        while buf:
            n = rtu_request_length(bytes(buf))
            if n is not None and len(buf) >= n:
                frame, buf = bytes(buf[:n]), buf[n:]
                if not self._handle(frame):
                    self.noise_bytes += len(buf)
                    return bytearray()  # out of step: resynchronise on silence
                continue
            if silent:  # an unknown function or a cut frame: take it whole
                frame, buf = bytes(buf), bytearray()
                self._handle(frame)
            break
        return buf

    def _handle(self, frame: bytes) -> bool:
        """Answer one frame; False when it was not a valid frame."""
        self.frames += 1
        if len(frame) < 4 or frames.crc16(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
            self.crc_errors += 1
            return False
        unit, pdu = frame[0], frame[1:-2]
        targets = self.devices.values() if unit == 0 else \
            [self.devices[unit]] if unit in self.devices else []
        for dev in targets:
            fault = dev.take_fault()
            reply = dev.handle_pdu(pdu)
            if unit == 0 or not self.connected:
                continue  # broadcasts are never answered
            self._reply(unit, pdu, reply, fault)
        return True

    def _reply(self, unit: int, request: bytes, reply: bytes, fault) -> None:
        kind, code = fault if fault else (None, 0)
        if kind == "no_reply":
            return
        if kind == "exception":
            reply = bytes([request[0] | 0x80, code])
        out = frames.rtu_frame(unit, reply)
        if kind == "garbage":
            out = bytes((b * 37 + 101) & 0xFF for b in out[::-1]) + b"\xff\x00"
        elif kind == "bad_crc":
            out = out[:-1] + bytes([out[-1] ^ 0x5A])
        delay = self.reply_delay_s
        if self.line_baud:
            from drivers.modbus_bus import char_time_s, inter_frame_gap_s
            delay += (len(out) + len(frames.rtu_frame(unit, request))) * \
                char_time_s(self.line_baud) + inter_frame_gap_s(self.line_baud)
        if delay:
            time.sleep(delay)
        os.write(self._master, out)


class TcpEmulator:
    """A pymodbus Modbus TCP server on ``host`` (ephemeral port) serving the models.

    Args:
        devices: unit id -> model.
        host: interface to listen on.
        port: TCP port (0: pick a free one; kept across :meth:`reconnect`).
    """

    def __init__(self, devices: Mapping[int, EmulatedScale], *, host: str = "127.0.0.1",
                 port: int = 0):
        self.devices = dict(devices)
        self.host, self.port = host, port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server = None
        self._send_fault: tuple[str, int] | None = None

    def url(self, unit: int) -> str:
        return f"modbus-tcp://{self.host}:{self.port}?unit={unit}"

    def start(self) -> None:
        if self._thread is not None:
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-emulator",
                                        daemon=True)
        self._thread.start()
        self._call(self._listen())

    def stop(self) -> None:
        """Stop the server; safe to call twice."""
        if self._thread is None:
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        self._thread = self._loop = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def disconnect(self) -> None:
        """Drop every connection and stop listening (a pulled cable / rebooting device)."""
        self._call(self._shutdown())

    def reconnect(self) -> None:
        """Listen again on the same port."""
        self._call(self._listen())

    def _call(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _listen(self) -> None:
        from functools import partial

        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice
        sims = [SimDevice(unit, simdata=[SimData(0, count=dev.top_address,
                                                 datatype=DataType.REGISTERS)],
                          action=partial(self._action, dev))
                for unit, dev in self.devices.items() if unit != 0]
        # id 0 = every other unit: answer as a gateway whose target is silent
        sims.append(SimDevice(0, simdata=[SimData(0, count=0x10000,
                                                  datatype=DataType.REGISTERS)],
                              action=self._no_such_unit))
        self._server = ModbusTcpServer(sims, address=(self.host, self.port),
                                       trace_packet=self._trace_packet)
        await self._server.serve_forever(background=True)
        self.port = self._server.transport.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            await server.shutdown()

    async def _action(self, dev: EmulatedScale, function_code: int, start_address: int,
                      address: int, count: int, current_registers: list[int], set_values):
        from pymodbus.constants import ExcCodes
        fault = dev.take_fault()
        if fault and fault[0] == "exception":
            return ExcCodes(fault[1])
        if fault:
            self._send_fault = fault
        if set_values is None:
            r = dev.read(address, count)
            if isinstance(r, int):
                return ExcCodes(r)
            current_registers[address - start_address: address - start_address + count] = r
            return None
        r = dev.write(address, list(set_values) if isinstance(set_values, list)
                      else [set_values])
        return ExcCodes(r) if r else None

    @staticmethod
    async def _no_such_unit(*_args):
        from pymodbus.constants import ExcCodes
        return ExcCodes.GATEWAY_NO_RESPONSE

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or self._send_fault is None:
            return data
        kind, self._send_fault = self._send_fault[0], None
        if kind == "no_reply":
            return b""
        if kind == "bad_crc":  # no CRC on TCP: corrupt the MBAP protocol id instead
            return data[:2] + b"\x12\x34" + data[4:]
        return bytes((b * 37 + 101) & 0xFF for b in data[::-1])
