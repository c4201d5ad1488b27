"""Serial protocol profiles (``hardware/*.toml``) and the line parser they drive.

A profile describes, as data, how one family of load-cell controllers talks
over a serial line: the port settings, what a weight line looks like (a regex
with named groups, or CSV column layouts), which status letters mean stable or
overload, the commands for zero/tare/identify, and the defaults of the
emulator. :meth:`SerialProfile.parse_line` turns one received line into a
:class:`ParsedLine` or raises :class:`~drivers.errors.ProtocolError`; nothing
else (hypothesis checks this over arbitrary bytes).

Regex weight lines use the named groups ``value`` (required), ``unit``,
``status`` and ``channel``. CSV layouts name each column: ``time_ms``,
``weight`` (channel 0), ``weight.N`` (channel N), ``unit``, ``status`` or
``skip``. Grams = ``value * units[unit] * scale + offset_g``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from drivers.errors import DriverError, ProtocolError
from drivers.registry import load_profile
from fusion.types import SampleFlag, frozen_map

#: Flag names usable in profiles -> :class:`SampleFlag`.
FLAG_NAMES: Mapping[str, SampleFlag] = frozen_map({
    "stable": SampleFlag.STABLE, "dynamic": SampleFlag.NONE, "overload": SampleFlag.OVERLOAD,
    "underload": SampleFlag.UNDERLOAD, "error": SampleFlag.ERROR,
})

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")
_CSV_ROLE = re.compile(r"time_ms|weight(?:\.\d{1,3})?|unit|status|skip")


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One decoded line.

    Attributes:
        kind: ``"weight"`` (values in ``grams``), ``"invalid"`` (a reply that
            says there is no valid value: NaN grams, flag says why),
            ``"device_error"`` (a general error reply, ``text`` explains) or
            ``"ignore"`` (a known line with no data, e.g. a banner).
        channels: channel index of each value.
        grams: one value per channel, grams (NaN for ``invalid``).
        flags: one :class:`SampleFlag` value per channel.
        text: the decoded line (or the error's meaning for ``device_error``).
    """

    kind: str
    channels: tuple[int, ...] = ()
    grams: tuple[float, ...] = ()
    flags: tuple[int, ...] = ()
    text: str = ""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One device command: what to send and which reply means success/failure.

    Attributes:
        name: profile key (``zero``, ``tare``, ``serial_number``...).
        send: command text (without ``tx_end``).
        ok: regex of the success reply (groups ``value``/``unit``/``text``/``status``).
        fail: regex of a refusal with group ``code`` (or ``None``).
        timeout_s: how long to wait for the reply, seconds.
    """

    name: str
    send: str
    ok: re.Pattern
    fail: re.Pattern | None
    timeout_s: float


@dataclass(frozen=True, slots=True, eq=False)
class SerialProfile:
    """A validated protocol profile. Build with :func:`get_profile`."""

    name: str
    title: str
    kind: str
    path: str
    encoding: str
    tx_end: bytes
    max_line_bytes: int
    channels: int
    baud: int
    bauds: tuple[int, ...]
    bytesize: int
    parity: str
    stopbits: float
    units: Mapping[str, float]
    default_unit: str
    scale: float
    offset_g: float
    weight_regex: re.Pattern | None
    csv_separator: str | None
    csv_layouts: tuple[tuple[str, ...], ...]
    status_flags: Mapping[str, int]
    invalid: Mapping[str, int]
    device_errors: Mapping[str, str]
    command_errors: Mapping[str, str]
    ignore: tuple[re.Pattern, ...]
    poll_command: str | None
    poll_rate_hz: float
    stream_command: str | None
    commands: Mapping[str, CommandSpec]
    identify: tuple[str, ...]
    startup_s: float
    zero_mode: str
    span_mode: str
    emulator: Mapping[str, Any] = field(default_factory=lambda: frozen_map(None))

    # ------------------------------------------------------------- parsing
    def decode(self, raw: bytes) -> str:
        """Bytes of one line (without LF) -> text without a trailing CR."""
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            text = raw.decode(self.encoding)
        except (UnicodeDecodeError, LookupError):
            raise ProtocolError(self.name, "line is not valid " + self.encoding, raw) from None
        if any(ord(c) < 32 or ord(c) == 127 for c in text):
            raise ProtocolError(self.name, "control character inside a line", raw)
        return text

    def parse_line(self, raw: bytes) -> ParsedLine:
        """Parse one received line (bytes up to, not including, LF).

        Raises:
            ProtocolError: the line is not something this profile knows; the
                message shows the bytes.
        """
        text = self.decode(raw)
        if text in self.invalid:
            chans = tuple(range(self.channels))
            return ParsedLine("invalid", chans, (math.nan,) * self.channels,
                              (self.invalid[text],) * self.channels, text)
        if text in self.device_errors:
            return ParsedLine("device_error", text=f"{text}: {self.device_errors[text]}")
        parsed = self._parse_regex(text, raw) if self.weight_regex else self._parse_csv(text, raw)
        if parsed is not None:
            return parsed
        if any(p.search(text) for p in self.ignore):
            return ParsedLine("ignore", text=text)
        raise ProtocolError(self.name, "unexpected line", raw)

    def to_grams(self, value: str, unit: str | None, raw: bytes) -> float:
        """Convert a number in ``unit`` (default unit when ``None``) to grams."""
        if not _NUMBER.fullmatch(value):
            raise ProtocolError(self.name, f"{value!r} is not a number", raw)
        unit = unit if unit is not None else self.default_unit
        try:
            factor = self.units[unit]
        except KeyError:
            raise ProtocolError(self.name, f"unknown unit {unit!r} (known: {sorted(self.units)})",
                                raw) from None
        grams = float(value) * factor * self.scale + self.offset_g
        if not math.isfinite(grams):
            raise ProtocolError(self.name, f"value {value!r} out of range", raw)
        return grams

    def _parse_regex(self, text: str, raw: bytes) -> ParsedLine | None:
        m = self.weight_regex.fullmatch(text)
        if m is None:
            return None
        groups = m.groupdict()
        flag = SampleFlag.NONE
        if groups.get("status") is not None:
            if groups["status"] not in self.status_flags:
                raise ProtocolError(self.name, f"unknown status {groups['status']!r}", raw)
            flag = self.status_flags[groups["status"]]
        channel = 0
        if groups.get("channel") is not None:
            channel = int(groups["channel"]) if groups["channel"].isdigit() else -1
            if not 0 <= channel < self.channels:
                raise ProtocolError(self.name, f"channel {groups['channel']!r} out of range "
                                    f"0..{self.channels - 1}", raw)
        grams = self.to_grams(groups["value"], groups.get("unit"), raw)
        return ParsedLine("weight", (channel,), (grams,), (int(flag),), text)

    def _parse_csv(self, text: str, raw: bytes) -> ParsedLine | None:
        fields = text.split(self.csv_separator)
        if len(fields) > 1 and fields[-1] == "":
            fields = fields[:-1]          # trailing separator
        fields = [f.strip() for f in fields]
        for layout in self.csv_layouts:
            if len(layout) != len(fields):
                continue
            row = dict(zip(layout, fields, strict=True))
            if any(r.startswith("weight") and not _NUMBER.fullmatch(row[r]) for r in layout):
                continue
            if "time_ms" in row and not row["time_ms"].isdigit():
                continue
            if "unit" in row and row["unit"] not in self.units:
                continue
            flag = SampleFlag.NONE
            if "status" in row:
                if row["status"] not in self.status_flags:
                    continue
                flag = self.status_flags[row["status"]]
            chans, grams = [], []
            for role in layout:
                if role.startswith("weight"):
                    chans.append(int(role[7:]) if "." in role else 0)
                    grams.append(self.to_grams(row[role], row.get("unit"), raw))
            return ParsedLine("weight", tuple(chans), tuple(grams), (int(flag),) * len(chans), text)
        return None


# ---------------------------------------------------------------- loading


def _req(data: Mapping, key: str, kind: type, where: str):
    if key not in data:
        raise DriverError(f"{where}: missing key {key!r}")
    value = data[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind):
        raise DriverError(f"{where}: key {key!r} must be {kind.__name__}, got {value!r}")
    return value


def _regex(pattern: str, where: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except re.error as e:
        raise DriverError(f"{where}: bad regex {pattern!r}: {e}") from None


def _flag(name: str, where: str) -> int:
    if name not in FLAG_NAMES:
        raise DriverError(f"{where}: unknown flag {name!r}; use one of {sorted(FLAG_NAMES)}")
    return int(FLAG_NAMES[name])


def _commands(data: Mapping, where: str) -> dict[str, CommandSpec]:
    out = {}
    for name, spec in data.get("commands", {}).items():
        w = f"{where}: [commands.{name}]"
        fail = spec.get("fail")
        out[name] = CommandSpec(name, _req(spec, "send", str, w), _regex(_req(spec, "ok", str, w), w),
                                _regex(fail, w) if fail else None,
                                float(spec.get("timeout_s", 2.0)))
    return out


def _weight_format(w: Mapping, where: str, channels: int):
    if "regex" in w:
        rx = _regex(w["regex"], where)
        if "value" not in rx.groupindex:
            raise DriverError(f"{where}: regex needs a named group 'value'")
        return rx, None, ()
    sep = _req(w, "separator", str, where)
    layouts = tuple(tuple(layout) for layout in _req(w, "layouts", list, where))
    for layout in layouts:
        for role in layout:
            if not _CSV_ROLE.fullmatch(str(role)):
                raise DriverError(f"{where}: unknown CSV column role {role!r}")
            if role.startswith("weight.") and int(role[7:]) >= channels:
                raise DriverError(f"{where}: column {role!r} but channels = {channels}")
    if not layouts:
        raise DriverError(f"{where}: 'layouts' is empty")
    return None, sep, layouts


def build_profile(data: Mapping[str, Any]) -> SerialProfile:
    """Validate a loaded TOML profile (see :func:`drivers.registry.load_profile`)."""
    where = str(data.get("_path", data.get("name", "<profile>")))
    kind = _req(data, "kind", str, where)
    if kind not in ("command", "stream"):
        raise DriverError(f"{where}: kind must be 'command' or 'stream', got {kind!r}")
    ser = _req(data, "serial", dict, where)
    w = _req(data, "weight", dict, where)
    channels = int(data.get("channels", 1))
    if channels < 1:
        raise DriverError(f"{where}: channels must be >= 1")
    units = {str(k): float(v) for k, v in _req(data, "units", dict, where).items()}
    default_unit = str(w.get("unit", next(iter(units), "g")))
    if default_unit not in units:
        raise DriverError(f"{where}: [weight] unit {default_unit!r} is not in [units]")
    rx, sep, layouts = _weight_format(w, f"{where}: [weight]", channels)
    poll = data.get("poll", {})
    commands = _commands(data, where)
    identify = tuple(data.get("identify", {}).get("commands", ()))
    for name in identify:
        if name not in commands:
            raise DriverError(f"{where}: [identify] names unknown command {name!r}")
    if kind == "command" and "command" not in poll:
        raise DriverError(f"{where}: a 'command' profile needs [poll] command")
    cal = data.get("calibration", {})
    return SerialProfile(
        name=str(data.get("name", where)), title=str(data.get("title", "")), kind=kind, path=where,
        encoding=str(data.get("encoding", "ascii")),
        tx_end=str(data.get("tx_end", "\r\n")).encode("ascii"),
        max_line_bytes=int(data.get("max_line_bytes", 256)), channels=channels,
        baud=int(_req(ser, "baud", int, where)),
        bauds=tuple(int(b) for b in ser.get("bauds", [ser["baud"]])),
        bytesize=int(ser.get("bytesize", 8)), parity=str(ser.get("parity", "N")),
        stopbits=float(ser.get("stopbits", 1)), units=frozen_map(units),
        default_unit=default_unit, scale=float(w.get("scale", 1.0)),
        offset_g=float(w.get("offset_g", 0.0)), weight_regex=rx, csv_separator=sep,
        csv_layouts=layouts,
        status_flags=frozen_map({k: _flag(v, where) for k, v in w.get("status", {}).items()}),
        invalid=frozen_map({k: _flag(v, where) for k, v in w.get("invalid", {}).items()}),
        device_errors=frozen_map(data.get("device_errors", {})),
        command_errors=frozen_map(data.get("command_errors", {})),
        ignore=tuple(_regex(p, where) for p in data.get("ignore", {}).get("patterns", ())),
        poll_command=poll.get("command"), poll_rate_hz=float(poll.get("rate_hz", 10.0)),
        stream_command=poll.get("stream_command"), commands=frozen_map(commands),
        identify=identify, startup_s=float(data.get("identify", {}).get("startup_s", 0.0)),
        zero_mode=str(cal.get("zero", "software")),
        span_mode=str(cal.get("span", "software")),
        emulator=frozen_map(data.get("emulator", {})))


def get_profile(profile: str | SerialProfile) -> SerialProfile:
    """A profile by name (``"mt-sics"``), TOML path, or an already built one."""
    if isinstance(profile, SerialProfile):
        return profile
    return build_profile(load_profile(profile))
