"""Modbus PDUs and ADUs as bytes: CRC-16/MODBUS, RTU frames, MBAP headers.

Addresses are PDU addresses, starting at zero (holding register 40001 is
address 0). Every decoder checks lengths before indexing and raises
:class:`drivers.errors.ProtocolError` (showing the bytes) for anything that
does not follow the protocol; a Modbus exception reply raises
:class:`ModbusExceptionError`, which names device, unit, function and register.
"""

from __future__ import annotations

import struct

from drivers.errors import DriverError, ProtocolError

READ_HOLDING = 0x03
READ_INPUT = 0x04
WRITE_SINGLE = 0x06
WRITE_MULTIPLE = 0x10

#: Largest register count of one read request (Modbus spec: 125).
MAX_READ_REGISTERS = 125
#: Largest register count of one write-multiple request (Modbus spec: 123).
MAX_WRITE_REGISTERS = 123

EXCEPTION_NAMES = {
    1: "illegal function", 2: "illegal data address", 3: "illegal data value",
    4: "server device failure", 5: "acknowledge", 6: "server device busy",
    8: "memory parity error", 10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


class ModbusExceptionError(ProtocolError):
    """The device answered with a Modbus exception code.

    Attributes:
        unit: the unit (slave) id.
        function: the request's function code.
        address: the first register of the request.
        code: the exception code (1 = illegal function, 2 = illegal address, ...).
    """

    def __init__(self, device: str, unit: int, function: int, address: int, code: int,
                 raw: bytes = b""):
        self.unit, self.function, self.address, self.code = unit, function, address, code
        name = EXCEPTION_NAMES.get(code, "unknown exception")
        super().__init__(
            device, f"unit {unit}: Modbus exception {code} ({name}) for function "
            f"0x{function:02X} at register {address} (0x{address:04X}); check the "
            f"profile's register map and the device configuration", raw)

    def __reduce__(self):  # picklable, as ProtocolError
        return type(self), (self.device, self.unit, self.function, self.address, self.code, self.raw)


class ConnectionLostError(DriverError):
    """The transport went away (socket closed, serial port unplugged)."""


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS of ``data`` (init 0xFFFF, reflected poly 0xA001).

    On the wire the CRC goes low byte first: ``crc16(adu).to_bytes(2, "little")``.
    """
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ b) & 0xFF]
    return crc


def rtu_frame(unit: int, pdu: bytes) -> bytes:
    """RTU ADU: unit id, PDU, CRC (low byte first)."""
    if not 0 <= unit <= 247:
        raise ValueError(f"Modbus RTU unit must be 0..247, got {unit}")
    adu = bytes([unit]) + pdu
    return adu + crc16(adu).to_bytes(2, "little")


def check_rtu_crc(device: str, frame: bytes) -> None:
    """Raise :class:`ProtocolError` when ``frame`` is too short or its CRC is wrong."""
    if len(frame) < 4:
        raise ProtocolError(device, f"RTU frame too short ({len(frame)} bytes)", frame)
    want = crc16(frame[:-2])
    got = int.from_bytes(frame[-2:], "little")
    if want != got:
        raise ProtocolError(device, f"RTU CRC mismatch: got 0x{got:04X}, computed "
                            f"0x{want:04X} (noise on the line? wrong baud rate?)", frame)


def mbap_frame(transaction: int, unit: int, pdu: bytes) -> bytes:
    """Modbus TCP ADU: MBAP header (transaction, protocol 0, length, unit) + PDU."""
    return struct.pack(">HHHB", transaction & 0xFFFF, 0, len(pdu) + 1, unit & 0xFF) + pdu


def read_request(function: int, address: int, count: int) -> bytes:
    """PDU of a read-holding (0x03) or read-input (0x04) registers request."""
    if function not in (READ_HOLDING, READ_INPUT):
        raise ValueError(f"read function must be 3 or 4, got {function}")
    if not 0 <= address <= 0xFFFF or not 1 <= count <= MAX_READ_REGISTERS \
            or address + count > 0x10000:
        raise ValueError(f"bad register range: address {address}, count {count}")
    return struct.pack(">BHH", function, address, count)


def write_request(function: int, address: int, values: list[int]) -> bytes:
    """PDU of a write-single (0x06, one register) or write-multiple (0x10) request."""
    if not 0 <= address <= 0xFFFF or any(not 0 <= v <= 0xFFFF for v in values):
        raise ValueError(f"bad write: address {address}, values {values}")
    if function == WRITE_SINGLE:
        if len(values) != 1:
            raise ValueError("function 0x06 writes exactly one register")
        return struct.pack(">BHH", function, address, values[0])
    if function == WRITE_MULTIPLE:
        if not 1 <= len(values) <= MAX_WRITE_REGISTERS:
            raise ValueError(f"write-multiple takes 1..123 registers, got {len(values)}")
        return struct.pack(f">BHHB{len(values)}H", function, address, len(values),
                           2 * len(values), *values)
    raise ValueError(f"write function must be 6 or 16, got {function}")


def rtu_reply_length(head: bytes) -> int | None:
    """Total length of an RTU reply from its first 3 bytes, or None if unknown.

    ``head`` is unit, function and the next byte (byte count for reads).
    """
    function = head[1]
    if function & 0x80:
        return 5
    if function in (READ_HOLDING, READ_INPUT, 0x01, 0x02):
        return 5 + head[2]
    if function in (WRITE_SINGLE, WRITE_MULTIPLE, 0x05, 0x0F):
        return 8
    return None


def _raise_if_exception(device: str, unit: int, request: bytes, pdu: bytes) -> None:
    if pdu and pdu[0] == request[0] | 0x80:
        if len(pdu) != 2:
            raise ProtocolError(device, f"unit {unit}: malformed exception reply", pdu)
        address = int.from_bytes(request[1:3], "big")
        raise ModbusExceptionError(device, unit, request[0], address, pdu[1], pdu)
    if not pdu or pdu[0] != request[0]:
        raise ProtocolError(device, f"unit {unit}: reply function does not match "
                            f"request 0x{request[0]:02X}", pdu)


def parse_reply(device: str, unit: int, request: bytes, pdu: bytes) -> list[int]:
    """Check the reply PDU to ``request``; return the registers read ([] for writes).

    Raises:
        ModbusExceptionError: the device answered with an exception code.
        ProtocolError: anything else that does not match the request.
    """
    _raise_if_exception(device, unit, request, pdu)
    function = request[0]
    if function in (READ_HOLDING, READ_INPUT):
        count = int.from_bytes(request[3:5], "big")
        if len(pdu) < 2 or pdu[1] != 2 * count or len(pdu) != 2 + 2 * count:
            raise ProtocolError(device, f"unit {unit}: expected {count} registers "
                                f"({2 * count} data bytes) in read reply", pdu)
        return list(struct.unpack(f">{count}H", pdu[2:]))
    if function == WRITE_SINGLE:
        if pdu != request:
            raise ProtocolError(device, f"unit {unit}: write-single echo differs from "
                                f"request {request.hex(' ')}", pdu)
        return []
    if function == WRITE_MULTIPLE:
        if pdu != request[:5]:
            raise ProtocolError(device, f"unit {unit}: write-multiple reply differs from "
                                f"request header {request[:5].hex(' ')}", pdu)
        return []
    raise ValueError(f"unsupported request function 0x{function:02X}")


def raise_for_pymodbus(response, *, device: str, unit: int, address: int) -> None:
    """Turn a pymodbus response whose ``isError()`` is true into our exception.

    For code that talks through a pymodbus client: an exception response
    becomes :class:`ModbusExceptionError`; any other error object (pymodbus
    returns some errors instead of raising) becomes a
    :class:`~drivers.errors.ProtocolError`.
    """
    if response is None or not callable(getattr(response, "isError", None)):
        raise ProtocolError(device, f"unit {unit}: no Modbus response object for register "
                            f"{address} ({response!r})")
    if not response.isError():
        return
    code = getattr(response, "exception_code", None)
    fn = getattr(response, "function_code", 0x80)
    if isinstance(code, int) and code:
        raise ModbusExceptionError(device, unit, fn & 0x7F, address, code)
    raise ProtocolError(device, f"unit {unit}: Modbus error at register {address}: {response}")
