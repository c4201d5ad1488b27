"""Modbus (RTU and TCP) load-cell controller driver, driven by a hardware/ profile.

Example::

    from drivers.scale_modbus import ModbusScaleDriver
    with ModbusScaleDriver("modbus-rtu:///dev/ttyUSB0?baud=9600&parity=N&unit=1",
                           profile="generic-rs485") as scale:
        samples = scale.read()          # WEIGHT_DTYPE rows, one per channel

Several units on one RS-485 bus share one link (``link=``) and are polled by
:class:`drivers.modbus_bus.BusScheduler`. A poll reads the profile's ``poll``
registers of every channel, packed into as few requests as the device allows.

Failures while reading: a timeout, a garbled or CRC-failed reply, or a lost
connection makes :meth:`ModbusScaleDriver.read` return one gap row per channel
(``grams`` NaN, ``SampleFlag.GAP``), opens a :class:`~drivers.base.Gap` in
``driver.gaps``, and retries after an exponential backoff (while waiting,
``read()`` returns no rows). The first good reply closes the gap. A Modbus
exception reply (a wrong register map) raises
:class:`~drivers.modbus.frames.ModbusExceptionError`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from drivers.base import DeviceInfo, Gap, LoadCellDriver, empty_samples
from drivers.errors import DeviceNotFoundError, DeviceTimeoutError, DriverError, ProtocolError
from drivers.modbus import frames
from drivers.modbus.links import ModbusLink, open_link, parse_url
from drivers.modbus.profile import ModbusProfile, get_profile
from drivers.modbus_bus import pack_reads
from fusion.types import SampleFlag

log = logging.getLogger(__name__)

#: Exception codes that mean "try again later" rather than "wrong map":
#: acknowledge, busy, and a TCP gateway's "path unavailable" / "no response".
_TRANSIENT_EXCEPTIONS = (5, 6, 10, 11)
_GATEWAY_NO_DEVICE = (10, 11)


def _shift(mask: int) -> int:
    return (mask & -mask).bit_length() - 1 if mask else 0


class ModbusScaleDriver(LoadCellDriver):
    """A Modbus weighing controller (one unit, one or more channels).

    Args:
        url: ``modbus-tcp://host:port?unit=1`` or
            ``modbus-rtu:///dev/ttyUSB0?baud=19200&parity=E&unit=1``.
        profile: profile name (``"generic-rs485"``), TOML path, or a parsed
            :class:`~drivers.modbus.profile.ModbusProfile`.
        channel_cells: store cell index per channel (default 0..n-1).
        timeout_s: reply timeout (s, monotonic).
        clock: store clock (s); default ``time.monotonic``.
        link: a shared, already created link (several units on one bus); the
            driver then neither opens nor closes it. Default: its own link.
        channels: channels to read (default: the profile's count).
        unit_g: grams per display unit (default: the profile's ``scaling.unit_g``).
        decimals: fixed decimals, overriding the profile's.
        retries: immediate retries of a failed exchange before a gap is recorded.
        backoff_min_s, backoff_max_s: reconnect backoff range (s), doubling.
        max_gap_registers: unrequested registers a read may span to join ranges.
    """

    def __init__(self, url: str, *, profile: str | ModbusProfile, channel_cells=None,
                 timeout_s: float = 1.0, clock=None, link: ModbusLink | None = None,
                 channels: int | None = None, unit_g: float | None = None,
                 decimals: int | None = None, retries: int = 1, backoff_min_s: float = 0.05,
                 backoff_max_s: float = 5.0, max_gap_registers: int = 0):
        self.spec = get_profile(profile)
        super().__init__(url, profile=self.spec.name, channel_cells=channel_cells,
                         timeout_s=timeout_s, clock=clock)
        self.address = parse_url(url, default_baud=self.spec.default_baud,
                                 default_parity=self.spec.default_parity)
        self.n_channels = int(channels or self.spec.channels)
        if self.n_channels < 1 or (self.n_channels > 1 and self.spec.channel_stride <= 0):
            raise ValueError(f"{url}: profile {self.spec.name} has one channel block; "
                             f"cannot read {self.n_channels} channels")
        if self.channel_cells is not None and len(self.channel_cells) != self.n_channels:
            raise ValueError(f"{url}: channel_cells has {len(self.channel_cells)} entries "
                             f"for {self.n_channels} channels")
        if retries < 0 or not 0 < backoff_min_s <= backoff_max_s:
            raise ValueError("retries must be >= 0 and 0 < backoff_min_s <= backoff_max_s")
        self.unit_g = float(unit_g if unit_g is not None else self.spec.unit_g)
        self.decimals = decimals
        self.retries, self.backoff_min_s, self.backoff_max_s = retries, backoff_min_s, \
            backoff_max_s
        self._own_link = link is None
        self.link = link if link is not None else open_link(self.address, timeout_s=timeout_s)
        self._requests = pack_reads(self._poll_ranges(),
                                    max_registers=self.spec.max_registers_per_request,
                                    max_gap=max_gap_registers)
        self._down = False
        self._backoff_s = backoff_min_s
        self._next_try_t = 0.0
        self._last_good_t: float | None = None
        self.last_error = ""

    # -- plan ----------------------------------------------------------------
    @property
    def unit(self) -> int:
        return self.address.unit

    def _poll_ranges(self) -> list[tuple[int, int]]:
        return [(self.spec.address(name, ch), self.spec.registers[name].words)
                for ch in range(self.n_channels) for name in self.spec.poll]

    def poll_requests(self) -> list[tuple[int, int]]:
        """The ``(address, count)`` read requests of one poll."""
        return list(self._requests)

    # -- lifecycle -----------------------------------------------------------
    def _open(self) -> None:
        if self._own_link:
            self.link.open()
        try:
            self._read_registers(self._requests)
        except frames.ModbusExceptionError as e:
            if self._own_link:
                self.link.close()
            if e.code in _GATEWAY_NO_DEVICE:
                raise DeviceNotFoundError(f"{self.url}: the gateway reports no answer from "
                                          f"unit {self.unit} ({e})") from None
            raise
        except DeviceTimeoutError:
            if self._own_link:
                self.link.close()
            raise DeviceNotFoundError(
                f"{self.url}: unit {self.unit} does not answer (check the unit id, line "
                "settings and wiring)") from None
        except DriverError:
            if self._own_link:
                self.link.close()
            raise
        self._last_good_t = self.clock()

    def _close(self) -> None:
        if self._own_link:
            self.link.close()

    # -- I/O -----------------------------------------------------------------
    def _transact(self, pdu: bytes) -> list[int]:
        for attempt in range(self.retries + 1):
            try:
                return self.link.transact(self.unit, pdu, device=self.url)
            except frames.ModbusExceptionError as e:
                if e.code not in _TRANSIENT_EXCEPTIONS or attempt == self.retries:
                    raise
            except (DeviceTimeoutError, ProtocolError, frames.ConnectionLostError):
                if attempt == self.retries:
                    raise
        raise AssertionError("unreachable")

    def _read_registers(self, requests: Iterable[tuple[int, int]]) -> dict[int, int]:
        regs: dict[int, int] = {}
        for address, count in requests:
            words = self._transact(frames.read_request(self.spec.read_function, address, count))
            regs.update(zip(range(address, address + count), words, strict=True))
        return regs

    def _value(self, regs: dict[int, int], name: str, ch: int) -> int:
        a = self.spec.address(name, ch)
        return self.spec.decode(name, [regs[a + i] for i in range(self.spec.registers[name].words)])

    def read(self) -> np.ndarray:
        """Poll every channel once; see the module docstring for failures."""
        self._require_open()
        if self._down and self.clock() < self._next_try_t:
            return empty_samples()
        try:
            regs = self._read_registers(self._requests)
        except frames.ModbusExceptionError as e:
            if e.code not in _TRANSIENT_EXCEPTIONS:
                raise
            return self._failed(str(e))
        except (DeviceTimeoutError, ProtocolError, frames.ConnectionLostError) as e:
            return self._failed(str(e))
        except (DriverError, OSError) as e:  # e.g. the port could not be reopened
            return self._failed(str(e))
        t = self.clock()
        self._recovered(t)
        return self._samples(t, regs)

    def _failed(self, reason: str) -> np.ndarray:
        t = self.clock()
        self.last_error = reason
        if not self._down:
            self._down = True
            self._backoff_s = self.backoff_min_s
            start = self._last_good_t if self._last_good_t is not None else t
            self.gaps.append(Gap(self.url, start, None, reason))
            log.warning("%s: gap starts: %s", self.url, reason)
        else:
            self._backoff_s = min(2 * self._backoff_s, self.backoff_max_s)
        self._next_try_t = t + self._backoff_s
        out = empty_samples(self.n_channels)
        out["t"] = t
        out["cell"] = self._cells()
        out["grams"] = np.nan
        out["flags"] = SampleFlag.GAP
        return out

    def _recovered(self, t: float) -> None:
        self._last_good_t = t
        if self._down:
            self._down = False
            self.gaps[-1] = dataclasses.replace(self.gaps[-1], t_end=t)
            log.info("%s: gap ends after %.3f s", self.url, t - self.gaps[-1].t_start)

    def _cells(self) -> np.ndarray:
        return np.asarray(self.channel_cells if self.channel_cells is not None
                          else range(self.n_channels), dtype=np.uint16)

    # -- decoding ------------------------------------------------------------
    def _decimals(self, status: int) -> int:
        if self.decimals is not None:
            return self.decimals
        m = self.spec.decimals_mask
        return (status & m) >> _shift(m) if m else self.spec.decimals

    def _signed(self, name: str, raw: int, status: int) -> int:
        mask = self.spec.status.get(f"{name}_negative", 0)
        return -raw if mask and status & mask else raw

    def _grams(self, name: str, regs: dict[int, int], ch: int) -> float:
        status = self._value(regs, "status", ch) if "status" in self.spec.registers and \
            self.spec.address("status", ch) in regs else 0
        raw = self._signed(name, self._value(regs, name, ch), status)
        return raw * 10.0 ** -self._decimals(status) * self.unit_g

    def _flags(self, status: int) -> int:
        st = self.spec.status
        flags = 0
        if (st["stable"] and status & st["stable"]) or \
                (st["unstable"] and not status & st["unstable"]):
            flags |= SampleFlag.STABLE
        if status & st["overload"]:
            flags |= SampleFlag.OVERLOAD
        if status & st["underload"]:
            flags |= SampleFlag.UNDERLOAD
        if status & st["error"] or (st["ok"] and not status & st["ok"]):
            flags |= SampleFlag.ERROR
        code = (status & st["error_code_mask"]) >> _shift(st["error_code_mask"])
        if code:
            kind = self.spec.error_codes.get(code, "error")
            flags |= {"overload": SampleFlag.OVERLOAD, "underload": SampleFlag.UNDERLOAD,
                      "error": SampleFlag.ERROR}[kind]
            flags &= ~SampleFlag.ERROR if kind != "error" else ~0
        return flags

    def _samples(self, t: float, regs: dict[int, int]) -> np.ndarray:
        n = self.n_channels
        out = empty_samples(n)
        out["t"] = t
        out["cell"] = self._cells()
        has_status = "status" in self.spec.poll
        status = np.array([self._value(regs, "status", ch) if has_status else 0
                           for ch in range(n)], dtype=np.int64)
        grams = np.array([self._grams("gross", regs, ch) for ch in range(n)])
        flags = np.array([self._flags(int(s)) for s in status], dtype=np.uint8)
        invalid = (flags & (SampleFlag.OVERLOAD | SampleFlag.UNDERLOAD | SampleFlag.ERROR)) != 0
        grams[invalid] = np.nan
        flags[invalid] &= np.uint8(~SampleFlag.STABLE & 0xFF)
        out["grams"] = grams
        out["flags"] = flags
        return out

    # -- commands ------------------------------------------------------------
    def _write(self, address: int, type_: str, value: int) -> None:
        words = self.spec.encode(type_, value)
        fn = frames.WRITE_SINGLE if self.spec.write_function == 6 and len(words) == 1 \
            else frames.WRITE_MULTIPLE
        self._transact(frames.write_request(fn, address, words))

    def _command(self, name: str, channel: int, known: int | None = None) -> None:
        self._require_open()
        if not 0 <= channel < self.n_channels:
            raise ValueError(f"{self.url}: channel {channel} outside 0..{self.n_channels - 1}")
        steps = self.spec.commands.get(name)
        if not steps:
            raise DriverError(f"{self.url}: profile {self.spec.name} ({self.spec.path}) has no "
                              f"'{name}' command; use the vendor's tool or add "
                              f"[commands].{name} to the profile")
        with self.link.lock:
            for step in steps:
                value = known if step.value == "known" else step.value
                self._write(step.address + channel * self.spec.channel_stride, step.type,
                            int(value))

    def _read_value_g(self, name: str, channel: int) -> float:
        names = [name] + (["status"] if "status" in self.spec.registers else [])
        ranges = [(self.spec.address(n, channel), self.spec.registers[n].words) for n in names]
        regs = self._read_registers(pack_reads(ranges, max_registers=self.spec.
                                               max_registers_per_request))
        return self._grams(name, regs, channel)

    def read_value(self, name: str, *, channel: int = 0) -> int:
        """Raw integer of register value ``name`` (e.g. ``"net"``), read on its own."""
        self._require_open()
        if name not in self.spec.registers:
            raise ValueError(f"{self.url}: profile {self.spec.name} has no register {name!r}; "
                             f"known: {sorted(self.spec.registers)}")
        spec = self.spec.registers[name]
        regs = self._read_registers([(self.spec.address(name, channel), spec.words)])
        return self._value(regs, name, channel)

    def zero(self, *, channel: int = 0) -> None:
        """Zero the gross reading of ``channel`` (raises if the device refuses)."""
        self._command("zero", channel)

    def tare(self, *, channel: int = 0) -> float:
        """Tare ``channel``; returns the tare weight in grams read back from the device."""
        self._command("tare", channel)
        if "tare" in self.spec.registers:
            return self._read_value_g("tare", channel)
        if "net" in self.spec.registers:
            return self._read_value_g("gross", channel) - self._read_value_g("net", channel)
        return float("nan")

    def clear_tare(self, *, channel: int = 0) -> None:
        """Remove the tare of ``channel``."""
        self._command("clear_tare", channel)

    def calibrate_span(self, known_g: float, *, channel: int = 0) -> None:
        """Span-calibrate ``channel`` with ``known_g`` grams on the plate."""
        if not known_g > 0:
            raise ValueError(f"known_g must be > 0 grams, got {known_g}")
        status = self._read_registers([(self.spec.address("status", channel), 1)]) \
            if "status" in self.spec.registers else {}
        dec = self._decimals(status.get(self.spec.address("status", channel), 0)
                             if status else 0)
        self._command("span", channel, known=round(known_g / self.unit_g * 10 ** dec))

    def info(self) -> DeviceInfo:
        return DeviceInfo(url=self.url, profile=self.spec.name, model=self.spec.raw.get(
            "description", ""), channels=self.n_channels,
            extra={"unit": str(self.unit), "unverified": "; ".join(self.spec.unverified)})


@dataclass(frozen=True, slots=True)
class ScanHit:
    """A unit that answered a profile's poll during :func:`scan_modbus`.

    Attributes:
        url: device URL including ``unit=``.
        unit: unit id.
        profile: profile name.
        grams: (channels,) gross grams of the first poll (NaN where invalid).
        flags: (channels,) :class:`~fusion.types.SampleFlag` values.
    """

    url: str
    unit: int
    profile: str
    grams: tuple[float, ...]
    flags: tuple[int, ...]


def modbus_profiles() -> list[str]:
    """Names of the Modbus profiles in the hardware folder (``protocol = "modbus"``)."""
    import tomllib

    from drivers.registry import HARDWARE_DIR
    names = []
    for path in sorted(HARDWARE_DIR.glob("*.toml")):
        with open(path, "rb") as f:
            data = tomllib.load(f)
        if data.get("protocol") == "modbus":
            names.append(data.get("name", path.stem.replace("_", "-")))
    return names


def _unit_url(url: str, unit: int) -> str:
    base, _, query = url.partition("?")
    params = [p for p in query.split("&") if p and not p.startswith("unit=")]
    return f"{base}?{'&'.join(params + [f'unit={unit}'])}"


def scan_modbus(url: str, units: Iterable[int], profiles: Sequence[str], *,
                timeout_s: float = 0.3) -> list[ScanHit]:
    """Find which units on a line answer, and which profiles read them without error.

    A unit that times out on the first profile is skipped for the others. A
    unit that answers with exception replies for a profile is not a hit for it.

    Args:
        url: any device URL of the line (its ``unit=`` is ignored).
        units: unit ids to try, e.g. ``range(1, 248)``.
        profiles: profile names to try, in order.
        timeout_s: reply timeout per request (s).
    """
    specs = [get_profile(p) for p in profiles]
    first = parse_url(url, default_baud=specs[0].default_baud,
                      default_parity=specs[0].default_parity) if specs else parse_url(url)
    hits: list[ScanHit] = []
    with open_link(first, timeout_s=timeout_s) as link:
        for unit in units:
            for spec in specs:
                drv = ModbusScaleDriver(_unit_url(url, unit), profile=spec, link=link,
                                        timeout_s=timeout_s, retries=0)
                try:
                    with drv:
                        s = drv.read()
                except DeviceNotFoundError:
                    break
                except DriverError as e:
                    log.info("%s: profile %s does not fit: %s", drv.url, spec.name, e)
                    continue
                hits.append(ScanHit(drv.url, unit, spec.name, tuple(map(float, s["grams"])),
                                    tuple(map(int, s["flags"]))))
    return hits
