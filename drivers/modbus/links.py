"""One open Modbus line: RTU over a serial port, or TCP.

A link sends a request PDU to a unit and returns the reply PDU, checking the
framing (CRC, MBAP header) on the way. Timeouts use a monotonic deadline.
A link is shared by every driver on the same RS-485 bus; a lock serialises
the exchanges. Links open in :meth:`open` and ``close()`` is idempotent.

URLs::

    modbus-tcp://host:port?unit=1
    modbus-rtu:///dev/ttyUSB0?baud=19200&parity=E&stop=1&unit=1
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from drivers.errors import DeviceTimeoutError, DriverError, ProtocolError
from drivers.modbus import frames

_PARITIES = {"N": "N", "E": "E", "O": "O", "NONE": "N", "EVEN": "E", "ODD": "O"}


@dataclass(frozen=True, slots=True)
class ModbusUrl:
    """A parsed device URL.

    Attributes:
        scheme: ``"modbus-tcp"`` or ``"modbus-rtu"``.
        host: TCP host ('' for RTU).
        port: TCP port (0 for RTU).
        path: serial port path ('' for TCP).
        unit: unit (slave) id.
        baud: serial baud rate (bit/s).
        parity: ``"N"``, ``"E"`` or ``"O"``.
        stop_bits: 1 or 2.
    """

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""
    unit: int = 1
    baud: int = 19200
    parity: str = "E"
    stop_bits: int = 1

    @property
    def bus_key(self) -> str:
        """Identifies the line (not the unit): drivers with the same key share a link."""
        if self.scheme == "modbus-tcp":
            return f"modbus-tcp://{self.host}:{self.port}"
        return f"modbus-rtu://{self.path}"


def _int_param(url: str, query: dict, name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name, [str(default)])[-1]
    try:
        value = int(raw, 0)
    except ValueError:
        raise ValueError(f"{url}: parameter {name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise ValueError(f"{url}: parameter {name}={value} outside {lo}..{hi}")
    return value


def parse_url(url: str, *, default_baud: int = 19200, default_parity: str = "E") -> ModbusUrl:
    """Parse a ``modbus-tcp://`` or ``modbus-rtu://`` URL (bad URL -> ValueError)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    unknown = set(query) - {"unit", "baud", "parity", "stop"}
    if unknown:
        raise ValueError(f"{url}: unknown parameter(s) {sorted(unknown)}; "
                         "known: unit, baud, parity, stop")
    unit = _int_param(url, query, "unit", 1, 0, 255)
    if parts.scheme == "modbus-tcp":
        if not parts.hostname:
            raise ValueError(f"{url}: no host; expected modbus-tcp://host:port?unit=1")
        return ModbusUrl("modbus-tcp", host=parts.hostname, port=parts.port or 502, unit=unit)
    if parts.scheme == "modbus-rtu":
        path = parts.path if not parts.netloc else f"//{parts.netloc}{parts.path}"
        if not path:
            raise ValueError(f"{url}: no serial port; expected modbus-rtu:///dev/ttyUSB0")
        parity_raw = query.get("parity", [default_parity])[-1].upper()
        if parity_raw not in _PARITIES:
            raise ValueError(f"{url}: parity {parity_raw!r} must be N, E or O")
        if unit > 247:
            raise ValueError(f"{url}: RTU unit must be 0..247")
        return ModbusUrl("modbus-rtu", path=path, unit=unit,
                         baud=_int_param(url, query, "baud", default_baud, 300, 4_000_000),
                         parity=_PARITIES[parity_raw],
                         stop_bits=_int_param(url, query, "stop", 1, 1, 2))
    raise ValueError(f"{url}: scheme must be modbus-tcp:// or modbus-rtu://")


class ModbusLink:
    """Base of the transports: :meth:`transact` one request, thread-safe."""

    def __init__(self, name: str, *, timeout_s: float):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s}")
        self.name = name
        self.timeout_s = float(timeout_s)
        self.lock = threading.RLock()
        #: Exchanges attempted and failed (timeouts, bad frames), for statistics.
        self.requests = 0
        self.failures = 0

    @property
    def is_open(self) -> bool:
        raise NotImplementedError

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _exchange(self, unit: int, pdu: bytes, deadline: float) -> bytes:
        raise NotImplementedError

    def transact(self, unit: int, pdu: bytes, *, device: str = "") -> list[int]:
        """Send ``pdu`` to ``unit``; return the registers read ([] for writes).

        Raises:
            DeviceTimeoutError: no complete reply within ``timeout_s``.
            ProtocolError: a reply that does not parse (bytes shown), or a
                :class:`~drivers.modbus.frames.ModbusExceptionError`.
            ConnectionLostError: the transport went away.
        """
        with self.lock:
            if not self.is_open:
                self.open()
            self.requests += 1
            try:
                reply = self._exchange(unit, pdu, time.monotonic() + self.timeout_s)
                return frames.parse_reply(device or self.name, unit, pdu, reply)
            except (DriverError, OSError):
                self.failures += 1
                raise

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RtuLink(ModbusLink):
    """Modbus RTU over a serial port (any pyserial URL or device path).

    Args:
        port: serial port path or pyserial URL.
        baud: bit/s. parity: ``"N"``, ``"E"`` or ``"O"``. stop_bits: 1 or 2.
        timeout_s: reply timeout in seconds.
    """

    #: Longest single blocking read (s); the reply deadline is checked between reads.
    READ_SLICE_S = 0.02

    def __init__(self, port: str, *, baud: int = 19200, parity: str = "E", stop_bits: int = 1,
                 timeout_s: float = 1.0):
        super().__init__(f"modbus-rtu://{port}", timeout_s=timeout_s)
        self.port, self.baud, self.parity, self.stop_bits = port, baud, parity, stop_bits
        self._serial = None
        self._last_rx_t = 0.0

    @classmethod
    def from_url(cls, url: str | ModbusUrl, *, timeout_s: float = 1.0) -> RtuLink:
        u = parse_url(url) if isinstance(url, str) else url
        return cls(u.path, baud=u.baud, parity=u.parity, stop_bits=u.stop_bits,
                   timeout_s=timeout_s)

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    @property
    def silence_s(self) -> float:
        """Inter-frame silence t3.5 (s): 3.5 characters, 1.75 ms above 19200 bit/s."""
        from drivers.modbus_bus import inter_frame_gap_s
        return inter_frame_gap_s(self.baud, self.parity, self.stop_bits)

    def open(self) -> None:
        if self._serial is not None:
            return
        import serial
        try:
            self._serial = serial.serial_for_url(
                self.port, baudrate=self.baud, parity=self.parity, stopbits=self.stop_bits,
                bytesize=8, timeout=min(self.timeout_s, self.READ_SLICE_S), exclusive=True)
        except (serial.SerialException, OSError) as e:
            raise DriverError(f"{self.name}: cannot open serial port ({e}); check the "
                              "path, permissions (dialout group) and that no other "
                              "program holds it") from None

    def close(self) -> None:
        s, self._serial = self._serial, None
        if s is not None:
            s.close()

    def _read_exact(self, n: int, deadline: float, got: bytes) -> bytes:
        """Read up to ``n`` bytes in total before the monotonic ``deadline``.

        The port's own timeout is a short, fixed slice (changing it reconfigures
        the port on POSIX), so the deadline is kept here.
        """
        buf = bytearray(got)
        while len(buf) < n and time.monotonic() < deadline:
            chunk = self._serial.read(n - len(buf))
            if chunk:
                buf += chunk
        return bytes(buf)

    def _exchange(self, unit: int, pdu: bytes, deadline: float) -> bytes:
        import serial
        port_errors: tuple[type[BaseException], ...] = (serial.SerialException, OSError)
        try:
            import termios
            port_errors += (termios.error,)
        except ImportError:  # not POSIX
            pass
        try:
            return self._exchange_rtu(unit, pdu, deadline)
        except DriverError:  # DeviceTimeoutError is also an OSError (TimeoutError)
            raise
        except port_errors as e:
            self.close()
            raise frames.ConnectionLostError(f"{self.name}: serial port failed ({e})") from None

    def _exchange_rtu(self, unit: int, pdu: bytes, deadline: float) -> bytes:
        wait = self._last_rx_t + self.silence_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._serial.reset_input_buffer()
        self._serial.write(frames.rtu_frame(unit, pdu))
        head = self._read_exact(3, deadline, b"")
        if len(head) < 3:
            self._last_rx_t = time.monotonic()
            if not head:
                raise DeviceTimeoutError(f"{self.name}: unit {unit} did not answer within "
                                         f"{self.timeout_s} s (wrong unit id, baud rate or "
                                         "wiring?)")
            raise ProtocolError(self.name, f"unit {unit}: reply cut short", head)
        if head[0] != unit:
            raise ProtocolError(self.name, f"reply from unit {head[0]}, expected {unit}",
                                head + self._drain())
        total = frames.rtu_reply_length(head)
        if total is None:
            raise ProtocolError(self.name, f"unit {unit}: unknown reply function "
                                f"0x{head[1]:02X}", head + self._drain())
        frame = self._read_exact(total, deadline, head)
        self._last_rx_t = time.monotonic()
        if len(frame) < total:
            raise ProtocolError(self.name, f"unit {unit}: reply cut short ({len(frame)} of "
                                f"{total} bytes within {self.timeout_s} s)", frame)
        frames.check_rtu_crc(self.name, frame)
        return frame[1:-2]

    def _drain(self) -> bytes:
        """Read what is still arriving (a garbled reply), for the error message."""
        return self._serial.read(256)


class TcpLink(ModbusLink):
    """Modbus TCP (MBAP framing) to ``host:port``.

    Args:
        host: host name or address. port: TCP port.
        timeout_s: connect and reply timeout in seconds.
    """

    def __init__(self, host: str, port: int = 502, *, timeout_s: float = 1.0):
        super().__init__(f"modbus-tcp://{host}:{port}", timeout_s=timeout_s)
        self.host, self.port = host, port
        self._sock: socket.socket | None = None
        self._tids = itertools.count(1)

    @classmethod
    def from_url(cls, url: str | ModbusUrl, *, timeout_s: float = 1.0) -> TcpLink:
        u = parse_url(url) if isinstance(url, str) else url
        return cls(u.host, u.port, timeout_s=timeout_s)

    @property
    def is_open(self) -> bool:
        return self._sock is not None

    def open(self) -> None:
        if self._sock is not None:
            return
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except TimeoutError:
            raise DeviceTimeoutError(f"{self.name}: connect timed out after "
                                     f"{self.timeout_s} s") from None
        except OSError as e:
            raise frames.ConnectionLostError(f"{self.name}: cannot connect ({e}); is the "
                                             "device powered and the address right?") from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        s, self._sock = self._sock, None
        if s is not None:
            s.close()

    def _recv_exact(self, n: int, deadline: float) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeoutError(f"{self.name}: no complete reply within "
                                         f"{self.timeout_s} s (got {bytes(buf)!r})")
            self._sock.settimeout(remaining)
            try:
                chunk = self._sock.recv(n - len(buf))
            except TimeoutError:
                continue
            except OSError as e:
                self.close()
                raise frames.ConnectionLostError(f"{self.name}: connection failed ({e})") \
                    from None
            if not chunk:
                self.close()
                raise frames.ConnectionLostError(f"{self.name}: connection closed by the "
                                                 "device")
            buf += chunk
        return bytes(buf)

    def _exchange(self, unit: int, pdu: bytes, deadline: float) -> bytes:
        tid = next(self._tids) & 0xFFFF
        try:
            self._sock.sendall(frames.mbap_frame(tid, unit, pdu))
        except OSError as e:
            self.close()
            raise frames.ConnectionLostError(f"{self.name}: send failed ({e})") from None
        while True:
            head = self._recv_exact(7, deadline)
            r_tid, proto, length, r_unit = int.from_bytes(head[0:2], "big"), \
                int.from_bytes(head[2:4], "big"), int.from_bytes(head[4:6], "big"), head[6]
            if proto != 0 or not 2 <= length <= 254:
                self.close()  # the stream is out of step; start afresh
                raise ProtocolError(self.name, "bad MBAP header (protocol "
                                    f"{proto}, length {length})", head)
            body = self._recv_exact(length - 1, deadline)
            if r_tid == tid:
                break  # else: a late reply to an earlier, timed-out request
        if r_unit != unit:
            raise ProtocolError(self.name, f"reply from unit {r_unit}, expected {unit}",
                                head + body)
        return body


def open_link(url: str | ModbusUrl, *, timeout_s: float = 1.0) -> ModbusLink:
    """Create (not open) the link for a device URL."""
    u = parse_url(url) if isinstance(url, str) else url
    if u.scheme == "modbus-tcp":
        return TcpLink.from_url(u, timeout_s=timeout_s)
    return RtuLink.from_url(u, timeout_s=timeout_s)
