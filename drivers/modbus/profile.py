"""A Modbus weighing-controller profile: the ``hardware/*.toml`` register map.

Schema (all addresses are zero-based PDU addresses; 40001 is 0)::

    name = "generic-rs485"
    protocol = "modbus"
    unverified = ["what the public manual did not confirm", ...]

    [modbus]
    read_function = 3               # 3 holding, 4 input registers
    write_function = 16             # 6 (single) or 16 (multiple)
    max_registers_per_request = 125
    word_order = "big"              # "big": high word first; "little": low word first
    default_baud = 9600
    default_parity = "N"

    [channels]
    count = 1                       # load-cell channels of one controller
    stride = 0                      # registers between consecutive channels' blocks

    [registers]                     # value name -> {address, type}
    gross = { address = 0x50, type = "int32" }
    status = { address = 0x08, type = "uint16" }

    [poll]
    registers = ["status", "gross"] # read every poll

    [scaling]
    unit_g = 1.0                    # grams per display unit (1000 if it shows kg)
    decimals = 0                    # fixed decimals, or
    decimals_mask = 0x0007          # decimals read from the status register

    [status]                        # bit masks in the status register
    unstable = 0x0020               # set when unstable (or `stable = ...`)
    overload = 0x0240
    underload = 0
    error = 0
    ok = 0                          # must be set for valid data (0: unused)
    error_code_mask = 0             # field holding an error code (0: none)
    error_codes = { "2" = "overload", "3" = "underload" }  # other codes: error
    gross_negative = 0              # sign bit when values are magnitudes (uint32)
    net_negative = 0

    [commands]                      # sequences of register writes
    zero = [{ address = 0x5E, type = "uint16", value = 1 }]
    span = [{ address = 0x05, type = "uint16", value = 0x5AA5 },
            { address = 0x2A, type = "int32", value = "known" }]   # known mass, counts

Type names: ``uint16``, ``int16``, ``uint32``, ``int32``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from drivers.errors import DriverError
from drivers.registry import load_profile

TYPE_WORDS = {"uint16": 1, "int16": 1, "uint32": 2, "int32": 2}
_STATUS_KEYS = ("unstable", "stable", "overload", "underload", "error", "ok",
                "error_code_mask", "gross_negative", "net_negative")
_FLAG_NAMES = ("overload", "underload", "error")


@dataclass(frozen=True, slots=True)
class RegisterSpec:
    """One value: zero-based ``address`` of its first register and its ``type``."""

    address: int
    type: str

    @property
    def words(self) -> int:
        return TYPE_WORDS[self.type]


@dataclass(frozen=True, slots=True)
class WriteStep:
    """One register write of a command; ``value`` is an int or ``"known"``."""

    address: int
    type: str
    value: int | str


@dataclass(frozen=True, slots=True)
class ModbusProfile:
    """A validated Modbus profile (see the module docstring for the TOML schema)."""

    name: str
    path: str
    registers: dict[str, RegisterSpec]
    poll: tuple[str, ...]
    commands: dict[str, tuple[WriteStep, ...]]
    status: dict[str, int]
    error_codes: dict[int, str]
    read_function: int = 3
    write_function: int = 16
    max_registers_per_request: int = 125
    word_order: str = "big"
    default_baud: int = 19200
    default_parity: str = "E"
    channels: int = 1
    channel_stride: int = 0
    unit_g: float = 1.0
    decimals: int = 0
    decimals_mask: int = 0
    unverified: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def address(self, name: str, channel: int = 0) -> int:
        """Address (zero-based) of value ``name`` for ``channel``."""
        return self.registers[name].address + channel * self.channel_stride

    def decode(self, name: str, words: list[int]) -> int:
        """Integer value of ``name`` from its registers (in wire order)."""
        return self.decode_type(self.registers[name].type, words)

    def decode_type(self, type_: str, words: list[int]) -> int:
        """Integer value of registers ``words`` (wire order) read as ``type_``."""
        if TYPE_WORDS[type_] == 2:
            hi, lo = (words[0], words[1]) if self.word_order == "big" else (words[1], words[0])
            v, bits = (hi << 16) | lo, 32
        else:
            v, bits = words[0], 16
        return v - (1 << bits) if type_.startswith("int") and v >> (bits - 1) else v

    def encode(self, type_: str, value: int) -> list[int]:
        """Registers (wire order) of ``value`` as ``type_``; out of range -> ValueError."""
        bits = 16 * TYPE_WORDS[type_]
        signed = type_.startswith("int")
        lo_lim, hi_lim = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else \
            (0, (1 << bits) - 1)
        if not lo_lim <= value <= hi_lim:
            raise ValueError(f"{value} does not fit in {type_}")
        v = value & ((1 << bits) - 1)
        if bits == 16:
            return [v]
        hi, lo = v >> 16, v & 0xFFFF
        return [hi, lo] if self.word_order == "big" else [lo, hi]


def _err(path: str, key: str, reason: str) -> DriverError:
    return DriverError(f"{path}: {key}: {reason}")


def _register(path: str, key: str, d: Any) -> RegisterSpec:
    if not isinstance(d, dict) or not isinstance(d.get("address"), int):
        raise _err(path, key, "expected a table with an integer 'address'")
    t = d.get("type", "uint16")
    if t not in TYPE_WORDS:
        raise _err(path, key, f"type {t!r} must be one of {sorted(TYPE_WORDS)}")
    if not 0 <= d["address"] <= 0xFFFF:
        raise _err(path, key, "address must be 0..65535 (zero-based)")
    return RegisterSpec(d["address"], t)


def _steps(path: str, key: str, seq: Any) -> tuple[WriteStep, ...]:
    if not isinstance(seq, list) or not seq:
        raise _err(path, key, "expected a non-empty array of {address, type, value}")
    steps = []
    for i, d in enumerate(seq):
        spec = _register(path, f"{key}[{i}]", d)
        v = d.get("value")
        if not (isinstance(v, int) or v == "known"):
            raise _err(path, f"{key}[{i}].value", "expected an integer or \"known\"")
        steps.append(WriteStep(spec.address, spec.type, v))
    return tuple(steps)


def _status(path: str, data: dict) -> tuple[dict[str, int], dict[int, str]]:
    st = data.get("status", {})
    unknown = set(st) - set(_STATUS_KEYS) - {"error_codes"}
    if unknown:
        raise _err(path, "status", f"unknown key(s) {sorted(unknown)}")
    masks = {k: int(st.get(k, 0)) for k in _STATUS_KEYS}
    codes = {}
    for k, v in st.get("error_codes", {}).items():
        if v not in _FLAG_NAMES:
            raise _err(path, f"status.error_codes.{k}", f"must be one of {_FLAG_NAMES}")
        codes[int(k)] = v
    return masks, codes


def parse_profile(data: dict[str, Any]) -> ModbusProfile:
    """Validate a loaded TOML table into a :class:`ModbusProfile`.

    Raises:
        DriverError: naming the file and key, for anything that does not fit.
    """
    path = str(data.get("_path", data.get("name", "<profile>")))
    try:
        return _parse(path, data)
    except DriverError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise DriverError(f"{path}: malformed Modbus profile ({type(e).__name__}: {e}); "
                          "see the schema in drivers/modbus/profile.py") from None


def _parse(path: str, data: dict[str, Any]) -> ModbusProfile:
    if data.get("protocol") != "modbus":
        raise _err(path, "protocol", f"{data.get('protocol')!r} is not \"modbus\"")
    regs = {k: _register(path, f"registers.{k}", v) for k, v in data.get("registers", {}).items()}
    if "gross" not in regs:
        raise _err(path, "registers.gross", "missing: the driver reads the gross weight")
    poll = tuple(data.get("poll", {}).get("registers", ["gross"]))
    for name in poll:
        if name not in regs:
            raise _err(path, "poll.registers", f"{name!r} is not in [registers]")
    mb, ch, sc = data.get("modbus", {}), data.get("channels", {}), data.get("scaling", {})
    masks, codes = _status(path, data)
    if (any(masks.values()) or sc.get("decimals_mask")) and "status" not in poll:
        raise _err(path, "poll.registers", "status bits are defined but 'status' is not polled")
    p = ModbusProfile(
        name=data.get("name", path), path=path, registers=regs, poll=poll,
        commands={k: _steps(path, f"commands.{k}", v)
                  for k, v in data.get("commands", {}).items()},
        status=masks, error_codes=codes,
        read_function=int(mb.get("read_function", 3)),
        write_function=int(mb.get("write_function", 16)),
        max_registers_per_request=int(mb.get("max_registers_per_request", 125)),
        word_order=mb.get("word_order", "big"),
        default_baud=int(mb.get("default_baud", 19200)),
        default_parity=str(mb.get("default_parity", "E")),
        channels=int(ch.get("count", 1)), channel_stride=int(ch.get("stride", 0)),
        unit_g=float(sc.get("unit_g", 1.0)), decimals=int(sc.get("decimals", 0)),
        decimals_mask=int(sc.get("decimals_mask", 0)),
        unverified=tuple(data.get("unverified", ())), raw=data)
    _check_values(p)
    return p


def _check_values(p: ModbusProfile) -> None:
    if p.read_function not in (3, 4):
        raise _err(p.path, "modbus.read_function", "must be 3 or 4")
    if p.write_function not in (6, 16):
        raise _err(p.path, "modbus.write_function", "must be 6 or 16")
    if not 1 <= p.max_registers_per_request <= 125:
        raise _err(p.path, "modbus.max_registers_per_request", "must be 1..125")
    if p.word_order not in ("big", "little"):
        raise _err(p.path, "modbus.word_order", "must be \"big\" or \"little\"")
    if p.channels < 1 or (p.channels > 1 and p.channel_stride <= 0):
        raise _err(p.path, "channels", "count must be >= 1, and stride > 0 when count > 1")
    if p.unit_g <= 0 or not 0 <= p.decimals <= 9:
        raise _err(p.path, "scaling", "unit_g must be > 0 and decimals 0..9")


def get_profile(profile: str | dict | ModbusProfile) -> ModbusProfile:
    """A profile by name (``"generic-rs485"``), TOML path, loaded table or as is."""
    if isinstance(profile, ModbusProfile):
        return profile
    return parse_profile(profile if isinstance(profile, dict) else load_profile(profile))
